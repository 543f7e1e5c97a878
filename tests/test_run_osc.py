"""`vj run` played over OSC by a real third-party client (liblo's oscsend), in a window under Xvfb."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from tests.support.display import press, screen_until, wait_for_window
from tests.support.osc import free_udp_port
from tests.support.vj_process import Log, vj_run

pytestmark = pytest.mark.e2e


def test_oscsend_blacks_out_the_window_and_brings_it_back(xvfb_display, tmp_path):
    port = free_udp_port()
    env = {**os.environ, "DISPLAY": xvfb_display}
    with vj_run(env, "--osc-port", str(port), "--seconds", "90") as proc:
        window = wait_for_window(env, proc)
        screen_until(env, tmp_path / "before.png", lambda px: px.std() > 5, what="the first frames")
        subprocess.run(["oscsend", "localhost", str(port), "/vj/blackout", "f", "1"], check=True, timeout=10)
        screen_until(env, tmp_path / "black.png", lambda px: px.max() < 3, what="the blackout to fade in")
        subprocess.run(["oscsend", "localhost", str(port), "/vj/param/blackout", "i", "0"], check=True, timeout=10)
        screen_until(env, tmp_path / "after.png", lambda px: px.std() > 5, what="the picture back")
        press(env, window, "Escape")
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert f"OSC: listening on 127.0.0.1:{port}" in out


def test_a_prompt_sent_over_osc_changes_the_dream(xvfb_display, tmp_path):
    """The procedural dream reads its palette from the prompt: water is blue, fire is red."""
    port = free_udp_port()
    env = {**os.environ, "DISPLAY": xvfb_display}

    def channels(px):
        return px[:720, :1280, :3].reshape(-1, 3).mean(axis=0)  # mean R, G, B of the 1280x720 window

    with vj_run(env, "--osc-port", str(port), "--seconds", "90") as proc:
        window = wait_for_window(env, proc)
        for text, ok in (("deep ocean underwater waves", lambda rgb: rgb[2] > rgb[0] + 20),
                         ("fire lava inferno flames", lambda rgb: rgb[0] > rgb[2] + 20)):
            subprocess.run(["oscsend", "localhost", str(port), "/vj/prompt/select", "i", "1"], check=True, timeout=10)
            subprocess.run(["oscsend", "localhost", str(port), "/vj/prompt/1/text", "s", text], check=True, timeout=10)
            screen_until(env, tmp_path / f"{text[:4]}.png", lambda px, ok=ok: ok(channels(px)),
                         what=f"the colours of {text!r}")
        press(env, window, "Escape")
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "prompt 1: fire lava inferno flames" in out


def test_a_taken_osc_port_does_not_stop_the_show(xvfb_display, tmp_path):
    env = {**os.environ, "DISPLAY": xvfb_display}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with vj_run(env, "--osc-port", str(port), "--seconds", "60") as proc:
            log = Log(proc)
            window = wait_for_window(env, proc)
            log.expect(f"cannot listen for OSC on 127.0.0.1:{port}", timeout=20)
            press(env, window, "Escape")
            proc.wait(timeout=20)
            out = log.join()
    assert proc.returncode == 0, out
