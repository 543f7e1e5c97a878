"""The mapping engine with MIDI sources: encoders, takeover, channels, velocity, programs."""

from __future__ import annotations

import pytest

from tests.support.engine import Actions, engine_for
from vj.config.mapping import merge_mappings, parse_mapping
from vj.control.engine import MappingEngine
from vj.control.midi_decode import MidiDecoder
from vj.control.transform import acceleration, relative_delta
from vj.params import ParamState
from vj.surface.space import set_event, surface_space
from vj.vocabulary import ControlEvent


def play(engine, state, *messages, device="*", sink=None, t0=1.0, dt=0.1):
    """Raw MIDI bytes through the real decoder into the engine, `dt` seconds apart."""
    decoder = MidiDecoder((device,))
    sink = sink or Actions()
    for i, data in enumerate(messages):
        for event in decoder.decode(data, t0 + i * dt):
            if isinstance(event, ControlEvent):
                engine.handle(event, state, sink)
    return sink


# -- relative encoders -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("encoder", "table"),
    [
        ("twos-complement", {1: 1, 2: 2, 63: 63, 64: -64, 65: -63, 127: -1, 0: 0}),
        ("signed-bit", {1: 1, 63: 63, 65: -1, 66: -2, 127: -63, 64: 0, 0: 0}),
        ("binary-offset", {65: 1, 66: 2, 127: 63, 63: -1, 62: -2, 0: -64, 64: 0}),
    ],
)
def test_relative_encoder_decoding_tables(encoder, table):
    assert {code: relative_delta(code, encoder) for code in table} == table


def test_acceleration_counts_fast_detents_more_and_never_slow_ones():
    assert acceleration(0.2, 1.0) == 1.0  # slow turn
    assert acceleration(None, 1.0) == 1.0  # first detent
    assert acceleration(0.01, 0.0) == 1.0  # off
    assert acceleration(0.01, 1.0) == pytest.approx(5.0)
    assert acceleration(0.001, 2.0) == 16.0  # capped


def test_an_encoder_steps_its_parameter_and_stops_at_the_range_ends(tmp_path):
    engine = engine_for(tmp_path, "bindings:\n  - {cc: 16, encoder: twos-complement, param: zoom, step: 0.1}\n")
    state = ParamState()
    play(engine, state, [0xB0, 16, 1], [0xB0, 16, 1], [0xB0, 16, 3])
    assert state.base["zoom"] == pytest.approx(0.5)
    play(engine, state, [0xB0, 16, 127])
    assert state.base["zoom"] == pytest.approx(0.4)
    play(engine, state, *([[0xB0, 16, 63]] * 10))
    assert state.base["zoom"] == 2.0


def test_encoder_acceleration_uses_the_time_between_detents(tmp_path):
    text = "bindings:\n  - {cc: 16, encoder: binary-offset, accel: 1, param: hue, step: 1}\n"
    slow, fast = ParamState(), ParamState()
    play(engine_for(tmp_path, text), slow, *([[0xB0, 16, 65]] * 5), dt=0.2)
    play(engine_for(tmp_path, text), fast, *([[0xB0, 16, 65]] * 5), dt=0.01)
    assert slow.base["hue"] == pytest.approx(5.0)
    assert fast.base["hue"] == pytest.approx(1 + 4 * 5.0)  # the first detent has no interval yet


# -- takeover ----------------------------------------------------------------------------------

def test_pickup_ignores_a_far_knob_until_it_crosses_the_value(tmp_path):
    engine = engine_for(tmp_path, "bindings:\n  - {cc: 7, param: strength, takeover: pickup}\n")
    state = ParamState()
    state.set_base("strength", 0.6, jump=True)  # e.g. a preset set it
    play(engine, state, [0xB0, 7, 10], [0xB0, 7, 30], [0xB0, 7, 60])
    assert state.base["strength"] == 0.6  # the knob (0.08 .. 0.47) has not reached 0.6
    assert engine.pickup is not None and engine.pickup.param == "strength"
    assert engine.pickup.target == pytest.approx(0.6)
    play(engine, state, [0xB0, 7, 90])  # crosses 0.6 (76/127): caught, now it drives
    assert state.base["strength"] == pytest.approx(90 / 127)
    assert engine.pickup is None
    play(engine, state, [0xB0, 7, 20])
    assert state.base["strength"] == pytest.approx(20 / 127)


def test_pickup_lets_go_when_something_else_moves_the_parameter(tmp_path):
    engine = engine_for(tmp_path, "bindings:\n  - {cc: 7, param: strength, takeover: pickup}\n")
    state = ParamState()
    play(engine, state, [0xB0, 7, 64])  # at the default 0.5: caught at once
    assert state.base["strength"] == pytest.approx(64 / 127)
    state.set_base("strength", 0.1, jump=True)  # a preset change
    play(engine, state, [0xB0, 7, 70])
    assert state.base["strength"] == 0.1


