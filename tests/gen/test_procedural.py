"""The procedural generator on a real EGL context (Mesa llvmpipe on CPU machines)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from types import MappingProxyType

import numpy as np
import pytest

from vj.gen.base import GenRequest, Prompt
from vj.gen.procedural import ProceduralGenerator, walk_uniforms
from vj.vocabulary import MotionRates

SIZE = (96, 96)


def req(
    time: float = 1.0,
    prompts: tuple[tuple[str, float], ...] = (("nebula", 1.0),),
    seed: int = 0,
    walk: float = 0.0,
    strength: float = 0.5,
    feedback: float = 0.0,
    size: tuple[int, int] = SIZE,
    motion: MotionRates = MotionRates(),
    **params: float,
) -> GenRequest:
    return GenRequest(
        time=time,
        size=size,
        prompts=tuple(Prompt(t, w) for t, w in prompts),
        seed=seed,
        seed_walk=walk,
        strength=strength,
        feedback=feedback,
        motion=motion,
        params=MappingProxyType(dict(params)),
    )


def diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.fixture(scope="module")
def gen() -> Iterator[ProceduralGenerator]:
    """One generator for tests that only need fresh frames (feedback 0 ignores history)."""
    g = ProceduralGenerator()
    yield g
    g.close()


@pytest.fixture
def fresh() -> Iterator[ProceduralGenerator]:
    g = ProceduralGenerator()
    yield g
    g.close()


def test_frame_shape_and_dtype(gen: ProceduralGenerator) -> None:
    frame = gen.generate(req(size=(80, 48)))
    assert frame.shape == (48, 80, 3)
    assert frame.dtype == np.uint8
    assert frame.flags["C_CONTIGUOUS"]


def test_frames_are_rich_and_move(gen: ProceduralGenerator) -> None:
    for text in ("nebula", "ocean waves", "cathedral mandala", "circuit city", "tunnel", "a quiet afternoon"):
        a = gen.generate(req(time=1.0, prompts=((text, 1.0),)))
        b = gen.generate(req(time=3.0, prompts=((text, 1.0),)))
        assert a.std() > 20.0, text
        assert diff(a, b) > 2.0, text


def test_motion_over_time_is_smooth(gen: ProceduralGenerator) -> None:
    frames = [gen.generate(req(time=2.0 + i / 30)) for i in range(3)]
    assert 0.0 < diff(frames[0], frames[1]) < 3.0
    assert 0.0 < diff(frames[1], frames[2]) < 3.0


def test_speed_param_scales_time(gen: ProceduralGenerator) -> None:
    a = gen.generate(req(time=1.0, speed=0.0))
    b = gen.generate(req(time=5.0, speed=0.0))
    assert diff(a, b) == 0.0


def test_speed_change_keeps_the_animation_continuous(fresh: ProceduralGenerator) -> None:
    fresh.generate(req(time=100.0, speed=1.0))
    before = fresh.generate(req(time=100.0, speed=1.0))
    after = fresh.generate(req(time=100.0, speed=1.5))  # same instant, faster from now on
    assert diff(before, after) < 0.5
    later = fresh.generate(req(time=101.0, speed=1.5))
    assert diff(after, later) > 2.0


def test_deterministic_across_generators() -> None:
    sequence = [
        req(time=0.0, feedback=0.6, motion=MotionRates(zoom=0.3, rotate=10.0)),
        req(time=0.1, feedback=0.6, walk=0.25, motion=MotionRates(zoom=0.3, rotate=10.0)),
        req(time=0.2, feedback=0.8, walk=0.5, strength=0.3, prompts=(("ocean", 0.5), ("fire", 0.5))),
        req(time=0.3, feedback=0.8, walk=0.75, motion=MotionRates(pan_x=0.2), speed=2.0),
    ]
    outputs = []
    for _ in range(2):
        g = ProceduralGenerator()
        try:
            outputs.append([g.generate(r) for r in sequence])
        finally:
            g.close()
    for a, b in zip(*outputs):
        assert np.array_equal(a, b)


def test_seeds_differ(gen: ProceduralGenerator) -> None:
    a = gen.generate(req(seed=0))
    b = gen.generate(req(seed=1))
    assert diff(a, b) > 10.0


def test_integer_walk_equals_plain_seed(gen: ProceduralGenerator) -> None:
    for seed, walk in ((0, 1.0), (3, 2.0), (7, -1.0)):
        walked = gen.generate(req(seed=seed, walk=walk))
        plain = gen.generate(req(seed=seed + int(walk)))
        assert diff(walked, plain) < 0.05, (seed, walk)
        assert int(np.abs(walked.astype(int) - plain).max()) <= 1


def test_walk_is_continuous(gen: ProceduralGenerator) -> None:
    seeds_apart = diff(gen.generate(req(seed=0)), gen.generate(req(seed=1)))
    small_step = diff(gen.generate(req(walk=0.0)), gen.generate(req(walk=0.1)))
    assert small_step < 0.35 * seeds_apart
    # arriving at the next seed from below matches it
    assert diff(gen.generate(req(walk=0.999)), gen.generate(req(seed=1))) < 1.0


def test_walk_uniforms() -> None:
    keys, weights, frac = walk_uniforms(5, 2.0)
    assert keys == walk_uniforms(7, 0.0)[0]
    assert weights == (1.0, 0.0) and frac == 0.0
    keys, weights, frac = walk_uniforms(5, 2.5)
    assert keys[0] == walk_uniforms(7, 0.0)[0][0] and keys[1] == walk_uniforms(8, 0.0)[0][0]
    assert weights[0] ** 2 + weights[1] ** 2 == pytest.approx(1.0)  # variance kept along the walk


def test_prompt_colours(gen: ProceduralGenerator) -> None:
    def blue_minus_red(prompts: tuple[tuple[str, float], ...]) -> float:
        f = gen.generate(req(prompts=prompts)).astype(float)
        return float(f[..., 2].mean() - f[..., 0].mean())

    ocean = blue_minus_red((("ocean", 1.0), ("fire", 0.0)))
    fire = blue_minus_red((("ocean", 0.0), ("fire", 1.0)))
    mid = blue_minus_red((("ocean", 0.5), ("fire", 0.5)))
    assert ocean > fire + 60.0
    assert fire < mid < ocean


def test_feedback_one_low_strength_holds_the_frame(fresh: ProceduralGenerator) -> None:
    first = fresh.generate(req(time=1.0, feedback=1.0, strength=0.0))
    held = fresh.generate(req(time=1.1, feedback=1.0, strength=0.0))
    assert diff(first, held) < 0.5
    nudged = fresh.generate(req(time=1.2, feedback=1.0, strength=0.05))
    fresh_pattern = fresh.generate(req(time=1.2, feedback=0.0, strength=0.05))
    assert diff(held, nudged) < 0.25 * diff(held, fresh_pattern)


def test_feedback_zero_ignores_history(fresh: ProceduralGenerator) -> None:
    # Only the speed history is kept (the animation phase integrates speed changes so a knob
    # never jumps the picture); everything else may differ.
    for i in range(3):
        fresh.generate(req(time=0.1 * i, seed=4, walk=0.3, feedback=0.9, motion=MotionRates(zoom=0.5)))
    target = req(time=0.4, feedback=0.0, motion=MotionRates(zoom=0.5))
    with_history = fresh.generate(target)
    other = ProceduralGenerator()
    try:
        assert np.array_equal(with_history, other.generate(target))
    finally:
        other.close()


def test_size_change_starts_fresh(fresh: ProceduralGenerator) -> None:
    fresh.generate(req(time=0.0, seed=9, feedback=1.0, strength=0.0))
    target = req(time=0.1, feedback=1.0, strength=0.0, size=(64, 80))
    resized = fresh.generate(target)
    other = ProceduralGenerator()
    try:
        assert np.array_equal(resized, other.generate(target))
    finally:
        other.close()


def _zoom_about_centre(frame: np.ndarray, factor: int) -> np.ndarray:
    """Magnify the middle of a frame by an integer factor (nearest neighbour)."""
    h, w, _ = frame.shape
    ch, cw = h // factor, w // factor
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = frame[top : top + ch, left : left + cw]
    return crop.repeat(factor, axis=0).repeat(factor, axis=1)


def test_zoom_feedback_magnifies_the_previous_frame(fresh: ProceduralGenerator) -> None:
    zoom = MotionRates(zoom=float(np.log(2.0)))  # x2 per second
    first = fresh.generate(req(time=0.0, feedback=1.0, strength=0.0, motion=zoom))
    zoomed = fresh.generate(req(time=1.0, feedback=1.0, strength=0.0, motion=zoom))
    expected = _zoom_about_centre(first, 2)
    m = 8  # stay clear of the borders, where nearest-neighbour and bilinear differ most
    assert diff(zoomed[m:-m, m:-m], expected[m:-m, m:-m]) < 6.0
    assert diff(zoomed[m:-m, m:-m], expected[m:-m, m:-m]) < 0.3 * diff(zoomed, first)


def test_pan_feedback_moves_content_left_when_camera_moves_right(fresh: ProceduralGenerator) -> None:
    h = SIZE[1]
    pan = MotionRates(pan_x=0.25)  # a quarter of the screen height per second
    first = fresh.generate(req(time=0.0, feedback=1.0, strength=0.0, motion=pan))
    moved = fresh.generate(req(time=1.0, feedback=1.0, strength=0.0, motion=pan))
    shift = h // 4
    # the camera went right, so what was at column x + shift is now at column x
    assert diff(moved[:, : -shift - 2], first[:, shift : -2]) < 2.0
    assert diff(moved[:, shift + 2 :], first[:, 2 : -shift]) > 5.0


def test_generate_on_a_worker_thread_and_close() -> None:
    g = ProceduralGenerator()  # built here, drawn on another thread, as the worker does
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(g.generate(req(size=(64, 64))))
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            errors.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert not errors, errors
    assert results[0].shape == (64, 64, 3)
    g.close()
    g.close()  # idempotent


def test_bad_size_is_an_error(gen: ProceduralGenerator) -> None:
    with pytest.raises(ValueError):
        gen.generate(req(size=(0, 64)))


# -- the live camera (request.init_image, init_mix) --------------------------------------------


def with_camera(request: GenRequest, image: np.ndarray | None, mix: float = 1.0) -> GenRequest:
    return replace(request, init_image=image, init_mix=mix)


def luma(frame: np.ndarray) -> np.ndarray:
    return frame.astype(float) @ np.array([0.299, 0.587, 0.114])


def left_white(h: int, w: int) -> np.ndarray:
    image = np.zeros((h, w, 3), dtype=np.uint8)
    image[:, : w // 2] = 255
    return image


def test_camera_mix_zero_is_exactly_the_frame_without_a_camera() -> None:
    camera = left_white(96, 96)
    sequence = [
        req(time=0.1 * i, feedback=0.7, walk=0.2 * i, motion=MotionRates(zoom=0.3, rotate=8.0), strength=0.3)
        for i in range(4)
    ]
    outputs = []
    for image, mix in ((None, 1.0), (camera, 0.0), (camera, -2.0)):
        g = ProceduralGenerator()
        try:
            outputs.append([g.generate(with_camera(r, image, mix)) for r in sequence])
        finally:
            g.close()
    for plain, zero, negative in zip(*outputs):
        assert np.array_equal(plain, zero)
        assert np.array_equal(plain, negative)  # clamped to 0


def test_camera_shapes_show_through_the_dream(gen: ProceduralGenerator) -> None:
    # Measured at strength 0.5 over seven looks and two seeds: white-minus-black luminance
    # 117..174 with the camera, -21..13 without; mean change 59..88 per channel; at mix 0.5
    # the contrast is 0.50..0.55 of mix 1's.
    camera = left_white(96, 96)
    for text in ("nebula", "ocean waves", "cathedral mandala", "circuit city", "fire"):
        plain = gen.generate(req(prompts=((text, 1.0),)))
        frame = gen.generate(with_camera(req(prompts=((text, 1.0),)), camera))
        y = luma(frame)
        assert y[:, :48].mean() > y[:, 48:].mean() + 60.0, text
        assert diff(frame, plain) > 30.0, text
        half = luma(gen.generate(with_camera(req(prompts=((text, 1.0),)), camera, 0.5)))
        contrast = y[:, :48].mean() - y[:, 48:].mean()
        assert 0.2 * contrast < half[:, :48].mean() - half[:, 48:].mean() < 0.8 * contrast, text


def test_camera_is_cover_fit_and_upright(gen: ProceduralGenerator) -> None:
    # A 16:9 camera on a square frame: the centre is kept unstretched, the sides cropped away.
    # Measured: top-minus-bottom 118..173; inside the square 142..230, the cropped sides 12..52.
    top = np.zeros((360, 640, 3), dtype=np.uint8)
    top[:180] = 255
    square = np.zeros((360, 640, 3), dtype=np.uint8)
    square[90:270, 230:410] = 255  # the centre half of the kept 360x360: output 64..192
    square[:, :100] = square[:, -100:] = 255  # outside the kept part: output columns 0..40 if stretched
    for text in ("nebula", "circuit city"):
        y = luma(gen.generate(with_camera(req(prompts=((text, 1.0),), size=(256, 256)), top)))
        assert y[:128].mean() > y[128:].mean() + 60.0, text
        y = luma(gen.generate(with_camera(req(prompts=((text, 1.0),), size=(256, 256)), square)))
        inside = y[80:176, 72:88].mean()  # left edge of the square, where a stretched fit is black
        assert inside > y[:, :36].mean() + 60.0, text
        assert inside > y[:, -36:].mean() + 60.0, text


def test_camera_enters_the_feedback_loop(fresh: ProceduralGenerator) -> None:
    # Feedback 1 at strength 0 holds the previous frame; the camera's mix pulls that carry to it.
    # Measured: contrast 184, and the held camera image differs from the first frame by 102.
    held = fresh.generate(req(time=1.0, feedback=1.0, strength=0.0))
    camera = left_white(96, 96)
    y = luma(fresh.generate(with_camera(req(time=1.1, feedback=1.0, strength=0.0), camera, 1.0)))
    assert y[:, :48].mean() > y[:, 48:].mean() + 100.0
    again = fresh.generate(req(time=1.2, feedback=1.0, strength=0.0))  # the camera gone: its image is held
    assert diff(again, held) > 30.0


def test_camera_mix_is_clamped_and_a_nan_means_the_default(gen: ProceduralGenerator) -> None:
    camera = left_white(96, 96)
    one = gen.generate(with_camera(req(), camera, 1.0))
    assert np.array_equal(gen.generate(with_camera(req(), camera, 3.0)), one)
    assert np.array_equal(gen.generate(with_camera(req(), camera, float("nan"))), one)


def test_camera_texture_is_reused_and_input_checked(fresh: ProceduralGenerator) -> None:
    camera = left_white(36, 64)
    fresh.generate(with_camera(req(), camera))
    texture = fresh._camera
    fresh.generate(with_camera(req(time=1.1), camera[::-1].copy()))
    assert fresh._camera is texture  # same size: rewritten, not re-created
    fresh.generate(with_camera(req(time=1.2), left_white(48, 64)[:, :, :1].repeat(4, axis=2)))  # RGBA
    assert fresh._camera is not texture
    with pytest.raises(ValueError, match="init_image"):
        fresh.generate(with_camera(req(), camera.astype(np.float32)))
