"""`vj run` played over OSC by a real third-party client (liblo's oscsend), in a window under Xvfb."""

from __future__ import annotations

import os
import socket
import subprocess
import time

from tests.test_cli import _press, _vj_run, _wait_for_window
from tests.test_run_midi import _screen


def _until(env: dict, path, ok, timeout: float = 20.0):
    """Screenshots until `ok(pixels)`: the window's first frames take a moment under Xvfb."""
    deadline = time.monotonic() + timeout
    while True:
        pixels = _screen(env, path)
        if ok(pixels) or time.monotonic() > deadline:
            return pixels
        time.sleep(0.3)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_oscsend_blacks_out_the_window_and_brings_it_back(xvfb_display, tmp_path):
    port = _free_port()
    env = {**os.environ, "DISPLAY": xvfb_display}
    with _vj_run(env, "--osc-port", str(port), "--seconds", "90") as proc:
        window = _wait_for_window(env, proc)
        assert _until(env, tmp_path / "before.png", lambda px: px.std() > 5).std() > 5
        subprocess.run(["oscsend", "localhost", str(port), "/vj/blackout", "f", "1"], check=True, timeout=10)
        assert _until(env, tmp_path / "black.png", lambda px: px.max() < 3).max() < 3  # blackout fades
        subprocess.run(["oscsend", "localhost", str(port), "/vj/param/blackout", "i", "0"], check=True, timeout=10)
        assert _until(env, tmp_path / "after.png", lambda px: px.std() > 5).std() > 5
        _press(env, window, "Escape")
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert f"OSC: listening on 127.0.0.1:{port}" in out


def test_a_prompt_sent_over_osc_changes_the_dream(xvfb_display, tmp_path):
    """The procedural dream reads its palette from the prompt: water is blue, fire is red."""
    port = _free_port()
    env = {**os.environ, "DISPLAY": xvfb_display}

    def channels(px):
        return px[:720, :1280, :3].reshape(-1, 3).mean(axis=0)  # mean R, G, B of the 1280x720 window

    with _vj_run(env, "--osc-port", str(port), "--seconds", "90") as proc:
        window = _wait_for_window(env, proc)
        for text, ok in (("deep ocean underwater waves", lambda rgb: rgb[2] > rgb[0] + 20),
                         ("fire lava inferno flames", lambda rgb: rgb[0] > rgb[2] + 20)):
            subprocess.run(["oscsend", "localhost", str(port), "/vj/prompt/select", "i", "1"], check=True, timeout=10)
            subprocess.run(["oscsend", "localhost", str(port), "/vj/prompt/1/text", "s", text], check=True, timeout=10)
            rgb = channels(_until(env, tmp_path / f"{text[:4]}.png", lambda px: ok(channels(px))))
            assert ok(rgb), (text, rgb)
        _press(env, window, "Escape")
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "prompt 1: fire lava inferno flames" in out


def test_a_taken_osc_port_does_not_stop_the_show(xvfb_display, tmp_path):
    env = {**os.environ, "DISPLAY": xvfb_display}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with _vj_run(env, "--osc-port", str(port), "--seconds", "60") as proc:
            window = _wait_for_window(env, proc)
            time.sleep(1.0)
            _press(env, window, "Escape")
            out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert f"cannot listen for OSC on 127.0.0.1:{port}" in out
