from pathlib import Path

import pytest

from vj.config.mapping import parse_mapping
from vj.config.source import ConfigError
from vj.paths import MAPPING_DIR


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_mapping(path)
    return [str(p) for p in info.value.problems]


def test_default_mapping_binds_the_documented_keys():
    mapping = parse_mapping(MAPPING_DIR / "default.yaml")
    by_key = {b.source[1]: b for b in mapping.bindings}
    assert by_key["F"].action == "fullscreen"
    assert by_key["H"].action == "hud"
    assert by_key["SPACE"].action == "freeze"
    assert by_key["B"].action == "blackout"
    assert by_key["T"].action == "tap"
    assert by_key["LEFT"].param == "pan.x" and by_key["LEFT"].value < 0
    assert by_key["EQUAL"].param == "zoom" and by_key["EQUAL"].step > 0
    assert by_key["MINUS"].param == "zoom" and by_key["MINUS"].step < 0
    assert [by_key[str(n)].value for n in range(1, 10)] == list(range(9))
    assert mapping.lfos and mapping.lfos[0].beats == 16


def test_bindings_record_their_line(tmp_path):
    mapping = parse_mapping(write(tmp_path, "bindings:\n  - key: a\n    action: hud\n  - {key: 1, action: tap}\n"))
    assert [(b.source, b.line) for b in mapping.bindings] == [(("key", "A"), 2), (("key", "1"), 4)]


def test_errors_name_file_line_and_key(tmp_path):
    path = write(
        tmp_path,
        "bindings:\n"
        "  - key: SPACEY\n"
        "    action: freeze\n"
        "  - {key: A, param: nope}\n"
        "  - {key: B, param: zoom, range: [0, 9]}\n"
        "  - {key: C, param: zoom, curve: wiggly}\n"
        "  - {key: D, action: explode}\n"
        "  - {key: E}\n"
        "  - {key: G, param: zoom, mode: step}\n"
        "  - {key: I, action: preset.select}\n"
        "lfos:\n"
        "  - {param: zoom, hz: 1}\n"
        "  - {param: freeze, hz: 1, amount: 1}\n"
        "  - {param: zoom, amount: 1}\n"
        "extra: 1\n",
    )
    assert problems(path) == [
        f"{path}:2: bindings[0].key: unknown key 'SPACEY'; expected a GLFW key name such as SPACE, LEFT, A, 1, F11",
        f"{path}:4: bindings[1].param: unknown parameter 'nope' (see `vj params` for the list)",
        f"{path}:5: bindings[2].range: [0, 9] is outside zoom's range -2..2",
        f"{path}:6: bindings[3].curve: expected one of lin, exp, log, got a string ('wiggly')",
        f"{path}:7: bindings[4].action: unknown action 'explode'; expected one of: fullscreen, hud, freeze, "
        "blackout, flash, preset.select, preset.next, preset.prev, tap, tempo.double, tempo.half, beat.nudge, "
        "beat.resync, seed.step, prompt.select, motion.reset, learn, "
        "quit, "
        "prompt.N.text (N 1-8)",
        f"{path}:8: bindings[5]: needs exactly one target: param or action",
        f"{path}:9: bindings[6].step: step mode needs a non-zero step",
        f"{path}:10: bindings[7].value: action preset.select needs a value",
        f"{path}:12: lfos[0].amount: is required",
        f"{path}:13: lfos[1].param: 'freeze' is not a continuous parameter (LFOs modulate float parameters)",
        f"{path}:14: lfos[2]: needs exactly one rate: hz (cycles per second) or beats (beats per cycle)",
        f"{path}:15: extra: unknown key; expected one of: description, midi, bindings, lfos, audio, outputs",
    ]


def test_bindings_must_be_a_list(tmp_path):
    path = write(tmp_path, "bindings: {key: A}\n")
    assert problems(path) == [f"{path}:1: bindings: expected a list, got a mapping"]


def test_empty_file_is_an_empty_mapping(tmp_path):
    assert parse_mapping(write(tmp_path, "")).bindings == ()
