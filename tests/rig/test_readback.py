"""The finished picture off the GPU (vj.render.readback) on a real EGL context: the PBO ring and
the synchronous read give the same frames as `Framebuffer.read`, in order, right way up; with video
outputs on, the show hands the outputs its picture without the HUD, at the output size, and the
window still shows it (with the HUD); with none, nothing of it runs."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.readback import Collect, paint, synchronous
from tests.support.show import make_show, preset, run, solid_worker
from vj.config.mapping import parse_mapping
from vj.paths import MAPPING_DIR
from vj.render.compositor import Compositor
from vj.render.readback import DirectRead, PboRing, PictureTap, make_reader
from vj.render.shaders import ShaderLibrary
from vj.render.textures import read_rgb
from vj.show import Show, ShowLinks, ShowOptions

W, H = 48, 30


@pytest.fixture
def fbo(ctx):
    fbo = ctx.framebuffer(color_attachments=[ctx.texture((W, H), 4)])
    yield fbo
    fbo.release()


@pytest.mark.parametrize("depth", [2, 3])
def test_the_pbo_ring_gives_the_frames_a_synchronous_read_gives_in_order(ctx, fbo, depth):
    ring = PboRing(ctx, (W, H), depth)
    expected, got = [], []
    for i in range(7):
        paint(fbo, i)
        expected.append((synchronous(fbo), float(i)))
        pictures = ring.push(fbo, float(i))
        if i < depth - 1:
            assert pictures == []  # still in flight
        else:
            assert len(pictures) == 1
            got += pictures
    got += ring.drain()
    ring.release()
    assert [p.time for p in got] == [t for _, t in expected]
    for picture, (pixels, _) in zip(got, expected):
        assert np.array_equal(picture.pixels, pixels)
    top, bottom = got[3].pixels[0], got[3].pixels[-1]
    assert (top == 255).all() and not (bottom[:, :3] == 255).all()  # row 0 is the top


def test_the_synchronous_reader_gives_each_frame_at_once_right_way_up(ctx, fbo):
    reader = DirectRead(ctx, (W, H))
    for i in range(3):
        paint(fbo, i)
        reader.settle()
        (picture,) = reader.push(fbo, float(i))
        assert picture.time == i
        assert np.array_equal(picture.pixels, synchronous(fbo))
        assert (picture.pixels[0] == 255).all()
    assert reader.drain() == []


def test_pictures_are_fresh_and_read_only(ctx, fbo):
    for reader in (make_reader(ctx, (W, H), "direct"), make_reader(ctx, (W, H), "pbo")):
        pictures = []
        for i in range(4):
            paint(fbo, i)
            reader.settle()
            pictures += reader.push(fbo, float(i))
        pictures += reader.drain()
        assert len(pictures) == 4
        assert not pictures[0].pixels.flags.writeable
        assert not np.array_equal(pictures[0].pixels, pictures[1].pixels)  # each its own memory, not reused
        reader.release()


def test_the_synchronous_reader_reuses_only_arrays_no_output_holds(ctx, fbo):
    reader = DirectRead(ctx, (W, H))
    paint(fbo, 1)
    (held,) = reader.push(fbo, 1.0)  # an output still holds this one
    (dropped,) = reader.push(fbo, 2.0)
    assert dropped.pixels.base is not held.pixels.base
    second = id(dropped.pixels.base)  # (the pool keeps the array: its id stays its own)
    del dropped  # every output is done with it
    paint(fbo, 3)
    (again,) = reader.push(fbo, 3.0)
    assert id(again.pixels.base) == second  # its memory read into again
    assert np.array_equal(again.pixels, synchronous(fbo)) and not np.array_equal(held.pixels, again.pixels)


def test_an_unknown_read_mode_is_refused(ctx):
    with pytest.raises(ValueError, match="unknown read-back mode 'fast': expected one of auto, pbo, direct, thread"):
        make_reader(ctx, (W, H), "fast")  # type: ignore[arg-type]


def test_a_picture_of_another_size_is_drawn_offscreen_and_fills_the_window(ctx, fbo):
    window = ctx.framebuffer(color_attachments=[ctx.texture((2 * W, 2 * H), 3)])
    tap = PictureTap(ctx, (W, H), Compositor(ctx, ShaderLibrary()), "direct")
    assert tap.target(fbo) is fbo  # the output's size: drawn in place, no copy
    picture_fbo = tap.target(window)
    assert picture_fbo.size == (W, H)
    paint(picture_fbo, 4)
    tap.settle()
    (picture,) = tap.take(window)
    assert picture.pixels.shape == (H, W, 4)
    assert (picture.pixels[..., 3] == 255).all()  # opaque for every output
    shown = np.frombuffer(window.read(components=3), np.uint8).reshape(2 * H, 2 * W, 3)[::-1]
    assert (shown[:H // 2 - 1] == 255).all()  # the white band on top, scaled up
    assert np.abs(shown[-4:].astype(int) - picture.pixels[-1, 0, :3].astype(int)).max() <= 2
    tap.release()
    window.release()


def test_the_outputs_get_the_picture_without_the_hud_and_the_window_keeps_it(ctx):
    video = Collect()
    show = make_show(ctx, hud=True, video=video)  # the Solid test generator: one grey level all over
    target = ctx.framebuffer(color_attachments=[ctx.texture((640, 360), 3)])
    try:
        window = run(show, target, 5)
    finally:
        show.close()
        target.release()
    assert len(video.frames) == 5
    frame, _ = video.frames[-1]
    assert frame.shape == (360, 640, 4) and not frame.flags.writeable
    grey = frame[0, 0, :3]
    assert (frame[..., :3] == grey).all()  # no HUD in the outputs' picture
    differs = (window != grey).any(axis=2)
    assert differs[:40, :40].any() and not differs[-40:, -40:].any()  # the HUD over the same grey, top left
    times = [t for _, t in video.frames]
    assert times == sorted(times)


def test_the_outputs_get_the_output_size_and_the_window_shows_it(ctx, target):
    video = Collect()
    options = ShowOptions(worker_factory=solid_worker, lockstep=True, output_size=(80, 46))
    show = Show(ctx, [preset(seed=200)], parse_mapping(MAPPING_DIR / "default.yaml"), links=ShowLinks(video=video),
                options=options)
    try:
        window = run(show, target, 3)
    finally:
        show.close()
    frame, _ = video.frames[-1]
    assert frame.shape == (46, 80, 4) and (frame[..., 3] == 255).all()  # opaque for every output
    assert (np.abs(window.astype(int) - frame[0, 0, :3]) <= 1).all()  # the same picture, filling the window


def test_without_video_outputs_nothing_is_read_back(ctx, target):
    show = make_show(ctx, hud=True)
    try:
        run(show, target, 3)
        assert show.picture.video is None and show.picture.figures() == {"display_frames": 0}
        assert show.hud_status(show.state.tick(0.0)).outputs is None
    finally:
        show.close()
    assert read_rgb(target).std() > 0
