"""`vj run` played from a MIDI controller: a real window under Xvfb, a controller process on JACK."""

from __future__ import annotations

import os
import time

import pytest

from tests.support.display import press, screen_until, wait_for_window
from tests.support.midi_peer import MidiPeer
from tests.support.vj_process import Log, vj, vj_run

pytestmark = pytest.mark.e2e

MAPPING = """\
# a pad that blacks out the show, with its LED
midi: {input: e2e-pads, output: e2e-pads, channel: 1}
bindings:
  - {note: 40, action: blackout, led: [0, 127]}
"""


def test_a_pad_blacks_out_the_window_lights_its_led_and_survives_a_replug(jack_server, xvfb_display, tmp_path):
    mapping = tmp_path / "pads.yaml"
    mapping.write_text(MAPPING)
    env = {**os.environ, "DISPLAY": xvfb_display}
    with MidiPeer("e2e-pads") as peer, vj_run(env, "--mapping", str(mapping), "--seconds", "90") as proc:
        log = Log(proc)
        window = wait_for_window(env, proc)
        peer.wait_message(bytes([0x90, 40, 0]))  # connected: the LED shows blackout is off
        screen_until(env, tmp_path / "before.png", lambda px: px.std() > 5, what="the first frames")

        peer.send(0x90, 40, 100)
        peer.send(0x80, 40, 0)
        peer.wait_message(bytes([0x90, 40, 127]))
        screen_until(env, tmp_path / "black.png", lambda px: px.max() < 3, what="the blackout to fade in")

        peer.unplug()  # the controller's cable is pulled: the show goes on
        time.sleep(1.5)  # three port scans without the controller: vj must keep running
        assert proc.poll() is None
        seen = len(peer.received)
        peer.plug()
        peer.wait_message(bytes([0x90, 40, 127]), after=seen)  # back: its LEDs are sent again
        # vj opens the controller's input again in the same port scan as its output, so a press
        # right after the LEDs could come before that: wait until vj says the input is open
        log.expect("MIDI in: e2e-pads", count=2)
        pressed = len(peer.received)
        peer.send(0x90, 40, 100)
        peer.send(0x80, 40, 0)
        peer.wait_message(bytes([0x90, 40, 0]), after=pressed)  # the LED says blackout is off again
        screen_until(env, tmp_path / "after.png", lambda px: px.std() > 5, what="the picture back after the blackout")

        press(env, window, "Escape")
        proc.wait(timeout=20)
        out = log.join()
    assert proc.returncode == 0, out
    assert "MIDI in: e2e-pads" in out and "not connected" in out


def test_devices_lists_midi_ports(jack_server):
    with MidiPeer("devices-peer"):
        result = vj("devices", timeout=60)
    assert result.returncode == 0, result.stderr
    inputs = result.stdout.split("MIDI inputs")[1].split("MIDI outputs")[0]
    outputs = result.stdout.split("MIDI outputs")[1]
    assert "devices-peer:out" in inputs and "devices-peer" in outputs
    assert "vj-midi" not in result.stdout  # vj's own probe ports are not offered as controllers
