"""The GLFW window on a real X server (Xvfb): drawing, read-back, keys, fullscreen, monitors."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator

import glfw
import numpy as np
import pytest

from tests.support.display import XVFB_SCREEN
from tests.support.waiting import wait_for
from vj.motion import ViewTransform
from vj.render.compositor import Compositor, LayerView, PostSettings
from vj.render.shaders import ShaderLibrary
from vj.render.textures import FrameTexture, read_rgb
from vj.render.window import (
    KEY_NAMES,
    KeyInput,
    Window,
    WindowConfig,
    WindowError,
    list_monitors,
)


@pytest.fixture
def window(xvfb: str) -> Iterator[Window]:
    win = Window(WindowConfig(size=(320, 240), title="vj-test"))
    yield win
    win.close()


def xdotool(*args: str) -> None:
    exe = shutil.which("xdotool")
    if exe is None:
        pytest.fail("xdotool is not installed; the key tests send real X key events with it (apt-get install xdotool)")
    # Xvfb now and then hangs up on a brand-new client; the next connection gets through.
    for _ in range(3):
        done = subprocess.run([exe, *args], capture_output=True, text=True, timeout=10)
        if done.returncode == 0:
            return
        time.sleep(0.05)  # a moment before the next connection
    pytest.fail(f"xdotool {' '.join(args)} failed: {done.stderr}")


def paint(win: Window, color: tuple[int, int, int], frames: int = 3) -> np.ndarray:
    """Draw a solid colour through the real compositor for a few frames, like the show loop does,
    and return the last frame as read back before its swap.

    Mesa's software GLX resizes the back buffer only at a swap, so the first two frames after a
    resize or fullscreen switch are drawn at the old size; a live show never notices, a single
    frame test would.
    """
    frame = FrameTexture(win.ctx)
    frame.upload(np.full((16, 16, 3), color, dtype=np.uint8))
    compositor = Compositor(win.ctx, ShaderLibrary())
    for _ in range(frames):
        win.poll()
        compositor.render(win.framebuffer, None, LayerView(frame.texture, ViewTransform(), 1.0), 1.0, PostSettings())
        out = read_rgb(win.framebuffer)
        win.swap()
    compositor.release()
    frame.release()
    return out


def polled(win: Window, condition: Callable[[], bool]) -> Callable[[], bool]:
    """`condition`, checked after the window has handled its pending events (as each show frame does)."""

    def check() -> bool:
        win.poll()
        return condition()

    return check


def test_window_renders_and_reads_back(window: Window) -> None:
    assert window.framebuffer_size == (320, 240)
    assert window.framebuffer.size == (320, 240)
    out = paint(window, (30, 144, 255), frames=1)
    assert out.shape == (240, 320, 3)
    assert (out == (30, 144, 255)).all()
    window.set_vsync(False)
    window.set_vsync(True)


def test_resizing_tracks_the_framebuffer(window: Window) -> None:
    xid = glfw.get_x11_window(window._handle)
    xdotool("windowsize", "--sync", str(xid), "400", "300")
    wait_for(polled(window, lambda: window.framebuffer_size == (400, 300)), 5, what="a 400x300 framebuffer")
    assert window.framebuffer.size == (400, 300)
    out = paint(window, (250, 200, 10))
    assert out.shape == (300, 400, 3)
    assert (out == (250, 200, 10)).all()  # every pixel, not just the old 320x240 corner


def test_keys_arrive_through_poll(window: Window) -> None:
    xdotool("search", "--sync", "--name", "^vj-test$", "windowfocus", "--sync",
            "key", "space", "Left", "a", "1", "equal", "minus", "F11", "Escape", "KP_Add")
    names = ["SPACE", "LEFT", "A", "1", "EQUAL", "MINUS", "F11", "ESCAPE", "KP_ADD"]
    seen: list[KeyInput] = []

    def all_keys() -> bool:
        seen.extend(window.poll())
        return len(seen) >= 2 * len(names)

    wait_for(all_keys, 5, what=lambda: f"{2 * len(names)} key events; got {seen}")
    expected = [KeyInput(name, pressed, False) for name in names for pressed in (True, False)]
    assert seen == expected
    assert window.poll() == []  # drained


def test_fullscreen_toggle_switches_to_the_monitor_size(window: Window) -> None:
    monitor = list_monitors()[0]
    assert (monitor.width, monitor.height) == XVFB_SCREEN
    window.toggle_fullscreen()
    assert window.fullscreen
    wait_for(polled(window, lambda: window.framebuffer_size == XVFB_SCREEN), 5, what="a full-screen framebuffer")
    out = paint(window, (5, 6, 7))
    assert out.shape == (XVFB_SCREEN[1], XVFB_SCREEN[0], 3) and (out == (5, 6, 7)).all()
    window.toggle_fullscreen()
    assert not window.fullscreen
    wait_for(polled(window, lambda: window.framebuffer_size == (320, 240)), 5, what="the 320x240 framebuffer back")


def test_fullscreen_at_start_and_monitor_choice(xvfb: str) -> None:
    for choice in (0, "SCREEN", "scr", "0"):
        with Window(WindowConfig(size=(200, 100), fullscreen=True, monitor=choice)) as win:
            assert win.fullscreen
            assert win.framebuffer_size == XVFB_SCREEN


def test_unknown_monitor_lists_the_available_ones(xvfb: str) -> None:
    names = [m.name for m in list_monitors()]
    with pytest.raises(WindowError, match="unknown monitor 'projector'") as info:
        Window(WindowConfig(monitor="projector"))
    for name in names:
        assert name in str(info.value)
    with pytest.raises(WindowError, match="no monitor number 7"):
        Window(WindowConfig(monitor=7))


def test_close_request(window: Window) -> None:
    assert not window.should_close
    window.request_close()
    assert window.should_close


def test_no_display_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    for attempt in (lambda: Window(WindowConfig()), list_monitors):
        with pytest.raises(WindowError, match="no display") as info:
            attempt()
        assert "vj render" in str(info.value)


def test_a_display_with_no_server_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    unused = next(n for n in range(990, 1100) if not os.path.exists(f"/tmp/.X11-unix/X{n}"))
    monkeypatch.setenv("DISPLAY", f":{unused}")
    with pytest.raises(WindowError, match="no display") as info:
        Window(WindowConfig())
    assert "vj render" in str(info.value)


def test_a_current_headless_context_is_a_clear_error(xvfb: str, gl) -> None:
    # Without the check, Xlib would end the process on GLX's BadAccess.
    with pytest.raises(WindowError, match="EGL"):
        Window(WindowConfig())


def test_key_names_follow_glfw() -> None:
    assert KEY_NAMES[glfw.KEY_SPACE] == "SPACE"
    assert KEY_NAMES[glfw.KEY_KP_ADD] == "KP_ADD"
    assert KEY_NAMES[glfw.KEY_MENU] == "MENU"  # not its alias KEY_LAST
    assert KEY_NAMES[glfw.KEY_1] == "1"
    assert glfw.KEY_UNKNOWN not in KEY_NAMES


def test_the_keyboard_source_names_every_key_the_window_reports() -> None:
    from vj import vocabulary

    assert set(KEY_NAMES.values()) == vocabulary.KEY_NAMES
