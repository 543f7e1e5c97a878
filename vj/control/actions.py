"""Named actions a binding can fire. The show implements them; configs are validated against this table."""

from __future__ import annotations

from typing import Protocol

# name -> (description, takes a value)
ACTIONS: dict[str, tuple[str, bool]] = {
    "fullscreen": ("toggle fullscreen", False),
    "hud": ("show or hide the heads-up display", False),
    "freeze": ("toggle freeze: hold the picture", False),
    "blackout": ("toggle blackout (fades to black)", False),
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


class ActionSink(Protocol):
    def action(self, name: str, value: float | int | str | None) -> None: ...
