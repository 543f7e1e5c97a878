"""`vj run` played from a MIDI controller: a real window under Xvfb, a controller process on JACK."""

from __future__ import annotations

import os
import subprocess
import time

import numpy as np
from PIL import Image

from tests.midi import MidiPeer
from tests.test_cli import VJ, _press, _vj_run, _wait_for_window

MAPPING = """\
# a pad that blacks out the show, with its LED
midi: {input: e2e-pads, output: e2e-pads, channel: 1}
bindings:
  - {note: 40, action: blackout, led: [0, 127]}
"""


def _screen(env: dict, path) -> np.ndarray:
    subprocess.run(["import", "-window", "root", str(path)], env=env, check=True, timeout=30)
    return np.asarray(Image.open(path).convert("RGB")).astype(float)


def _wait_led(peer: MidiPeer, message: bytes, after: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if message in peer.received[after:]:
            return
        time.sleep(0.05)
    raise AssertionError(f"LED message {message.hex()} never arrived; got {[m.hex() for m in peer.received]}")


def test_a_pad_blacks_out_the_window_lights_its_led_and_survives_a_replug(jack_server, xvfb_display, tmp_path):
    mapping = tmp_path / "pads.yaml"
    mapping.write_text(MAPPING)
    env = {**os.environ, "DISPLAY": xvfb_display}
    with MidiPeer("e2e-pads") as peer, _vj_run(env, "--mapping", str(mapping), "--seconds", "90") as proc:
        window = _wait_for_window(env, proc)
        _wait_led(peer, bytes([0x90, 40, 0]), 0)  # connected: the LED shows blackout is off
        deadline = time.monotonic() + 20  # the first frames take a moment on a loaded machine
        while _screen(env, tmp_path / "before.png").std() <= 5 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert _screen(env, tmp_path / "before.png").std() > 5

        peer.send(0x90, 40, 100)
        peer.send(0x80, 40, 0)
        _wait_led(peer, bytes([0x90, 40, 127]), 0)
        time.sleep(1.5)  # blackout fades
        assert _screen(env, tmp_path / "black.png").max() < 3

        peer.unplug()  # the controller's cable is pulled: the show goes on
        time.sleep(1.5)
        assert proc.poll() is None
        seen = len(peer.received)
        peer.plug()
        _wait_led(peer, bytes([0x90, 40, 127]), seen)  # back: its LEDs are sent again
        peer.send(0x90, 40, 100)
        peer.send(0x80, 40, 0)
        time.sleep(2.0)
        assert _screen(env, tmp_path / "after.png").std() > 5

        _press(env, window, "Escape")
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "MIDI in: e2e-pads" in out and "not connected" in out


def test_devices_lists_midi_ports(jack_server):
    with MidiPeer("devices-peer"):
        result = subprocess.run([*VJ, "devices"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    inputs = result.stdout.split("MIDI inputs")[1].split("MIDI outputs")[0]
    outputs = result.stdout.split("MIDI outputs")[1]
    assert "devices-peer:out" in inputs and "devices-peer" in outputs
    assert "vj-midi" not in result.stdout  # vj's own probe ports are not offered as controllers
