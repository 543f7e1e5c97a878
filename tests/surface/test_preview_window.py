"""The preview read from a real window (GLFW under Xvfb): on software GL the window itself is read
whole, before the HUD, and the encoder scales it; the JPEG is the picture, upright, in its colours."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from tests.support.readback import paint
from tests.support.show import make_show
from tests.support.waiting import wait_for
from vj.render.readback import software_renderer
from vj.render.window import Window, WindowConfig
from vj.show import Show
from vj.surface.jpeg import preview_size
from vj.surface.preview import JpegEncoder, PreviewPass

SIZE = (640, 360)


@pytest.fixture
def shown(xvfb: str) -> Iterator[tuple[Window, Show]]:
    window = Window(WindowConfig(size=SIZE, title="vj-preview-test", vsync=False))
    show = make_show(window.ctx)
    yield window, show
    show.close()
    window.close()


def test_the_window_is_read_whole_and_the_encoder_scales_it_upright(shown: tuple[Window, Show]):
    window, show = shown
    screen = window.framebuffer
    snap = show.frame(1 / 30, screen)
    assert not snap["hud"]
    paint(screen, 4)  # 0.4, 0.3, 0.2 under a white band over the top quarter
    preview = PreviewPass(window.ctx)
    try:
        shot = preview.capture(show, snap, screen)
    finally:
        preview.release()
    assert shot is not None
    if software_renderer(window.ctx):  # read whole, in the window's own order (GPU: a blit, small)
        assert shot.pixels.shape == (SIZE[1], SIZE[0], 4) and shot.order == "bgra"
    jpegs: list[bytes] = []
    encoder = JpegEncoder(jpegs.append).start()
    try:
        encoder.offer(shot)
        wait_for(lambda: bool(jpegs), 5, what="a JPEG from the encoder")
    finally:
        encoder.stop()
    image = Image.open(io.BytesIO(jpegs[0]))
    assert image.size == preview_size(SIZE) == (320, 180)
    rgb = np.asarray(image.convert("RGB")).astype(int)
    assert (rgb[:35] >= 245).all()  # the white band, on top
    assert np.abs(rgb[60:] - (102, 76, 51)).max() <= 8  # the painted colour, red first (JPEG's error)
