"""The preview made by a process of its own from the X server's copy of a real window (GLFW under
Xvfb; vj.surface.window_preview): JPEGs of the window, scaled, upright, in its colours, only while
asked for, from a process started only once one asks; the window resized is followed; where
another window could cover the show's, or the process dies, it says so and the show makes the
preview itself."""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Iterator

import glfw
import numpy as np
import pytest
from PIL import Image

from tests.support.readback import paint
from tests.support.waiting import wait_for
from tests.support.xroot import RootProperties
from vj.render.window import Window, WindowConfig
from vj.surface.jpeg import preview_size
from vj.surface.window_preview import WindowPreview

SIZE = (640, 360)


@pytest.fixture
def window(xvfb: str) -> Iterator[Window]:
    win = Window(WindowConfig(size=SIZE, title="vj-window-preview-test", vsync=False))
    paint(win.framebuffer, 4)  # 0.4, 0.3, 0.2 under a white band over the top quarter
    win.swap()
    yield win
    win.close()


def started(window: Window, jpegs: list[bytes]) -> WindowPreview:
    window_id = window.x11_id()
    assert window_id is not None, "a GLFW window under Xvfb has an X id"
    preview = WindowPreview(window_id, jpegs.append, period=0.05)
    preview.active(True)  # the first want starts the process
    wait_for(lambda: preview.usable or preview.why is not None, 30, what="the preview process to say whether it can")
    return preview


def colours(jpeg: bytes) -> tuple[tuple[int, int], np.ndarray]:
    image = Image.open(io.BytesIO(jpeg))
    return image.size, np.asarray(image.convert("RGB")).astype(int)


def test_no_process_until_a_page_wants_the_preview(window):
    preview = WindowPreview(window.x11_id() or 0, [].append)
    for _ in range(3):
        preview.active(False)
    assert not preview.started and preview._process is None and not preview.usable
    preview.stop()  # nothing to end


def test_jpegs_of_the_window_come_only_while_asked_for(window):
    jpegs: list[bytes] = []
    preview = started(window, jpegs)
    try:
        assert preview.usable, preview.why
        assert preview._process is not None and os.sched_getscheduler(preview._process.pid) == os.SCHED_IDLE
        preview.active(True)  # now written to the process
        wait_for(lambda: len(jpegs) >= 3, 30, what="three JPEGs from the preview process")
        preview.active(False)
        stopped_at = len(jpegs)
        time.sleep(0.5)  # ten periods with the preview off
        assert len(jpegs) <= stopped_at + 1  # one may have been on its way
    finally:
        preview.stop()
    size, rgb = colours(jpegs[0])
    assert size == preview_size(SIZE) == (320, 180)
    assert (rgb[:35] >= 245).all()  # the white band, on top
    assert np.abs(rgb[60:] - (102, 76, 51)).max() <= 8  # the painted colour, red first (JPEG's error)


def test_a_resized_window_is_followed(window):
    jpegs: list[bytes] = []
    preview = started(window, jpegs)
    try:
        preview.active(True)
        wait_for(lambda: bool(jpegs), 30, what="a JPEG")
        glfw.set_window_size(window._handle, 400, 400)

        def resized() -> bool:
            glfw.poll_events()
            return window.framebuffer_size == (400, 400)

        wait_for(resized, 10, what="the resize")
        paint(window.framebuffer, 4)
        window.swap()
        wait_for(lambda: colours(jpegs[-1])[0] == (320, 320), 30, what="a square JPEG")
    finally:
        preview.stop()


def test_where_other_windows_could_cover_the_show_it_says_so_and_the_show_draws_it(window, caplog):
    root = RootProperties(window)
    root.window_manager(True)
    try:
        with caplog.at_level(logging.INFO, logger="vj.surface.window_preview"):
            preview = started(window, [])
            preview.stop()
    finally:
        root.window_manager(False)
    assert not preview.usable and preview.why is not None and "window manager" in preview.why
    assert "the show draws it" in caplog.text


def test_a_preview_process_that_dies_is_said_and_left(window, caplog):
    jpegs: list[bytes] = []
    preview = started(window, jpegs)
    with caplog.at_level(logging.WARNING, logger="vj.surface.window_preview"):
        preview.active(True)
        wait_for(lambda: bool(jpegs), 30, what="a JPEG")
        preview._process.kill()
        wait_for(lambda: not preview.usable, 10, what="the death noticed")
    preview.active(True)  # nothing to write to: no error
    preview.stop()
    assert preview.why is not None and "stopped" in preview.why
    assert "the show draws the preview from now on" in caplog.text
