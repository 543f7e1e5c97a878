"""Named actions a binding can fire. The show implements them; configs are validated against this table."""

from __future__ import annotations

from typing import Protocol

from vj.params import MAX_PROMPTS

# name -> (description, takes a value)
ACTIONS: dict[str, tuple[str, bool]] = {
    "fullscreen": ("toggle fullscreen", False),
    "hud": ("show or hide the heads-up display", False),
    "freeze": ("toggle freeze: hold the picture", False),
    "blackout": ("toggle blackout (fades to black)", False),
    "flash": ("a white flash that fades in a fraction of a second (put it on a kick or a pad)", False),
    "preset.select": ("switch to preset number `value` (0-based, in the order listed), or one named (OSC)", True),
    "preset.next": ("switch to the next preset", False),
    "preset.prev": ("switch to the previous preset", False),
    "tap": ("tap tempo: taps set the bpm", False),
    "seed.step": ("walk to the next seed (crossfades there)", False),
    "prompt.select": ("fade to prompt number `value` (1-8) alone: its weight to 1, the others to 0", True),
    "motion.reset": ("stop all camera motion and return the view home", False),
    "learn": ("MIDI learn mode: choose a target, move a control to bind it (vj run)", False),
    "quit": ("close vj", False),
}
# Text actions take a string (OSC /vj/prompt/<i>/text): no MIDI control can play them.
TEXT_ACTIONS = {f"prompt.{i}.text": f"set prompt {i}'s text in the playing preset" for i in range(1, MAX_PROMPTS + 1)}
ACTIONS.update({name: (description, True) for name, description in TEXT_ACTIONS.items()})


class ActionSink(Protocol):
    def action(self, name: str, value: float | int | str | None) -> None: ...


def action_list() -> str:
    """The actions for an error message, the per-prompt text actions as one entry."""
    return ", ".join([name for name in ACTIONS if name not in TEXT_ACTIONS] + [f"prompt.N.text (N 1-{MAX_PROMPTS})"])
