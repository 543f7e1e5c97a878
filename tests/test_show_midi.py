"""The show with MIDI: several mapping files, device status in the HUD, LED feedback, prompt select."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.support.show import make_show, preset, run
from vj.config.mapping import parse_mapping
from vj.config.preset import PromptSpec
from vj.control.midi_ports import MidiStatus
from vj.paths import MAPPING_DIR
from vj.vocabulary import ConfigChanged, ControlEvent, DeviceStatus, key_event

# the EGL context fixtures of the show tests


class Recorder:
    """Collects what the show sends out (stands in for the MIDI port thread, which is tested over
    JACK in tests/control/test_midi_ports.py and end to end in tests/test_run_midi.py)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.devices: list[tuple[str, ...]] = []

    def send(self, device: str, message: bytes) -> None:
        self.sent.append((device, message))

    def set_devices(self, devices) -> None:
        self.devices.append(tuple(d.name for d in devices))

    def status(self) -> MidiStatus:
        return MidiStatus()


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return parse_mapping(path)


def test_a_controller_file_reloads_on_its_own_and_overrides_a_key(ctx, target, tmp_path):
    keys = parse_mapping(MAPPING_DIR / "default.yaml")
    extra = _write(tmp_path, "extra.yaml", "bindings:\n  - {key: ESCAPE, action: hud}\n")
    show = make_show(ctx, mapping=[keys, extra])
    try:
        show.events.put(key_event("ESCAPE", True))
        run(show, target, 1)
        assert not show.quit_requested and show.state.base["hud"] is True
        changed = _write(tmp_path, "extra.yaml", "bindings:\n  - {key: F1, action: hud}\n")
        show.events.put(ConfigChanged(changed.path, changed))
        show.events.put(key_event("ESCAPE", False))
        show.events.put(key_event("ESCAPE", True))
        run(show, target, 1)
        assert show.quit_requested  # the default's ESCAPE is back, the edited file's F1 is new
        assert [b.source for b in show.controls.mapping.bindings if b.action == "hud"][-1] == ("key", "F1")
    finally:
        show.close()


def test_device_status_shows_in_the_hud_until_it_reconnects(ctx, target):
    show = make_show(ctx)
    try:
        show.events.put(DeviceStatus("apc", False, "MIDI input 'APC40' (apc) is not connected; ports: none", "midi in"))
        snap = show.update(1 / 30)
        assert any("APC40" in line for line in show.hud_errors(snap))
        show.events.put(DeviceStatus("apc", True, "MIDI input 'APC40' (apc) connected", "midi in"))
        snap = show.update(1 / 30)
        errors = show.hud_errors(snap)
        assert not any("not connected" in line for line in errors)
        assert any("connected" in line for line in errors)  # a notice that it is back
    finally:
        show.close()


def test_feedback_lights_leds_and_resends_them_after_a_reconnect(ctx, target, tmp_path):
    pads = _write(tmp_path, "pads.yaml", "midi: {input: p, output: p, channel: 1, init: [[0xF0, 0x47, 0xF7]]}\n"
                  "bindings:\n  - {note: 1, action: freeze}\n  - {cc: 7, param: strength}\n")
    link = Recorder()
    show = make_show(ctx, mapping=[pads], midi=link)
    try:
        run(show, target, 1)
        assert set(link.sent) == {("pads", bytes([0x90, 1, 0])), ("pads", bytes([0xB0, 7, 64]))}
        assert link.devices == [("pads",)]
        link.sent.clear()
        show.events.put(ControlEvent(("midi", "pads", 1, "note", 1), 1.0, True))
        run(show, target, 2)
        assert link.sent == [("pads", bytes([0x90, 1, 127]))]  # freeze on; nothing else changed
        link.sent.clear()
        show.events.put(DeviceStatus("pads", True, "MIDI output 'p' (pads) connected", "midi out"))
        run(show, target, 1)
        assert link.sent[0] == ("pads", bytes([0xF0, 0x47, 0xF7]))  # the init message first
        assert set(link.sent[1:]) == {("pads", bytes([0x90, 1, 127])), ("pads", bytes([0xB0, 7, 64]))}
    finally:
        show.close()


