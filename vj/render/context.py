"""Headless OpenGL: an EGL context with no window, for offline renders and tests.

On a machine without a GPU, Mesa's llvmpipe answers through EGL, so the same
passes run on a server, in CI and on a laptop. The window path (GLFW) lives in
`vj.render.window`.

`share_cores` leaves the generator child every core but one (`--gen-threads`); with one core
left the render process rasterises on its own thread, since one more llvmpipe thread beside the
busy generator only added scheduling spikes (`vj bench render`'s busy-process p99 ratio went
from 1.23 to 1.11).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import moderngl

# The oldest GL the shaders are written for (`#version 330 core`).
REQUIRED_GL = 330

_PACKAGES_HINT = (
    "Headless rendering needs EGL and a Mesa OpenGL driver. On Debian/Ubuntu install them with: "
    "apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri"
)


class RenderError(RuntimeError):
    """The GL context cannot be created or does not offer what the renderer needs."""


def create_headless_context(libegl: str | None = None, libgl: str | None = None) -> moderngl.Context:
    """A standalone OpenGL 3.3+ context that needs no window: EGL on Linux (no display needed
    either), the platform's own standalone context elsewhere (CGL on macOS, WGL on Windows).

    The context is current on the calling thread when this returns. A thread with a current EGL
    context cannot also make a GLX (window) context current; to share one thread, scope the EGL
    context with `with ctx:` (which unbinds it on exit) or give it its own thread.
    `libegl` / `libgl` name the shared libraries to load instead of the system defaults.
    """
    options: dict[str, Any] = {}  # Any: moderngl's stub types each keyword setting as a dict
    if libegl:
        options["libegl"] = libegl
    if libgl:
        options["libgl"] = libgl
    if sys.platform.startswith("linux"):
        options["backend"] = "egl"  # the X11 default would need a display
    try:
        ctx = moderngl.create_standalone_context(require=REQUIRED_GL, **options)
    except Exception as exc:  # glcontext raises bare Exception ("libEGL.so.1 not loaded", ...)
        raise RenderError(f"cannot create a headless OpenGL context: {exc}. {_PACKAGES_HINT}") from exc
    if ctx.version_code < REQUIRED_GL:
        version = ctx.info.get("GL_VERSION", ctx.version_code)
        ctx.release()
        raise RenderError(f"EGL gave OpenGL {version}, but vj needs 3.3 or newer. {_PACKAGES_HINT}")
    return ctx


def share_cores(generator_threads: int) -> None:
    """Leave the generator process its cores: Mesa's software renderer (llvmpipe, on machines
    without a GPU) would otherwise start a rasterizer thread per core in this process too, and
    the two would oversubscribe the CPU. Call before the first GL context; a GPU driver ignores
    it, and an LP_NUM_THREADS already set is kept."""
    share = (os.cpu_count() or 2) - max(1, generator_threads)
    # A share of one core: rasterise on the calling thread (0), not on one more thread beside it.
    os.environ.setdefault("LP_NUM_THREADS", str(share if share > 1 else 0))
