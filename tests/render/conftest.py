"""Real GL for the render tests: one headless EGL context (the Xvfb fixtures are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import moderngl
import numpy as np
import pytest

from vj.render.compositor import Compositor
from vj.render.context import create_headless_context
from vj.render.shaders import ShaderLibrary
from vj.render.textures import FrameTexture


@pytest.fixture(scope="session")
def headless() -> Iterator[tuple[moderngl.Context, Compositor]]:
    """One EGL context (and compositor) for the whole run, current only inside tests that use it.

    A thread with a current EGL context cannot make a GLX context current (libglvnd answers the
    window's glXMakeCurrent with BadAccess), and the window tests run on this same thread.
    """
    ctx = create_headless_context()
    with ctx:  # leaving the block unbinds it
        compositor = Compositor(ctx, ShaderLibrary())
    yield ctx, compositor
    with ctx:
        compositor.release()
    ctx.release()


@pytest.fixture
def gl(headless: tuple[moderngl.Context, Compositor]) -> Iterator[moderngl.Context]:
    ctx = headless[0]
    with ctx:
        yield ctx


@pytest.fixture
def compositor(gl: moderngl.Context, headless: tuple[moderngl.Context, Compositor]) -> Compositor:
    return headless[1]


@pytest.fixture
def upload(gl: moderngl.Context) -> Iterator:
    """Upload an image into a fresh FrameTexture; released after the test."""
    made: list[FrameTexture] = []

    def _upload(image: np.ndarray) -> FrameTexture:
        frame = FrameTexture(gl)
        frame.upload(image)
        made.append(frame)
        return frame

    yield _upload
    for frame in made:
        frame.release()
