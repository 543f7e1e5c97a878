"""The HUD pass: text where the text is, nothing anywhere else."""

from __future__ import annotations

import moderngl
import numpy as np
import pytest

from vj.motion import ViewTransform
from vj.render.compositor import Compositor, LayerView, PostSettings
from vj.render.hud import Hud, font_px_for
from vj.render.textures import read_rgb

SIZE = (320, 180)


class CountingHud(Hud):
    """A real Hud that counts how often it rasterises."""

    def __init__(self, ctx: moderngl.Context) -> None:
        super().__init__(ctx)
        self.rasterised = 0

    def rasterise(self, font_px: int) -> np.ndarray | None:
        self.rasterised += 1
        return super().rasterise(font_px)


@pytest.fixture
def target(gl: moderngl.Context):
    fbo = gl.simple_framebuffer(SIZE)
    yield fbo
    fbo.release()


@pytest.fixture
def hud(gl: moderngl.Context):
    made = CountingHud(gl)
    yield made
    made.release()


def test_font_scales_with_the_output_height() -> None:
    assert font_px_for(1080) == 20
    assert 12 <= font_px_for(720) <= 14
    assert font_px_for(100) >= 10  # still legible in a small preview


def test_hud_draws_only_where_the_text_is(compositor: Compositor, target, hud: CountingHud) -> None:
    hud.set_text(["fps 60.0", "zoom 0.20"])
    compositor.render(target, None, None, 0.0, PostSettings(), hud)
    out = read_rgb(target)
    lit = out.any(axis=2)
    ys, xs = np.nonzero(lit)
    assert len(xs) > 50
    margin = font_px_for(SIZE[1])
    # Top-left, a margin in from the corner.
    assert xs.min() >= margin and ys.min() >= margin
    assert xs.max() < SIZE[0] // 2 and ys.max() < SIZE[1] // 2
    # Everything outside the HUD's box is untouched black.
    box = np.zeros_like(lit)
    box[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] = True
    assert not out[~box].any()
    # Text is light on the dark box.
    assert out[box].max() > 200


def test_errors_are_drawn_in_red(compositor: Compositor, target, hud: CountingHud) -> None:
    hud.set_text(["ok"], errors=["mapping.yaml line 3: bad key"])
    compositor.render(target, None, None, 0.0, PostSettings(), hud)
    out = read_rgb(target).astype(int)
    reddish = (out[..., 0] > 180) & (out[..., 0] - out[..., 2] > 120)
    assert reddish.sum() > 20


def test_hud_blends_over_the_picture(compositor: Compositor, target, hud: CountingHud, upload) -> None:
    frame = upload(np.full((32, 32, 3), 200, dtype=np.uint8))
    hud.set_text(["x"])
    compositor.render(target, None, LayerView(frame.texture, ViewTransform(), 1.0), 1.0, PostSettings(), hud)
    out = read_rgb(target).astype(int)
    margin = font_px_for(SIZE[1])
    corner = out[margin + 1, margin + 1]  # inside the box, beside the text
    assert 0 < corner.max() < 100  # darkened by the translucent box, not opaque black
    assert (out[-1, -1] == 200).all()


def test_hidden_or_empty_hud_draws_nothing(compositor: Compositor, target, hud: CountingHud) -> None:
    hud.set_text(["hello"])
    hud.visible = False
    compositor.render(target, None, None, 0.0, PostSettings(), hud)
    assert not read_rgb(target).any()
    hud.visible = True
    hud.set_text([])
    compositor.render(target, None, None, 0.0, PostSettings(), hud)
    assert not read_rgb(target).any()


def test_rasterises_only_when_the_text_changes(compositor: Compositor, target, hud: CountingHud) -> None:
    hud.set_text(["a", "b"])
    for _ in range(3):
        compositor.render(target, None, None, 0.0, PostSettings(), hud)
        hud.set_text(["a", "b"])
    assert hud.rasterised == 1
    hud.set_text(["a", "c"])
    compositor.render(target, None, None, 0.0, PostSettings(), hud)
    assert hud.rasterised == 2
