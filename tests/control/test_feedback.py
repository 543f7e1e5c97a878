"""LED feedback and value echo: what goes back to the controller, and only when it changes."""

from __future__ import annotations

import pytest

from vj.config.mapping import parse_mapping
from vj.control.feedback import Feedback
from vj.params import ParamState
from vj.vocabulary import ClockState

MAPPING = """
midi: {name: pads, input: pads, output: pads, channel: 1, beat: [{note: 98, led: [0, 3]}]}
bindings:
  - {note: 50, action: freeze, led: [1, 5]}
  - {note: 51, action: preset.select, value: 2}
  - {note: 52, action: tap}
  - {note: 53, param: hud}
  - {note: 54, action: seed.step}        # no state to show: no LED
  - {cc: 48, param: strength, range: [0.0, 0.5]}
  - {cc14: 2, param: crossfade}
  - {cc: 49, param: feedback, echo: false}
"""

ON_BEAT, OFF_BEAT = ClockState(120.0, 8.1, "manual"), ClockState(120.0, 8.6, "manual")


@pytest.fixture
def feedback(tmp_path):
    path = tmp_path / "pads.yaml"
    path.write_text(MAPPING)
    return Feedback(parse_mapping(path))


def test_the_first_frame_sends_every_led_and_echo(feedback):
    state = ParamState()
    state.set_base("strength", 0.25, jump=True)
    state.set_base("crossfade", 10.0, jump=True)
    sent = dict(((m[0], m[1]), m[2]) for _, m in feedback.messages(state.base, OFF_BEAT))
    assert sent == {
        (0x90, 50): 1,  # freeze off: its own off colour
        (0x90, 51): 0,  # preset 0 plays, not 2
        (0x90, 52): 0,  # tap flashes on the beat only
        (0x90, 53): 0,  # hud off
        (0x90, 98): 0,  # beat LED
        (0xB0, 48): 64,  # 0.25 of a 0..0.5 range: half way
        (0xB0, 2): 127,  # 14-bit echo: MSB ...
        (0xB0, 34): 127,  # ... and LSB
    }


def test_only_changes_are_sent_and_states_light_their_buttons(feedback):
    state = ParamState()
    feedback.messages(state.base, OFF_BEAT)
    assert feedback.messages(state.base, OFF_BEAT) == []  # a steady show sends nothing
    state.set_base("freeze", True, jump=True)
    state.set_base("preset", 2, jump=True)
    state.set_base("hud", True, jump=True)
    changed = {bytes(m) for _, m in feedback.messages(state.base, ON_BEAT)}
    assert changed == {bytes([0x90, 50, 5]), bytes([0x90, 51, 127]), bytes([0x90, 52, 127]),
                       bytes([0x90, 53, 127]), bytes([0x90, 98, 3])}
    off_beat = {bytes(m) for _, m in feedback.messages(state.base, OFF_BEAT)}
    assert off_beat == {bytes([0x90, 52, 0]), bytes([0x90, 98, 0])}


def test_a_reconnected_controller_gets_everything_again(feedback):
    state = ParamState()
    first = feedback.messages(state.base, OFF_BEAT)
    feedback.forget("pads")
    assert feedback.messages(state.base, OFF_BEAT) == first
    assert all(device == "pads" for device, _ in first)


def test_no_output_no_feedback(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("midi: {input: x}\nbindings:\n  - {note: 1, action: freeze}\n  - {cc: 1, param: zoom}\n")
    assert Feedback(parse_mapping(path)).empty


def test_an_led_can_listen_on_its_own_channel(tmp_path):
    path = tmp_path / "mini.yaml"
    path.write_text("midi: {input: m, output: m, channel: 1}\n"
                    "bindings:\n  - {note: 5, action: freeze, led: [0, 127, 7]}\n")
    sent = Feedback(parse_mapping(path)).messages(ParamState().base, OFF_BEAT)
    assert sent == [("mini", bytes([0x96, 5, 0]))]  # the note comes in on channel 1, its LED is on 7
