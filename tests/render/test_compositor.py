"""The compositor's passes, checked pixel by pixel on a headless EGL context."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import moderngl
import numpy as np
import pytest

from vj.motion import ViewTransform
from vj.paths import SHADER_DIR
from vj.render.compositor import (
    CROSSFADE_CURVES,
    Compositor,
    LayerView,
    PostSettings,
    crossfade_amount,
)
from vj.render.shaders import ShaderError, ShaderLibrary, uniform
from vj.render.textures import read_rgb
from vj.vocabulary import MotionRates

NEUTRAL = PostSettings()


def solid(color: tuple[int, int, int], size: tuple[int, int] = (32, 32)) -> np.ndarray:
    return np.full((size[1], size[0], 3), color, dtype=np.uint8)


def layer(frame, camera: ViewTransform = ViewTransform()) -> LayerView:
    return LayerView(frame.texture, camera, frame.aspect)


@pytest.fixture
def target(gl: moderngl.Context):
    fbo = gl.simple_framebuffer((96, 64))
    yield fbo
    fbo.release()


# --- curves --------------------------------------------------------------------------------


def test_crossfade_curves() -> None:
    assert CROSSFADE_CURVES == ("linear", "smooth", "ease-in", "ease-out", "cut")
    assert crossfade_amount("linear", 0.25) == 0.25
    assert crossfade_amount("smooth", 0.25) == pytest.approx(0.15625)
    assert crossfade_amount("smooth", 0.5) == pytest.approx(0.5)
    assert crossfade_amount("ease-in", 0.25) == pytest.approx(0.0625)
    assert crossfade_amount("ease-out", 0.25) == pytest.approx(0.4375)
    assert crossfade_amount("cut", 0.999) == 0.0
    assert crossfade_amount("cut", 1.0) == 1.0
    for curve in CROSSFADE_CURVES:
        assert crossfade_amount(curve, -3.0) == 0.0
        assert crossfade_amount(curve, 7.0) == 1.0


def test_unknown_curve_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="wobble") as info:
        crossfade_amount("wobble", 0.5)
    for curve in CROSSFADE_CURVES:
        assert curve in str(info.value)


# --- crossfade -----------------------------------------------------------------------------


@pytest.mark.parametrize("curve", ["linear", "smooth"])
def test_crossfade_mixes_exactly(compositor: Compositor, target, upload, curve: str) -> None:
    a, b = np.array([200, 40, 100]), np.array([20, 240, 60])
    prev, new = upload(solid(tuple(a))), upload(solid(tuple(b)))
    amount = crossfade_amount(curve, 0.25)
    compositor.render(target, layer(prev), layer(new), amount, NEUTRAL)
    expected = a * (1 - amount) + b * amount
    out = read_rgb(target).astype(float)
    assert np.abs(out - expected).max() <= 1.0
    # The same through the post pass (a non-neutral setting that changes nothing visible).
    compositor.render(target, layer(prev), layer(new), amount, PostSettings(contrast=1.0 + 1e-7))
    assert np.abs(read_rgb(target).astype(float) - expected).max() <= 1.0


def test_no_layers_is_black(compositor: Compositor, target) -> None:
    compositor.render(target, None, None, 0.5, PostSettings(brightness=0.5))
    assert not read_rgb(target).any()


def test_a_single_layer_shows_alone(compositor: Compositor, target, upload) -> None:
    only = upload(solid((10, 120, 250)))
    compositor.render(target, None, layer(only), 0.3, NEUTRAL)
    assert (read_rgb(target) == (10, 120, 250)).all()
    compositor.render(target, layer(only), None, 0.3, NEUTRAL)
    assert (read_rgb(target) == (10, 120, 250)).all()


def test_rows_come_back_top_first(compositor: Compositor, target, upload) -> None:
    image = solid((255, 0, 0))
    image[16:] = (0, 0, 255)  # top half red, bottom half blue
    compositor.render(target, None, layer(upload(image)), 1.0, NEUTRAL)
    out = read_rgb(target)
    assert (out[2, 48] == (255, 0, 0)).all()
    assert (out[-3, 48] == (0, 0, 255)).all()


# --- motion --------------------------------------------------------------------------------

SCREEN = 128  # square target: 1 screen height = 128 px
FRAME = 64


def marker_frame(offset_x: int = 0, half: int = 4) -> np.ndarray:
    """A black frame with one white square centred `offset_x` pixels right of the middle."""
    image = np.zeros((FRAME, FRAME, 3), dtype=np.uint8)
    c = FRAME // 2
    image[c - half : c + half, c + offset_x - half : c + offset_x + half] = 255
    return image


def bright(compositor: Compositor, gl, frame, camera: ViewTransform) -> np.ndarray:
    fbo = gl.simple_framebuffer((SCREEN, SCREEN))
    try:
        compositor.render(fbo, None, LayerView(frame.texture, camera, frame.aspect), 1.0, NEUTRAL)
        return read_rgb(fbo)[..., 0] > 127
    finally:
        fbo.release()


def centroid(mask: np.ndarray) -> tuple[float, float]:
    """(x, y) of the bright pixels, y counted from the top row."""
    ys, xs = np.nonzero(mask)
    assert len(xs), "nothing bright on screen"
    return float(xs.mean()), float(ys.mean())


def moved(rates: MotionRates, dt: float = 1.0) -> ViewTransform:
    return ViewTransform().advanced(rates, dt)


def test_still_camera_shows_the_marker_centred(compositor: Compositor, gl, upload) -> None:
    mask = bright(compositor, gl, upload(marker_frame()), ViewTransform())
    x, y = centroid(mask)
    assert x == pytest.approx(63.5, abs=0.6) and y == pytest.approx(63.5, abs=0.6)
    assert mask.sum() == pytest.approx(16 * 16, rel=0.15)  # 8 texels at 2 px each


def test_pan_right_moves_content_left(compositor: Compositor, gl, upload) -> None:
    x, y = centroid(bright(compositor, gl, upload(marker_frame()), moved(MotionRates(pan_x=0.25))))
    assert x == pytest.approx(63.5 - 0.25 * SCREEN, abs=1.0)
    assert y == pytest.approx(63.5, abs=1.0)


def test_pan_up_moves_content_down(compositor: Compositor, gl, upload) -> None:
    x, y = centroid(bright(compositor, gl, upload(marker_frame()), moved(MotionRates(pan_y=0.25))))
    assert x == pytest.approx(63.5, abs=1.0)
    assert y == pytest.approx(63.5 + 0.25 * SCREEN, abs=1.0)


def test_zoom_in_grows_content(compositor: Compositor, gl, upload) -> None:
    frame = upload(marker_frame())
    before = bright(compositor, gl, frame, ViewTransform())
    after = bright(compositor, gl, frame, moved(MotionRates(zoom=math.log(2.0))))
    assert after.sum() / before.sum() == pytest.approx(4.0, rel=0.15)  # twice as wide and tall
    x, y = centroid(after)
    assert x == pytest.approx(63.5, abs=1.0) and y == pytest.approx(63.5, abs=1.0)


def test_rotate_turns_content_counter_clockwise(compositor: Compositor, gl, upload) -> None:
    frame = upload(marker_frame(offset_x=16))  # a quarter screen right of centre
    x0, y0 = centroid(bright(compositor, gl, frame, ViewTransform()))
    assert x0 == pytest.approx(63.5 + 32, abs=1.0)
    x, y = centroid(bright(compositor, gl, frame, moved(MotionRates(rotate=90.0))))
    # Counter-clockwise by 90 degrees: from the right of centre to above it.
    assert x == pytest.approx(63.5, abs=1.0)
    assert y == pytest.approx(63.5 - 32, abs=1.0)


def test_zooming_out_mirrors_instead_of_showing_black(compositor: Compositor, gl, upload) -> None:
    frame = upload(solid((90, 160, 30), (FRAME, FRAME)))
    fbo = gl.simple_framebuffer((SCREEN, SCREEN))
    try:
        camera = moved(MotionRates(zoom=-1.5, rotate=33.0, pan_x=0.4))
        compositor.render(fbo, None, LayerView(frame.texture, camera, frame.aspect), 1.0, NEUTRAL)
        assert (read_rgb(fbo) == (90, 160, 30)).all()
    finally:
        fbo.release()


# --- post ----------------------------------------------------------------------------------


def post_of(compositor: Compositor, target, upload, color, post: PostSettings) -> np.ndarray:
    compositor.render(target, None, layer(upload(solid(color))), 1.0, post)
    out = read_rgb(target)
    assert (out == out[0, 0]).all()
    return out[0, 0].astype(int)


def test_blackout_is_exactly_black(compositor: Compositor, target, upload) -> None:
    loud = PostSettings(brightness=1.0, contrast=3.0, saturation=2.0, hue=45.0, blackout=1.0)
    assert post_of(compositor, target, upload, (250, 250, 250), loud).tolist() == [0, 0, 0]
    half = post_of(compositor, target, upload, (200, 100, 50), PostSettings(blackout=0.5))
    assert np.abs(half - [100, 50, 25]).max() <= 1


def test_brightness_adds(compositor: Compositor, target, upload) -> None:
    up = post_of(compositor, target, upload, (100, 100, 100), PostSettings(brightness=0.2))
    assert np.abs(up - 151).max() <= 1
    down = post_of(compositor, target, upload, (100, 100, 100), PostSettings(brightness=-1.0))
    assert down.tolist() == [0, 0, 0]


def test_contrast_scales_around_mid_grey(compositor: Compositor, target, upload) -> None:
    same = post_of(compositor, target, upload, (100, 30, 220), PostSettings(contrast=1.0, hue=0.0001))
    assert np.abs(same - [100, 30, 220]).max() <= 1
    double = post_of(compositor, target, upload, (100, 160, 128), PostSettings(contrast=2.0))
    expected = (np.array([100, 160, 128]) / 255 - 0.5) * 2 + 0.5
    assert np.abs(double - np.clip(expected, 0, 1) * 255).max() <= 1
    flat = post_of(compositor, target, upload, (10, 250, 90), PostSettings(contrast=0.0))
    assert np.abs(flat - 127.5).max() <= 1


def test_hue_rotates_and_saturation_greys(compositor: Compositor, target, upload) -> None:
    green = post_of(compositor, target, upload, (255, 0, 0), PostSettings(hue=120.0))
    assert np.abs(green - [0, 255, 0]).max() <= 1
    blue = post_of(compositor, target, upload, (255, 0, 0), PostSettings(hue=-120.0))
    assert np.abs(blue - [0, 0, 255]).max() <= 1
    grey = post_of(compositor, target, upload, (200, 40, 100), PostSettings(saturation=0.0))
    luma = 0.2126 * 200 + 0.7152 * 40 + 0.0722 * 100
    assert np.abs(grey - luma).max() <= 1


def test_intermediate_follows_the_target_size(compositor: Compositor, gl, upload) -> None:
    frame = upload(solid((50, 60, 70)))
    for size in [(40, 30), (64, 64), (40, 30)]:
        fbo = gl.simple_framebuffer(size)
        compositor.render(fbo, None, layer(frame), 1.0, PostSettings(brightness=0.1))
        out = read_rgb(fbo)
        assert out.shape == (size[1], size[0], 3)
        assert np.abs(out.astype(int) - [76, 86, 96]).max() <= 1
        fbo.release()


# --- shader files --------------------------------------------------------------------------


def test_a_missing_shader_file_names_it(gl: moderngl.Context, tmp_path: Path) -> None:
    for name in ("fullscreen.vert", "crossfade.frag", "hud.frag"):
        shutil.copy(SHADER_DIR / name, tmp_path / name)
    with pytest.raises(ShaderError, match="post.frag"):
        Compositor(gl, ShaderLibrary(tmp_path))


def test_uniform_returns_a_uniform_and_names_any_other_member(gl: moderngl.Context) -> None:
    program = ShaderLibrary().program(gl, "fullscreen.vert", "hud.frag")
    assert isinstance(uniform(program, "u_hud"), moderngl.Uniform)
    with pytest.raises(ShaderError, match=r"'in_pos' is not a uniform \(moderngl.Attribute\)"):
        uniform(program, "in_pos")
    with pytest.raises(ShaderError, match="no uniform 'u_missing'"):
        uniform(program, "u_missing")
