"""The read-back by the window system (vj.render.readback.ServerRead, vj.render.xgrab) in a real
GLFW window on Xvfb: the X server copies each swapped frame into shared memory for a reader
thread; every frame comes, in order, right way up, the pixels a plain read gives; frames under
the HUD are read directly; `auto` takes this way only where no other window can show through the
show's; a server that refuses, or outputs that hold every image, never stop the pictures."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator

import glfw
import numpy as np
import pytest

from tests.support.readback import paint, show_frames, synchronous
from tests.support.show import solid_worker
from tests.support.xroot import RootProperties
from vj.render.readback import DirectRead, PboRing, Picture, ServerRead, make_reader, software_renderer
from vj.render.window import Window, WindowConfig
from vj.render.xgrab import SEGMENTS, GrabError, WindowGrab
from vj.show import ShowOptions
from vj.vocabulary import in_order

W, H = 160, 90


@pytest.fixture
def window(xvfb: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Window]:
    monkeypatch.setenv("LP_NUM_THREADS", "0")  # what `vj run` sets on two cores: auto would read directly
    win = Window(WindowConfig(size=(W, H), title="vj-readback-server-test", vsync=False))
    yield win
    win.close()


def frames(window: Window, reader: ServerRead, count: int, covered: Collection[int] = (), first: int = 0,
           keep: bool = False) -> list[Picture]:
    """Frames `first`.. `first + count - 1` painted and handed to `reader` as the show hands them
    over (paint, settle, push, swap); each picture's pixels copied unless `keep` (a held picture
    keeps its shared image)."""
    screen = window.framebuffer
    got: list[Picture] = []

    def take(pictures: list[Picture]) -> None:
        got.extend(pictures if keep else (Picture(p.pixels.copy(), p.time, p.order) for p in pictures))

    for i in range(first, first + count):
        paint(screen, i)
        reader.settle()
        take(reader.push(screen, float(i), covered=i in covered))
        window.swap()
    take(reader.drain())
    return got


def expected(window: Window, i: int) -> np.ndarray:
    paint(window.framebuffer, i)
    return synchronous(window.framebuffer)


def test_auto_reads_from_the_x_server_where_no_other_window_can_show_through(window, caplog):
    def reader() -> object:
        made = make_reader(window.ctx, (W, H), "auto", window.share, window.pixels)
        made.release()
        return type(made)

    if not software_renderer(window.ctx):
        assert reader() is PboRing
        return
    assert reader() is ServerRead  # Xvfb, no window manager: nothing stacks windows over the show's
    root = RootProperties(window)
    try:
        root.window_manager(True)
        with caplog.at_level(logging.INFO, logger="vj.render.readback"):
            assert reader() is DirectRead  # another window could cover the show's and be sent as its picture
        assert "may cover the show's window" in caplog.text
        root.compositor(True)
        assert reader() is ServerRead  # a compositor keeps every window's pixels its own
        server = make_reader(window.ctx, (W, H), "server", window.share, window.pixels)
        assert isinstance(server, ServerRead)  # asked for: taken even so
        server.release()
    finally:
        root.compositor(False)
        root.window_manager(False)


def test_every_frame_comes_in_order_right_way_up_as_a_plain_read_gives_it(window):
    reader = ServerRead(window.ctx, (W, H), window.pixels((W, H)))
    got = frames(window, reader, 12)
    reader.release()
    assert reader.failed is None and reader.skipped == 0
    assert [p.time for p in got] == [float(i) for i in range(12)]
    for i, picture in enumerate(got):
        assert picture.order == "bgra"
        assert np.array_equal(in_order(picture.pixels, "bgra", "rgba"), expected(window, i)), f"frame {i}"
    assert (got[3].pixels[0] == 255).all() and not (got[3].pixels[-1, :, :3] == 255).all()  # row 0 on top


def test_the_pictures_are_read_only_and_opaque(window):
    reader = ServerRead(window.ctx, (W, H), window.pixels((W, H)))
    (first, *_) = frames(window, reader, 2, keep=True)
    reader.release()
    assert not first.pixels.flags.writeable and (first.pixels[..., 3] == 255).all()


def test_frames_under_the_hud_are_read_directly_and_none_comes_out_of_order(window):
    reader = ServerRead(window.ctx, (W, H), window.pixels((W, H)))
    got = frames(window, reader, 8, covered={3, 4})
    reader.release()
    times = [p.time for p in got]
    # frame 2, asked of the server at frame 3's hand-off, is dropped if it comes after frame 3 read
    # directly: an output never goes back in time
    assert times == sorted(set(times)) and {3.0, 4.0, 5.0, 6.0, 7.0} <= set(times)
    for picture in got:
        assert np.array_equal(in_order(picture.pixels, picture.order, "rgba"), expected(window, int(picture.time)))


def test_outputs_holding_every_image_skip_frames_and_the_frames_flow_again_once_let_go(window):
    reader = ServerRead(window.ctx, (W, H), window.pixels((W, H)))
    held = frames(window, reader, SEGMENTS + 3, keep=True)  # every picture kept, as a stalled output would
    assert len(held) == SEGMENTS and reader.skipped == 3
    del held
    got = frames(window, reader, 4, first=20)
    reader.release()
    assert [p.time for p in got] == [20.0, 21.0, 22.0, 23.0] and reader.failed is None


def test_a_server_that_refuses_leaves_the_render_thread_reading(window, caplog):
    reader = ServerRead(window.ctx, (W, H), window.pixels((W, H)))
    screen = window.framebuffer
    with caplog.at_level(logging.WARNING, logger="vj.render.readback"):
        frames(window, reader, 2)
        glfw.hide_window(window._handle)  # an unmapped window has no pixels on the server: BadMatch
        paint(screen, 5)
        reader.settle()
        reader.push(screen, 5.0)
        window.swap()
        assert reader.drain() == []  # frame 5 is lost: the server refused it
        assert reader.failed is not None and "X error 8" in reader.failed  # BadMatch
        glfw.show_window(window._handle)
        paint(screen, 6)
        reader.settle()
        (picture,) = reader.push(screen, 6.0)  # read directly from now on
    reader.release()
    assert "the render thread reads the pictures itself" in caplog.text
    assert np.array_equal(in_order(picture.pixels, picture.order, "rgba"), expected(window, 6))


def test_no_x_window_means_a_direct_read_said_in_the_log(window, caplog):
    def refuse(size: tuple[int, int]) -> WindowGrab:
        raise GrabError("the window is not an X window")

    with caplog.at_level(logging.WARNING, logger="vj.render.readback"):
        reader = make_reader(window.ctx, (W, H), "server", window.share, refuse)
    assert isinstance(reader, DirectRead) and "not an X window" in caplog.text
    with pytest.raises(GrabError, match="refused the window's geometry"):
        WindowGrab(glfw.get_x11_display(), 0x7FFFFFF, (W, H))  # no such window on the server


@pytest.mark.parametrize("hud", [False, True])
def test_the_show_hands_every_frame_to_the_outputs_clean_with_or_without_the_hud(window, hud):
    options = ShowOptions(lockstep=True, read_mode="server", window_pixels=window.pixels, hud=hud,
                          worker_factory=solid_worker)
    video, reader = show_frames(window, options)
    assert isinstance(reader, ServerRead)
    assert len(video.frames) == 6
    assert video.orders == ["bgra"] * 6
    for frame, _ in video.frames:
        assert frame.shape == (H, W, 4) and (frame[..., 3] == 255).all()
        assert (frame[..., :3] == frame[0, 0, :3]).all()  # the Solid generator's grey, no HUD over it
    assert [t for _, t in video.frames] == sorted(t for _, t in video.frames)
