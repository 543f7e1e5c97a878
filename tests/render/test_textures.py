"""Uploads, read-back and the headless context."""

from __future__ import annotations

import moderngl
import numpy as np
import pytest

from vj.render.context import RenderError, create_headless_context
from vj.render.textures import FrameTexture, read_rgb


def test_headless_context_is_gl33_or_newer(gl: moderngl.Context) -> None:
    assert gl.version_code >= 330


def test_missing_egl_says_what_to_install() -> None:
    with pytest.raises(RenderError) as info:
        create_headless_context(libegl="libEGL-not-installed.so.1")
    message = str(info.value)
    assert "libEGL-not-installed.so.1" in message
    for package in ("libegl1", "libegl-mesa0", "libgl1-mesa-dri"):
        assert package in message


def test_upload_reuses_the_texture_while_the_size_holds(gl: moderngl.Context) -> None:
    frame = FrameTexture(gl)
    first = frame.upload(np.zeros((48, 64, 3), dtype=np.uint8))
    again = frame.upload(np.full((48, 64, 3), 9, dtype=np.uint8))
    assert again is first
    assert frame.aspect == pytest.approx(64 / 48)
    bigger = frame.upload(np.zeros((50, 100, 3), dtype=np.uint8))
    assert bigger is not first and bigger.size == (100, 50)
    assert frame.texture.filter == (moderngl.LINEAR, moderngl.LINEAR)
    rgba = frame.upload(np.zeros((50, 100, 4), dtype=np.uint8))
    assert rgba.components == 4
    frame.release()


def test_upload_rejects_what_it_cannot_show(gl: moderngl.Context) -> None:
    frame = FrameTexture(gl)
    with pytest.raises(ValueError, match="uint8"):
        frame.upload(np.zeros((4, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="uint8"):
        frame.upload(np.zeros((4, 4), dtype=np.uint8))


def test_upload_keeps_odd_widths_intact(gl: moderngl.Context) -> None:
    # 3 bytes a pixel and an odd width: rows are not 4-byte aligned.
    image = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    frame = FrameTexture(gl)
    tex = frame.upload(image)
    back = np.frombuffer(tex.read(alignment=1), dtype=np.uint8).reshape(5, 7, 3)
    assert (back == image).all()  # row 0 stays row 0: v = 0 is the top
    frame.release()


def test_read_rgb_returns_the_top_row_first(gl: moderngl.Context) -> None:
    fbo = gl.simple_framebuffer((6, 4))
    fbo.use()
    gl.clear(0, 0, 1)  # blue everywhere...
    gl.scissor = (0, 3, 6, 1)  # ...then red in GL's row 3, the top one
    gl.clear(1, 0, 0)
    gl.scissor = None
    out = read_rgb(fbo)
    assert out.shape == (4, 6, 3) and out.dtype == np.uint8
    assert (out[0] == (255, 0, 0)).all()
    assert (out[1:] == (0, 0, 255)).all()
    fbo.release()
