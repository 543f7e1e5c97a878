"""The prompt book on its own: rewriting, selecting and dictating prompts (no GL)."""

from __future__ import annotations

import pytest

from vj.config.preset import Preset, PromptSpec
from vj.params import ParamState
from vj.show.notices import Notices
from vj.show.prompts import PromptBook


def book(*prompts: str) -> tuple[PromptBook, ParamState, Notices]:
    state = ParamState()
    notices = Notices(lambda: state.time)
    presets = [Preset(name="Neon Tunnel", path="presets/2-neon-tunnel.yaml", size=(64, 64),
                      prompts=tuple(PromptSpec(p, 1.0 if i == 0 else 0.0) for i, p in enumerate(prompts)))]
    return PromptBook(presets, 0, state, notices), state, notices


def test_a_preset_is_found_by_name_or_file_name():
    b, _, _ = book("a")
    assert [b.named(n) for n in ("neon tunnel", "2-neon-tunnel", "Neon-Tunnel", "other")] == [0, 0, 0, -1]


def test_rewriting_a_prompt_keeps_one_line_and_adds_missing_slots_silent():
    b, _, notices = book("a")
    b.set_text(3, "  glass\ncity\t at night ")
    assert b.texts() == ("a", "glass city at night", "glass city at night")
    assert [p.weight for p in b.preset.prompts] == [1.0, 0.0, 0.0]
    b.set_text(9, "x")
    b.set_text(1, "   ")
    assert notices.current(0.0) == ["no prompt 9: prompts are numbered 1..8",
                                    "prompt 1: empty text ignored (the prompt is kept)"]


def test_selecting_a_prompt_weighs_it_alone():
    b, state, notices = book("a", "b", "c")
    b.select(2)
    assert [state.base[f"prompt.{i}.weight"] for i in (1, 2, 3)] == [0.0, 1.0, 0.0]
    b.select(4)
    assert notices.current(0.0) == ["no prompt 4: preset Neon Tunnel has 3 (1..3)"]


def test_a_dictated_prompt_blends_in_over_the_transition():
    b, state, notices = book("a")
    state.set_base("prompt.1.weight", 1.0, jump=True)
    state.set_base("prompt.transition", 2.0, jump=True)
    b.dream_of("fire")
    assert b.texts() == ("a", "fire") and "dreaming of fire" in notices.current(0.0)
    state.tick(1.0)
    b.ramp()
    assert state.base["prompt.2.weight"] == pytest.approx(0.5) and state.base["prompt.1.weight"] == pytest.approx(0.5)
    state.tick(1.0)
    b.ramp()
    assert (state.base["prompt.1.weight"], state.base["prompt.2.weight"]) == (0.0, 1.0)
    b.dream_of("ice")  # the other free slot; the preset's own prompt is kept
    assert b.texts() == ("a", "fire", "ice")
