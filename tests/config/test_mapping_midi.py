"""MIDI in mapping files: the device section, sources, options, and errors with file and line."""

from __future__ import annotations

import pytest

from vj.config.mapping import merge_mappings, parse_mapping
from vj.config.midi import ANY_DEVICE, BeatLed, port_matches
from vj.config.source import ConfigError


def load(tmp_path, text, name="m.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return parse_mapping(path)


def errors(tmp_path, text):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return [str(p) for p in info.value.problems]


def test_bad_numbers_channels_and_targets_name_file_line_and_key(tmp_path):
    path = tmp_path / "m.yaml"
    problems = errors(tmp_path, """\
bindings:
  - {cc: 128, param: strength}
  - {cc: 7, channel: 0, param: strength}
  - {cc: 7, channel: 17, param: strength}
  - {note: -1, action: freeze}
  - {cc: 7, param: strenght}
  - {nrpn: 20000, param: hue}
  - {cc14: 40, param: hue}
  - {pitchbend: 3, param: hue}
  - {note: 3, encoder: twos-complement, param: zoom}
  - {cc: 3, encoder: clockwise, param: zoom}
  - {cc: 3, led: [0, 300], action: freeze}
  - {note: 5, action: preset.select}
""")
    assert problems == [
        f"{path}:2: bindings[0].cc: expected a whole number in 0..127, got 128",
        f"{path}:3: bindings[1].channel: expected a whole number in 1..16, got 0",
        f"{path}:4: bindings[2].channel: expected a whole number in 1..16, got 17",
        f"{path}:5: bindings[3].note: expected a whole number in 0..127, got -1",
        f"{path}:6: bindings[4].param: unknown parameter 'strenght' (see `vj params` for the list)",
        f"{path}:7: bindings[5].nrpn: expected a whole number in 0..16383, got 20000",
        f"{path}:8: bindings[6].cc14: expected a whole number in 0..31 (the MSB's number; its LSB is that plus 32), "
        "got 40",
        f"{path}:9: bindings[7].pitchbend: expected true, got a number (3)",
        f"{path}:10: bindings[8].encoder: relative encoders send plain CC: use cc: NUMBER",
        f"{path}:11: bindings[9].encoder: expected one of twos-complement, signed-bit, binary-offset, "
        "got a string ('clockwise')",
        f"{path}:12: bindings[10].led: expected [off, on] values in 0..127 (and optionally a channel 1-16), "
        "got [0, 300]",
        f"{path}:13: bindings[11].value: action preset.select needs a value",
    ]


def test_a_program_change_carries_its_number_to_a_value_taking_action(tmp_path):
    config = load(tmp_path, "bindings:\n  - {program: 5, action: preset.select}\n"
                            "  - {program: any, action: prompt.select}\n")
    assert [b.action for b in config.bindings] == ["preset.select", "prompt.select"]
    assert len(config.bindings[1].sources) == 16 * 128


def test_the_midi_section_names_the_device_and_sets_defaults(tmp_path):
    config = load(tmp_path, """
midi:
  input: APC40
  output: APC40 mkII
  channel: 3
  takeover: pickup
  beat: [{note: 91, led: [0, 5]}, {cc: 20, channel: 4}]
bindings:
  - {cc: 7, param: strength}
  - {cc: 8, channel: any, param: feedback, takeover: jump}
""", name="apc.yaml")
    [device] = config.midi
    assert (device.name, device.input, device.output, device.channel, device.takeover) == (
        "apc", "APC40", "APC40 mkII", 3, "pickup")
    assert device.beat == (BeatLed("note", 91, 3, 0, 5), BeatLed("cc", 20, 4, 0, 127))
    first, second = config.bindings
    assert first.sources == (("midi", "apc", 3, "cc", 7),) and first.takeover == "pickup"
    assert len(second.sources) == 16 and second.takeover == "jump"


def test_midi_bindings_without_a_section_listen_to_every_port(tmp_path):
    config = load(tmp_path, "bindings:\n  - {note: 1, action: freeze}\n")
    assert [d.name for d in config.midi] == [ANY_DEVICE] and config.midi[0].matches_input("anything:out")
    assert load(tmp_path, "bindings:\n  - {key: A, action: freeze}\n").midi == ()


def test_beat_leds_need_an_output(tmp_path):
    problems = errors(tmp_path, "midi: {input: X, beat: [{note: 1}]}\nbindings: []\n")
    assert problems == [f"{tmp_path / 'm.yaml'}:1: midi.beat: beat LEDs need an output port: add output: PATTERN"]


def test_port_patterns_are_parts_of_names_or_globs():
    assert port_matches("apc40", "APC40 mkII:APC40 mkII MIDI 1 20:0")
    assert not port_matches("APC mini", "APC40 mkII")
    assert port_matches("nano*2*", "nanoKONTROL2:nanoKONTROL2 _ CTRL")
    assert port_matches("", "whatever")


def test_merging_keeps_all_devices_and_a_later_file_takes_over_a_control(tmp_path):
    keys = load(tmp_path, "bindings:\n  - {key: A, action: freeze}\n  - {key: B, action: hud}\n", "keys.yaml")
    pads = load(tmp_path, "midi: {input: pads}\nbindings:\n  - {note: 1, action: tap}\n"
                          "  - {key: B, action: blackout}\n", "pads.yaml")
    merged = merge_mappings([keys, pads])
    assert [(b.source, b.action) for b in merged.bindings] == [
        (("key", "A"), "freeze"), (("midi", "pads", 1, "note", 1), "tap"), (("key", "B"), "blackout")]
    assert [d.name for d in merged.midi] == ["pads"]
    assert merged.files == (keys.path, pads.path)


def test_init_messages_are_bytes_with_a_status_byte_and_need_an_output(tmp_path):
    config = load(tmp_path, "midi: {input: x, output: x, init: [[0xF0, 0x00, 0x20, 0x29, 0xF7], [0xB0, 0, 1]]}\n"
                            "bindings: []\n")
    assert config.midi[0].init == (bytes([0xF0, 0x00, 0x20, 0x29, 0xF7]), bytes([0xB0, 0, 1]))
    path = tmp_path / "m.yaml"
    assert errors(tmp_path, "midi:\n  input: x\n  init: [[1, 2], [0x90, 300]]\nbindings: []\n") == [
        f"{path}:3: midi.init: [0]: expected a MIDI message as a list of bytes starting with a status byte, "
        "got [1, 2]",
        f"{path}:3: midi.init: [1]: expected a MIDI message as a list of bytes starting with a status byte, "
        "got [144, 300]",
        f"{path}:3: midi.init: init messages need an output port: add output: PATTERN",
    ]
