"""The surface's websocket messages (docs/surface.md): what a page may send, checked into typed
commands, and what it is sent, built from a reading of the show.

A page sends JSON text: `set`, `action`, `prompt`, `preset`, `preview`. `parse` turns one into a
command or raises `Refused` saying why (the site counts it and goes on). The show's side is a
`Reading` (plain data the render thread hands over) that `hello`, `values` and `meters` turn into
JSON-ready dicts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from vj.params import REGISTRY, Registry, Value
from vj.surface.space import SURFACE_ACTIONS
from vj.vocabulary import ACTIONS, MAX_PROMPTS

MAX_MESSAGE = 4096  # bytes in one message from a page; more closes it (policy violation)
MAX_TEXT = 1000  # characters of a prompt (the prompt book's own limit)
MAX_NAME = 200  # characters of a name (an action's text value: a preset's name)


class Refused(ValueError):
    """A message from a page that vj does not take; the text says why."""


@dataclass(frozen=True)
class SetParam:
    param: str
    value: Value


@dataclass(frozen=True)
class FireAction:
    name: str
    value: float | int | str | None = None


@dataclass(frozen=True)
class PromptText:
    index: int  # 1-based
    text: str


@dataclass(frozen=True)
class SelectPreset:
    index: int  # 0-based, in the order listed


@dataclass(frozen=True)
class PreviewWanted:
    on: bool


Command = SetParam | FireAction | PromptText | SelectPreset | PreviewWanted


@dataclass(frozen=True)
class Meters:
    bpm: float = 120.0
    beat_phase: float = 0.0  # 0..1 within the beat
    bar_phase: float = 0.0  # 0..1 within a 4/4 bar
    clock: str = "manual"  # what drives the beat clock
    level: float = 0.0  # the audio analysis' 0..1 readings (0: no audio)
    bass: float = 0.0
    mid: float = 0.0
    high: float = 0.0


@dataclass(frozen=True)
class Reading:
    """The show as the render thread last published it (plain data, immutable)."""

    values: Mapping[str, Value]  # every parameter's base value
    prompts: tuple[str, ...]  # prompt texts, MAX_PROMPTS slots ("" where the preset has none)
    preset: int  # the one playing
    presets: tuple[str, ...]  # every loaded preset's name, in order
    meters: Meters = Meters()


def _no_constant(name: str) -> object:
    raise Refused(f"{name} is not a number vj takes")


def _number(value: object, what: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Refused(f"{what} must be a finite number, got {value!r:.40}")
    return value


def _index(value: object, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise Refused(f"{what} must be a whole number in {lo}..{hi}, got {value!r:.40}")
    return value


def _param_value(name: str, value: object, registry: Registry) -> Value:
    spec = registry[name]
    if spec.kind == "bool":
        if isinstance(value, bool):
            return value
        return _number(value, name) >= 0.5
    if spec.kind == "enum":
        if isinstance(value, str) and value in spec.choices:
            return value
        if isinstance(value, str):
            raise Refused(f"{name} takes one of {', '.join(spec.choices)}, got {value!r:.40}")
        return spec.choices[_index(value, name, 0, len(spec.choices) - 1)]
    return _number(value, name)  # out of range: clamped by the registry, reported once in the HUD


def parse(text: str | bytes, registry: Registry = REGISTRY) -> Command:
    """One message from a page as a command; Refused if it is not one vj takes."""
    try:
        message = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # (a Refused from parse_constant is a ValueError too)
        raise Refused(str(exc)[:80] if isinstance(exc, Refused) else "not JSON") from None
    if not isinstance(message, dict):
        raise Refused("not a JSON object")
    kind = message.get("type")
    if kind == "set":
        name = message.get("param")
        if not isinstance(name, str) or name not in registry:
            raise Refused(f"no parameter {name!r:.60}")
        return SetParam(name, _param_value(name, message.get("value"), registry))
    if kind == "action":
        name, value = message.get("name"), message.get("value")
        if not isinstance(name, str) or name not in SURFACE_ACTIONS:
            raise Refused(f"no action {name!r:.60} on the surface")
        if value is None or not ACTIONS[name][1]:
            return FireAction(name)
        if isinstance(value, str):
            if len(value) > MAX_NAME:
                raise Refused(f"{name}: a value of {len(value)} characters")
            return FireAction(name, value)
        return FireAction(name, _number(value, name))
    if kind == "prompt":
        index = _index(message.get("index"), "prompt index", 1, MAX_PROMPTS)
        prompt = message.get("text")
        if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_TEXT:
            raise Refused(f"a prompt is text of 1..{MAX_TEXT} characters")
        return PromptText(index, prompt)
    if kind == "preset":
        return SelectPreset(_index(message.get("index"), "preset index", 0, 10_000))
    if kind == "preview":
        on = message.get("on")
        if not isinstance(on, bool):
            raise Refused("preview takes on: true or false")
        return PreviewWanted(on)
    raise Refused(f"unknown message type {kind!r:.40}")


# -- to the pages ----------------------------------------------------------------------------


def wire_value(value: Value) -> Value:
    """A value as sent: floats to 6 decimals (no flood of changes in the last bits)."""
    if isinstance(value, float):
        return round(value, 6)
    return value


def wire_values(values: Mapping[str, Value]) -> dict[str, Value]:
    return {name: wire_value(value) for name, value in values.items()}


def prompt_list(reading: Reading) -> list[dict[str, object]]:
    return [{"index": i, "text": text, "weight": wire_value(reading.values.get(f"prompt.{i}.weight", 0.0))}
            for i, text in enumerate(reading.prompts, 1)]


def preset_name(reading: Reading) -> str:
    return reading.presets[reading.preset] if 0 <= reading.preset < len(reading.presets) else ""


def hello(reading: Reading, registry: Registry = REGISTRY) -> dict[str, object]:
    """Everything a page needs to draw itself, with the values now."""
    params = [{"name": s.name, "kind": s.kind, "group": s.group or "other", "lo": s.lo, "hi": s.hi,
               "default": s.default, "unit": s.unit, "description": s.description, "choices": list(s.choices),
               "value": wire_value(reading.values.get(s.name, s.default))} for s in registry]
    actions = [{"name": name, "description": ACTIONS[name][0], "value": ACTIONS[name][1]} for name in SURFACE_ACTIONS]
    return {"type": "hello", "params": params, "prompts": prompt_list(reading), "presets": list(reading.presets),
            "preset": preset_name(reading), "preset_index": reading.preset, "actions": actions,
            "meters": meters(reading.meters)}


def meters(m: Meters) -> dict[str, object]:
    return {"type": "meters", "bpm": round(m.bpm, 2), "beat_phase": round(m.beat_phase, 3),
            "bar_phase": round(m.bar_phase, 3), "clock": m.clock, "level": round(m.level, 3),
            "bass": round(m.bass, 3), "mid": round(m.mid, 3), "high": round(m.high, 3)}


def idle_reading(registry: Registry = REGISTRY) -> Reading:
    """What a page sees before the show's first frame: the defaults."""
    return Reading(registry.defaults(), ("",) * MAX_PROMPTS, 0, ())
