import pytest

from tests.support.engine import Actions, engine_for
from vj.clock import BeatClock, TapTempo
from vj.control.engine import wave
from vj.control.transform import curve, shape
from vj.params import ParamState
from vj.vocabulary import ClockState, ControlEvent, key_event


def press(engine, state, sink, key, times=1):
    for _ in range(times):
        engine.handle(key_event(key, True), state, sink)
        engine.handle(key_event(key, False), state, sink)


def test_curves_fix_the_ends_and_bend_the_middle():
    for name in ("lin", "exp", "log"):
        assert curve(0.0, name) == 0.0 and curve(1.0, name) == pytest.approx(1.0)
    assert curve(0.5, "exp") < 0.5 < curve(0.5, "log")
    assert curve(curve(0.3, "exp"), "log") == pytest.approx(0.3)


def test_shape_applies_invert_then_curve_then_range():
    assert shape(0.25, -2.0, 2.0) == -1.0
    assert shape(0.25, -2.0, 2.0, invert=True) == 1.0
    assert shape(1.5, 0.0, 10.0) == 10.0  # clamped input


def test_value_mode_maps_a_continuous_source_through_range_and_curve(tmp_path):
    engine = engine_for(tmp_path, "bindings:\n  - {key: A, param: strength, range: [0.2, 0.6], curve: exp}\n")
    state = ParamState()
    engine.handle(ControlEvent(("key", "A"), 0.5), state, Actions())
    assert state.base["strength"] == pytest.approx(0.2 + 0.4 * curve(0.5, "exp"))


def test_toggle_flips_between_range_ends(tmp_path):
    engine = engine_for(tmp_path, "bindings:\n  - {key: Z, param: prompt.2.weight, mode: toggle}\n"
                                  "  - {key: F, param: freeze}\n")
    state, sink = ParamState(), Actions()
    press(engine, state, sink, "Z")
    assert state.base["prompt.2.weight"] == 1.0
    press(engine, state, sink, "Z")
    assert state.base["prompt.2.weight"] == 0.0
    press(engine, state, sink, "F")  # a bool parameter defaults to toggle
    assert state.base["freeze"] is True


def test_momentary_holds_then_restores(tmp_path):
    engine = engine_for(tmp_path, "bindings:\n  - {key: LEFT, param: pan.x, mode: momentary, value: -0.25}\n")
    state, sink = ParamState(), Actions()
    state.set_base("pan.x", 0.1)
    engine.handle(key_event("LEFT", True), state, sink)
    assert state.base["pan.x"] == -0.25
    engine.handle(key_event("LEFT", True), state, sink)  # a repeat is not a new press
    engine.handle(key_event("LEFT", False), state, sink)
    assert state.base["pan.x"] == 0.1


def test_step_clamps_or_wraps(tmp_path):
    engine = engine_for(tmp_path, "bindings:\n  - {key: EQUAL, param: zoom, mode: step, step: 0.5}\n"
                                  "  - {key: C, param: crossfade.curve, mode: step, step: 1, wrap: true}\n")
    state, sink = ParamState(), Actions()
    press(engine, state, sink, "EQUAL", times=9)
    assert state.base["zoom"] == 2.0
    press(engine, state, sink, "C", times=4)  # smooth -> ease-in -> ease-out -> cut -> linear
    assert state.base["crossfade.curve"] == "linear"


def test_trigger_sets_a_value_once(tmp_path):
    engine = engine_for(tmp_path, "bindings:\n  - {key: S, param: seed, mode: trigger, value: 7}\n")
    state = ParamState()
    press(engine, state, Actions(), "S")
    assert state.base["seed"] == 7


def test_actions_fire_on_press_only_with_their_value(tmp_path):
    engine = engine_for(tmp_path, "bindings:\n  - {key: \"3\", action: preset.select, value: 2}\n"
                                  "  - {key: T, action: tap}\n")
    state, sink = ParamState(), Actions()
    press(engine, state, sink, "3")
    press(engine, state, sink, "T", times=2)
    assert sink.fired == [("preset.select", 2.0), ("tap", None), ("tap", None)]


def test_unmapped_events_are_counted_and_change_nothing(tmp_path):
    engine = engine_for(tmp_path, "bindings: []\n")
    state = ParamState()
    before = dict(state.base)
    engine.handle(key_event("Y", True), state, Actions())
    engine.handle(ControlEvent(("midi", "x", 1, "cc", 7), 0.5), state, Actions())
    assert engine.unmapped == 2 and state.base == before


def test_waves():
    assert [round(wave("sine", p), 6) for p in (0, 0.25, 0.5, 0.75)] == [0, 1, 0, -1]
    assert [wave("saw", p) for p in (0, 0.5)] == [-1, 0]
    assert [wave("triangle", p) for p in (0, 0.25, 0.5)] == [-1, 0, 1]
    assert [wave("square", p) for p in (0.1, 0.6)] == [1, -1]


def test_lfos_modulate_in_hz_and_in_beats(tmp_path):
    engine = engine_for(tmp_path, "lfos:\n  - {param: zoom, shape: sine, hz: 0.25, amount: 0.5}\n"
                                  "  - {param: rotate, shape: saw, beats: 4, amount: 10}\n")
    state = ParamState()
    engine.modulate(state, 1.0, ClockState(120.0, 3.0, "manual"))  # a quarter cycle; 3/4 of a 4-beat cycle
    assert state.target("zoom") == pytest.approx(0.5)
    assert state.target("rotate") == pytest.approx(5.0)


def test_tap_tempo_averages_taps_and_restarts_after_a_pause():
    tapper = TapTempo()
    assert tapper.tap(10.0) is None
    bpms = [tapper.tap(10.0 + 0.5 * i) for i in range(1, 5)]
    assert bpms[-1] == pytest.approx(120.0)
    assert tapper.tap(20.0) is None  # long pause: a new count


def test_clock_integrates_tempo_changes_without_jumps():
    clock = BeatClock()
    for _ in range(60):
        clock.advance(1 / 60, 120.0)
    assert clock.state.beats == pytest.approx(2.0)
    clock.advance(0.5, 60.0)
    assert clock.state.beats == pytest.approx(2.5)
