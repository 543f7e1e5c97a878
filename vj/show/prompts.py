"""The prompt book: the loaded presets, the one playing, and its prompts as they are played.

A prompt's text can be rewritten live (OSC /vj/prompt/N/text, a spoken prompt) until the preset
file changes; `prompt.select` fades to one prompt alone; a dictated prompt ("dream of ...") takes
a free slot and blends in over `prompt.transition` seconds while the others fade out.

Prompt texts are actions, not parameters: the registry holds numbers, choices and switches that
smooth, modulate and go out as OSC floats, and a text is none of those. The rewrite lives in
memory; the preset file stays the truth, and a save of it replaces the rewrite. No MIDI control
can send text, so mappings refuse a text action on a MIDI source. Spoken prompts take turns in
two slots after the preset's own prompts, so a VJ's crafted prompts are never overwritten and a
second dictation crossfades from the first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from vj.config.preset import Preset, PromptSpec
from vj.params import ParamState
from vj.show.notices import Notices
from vj.vocabulary import MAX_PROMPTS

log = logging.getLogger("vj.show")

MAX_PROMPT_TEXT = 1000  # characters: a prompt is a line, not a document from the network

@dataclass
class PromptRamp:
    """A spoken prompt blending in: prompt `number`'s weight rises to 1 while the others fall to 0."""

    number: int
    start: dict[str, float]  # each prompt weight when the ramp began
    began: float  # show time
    seconds: float


class PromptBook:
    def __init__(self, presets: Sequence[Preset], index: int, state: ParamState, notices: Notices) -> None:
        if not presets:
            raise ValueError("a show needs at least one preset")
        self.presets = list(presets)
        self.index = max(0, min(index, len(self.presets) - 1))  # the preset playing
        self._state = state
        self._notice = notices.notice
        self._ramp: PromptRamp | None = None  # a spoken prompt blending in

    @property
    def preset(self) -> Preset:
        return self.presets[self.index]

    def play(self, index: int) -> None:
        """Preset `index` plays from now (a spoken prompt blending into the old one stops there)."""
        self._ramp = None
        self.index = index

    def named(self, name: str) -> int:
        """A preset's index by its name or file name (`Neon Tunnel`, `2-neon-tunnel`, `neon-tunnel`); -1 if none."""
        wanted = name.strip().lower()
        for i, p in enumerate(self.presets):
            stem = Path(p.path).stem.lower()
            if wanted in (p.name.lower(), stem, stem.split("-", 1)[-1]):
                return i
        return -1

    def texts(self) -> tuple[str, ...]:
        return tuple(p.text for p in self.preset.prompts[:MAX_PROMPTS])

    def select(self, number: int) -> None:
        """prompt.select: prompt `number`'s weight to 1, the others to 0."""
        count = min(len(self.preset.prompts), MAX_PROMPTS)
        if not 1 <= number <= count:
            self._notice(f"no prompt {number}: preset {self.preset.name} has {count} (1..{count})")
            return
        for i in range(1, MAX_PROMPTS + 1):
            self._state.set_base(f"prompt.{i}.weight", 1.0 if i == number else 0.0)

    def set_text(self, number: int, text: str) -> None:
        """Rewrite prompt `number` of the playing preset (OSC /vj/prompt/N/text, a spoken prompt).
        It lasts until the preset file changes; a preset with fewer prompts gains them (weight 0
        until raised, so nothing jumps)."""
        text = " ".join(text.split())[:MAX_PROMPT_TEXT]  # a text field's line breaks and tabs: one line
        if not 1 <= number <= MAX_PROMPTS:
            self._notice(f"no prompt {number}: prompts are numbered 1..{MAX_PROMPTS}")
            return
        if not text:
            self._notice(f"prompt {number}: empty text ignored (the prompt is kept)")
            return
        prompts = list(self.preset.prompts)
        while len(prompts) < number:
            prompts.append(PromptSpec(text, 0.0))
        prompts[number - 1] = replace(prompts[number - 1], text=text)
        self.presets[self.index] = replace(self.preset, prompts=tuple(prompts))
        log.info("prompt %d: %s", number, text)

    def dream_of(self, text: str) -> None:
        """A spoken prompt: it takes the prompt slot that weighs least now (never the one showing)
        and blends in over prompt.transition seconds while the others fade out."""
        s = self._state
        weights = {f"prompt.{i}.weight": float(s.base[f"prompt.{i}.weight"]) for i in range(1, MAX_PROMPTS + 1)}
        # two slots after the preset's own prompts take turns, so the preset's prompts are kept
        own = len(self.preset.prompts)
        slots = [own + 1, own + 2] if own + 2 <= MAX_PROMPTS else list(range(1, MAX_PROMPTS + 1))
        number = min(slots, key=lambda i: (weights[f"prompt.{i}.weight"], i))
        self.set_text(number, text)
        self._ramp = PromptRamp(number, weights, s.time, float(s.base["prompt.transition"]))
        self._notice(f"dreaming of {text}", seconds=max(6.0, self._ramp.seconds))

    def ramp(self) -> None:
        """Once a frame: a dictated prompt's blend moves on (smoothstep: no jolt at either end)."""
        ramp = self._ramp
        if ramp is None:
            return
        t = 1.0 if ramp.seconds <= 0 else min(1.0, (self._state.time - ramp.began) / ramp.seconds)
        t = t * t * (3.0 - 2.0 * t)
        for name, start in ramp.start.items():
            target = 1.0 if name == f"prompt.{ramp.number}.weight" else 0.0
            self._state.set_base(name, start + (target - start) * t, jump=True)
        if t >= 1.0:
            self._ramp = None