def test_a_control_surface_set_is_picked_up_like_any_other_move(tmp_path):
    """The surface's sets go through the same engine: a pickup knob then waits to cross the new value."""
    path = tmp_path / "m.yaml"
    path.write_text("bindings:\n  - {cc: 7, param: strength, takeover: pickup}\n")
    engine = MappingEngine(merge_mappings([parse_mapping(path), surface_space()]))
    state = ParamState()
    play(engine, state, [0xB0, 7, 64])  # the knob holds the parameter
    assert state.base["strength"] == pytest.approx(64 / 127)
    engine.handle(set_event("strength", 0.1), state, Actions())  # a finger on the page
    assert state.base["strength"] == 0.1
    play(engine, state, [0xB0, 7, 70], t0=2.0)  # the knob, far from it, is ignored
    assert state.base["strength"] == 0.1 and engine.pickup is not None and engine.pickup.param == "strength"
    play(engine, state, [0xB0, 7, 10], t0=3.0)  # crossing 0.1 on its way down: caught
    assert state.base["strength"] == pytest.approx(10 / 127) and engine.pickup is None
    engine.handle(set_event("strength", 0.9), state, Actions())  # the page is never held back
    assert state.base["strength"] == 0.9


def test_scale_takeover_converges_so_knob_and_value_meet_at_the_end_stop(tmp_path):
    engine = engine_for(tmp_path, "bindings:\n  - {cc: 7, param: strength, takeover: scale}\n")
    state = ParamState()
    state.set_base("strength", 0.75, jump=True)
    play(engine, state, [0xB0, 7, 0])  # first sight of the knob: nothing moves
    assert state.base["strength"] == 0.75
    values = []
    for v in (20, 40, 60, 80):
        play(engine, state, [0xB0, 7, v])
        values.append(state.base["strength"])
    assert values == sorted(values) and values[0] > 0.75  # moves up with the knob, never jumps
    assert values[-1] < 1.0
    assert abs(values[-1] - 80 / 127) < abs(0.75 - 0 / 127)  # the gap closes
    play(engine, state, [0xB0, 7, 127])
    assert state.base["strength"] == pytest.approx(1.0)


def test_jump_takeover_is_the_default(tmp_path):
    engine = engine_for(tmp_path, "bindings:\n  - {cc: 7, param: strength}\n")
    state = ParamState()
    state.set_base("strength", 0.9, jump=True)
    play(engine, state, [0xB0, 7, 0])
    assert state.base["strength"] == 0.0


# -- channels, devices, notes, programs --------------------------------------------------------

def test_channel_any_listens_on_all_sixteen_and_a_channel_on_one(tmp_path):
    engine = engine_for(tmp_path, """
bindings:
  - {cc: 1, param: strength}
  - {cc: 2, channel: 10, param: feedback}
""")
    state = ParamState()
    play(engine, state, [0xBF, 1, 127], [0xB0, 2, 127])  # cc 1 on ch 16; cc 2 on ch 1 (not 10)
    assert state.base["strength"] == 1.0 and state.base["feedback"] != 1.0
    play(engine, state, [0xB9, 2, 127])
    assert state.base["feedback"] == 1.0


def test_a_device_section_scopes_its_bindings_to_that_device(tmp_path):
    engine = engine_for(tmp_path, """
midi: {name: apc, input: APC40, channel: 2}
bindings:
  - {cc: 1, param: strength}
""")
    state = ParamState()
    play(engine, state, [0xB1, 1, 127], device="other")
    assert state.base["strength"] == 0.5
    play(engine, state, [0xB0, 1, 127], device="apc")  # channel 1, but the device says 2
    assert state.base["strength"] == 0.5
    play(engine, state, [0xB1, 1, 127], device="apc")
    assert state.base["strength"] == 1.0


def test_a_soft_pad_press_is_still_a_press_and_velocity_can_be_the_value(tmp_path):
    engine = engine_for(tmp_path, """
bindings:
  - {note: 36, action: freeze}
  - {note: 37, param: strength, mode: value}
  - {note: 38, param: hud}
""")
    state, sink = ParamState(), Actions()
    play(engine, state, [0x90, 36, 10], [0x80, 36, 0], sink=sink)
    assert sink.fired == [("freeze", None)]
    play(engine, state, [0x90, 37, 100])
    assert state.base["strength"] == pytest.approx(100 / 127)
    play(engine, state, [0x90, 38, 5], [0x90, 38, 0], [0x90, 38, 5], [0x90, 38, 0], [0x90, 38, 5])
    assert state.base["hud"] is True  # toggled three times


def test_program_change_any_selects_the_preset_of_that_number(tmp_path):
    engine = engine_for(tmp_path, "bindings:\n  - {program: any, action: preset.select}\n")
    sink = play(engine, ParamState(), [0xC0, 3], [0xC5, 0])
    assert sink.fired == [("preset.select", 3), ("preset.select", 0)]


def test_fourteen_bit_and_nrpn_and_pitch_bend_bindings(tmp_path):
    engine = engine_for(tmp_path, """
bindings:
  - {cc14: 1, param: crossfade}
  - {nrpn: 300, param: hue}
  - {pitchbend: true, param: pan.x}
""")
    state = ParamState()
    play(engine, state, [0xB0, 1, 64], [0xB0, 33, 0])
    assert state.base["crossfade"] == pytest.approx(10 * (64 << 7) / 16383)
    play(engine, state, [0xB0, 99, 2], [0xB0, 98, 44], [0xB0, 6, 127], [0xB0, 38, 127])
    assert state.base["hue"] == 180.0
    play(engine, state, [0xE0, 0x7F, 0x7F])
    assert state.base["pan.x"] == 2.0