def test_prompt_select_fades_to_one_prompt(ctx, target):
    prompts = (PromptSpec("a", 1.0), PromptSpec("b", 0.0), PromptSpec("c", 0.5))
    p = preset()
    p = replace(p, prompts=prompts)
    show = make_show(ctx, presets=[p])
    try:
        show.action("prompt.select", 2)
        assert [show.state.base[f"prompt.{i}.weight"] for i in (1, 2, 3)] == [0.0, 1.0, 0.0]
        show.action("prompt.select", 7)  # the preset has 3
        snap = show.update(1 / 30)
        assert any("no prompt 7" in line for line in show.hud_errors(snap))
        assert show.state.base["prompt.2.weight"] == 1.0
    finally:
        show.close()


def test_learn_mode_binds_a_moved_knob_writes_it_and_the_knob_works_at_once(ctx, target, tmp_path):
    learn_file = tmp_path / "learned.yaml"
    link = Recorder()
    show = make_show(ctx, midi=link, learn_file=learn_file)
    try:
        show.events.put(key_event("F2", True))  # the default mapping's learn key
        show.events.put(key_event("F2", False))
        run(show, target, 1)
        assert show.controls.learning is not None and show.state.base["hud"] is True
        assert link.devices[-1] == ("learn",)  # the ports listen to everything while learning
        while show.controls.learning.target != "strength":
            show.events.put(key_event("DOWN", True))
            show.events.put(key_event("DOWN", False))
            run(show, target, 1)
        assert show.state.base["pan.y"] == 0.0  # DOWN chose the target; it did not pan
        for i, value in enumerate((10, 30, 50, 70)):
            show.events.put(ControlEvent(("midi", "learn", 1, "cc", 21), value / 127, None, value, 1.0 + i * 0.05))
        snap = show.update(1 / 30)
        assert "{cc: 21, channel: 1, param: strength}" in learn_file.read_text()
        assert any("learned" in line and "strength" in line for line in show.hud_errors(snap))
        assert any(m.path == str(learn_file) for m in show.controls.mappings)
        show.events.put(key_event("ESCAPE", True))  # leaves learn mode, does not quit
        show.events.put(key_event("ESCAPE", False))
        run(show, target, 1)
        assert show.controls.learning is None and not show.quit_requested
        assert link.devices[-1] == ("*",)  # the learned file listens to every port
        show.events.put(ControlEvent(("midi", "*", 1, "cc", 21), 1.0, None, 127, 2.0))
        run(show, target, 1)
        assert show.state.base["strength"] == 1.0
    finally:
        show.close()


def test_a_midi_clock_sets_the_tempo_everywhere(ctx, target):
    from vj.vocabulary import ClockEvent

    show = make_show(ctx)
    try:
        period = 60.0 / 128.0 / 24.0
        t = 100.0
        for _ in range(8):  # 8 frames of 1/30 s, with the ticks that fall in each
            frame_end = t + 1 / 30
            while t < frame_end:
                show.events.put(ClockEvent("tick", t))
                t += period
            snap = show.update(1 / 30)
        assert show.clock.state.source == "midi"
        assert snap.f("bpm") == pytest.approx(128.0, abs=0.5)  # the parameter follows: HUD, seed sync
        assert any("(midi)" in line for line in show.hud_lines(snap))
    finally:
        show.close()


@pytest.mark.e2e
def test_a_controller_process_over_jack_moves_the_mapped_parameters(jack_server, ctx, target, tmp_path):
    import time

    from tests.support.midi_peer import MidiPeer
    from vj.control.midi_ports import MidiPorts

    mapping = _write(tmp_path, "ctl.yaml", """\
midi: {input: show-peer, channel: 2}
bindings:
  - {cc: 21, param: strength}
  - {pitchbend: true, param: pan.x}
  - {note: 36, action: freeze}
""")
    with MidiPeer("show-peer") as peer:
        show = make_show(ctx, mapping=[mapping])
        ports = MidiPorts(show.events, mapping.midi, poll=0.1).start()
        try:
            deadline = time.monotonic() + 10
            while "show-peer:out" not in ports.status().inputs and time.monotonic() < deadline:
                time.sleep(0.05)
            peer.send(0xB1, 21, 127)  # CC 21 on channel 2
            peer.send(0xE1, 0x7F, 0x7F)  # pitch bend up
            peer.send(0x91, 36, 90)  # pad
            peer.send(0xB0, 21, 0)  # channel 1: not this mapping's
            while time.monotonic() < deadline:
                snap = show.update(1 / 30)
                if snap["freeze"]:
                    break
                time.sleep(0.02)
            assert show.state.base["strength"] == 1.0
            assert show.state.base["pan.x"] == 2.0
            assert show.state.base["freeze"] is True
        finally:
            ports.stop()
            show.close()
