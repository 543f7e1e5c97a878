"""What each declared action does to the show (vocabulary.ACTIONS declares them, for the configs).

`ACTION_TABLE` maps every declared name to its handler, a function of the show and the value the
binding sent; tests/show/test_actions.py checks the two tables name the same actions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from vj.vocabulary import TEXT_ACTIONS

if TYPE_CHECKING:
    from vj.show.show import Show

Value = float | int | str | None
NUDGE_MS = 10.0  # beat.nudge without a value (an OSC message with no argument): this much later
Handler = Callable[["Show", Value], None]


def _number(value: Value) -> int | None:
    """A finite number as an int (a MIDI program, an OSC argument); None for text or NaN."""
    if isinstance(value, (int, float)) and math.isfinite(value):
        return int(value)
    return None


def _fullscreen(show: Show, value: Value) -> None:
    if show.options.on_window_action:
        show.options.on_window_action("fullscreen")


def _quit(show: Show, value: Value) -> None:
    show.quit_requested = True


def _learn(show: Show, value: Value) -> None:
    show.controls.learn(show.controls.learning is None)


def _toggle(name: str) -> Handler:
    def toggle(show: Show, value: Value) -> None:
        show.state.set_base(name, not show.state.base[name])

    return toggle


def _blackout(show: Show, value: Value) -> None:
    s = show.state
    s.set_base("blackout", 0.0 if float(s.base["blackout"]) > 0.5 else 1.0)


def select_preset(show: Show, index: int) -> None:
    """Preset `index` plays from the next frame (the `preset` parameter); a notice if there is none."""
    count = len(show.prompts.presets)
    if not 0 <= index < count:
        show.notices.notice(f"no preset number {index}: {count} presets are loaded (0..{count - 1})")
        return
    show.state.set_base("preset", index)


def _select_preset(show: Show, value: Value) -> None:
    """By number, or by name (OSC)."""
    if isinstance(value, str):
        index = show.prompts.named(value)
        if index < 0:
            show.notices.notice(f"no preset named {value!r}")
        else:
            select_preset(show, index)
    elif (number := _number(value)) is not None:
        select_preset(show, number)


def _step_preset(step: int) -> Handler:
    def step_preset(show: Show, value: Value) -> None:
        select_preset(show, (show.prompts.index + step) % len(show.prompts.presets))

    return step_preset


def _tap(show: Show, value: Value) -> None:
    if show.clock.source in ("midi", "audio"):
        show.notices.notice(f"tap ignored: the {show.clock.source} beat drives the clock (set clock.source to manual)")
    bpm = show.clock.tap(show.state.time)
    if bpm is not None:
        show.state.set_base("bpm", bpm)


def _scale_tempo(factor: float, name: str) -> Handler:
    """tempo.double / tempo.half: a multiplier on an external source's tempo (the clock's), else the
    `bpm` parameter times `factor`, if that stays within its range."""

    def scale_tempo(show: Show, value: Value) -> None:
        try:
            if show.clock.scale_tempo(factor):
                return
        except ValueError as error:
            show.notices.notice(f"{name}: {error}")
            return
        spec = show.state.spec("bpm")
        bpm = float(show.state.base["bpm"]) * factor
        if not spec.lo <= bpm <= spec.hi:
            show.notices.notice(f"{name}: {bpm:g} bpm is outside bpm's range {spec.range_text()}")
            return
        show.state.set_base("bpm", bpm)

    return scale_tempo


def _nudge(show: Show, value: Value) -> None:
    """beat.nudge by `value` ms (negative: earlier); a binding without a value nudges NUDGE_MS later."""
    if value is None:
        show.clock.nudge(NUDGE_MS)
    elif isinstance(value, (int, float)) and math.isfinite(value):
        show.clock.nudge(float(value))
    else:
        show.notices.notice(f"beat.nudge: {value!r} is not a number of milliseconds")


def _resync(show: Show, value: Value) -> None:
    show.clock.resync()


def _flash(show: Show, value: Value) -> None:
    show.flash = 1.0


def _select_prompt(show: Show, value: Value) -> None:
    number = _number(value)
    if number is None:
        show.notices.notice(f"prompt.select: {value!r} is not a prompt number")
    else:
        show.prompts.select(number)


def _prompt_text(number: int) -> Handler:
    def prompt_text(show: Show, value: Value) -> None:
        show.prompts.set_text(number, str(value))

    return prompt_text


def _seed_step(show: Show, value: Value) -> None:
    s = show.state
    s.set_base("seed.walk", float(s.base["seed.walk"]) + 1.0)


def _motion_reset(show: Show, value: Value) -> None:
    for p in ("zoom", "pan.x", "pan.y", "rotate"):
        show.state.set_base(p, 0.0, jump=True)
    show.crossfader.reset_cameras()


ACTION_TABLE: Mapping[str, Handler] = MappingProxyType({
    "fullscreen": _fullscreen,
    "hud": _toggle("hud"),
    "freeze": _toggle("freeze"),
    "blackout": _blackout,
    "flash": _flash,
    "preset.select": _select_preset,
    "preset.next": _step_preset(+1),
    "preset.prev": _step_preset(-1),
    "tap": _tap,
    "tempo.double": _scale_tempo(2.0, "tempo.double"),
    "tempo.half": _scale_tempo(0.5, "tempo.half"),
    "beat.nudge": _nudge,
    "beat.resync": _resync,
    "seed.step": _seed_step,
    "prompt.select": _select_prompt,
    "motion.reset": _motion_reset,
    "learn": _learn,
    "quit": _quit,
    **{name: _prompt_text(int(name.split(".")[1])) for name in TEXT_ACTIONS},
})
