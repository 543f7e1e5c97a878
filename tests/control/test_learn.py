"""MIDI learn: gesture inference on real decoded events, the comment-keeping writer, `vj learn` over JACK."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.midi_peer import MidiPeer
from tests.support.vj_process import ROOT, VJ, Log, vj
from vj.config.mapping import parse_mapping
from vj.control.learn import LearnedBinding, Learner, LearnError
from vj.control.learn_cli import run_learn
from vj.control.learn_yaml import write_binding
from vj.control.midi_decode import MidiDecoder
from vj.paths import MAPPING_DIR


def learn(target: str, *messages: list[int], value: float | None = None,
          dt: float = 0.05) -> tuple[Learner, list[LearnedBinding | None]]:
    """Feed raw MIDI messages through the real decoder into a Learner; the result after each message."""
    decoder, learner = MidiDecoder(("ctl",)), Learner(target, value)
    after: list[LearnedBinding | None] = []
    for i, message in enumerate(messages):
        got = None
        for event in decoder.decode(message, 1.0 + i * dt):
            got = learner.feed(event) or got
        after.append(got)
    return learner, after


def learned(target: str, *messages: list[int], value: float | None = None) -> str | None:
    result = next((r for r in learn(target, *messages, value=value)[1] if r is not None), None)
    return result.text() if result else None


def cc(channel: int, number: int, *values: int) -> list[list[int]]:
    return [[0xB0 | (channel - 1), number, v] for v in values]


# -- inference ---------------------------------------------------------------------------------


def test_a_turned_knob_binds_as_an_absolute_cc_on_its_channel_once_it_has_moved() -> None:
    _, after = learn("strength", *cc(3, 21, 10, 20, 30, 40))
    assert after[:2] == [None, None]  # two positions are not yet a gesture
    assert after[2] is not None and after[2].text() == "{cc: 21, channel: 3, param: strength}"
    assert after[3] is None  # one result only


@pytest.mark.parametrize("values", [(64, 65, 64, 65, 64), (64, 65, 66, 65), (127,), (90, 89)])
def test_a_twitch_or_a_noisy_fader_does_not_bind(values: tuple[int, ...]) -> None:
    assert learned("strength", *cc(1, 48, *values)) is None


def test_slow_drift_spread_over_seconds_does_not_bind() -> None:
    _, after = learn("strength", *cc(1, 48, 64, 65, 66, 67), dt=1.5)  # one step every 1.5 s: noise
    assert after == [None] * 4


@pytest.mark.parametrize(
    "target, value, expected",
    [
        ("seed.sync", None, "{note: 36, channel: 10, param: seed.sync}"),  # bool: toggle (the default)
        ("tap", None, "{note: 36, channel: 10, action: tap}"),
        ("freeze", None, "{note: 36, channel: 10, action: freeze}"),  # a param and an action: a pad fires it
        ("param:freeze", None, "{note: 36, channel: 10, param: freeze}"),
        ("blackout", None, "{note: 36, channel: 10, action: blackout}"),
        ("param:blackout", None, "{note: 36, channel: 10, param: blackout, mode: momentary}"),
        ("preset.select", 2, "{note: 36, channel: 10, action: preset.select, value: 2}"),
        ("zoom", 0.5, "{note: 36, channel: 10, param: zoom, mode: momentary, value: 0.5}"),
        ("steps", None, "{note: 36, channel: 10, param: steps, mode: step, step: 1, wrap: true}"),
        ("preset", 3, "{note: 36, channel: 10, param: preset, mode: trigger, value: 3}"),
        ("scheduler", None, "{note: 36, channel: 10, param: scheduler, mode: step, step: 1, wrap: true}"),
    ],
)
def test_a_pad_binds_on_press_as_the_target_expects(target: str, value: float | None, expected: str) -> None:
    _, after = learn(target, [0x99, 36, 100], [0x89, 36, 0], value=value)
    assert after[0] is not None and after[0].text() == expected


def test_a_note_release_alone_does_not_bind() -> None:
    assert learned("freeze", [0x90, 36, 0], [0x80, 37, 0]) is None


def test_a_cc_button_binds_on_its_release_and_a_held_value_does_not() -> None:
    _, after = learn("seed.sync", *cc(1, 64, 127, 0))
    assert after[0] is None and after[1] is not None
    assert after[1].text() == "{cc: 64, channel: 1, param: seed.sync}" and after[1].gesture == "CC button"


@pytest.mark.parametrize(
    "codes, encoding",
    [
        ((1, 1, 127, 127), "twos-complement"),
        ((127, 127, 127), "twos-complement"),  # -1 only in twos-complement
        ((65, 65, 63, 63), "binary-offset"),
        ((63, 63, 63), "binary-offset"),
        ((1, 1, 65, 65), "signed-bit"),
        ((2, 2, 1, 66), "signed-bit"),
    ],
)
def test_a_relative_encoder_binds_with_its_encoding(codes: tuple[int, ...], encoding: str) -> None:
    assert learned("zoom", *cc(2, 16, *codes)) == f"{{cc: 16, channel: 2, param: zoom, encoder: {encoding}}}"


def test_an_encoder_turned_one_way_waits_until_its_encoding_is_clear() -> None:
    learner, after = learn("zoom", *cc(1, 16, 1, 1, 1, 1, 1))  # +1 in twos-complement and signed-bit
    assert after == [None] * 5 and learner.hint is not None and "other way" in learner.hint
    learner2, after2 = learn("zoom", *cc(1, 16, 65, 65, 65, 65))  # signed-bit -1 or binary-offset +1
    assert after2 == [None] * 4 and "signed-bit or binary-offset" in str(learner2.hint)
    assert learned("zoom", *cc(1, 16, 1, 1, 1, 127)) == "{cc: 16, channel: 1, param: zoom, encoder: twos-complement}"


def test_an_absolute_knob_near_the_encoder_codes_is_still_a_knob() -> None:
    assert learned("zoom", *cc(1, 16, 1, 2, 3, 4)) == "{cc: 16, channel: 1, param: zoom}"
    assert learned("zoom", *cc(1, 16, 62, 63, 65, 66)) == "{cc: 16, channel: 1, param: zoom}"


def test_a_14_bit_control_binds_as_cc14_only_with_its_lsb_partner() -> None:
    fader = [m for v in (10, 12, 14, 16) for m in cc(1, 7, v) + cc(1, 39, (v * 37) % 128)]
    assert learned("crossfade", *fader) == "{cc14: 7, channel: 1, param: crossfade}"
    # a 7-bit knob on CC 0-31 also yields cc14 events from the decoder; it stays a plain cc
    assert learned("crossfade", *cc(1, 7, 10, 20, 30)) == "{cc: 7, channel: 1, param: crossfade}"
    # a knob on CC 39 alone (no CC 7 just before it) is an ordinary control
    assert learned("crossfade", *cc(1, 39, 10, 20, 30)) == "{cc: 39, channel: 1, param: crossfade}"


def test_an_nrpn_knob_binds_as_nrpn_not_as_its_raw_data_entry_ccs() -> None:
    number = 1234  # MSB 9, LSB 82
    knob = [m for v in (40, 41, 42, 43, 44) for m in cc(5, 99, 9) + cc(5, 98, 82) + cc(5, 6, v) + cc(5, 38, 0)]
    assert learned("hue", *knob) == f"{{nrpn: {number}, channel: 5, param: hue}}"
    seven_bit = [m for v in (40, 50, 60) for m in cc(5, 99, 9) + cc(5, 98, 82) + cc(5, 6, v)]
    assert learned("hue", *seven_bit) == f"{{nrpn: {number}, channel: 5, param: hue}}"


def test_pitch_bend_and_a_bool_fader() -> None:
    assert learned("pan.x", *[[0xE3, 0, v] for v in (64, 70, 80)]) == "{pitchbend: true, channel: 4, param: pan.x}"
    # freeze is a parameter and an action: a fader drives the (bool) parameter, on above half way
    assert learned("freeze", *cc(1, 48, 10, 20, 30)) == "{cc: 48, channel: 1, param: freeze, mode: value}"


def test_program_changes() -> None:
    # preset.select without a value: program N selects preset N; a pad cannot bind it
    learner, after = learn("preset.select", [0x90, 36, 100], [0xC1, 5])
    assert after[0] is None and "program change" in str(learner.hint)
    assert after[1] is not None and after[1].text() == "{program: any, channel: 2, action: preset.select}"
    assert learned("seed.sync", [0xC0, 7]) == "{program: 7, channel: 1, param: seed.sync}"
    assert learned("param:blackout", [0xC0, 7]) == "{program: 7, channel: 1, param: blackout, mode: trigger}"


def test_an_action_ignores_knobs_and_waits_for_a_button() -> None:
    learner, after = learn("tap", *cc(1, 48, 10, 20, 30), [0x90, 40, 90])
    assert after[:3] == [None] * 3 and "button" in str(learner.hint)
    assert after[3] is not None and after[3].text() == "{note: 40, channel: 1, action: tap}"


def test_unknown_targets_and_bad_values_say_what_fits() -> None:
    with pytest.raises(LearnError, match="did you mean: strength"):
        Learner("strenght")
    with pytest.raises(LearnError, match="prompt.1.weight"):
        Learner("prompt")  # a part of several names lists them
    with pytest.raises(LearnError, match="outside strength's range"):
        Learner("strength", 2.0)
    with pytest.raises(LearnError, match="takes no value"):
        Learner("tap", 1.0)
    with pytest.raises(LearnError, match="unknown action 'strength'"):
        Learner("action:strength")


# -- the writer --------------------------------------------------------------------------------

HAND_WRITTEN = """\
# my controller: a hand-written header
description: "APC test"   # quoted on purpose
midi:
  input: "APC*"
  channel: 2
