import math
from dataclasses import FrozenInstanceError

import pytest

from vj.params import REGISTRY, ParamState
from vj.vocabulary import MAX_PROMPTS


def test_registry_has_the_show_parameters_with_ranges_and_descriptions():
    required = ["strength", "seed", "seed.walk", "seed.rate", "zoom", "pan.x", "pan.y", "rotate", "crossfade",
                "feedback", "brightness", "contrast", "hue", "blackout", "freeze", "preset"]
    required += [f"prompt.{i}.weight" for i in range(1, MAX_PROMPTS + 1)]
    for name in required:
        spec = REGISTRY[name]
        assert spec.description, name
        if spec.kind in ("float", "int"):
            assert spec.lo <= spec.default <= spec.hi, name


def test_every_parameter_names_the_group_a_surface_shows_it_in():
    groups = {spec.name: spec.group for spec in REGISTRY}
    assert all(groups.values()), [name for name, group in groups.items() if not group]
    assert {groups[f"prompt.{i}.weight"] for i in range(1, MAX_PROMPTS + 1)} == {"prompts"}
    assert groups["prompt.transition"] == "prompts"
    assert groups["zoom"] == groups["pan.x"] == groups["rotate"] == "motion"
    assert groups["hue"] == groups["contrast"] == "colour" and groups["bpm"] == "tempo"
    assert groups["steps"] == groups["guidance"] == groups["scheduler"] == "diffusion"


def test_smoothing_is_exponential_and_frame_rate_independent():
    a, b = ParamState(), ParamState()
    for state in (a, b):
        state.set_base("zoom", 1.0)
    for _ in range(60):
        a.tick(1 / 60)
    for _ in range(144):
        b.tick(1 / 144)
    tau = REGISTRY["zoom"].smoothing
    expected = 1.0 - math.exp(-1.0 / tau)
    assert a.current["zoom"] == pytest.approx(expected, rel=1e-9)
    assert b.current["zoom"] == pytest.approx(expected, rel=1e-9)


def test_unsmoothed_and_discrete_parameters_jump():
    state = ParamState()
    state.set_base("seed", 42)
    state.set_base("freeze", True)
    snap = state.tick(1 / 60)
    assert snap["seed"] == 42 and snap["freeze"] is True


def test_modulation_adds_to_base_and_is_clamped():
    state = ParamState()
    state.set_base("strength", 0.5, jump=True)
    state.set_modulation("strength", "lfo0", 0.2)
    state.set_modulation("strength", "audio", 0.1)
    assert state.target("strength") == pytest.approx(0.8)
    state.set_modulation("strength", "lfo0", 0.9)
    assert state.target("strength") == 1.0  # clamped to range
    state.clear_modulations("lfo")
    assert state.target("strength") == pytest.approx(0.6)


def test_out_of_range_is_clamped_and_reported_once():
    state = ParamState()
    assert state.set_base("zoom", 7.0) == 2.0
    assert state.set_base("zoom", -9.0) == -2.0
    assert state.warnings == ["zoom: 7.0 is outside -2..2; clamped to 2.0"]


def test_snapshot_is_immutable_and_detached_from_state():
    state = ParamState()
    snap = state.tick(0.01)
    with pytest.raises(TypeError):
        snap.values["zoom"] = 1.0  # type: ignore[index]
    with pytest.raises(FrozenInstanceError):
        snap.time = 3.0  # type: ignore[misc]
    state.set_base("seed", 5)
    state.tick(0.01)
    assert snap["seed"] == 0


def test_enum_and_bool_coercion():
    state = ParamState()
    assert state.set_base("crossfade.curve", 1.2) == "smooth"  # index 1
    assert state.set_base("crossfade.curve", "cut") == "cut"
    assert state.set_base("freeze", 0.7) is True
    assert state.set_base("seed", 3.6) == 4
