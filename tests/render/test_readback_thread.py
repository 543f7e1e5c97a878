"""The threaded read-back (vj.render.readback.ThreadRead) in a real GLFW window on Xvfb: the render
thread only blits and hands over; a reader thread with a context sharing the window's reads every
frame, in order, right way up, the same pixels a synchronous read gives; the show's outputs get
every frame through it; a reader that cannot start or falls behind never stops the pictures."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from tests.support.readback import paint, show_frames, synchronous
from tests.support.show import solid_worker
from tests.support.waiting import wait_for
from vj.render import glcalls
from vj.render.readback import SLOTS, DirectRead, PboRing, Picture, ThreadRead, make_reader, software_renderer
from vj.render.window import SharedWindowContext, Window, WindowConfig
from vj.show import ShowOptions
from vj.vocabulary import in_order

W, H = 160, 90


@pytest.fixture
def window(xvfb: str) -> Iterator[Window]:
    win = Window(WindowConfig(size=(W, H), title="vj-readback-test", vsync=False))
    yield win
    win.close()


def calls() -> glcalls.GlCalls:
    found = glcalls.gl_calls()
    assert found is not None, "the system GL library lacks the calls the read-back thread makes"
    return found


def test_auto_reads_on_a_thread_on_software_gl_and_through_pbos_on_a_gpu(window, monkeypatch):
    monkeypatch.setenv("LP_NUM_THREADS", "2")
    reader = make_reader(window.ctx, (W, H), "auto", window.share)
    try:
        assert isinstance(reader, ThreadRead if software_renderer(window.ctx) else PboRing)
    finally:
        reader.release()
    assert isinstance(make_reader(window.ctx, (W, H), "thread"), DirectRead)  # no second context offered


def test_auto_reads_directly_where_llvmpipe_rasterises_on_the_render_thread(window, monkeypatch):
    monkeypatch.setenv("LP_NUM_THREADS", "0")  # what vj run sets on two cores: the copy would be drawn there
    reader = make_reader(window.ctx, (W, H), "auto", window.share)
    assert isinstance(reader, DirectRead if software_renderer(window.ctx) else PboRing)
    reader.release()


def test_the_thread_reads_every_frame_in_order_as_a_synchronous_read_does(window):
    ctx, screen = window.ctx, window.framebuffer
    reader = ThreadRead(ctx, (W, H), window.share(), calls())
    expected: list[tuple[np.ndarray, float]] = []
    got: list[Picture] = []
    for i in range(8):
        paint(screen, i)
        expected.append((synchronous(screen), float(i)))
        reader.settle()
        # the reader done with the frames handed over: on a busy machine it may fall behind, and a
        # frame with no texture free is skipped (tested below); this test is about what it reads
        wait_for(lambda: reader._free.qsize() == SLOTS, 10, what="the reader done with the frames handed over")
        got += reader.push(screen, float(i))
        window.swap()
    got += reader.drain()
    reader.release()
    assert reader.failed is None and reader.skipped == 0
    assert [p.time for p in got] == [t for _, t in expected]
    for picture, (pixels, _) in zip(got, expected, strict=True):
        assert np.array_equal(picture.pixels, pixels)
        assert not picture.pixels.flags.writeable
    assert (got[2].pixels[0] == 255).all() and not (got[2].pixels[-1, :, :3] == 255).all()  # row 0 on top


class Gate(SharedWindowContext):
    """The window's shared context, made current only once the test opens the gate: the reader
    thread stands still meanwhile, as a thread starved of a core would."""

    def __init__(self, shared: SharedWindowContext) -> None:
        self.inner, self.open = shared, threading.Event()

    def make_current(self) -> None:
        self.open.wait(10)
        self.inner.make_current()

    def done_current(self) -> None:
        self.inner.done_current()

    def close(self) -> None:
        self.inner.close()


def test_a_reader_that_falls_behind_skips_frames_and_then_delivers_the_rest(window):
    screen = window.framebuffer
    gate = Gate(window.share())
    reader = ThreadRead(window.ctx, (W, H), gate, calls())
    for i in range(SLOTS + 2):
        paint(screen, i)
        reader.settle()
        assert reader.push(screen, float(i)) == []  # nothing read yet
    assert reader.skipped == 2  # every texture was waiting for the reader
    gate.open.set()
    got = reader.drain()
    paint(screen, 9)
    reader.settle()
    got += reader.push(screen, 9.0) + reader.drain()  # a texture free again: frames flow once more
    reader.release()
    assert [p.time for p in got] == [0.0, 1.0, 2.0, 9.0]


class Broken(SharedWindowContext):
    def __init__(self) -> None:
        self.closed = False

    def make_current(self) -> None:
        raise RuntimeError("no context for you")

    def done_current(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_a_reader_thread_that_cannot_start_leaves_the_render_thread_reading(window, caplog):
    screen = window.framebuffer
    broken = Broken()
    with caplog.at_level(logging.WARNING, logger="vj.render.readback"):
        reader = ThreadRead(window.ctx, (W, H), broken, calls())
        reader._thread.join(5)
    assert reader.failed is not None and "no context for you" in reader.failed
    assert "the render thread reads the pictures itself" in caplog.text
    paint(screen, 3)
    reader.settle()
    (picture,) = reader.push(screen, 3.0)
    assert picture.order == "bgra" and np.array_equal(in_order(picture.pixels, "bgra", "rgba"), synchronous(screen))
    reader.release()
    assert broken.closed


def test_the_window_read_directly_comes_in_its_own_order_bgra(window):
    screen = window.framebuffer
    reader = make_reader(window.ctx, (W, H), "direct")
    paint(screen, 5)  # red 0.5, green 0.25, blue 0.2 under the white band
    reader.settle()
    (picture,) = reader.push(screen, 5.0)
    assert picture.order == "bgra" and tuple(picture.pixels[-1, 0]) == (51, 64, 128, 255)  # blue first
    assert np.array_equal(in_order(picture.pixels, "bgra", "rgba"), synchronous(screen))
    assert (picture.pixels[0] == 255).all()  # row 0 on top
    reader.release()


def test_a_window_system_that_will_not_share_gives_a_synchronous_reader(window, caplog):
    def refuse() -> SharedWindowContext:
        raise RuntimeError("sharing refused")

    with caplog.at_level(logging.WARNING, logger="vj.render.readback"):
        reader = make_reader(window.ctx, (W, H), "thread", refuse)
    assert isinstance(reader, DirectRead) and "sharing refused" in caplog.text


def test_the_show_hands_every_frame_to_the_outputs_through_the_thread(window):
    options = ShowOptions(lockstep=True, read_mode="thread", gl_share=window.share, worker_factory=solid_worker)
    video, reader = show_frames(window, options)
    assert isinstance(reader, ThreadRead)
    assert len(video.frames) == 6
    frame, _ = video.frames[-1]
    assert frame.shape == (H, W, 4) and (frame[..., 3] == 255).all()
    assert (frame[..., :3] == frame[0, 0, :3]).all()  # the Solid generator's grey, no HUD
    assert [t for _, t in video.frames] == sorted(t for _, t in video.frames)