bindings:
  # keyboard, mixed in
  - {key: SPACE, action: freeze}
  - key: LEFT          # block style
    param: pan.x
    mode: momentary
    value: -0.25
  - {cc: 48, param: strength}   # knob 1
  - note: 37
    param: blackout   # flash
    mode: momentary
  - {note: 36, action: hud}

# LFOs follow
lfos:
  - {param: zoom, shape: sine, beats: 16, amount: 0.03}
"""


def vj_check(*paths: Path) -> subprocess.CompletedProcess[str]:
    return vj("check", *map(str, paths), timeout=60)


def test_writer_appends_after_the_last_binding_and_keeps_every_other_byte(tmp_path: Path) -> None:
    path = tmp_path / "apc.yaml"
    path.write_text(HAND_WRITTEN)
    result = write_binding(path, LearnedBinding("cc", 49, 2, "hue"), "ignored: the file has a midi section")
    line = "  - {cc: 49, channel: 2, param: hue}\n"
    expected = HAND_WRITTEN.replace("  - {note: 36, action: hud}\n", "  - {note: 36, action: hud}\n" + line)
    assert path.read_text() == expected
    assert (result.line, result.replaced, result.created) == (18, False, False)
    assert expected.splitlines()[result.line - 1] == line.rstrip("\n")
    config = parse_mapping(path)
    assert config.midi[0].input == "APC*"
    assert any(b.source == ("midi", "apc", 2, "cc", 49) and b.param == "hue" for b in config.bindings)

    default = tmp_path / "default.yaml"  # a keyboard-only file: the MIDI binding goes after the last key
    original = (MAPPING_DIR / "default.yaml").read_text()
    default.write_text(original)
    write_binding(default, LearnedBinding("note", 36, 1, "freeze", True), "")
    last = "  - {key: PAGE_UP, action: preset.prev}\n"
    assert default.read_text() == original.replace(last, last + "  - {note: 36, channel: 1, action: freeze}\n")
    check = vj_check(path, default)
    assert check.returncode == 0, check.stderr


def test_relearning_a_control_replaces_its_binding_in_place(tmp_path: Path) -> None:
    path = tmp_path / "apc.yaml"
    path.write_text(HAND_WRITTEN)
    # cc 48 without a channel listens on the midi section's channel 2: the same control
    result = write_binding(path, LearnedBinding("cc", 48, 2, "feedback"))
    assert result.replaced and result.line == 13
    after_one = HAND_WRITTEN.replace("  - {cc: 48, param: strength}   # knob 1",
                                     "  - {cc: 48, channel: 2, param: feedback}   # knob 1")
    assert path.read_text() == after_one
    # a block-style item is replaced by one flow line; the comment at its end stays
    write_binding(path, LearnedBinding("note", 37, 2, "freeze", True))
    block = "  - note: 37\n    param: blackout   # flash\n    mode: momentary\n"
    assert path.read_text() == after_one.replace(block, "  - {note: 37, channel: 2, action: freeze}\n")
    # another channel is another control: appended
    write_binding(path, LearnedBinding("cc", 48, 3, "hue"))
    assert path.read_text().count("cc: 48") == 2
    assert vj_check(path).returncode == 0


def test_a_new_file_gets_a_header_a_midi_section_and_relearn_keeps_one_binding(tmp_path: Path) -> None:
    path = tmp_path / "mappings" / "my-controller.yaml"  # the folder is made too
    first = write_binding(path, LearnedBinding("cc", 21, 1, "strength", gesture="knob"), "nano*")
    text = path.read_text()
    assert first.created and text.startswith("# ") and 'input: "nano*"' in text
    assert text.endswith("bindings:\n  - {cc: 21, channel: 1, param: strength}\n")
    second = write_binding(path, LearnedBinding("cc14", 21, 1, "hue"), "nano*")  # cc14 21 is CC 21 and 53
    assert second.replaced and second.line == first.line
    assert path.read_text() == text.replace("{cc: 21, channel: 1, param: strength}",
                                            "{cc14: 21, channel: 1, param: hue}")
    config = parse_mapping(path)
    assert [(b.source, b.param) for b in config.bindings] == [(("midi", "my-controller", 1, "cc14", 21), "hue")]


ITEM = "{note: 40, channel: 1, action: freeze}"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("description: nothing yet\n", f"description: nothing yet\nbindings:\n  - {ITEM}\n"),
        ("# only a comment", f"# only a comment\nbindings:\n  - {ITEM}\n"),
        ("bindings:\nlfos: []\n", f"bindings:\n  - {ITEM}\nlfos: []\n"),
        ("bindings: ~  # none yet\n", f"bindings:   # none yet\n  - {ITEM}\n"),
        ("bindings: []\n", f"bindings: [{ITEM}]\n"),
        ("bindings: [{key: A, action: hud}]  # x\n", f"bindings: [{{key: A, action: hud}}, {ITEM}]  # x\n"),
        ("description: crlf\r\nbindings:\r\n    - {key: A, action: hud}\r\n",
         f"description: crlf\r\nbindings:\r\n    - {{key: A, action: hud}}\r\n    - {ITEM}\r\n"),
        ("bindings:\n- {key: A, action: hud}", f"bindings:\n- {{key: A, action: hud}}\n- {ITEM}\n"),
    ],
)
def test_writer_handles_every_shape_of_bindings(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_bytes(text.encode())
    result = write_binding(path, LearnedBinding("note", 40, 1, "freeze", True))
    new = path.read_bytes().decode()
    assert new == expected
    assert new.replace("\r\n", "\n").splitlines()[result.line - 1].count(ITEM) == 1
    config = parse_mapping(path)
    assert any(b.source == ("midi", "*", 1, "note", 40) and b.action == "freeze" for b in config.bindings)


def test_an_invalid_result_or_file_leaves_the_original_untouched(tmp_path: Path) -> None:
    path = tmp_path / "apc.yaml"
    path.write_text(HAND_WRITTEN)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(LearnError, match="unknown parameter 'nope'") as info:
        write_binding(path, LearnedBinding("cc", 50, 1, "nope"))
    assert "not changed" in str(info.value)
    with pytest.raises(LearnError, match="encoder"):  # an encoder cannot drive an action
        write_binding(path, LearnedBinding("cc", 50, 1, "hud", True, (("encoder", "signed-bit"),)))
    assert path.read_text() == HAND_WRITTEN and sorted(os.listdir(tmp_path)) == before  # no temp file left
    broken = tmp_path / "broken.yaml"
    broken.write_text("bindings:\n  - {key: A, action: nope}  # fix me\n")
    with pytest.raises(LearnError, match="problems already"):
        write_binding(broken, LearnedBinding("cc", 50, 1, "hue"))
    assert broken.read_text() == "bindings:\n  - {key: A, action: nope}  # fix me\n"


# -- the command -------------------------------------------------------------------------------


def test_run_learn_rejects_unknown_targets_and_a_missing_midi_system(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_learn("strenght", mapping=str(tmp_path / "m.yaml")) == 2
    assert "did you mean: strength" in capsys.readouterr().err
    monkeypatch.setenv("VJ_MIDI_API", "carrier-pigeon")
    assert run_learn("strength", mapping=str(tmp_path / "m.yaml"), timeout=1) == 2
    assert "no MIDI" in capsys.readouterr().err
    assert not (tmp_path / "m.yaml").exists()


@pytest.mark.e2e
@pytest.mark.usefixtures("jack_server")
def test_run_learn_times_out_when_nothing_moves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_learn("strength", mapping=str(tmp_path / "m.yaml"), port="no-such-port", timeout=0.3) == 1
    out = capsys.readouterr()
    assert "move a control for strength" in out.out and "no control moved" in out.err
    assert not (tmp_path / "m.yaml").exists()


@pytest.mark.e2e
@pytest.mark.usefixtures("jack_server")
def test_vj_learn_end_to_end_a_turned_knob_is_written_and_vj_check_accepts_it(tmp_path: Path) -> None:
    path = tmp_path / "learned.yaml"
    with MidiPeer("learn-e2e") as peer:
        command = [*VJ, "learn", "strength", "--mapping", str(path), "--port", "learn-e2e", "--timeout", "20"]
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        log = Log(proc)
        try:
            log.expect("move a control for strength", timeout=20)
            for value in (10, 20, 30, 40, 50):
                peer.send(0xB0, 21, value)
            assert proc.wait(timeout=20) == 0, log.text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        text = log.join(5)
    assert "listening to: learn-e2e" in text and "{cc: 21, channel: 1, param: strength}" in text
    assert "  - {cc: 21, channel: 1, param: strength}\n" in path.read_text()
    assert 'input: "learn-e2e"' in path.read_text() or "input: learn-e2e" in path.read_text()
    check = vj_check(path)
    assert check.returncode == 0, check.stderr
