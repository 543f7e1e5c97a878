"""The parameter registry: every knob of the show, named, typed, ranged and described.

A parameter has a *base* value (set by knobs, OSC, presets) and *modulations*
(LFOs, audio) added on top; the sum is clamped to range and slewed by the
parameter's own smoothing time. The render thread owns the state and takes one
immutable Snapshot per display frame; everything downstream reads snapshots.
The same registry generates `vj params`, the HUD and later the OSC address space.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal

from vj.vocabulary import MAX_PROMPTS

log = logging.getLogger(__name__)

Kind = Literal["float", "int", "bool", "enum"]
Value = float | int | bool | str

CROSSFADE_CURVES = ("linear", "smooth", "ease-in", "ease-out", "cut")
CLOCK_SOURCES = ("auto", "manual", "midi", "audio", "link")  # link last: the others keep their index


@dataclass(frozen=True)
class ParamSpec:
    name: str
    kind: Kind
    default: Value
    lo: float = 0.0
    hi: float = 1.0
    smoothing: float = 0.0  # seconds to cover ~63% of a jump; 0 = instant
    description: str = ""
    unit: str = ""
    choices: tuple[str, ...] = ()
    group: str = ""  # where a control surface shows it (prompts, dream, motion...); "" for none

    @property
    def continuous(self) -> bool:
        return self.kind == "float"

    def range_text(self) -> str:
        if self.kind == "bool":
            return "off/on"
        if self.kind == "enum":
            return "|".join(self.choices)
        lo = f"{self.lo:g}" if self.kind == "float" else str(int(self.lo))
        hi = f"{self.hi:g}" if self.kind == "float" else str(int(self.hi))
        return f"{lo}..{hi}"

    def check(self, value: object) -> Value:
        """Validate a value from a config file: right type and in range, else ValueError saying what was expected."""
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            raise ValueError(f"expected true or false, got {value!r}")
        if self.kind == "enum":
            if isinstance(value, str) and value in self.choices:
                return value
            raise ValueError(f"expected one of {', '.join(self.choices)}, got {value!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number in {self.range_text()}, got {value!r}")
        if self.kind == "int" and not float(value).is_integer():
            raise ValueError(f"expected a whole number in {self.range_text()}, got {value!r}")
        if not self.lo <= value <= self.hi:
            raise ValueError(f"expected a value in {self.range_text()}, got {value!r}")
        return int(value) if self.kind == "int" else float(value)

    def coerce(self, value: object) -> Value:
        """Bring a run-time value into type and range (clamping), never raising for numbers."""
        if self.kind == "bool":
            return bool(value) if not isinstance(value, (int, float)) else float(value) >= 0.5
        if self.kind == "enum":
            if isinstance(value, str):
                return value if value in self.choices else str(self.default)
            index = int(round(float(value)))  # type: ignore[arg-type]
            return self.choices[max(0, min(len(self.choices) - 1, index))]
        x = float(value)  # type: ignore[arg-type]
        if math.isnan(x):
            x = float(self.default)
        x = min(self.hi, max(self.lo, x))
        return int(round(x)) if self.kind == "int" else x


def _f(name: str, default: float, lo: float, hi: float, smoothing: float, unit: str, description: str) -> ParamSpec:
    return ParamSpec(name, "float", default, lo, hi, smoothing, description, unit)


def _in(group: str, specs: Iterable[ParamSpec]) -> Iterator[ParamSpec]:
    return (replace(spec, group=group) for spec in specs)


def _specs() -> Iterator[ParamSpec]:
    yield from _in("prompts", (
        _f(f"prompt.{i}.weight", 1.0 if i == 1 else 0.0, 0.0, 1.0, 0.25, "",
           f"blend weight of prompt {i} (weights are normalised across prompts)")
        for i in range(1, MAX_PROMPTS + 1)))
    yield from _in("dream", [
        _f("strength", 0.5, 0.0, 1.0, 0.1, "",
           "how far each frame departs from the previous one (denoise strength; turbulence in procedural)")])
    yield from _in("diffusion", [
        ParamSpec("steps", "int", 1, 1, 4, 0.0, "diffusion: UNet calls per frame (more: finer detail, slower)"),
        _f("guidance", 0.0, 0.0, 12.0, 0.1, "",
           "diffusion: classifier-free guidance; above 1 the negative prompt counts"),
        ParamSpec("scheduler", "enum", "auto", choices=("auto", "euler", "euler-a", "lcm"),
                  description="diffusion: sampler (auto: the model's own)")])
    yield from _in("dream", [
        ParamSpec("seed", "int", 0, 0, 2**31 - 1, 0.0, "base random seed of the dream"),
        _f("seed.walk", 0.0, 0.0, 1e6, 0.5, "seeds", "seed walk position: 2.5 is half way from seed+2 to seed+3"),
        _f("seed.rate", 0.0, 0.0, 10.0, 0.1, "seeds/s", "how fast the seed walk advances (per beat with seed.sync)"),
        ParamSpec("seed.sync", "bool", False,
                  description="seed.rate counts seeds per beat of the clock, not per second")])
    yield from _in("motion", [
        _f("zoom", 0.0, -2.0, 2.0, 0.3, "ln/s", "zoom rate: > 0 flies in, < 0 pulls out (exp(zoom) per second)"),
        _f("pan.x", 0.0, -2.0, 2.0, 0.3, "screens/s", "horizontal camera speed: > 0 moves right"),
        _f("pan.y", 0.0, -2.0, 2.0, 0.3, "screens/s", "vertical camera speed: > 0 moves up"),
        _f("rotate", 0.0, -180.0, 180.0, 0.3, "deg/s", "camera rotation speed: > 0 turns clockwise")])
    yield from _in("crossfade", [
        _f("crossfade", 0.6, 0.0, 10.0, 0.0, "s", "crossfade time from one generated frame to the next"),
        ParamSpec("crossfade.curve", "enum", "smooth", choices=CROSSFADE_CURVES, description="shape of the crossfade")])
    yield from _in("dream", [
        _f("feedback", 0.6, 0.0, 1.0, 0.2, "", "how much of the previous frame carries into the next"),
        _f("speed", 1.0, 0.0, 4.0, 0.3, "x", "time scale of the procedural dream's own animation")])
    yield from _in("colour", [
        _f("brightness", 0.0, -1.0, 1.0, 0.1, "", "added to every colour"),
        _f("contrast", 1.0, 0.0, 3.0, 0.1, "x", "contrast around mid grey (1 = unchanged)"),
        _f("saturation", 1.0, 0.0, 2.0, 0.1, "x", "colour saturation (1 = unchanged)"),
        _f("hue", 0.0, -180.0, 180.0, 0.1, "deg", "hue rotation")])
    yield from _in("show", [
        _f("blackout", 0.0, 0.0, 1.0, 0.15, "", "fade to black (1 = black)"),
        ParamSpec("freeze", "bool", False, description="hold the picture: no new frames, no motion"),
        ParamSpec("hud", "bool", False, description="show the heads-up display"),
        ParamSpec("preset", "int", 0, 0, 99, 0.0, "index of the active preset (setting it switches preset)")])
    yield from _in("tempo", [
        _f("bpm", 120.0, 20.0, 300.0, 0.0, "bpm", "manual tempo of the beat clock (tap tempo sets it)"),
        ParamSpec("clock.source", "enum", "auto", choices=CLOCK_SOURCES,
                  description="what drives the beat clock: auto (MIDI clock, else a Link session with peers, "
                              "else the audio's beat, else bpm and taps), or only that source")])
    yield from _in("inputs", [
        _f("audio.amount", 1.0, 0.0, 2.0, 0.2, "x", "scales every audio modulation (0: the music moves nothing)"),
        _f("camera.mix", 0.7, 0.0, 1.0, 0.2, "",
           "live camera (--camera) into the dream: 0 the feedback loop alone, 1 the camera alone as the init image"),
        ParamSpec("voice.talk", "bool", False,
                  description="push-to-talk for voice commands (hold: bind it with mode momentary)"),
        ParamSpec("voice.dictate", "bool", False,
                  description="hold to dictate: what is said while held becomes a prompt (Whisper)")])
    yield from _in("prompts", [
        _f("prompt.transition", 4.0, 0.0, 60.0, 0.0, "s", "how long a spoken prompt takes to blend in")])


class Registry:
    """The immutable table of parameter specs, in display order."""

    def __init__(self, specs: Iterator[ParamSpec] | list[ParamSpec] | None = None) -> None:
        self._specs: dict[str, ParamSpec] = {s.name: s for s in (specs if specs is not None else _specs())}

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __getitem__(self, name: str) -> ParamSpec:
        return self._specs[name]

    def __iter__(self) -> Iterator[ParamSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def get(self, name: str) -> ParamSpec | None:
        return self._specs.get(name)

    def defaults(self) -> dict[str, Value]:
        return {s.name: s.default for s in self}


REGISTRY = Registry()


@dataclass(frozen=True)
class Snapshot:
    """All parameter values for one display frame. Immutable."""

    time: float  # show time, seconds
    dt: float  # seconds since the previous snapshot
    values: Mapping[str, Value]

    def __getitem__(self, name: str) -> Value:
        return self.values[name]

    def f(self, name: str) -> float:
        return float(self.values[name])


class ParamState:
    """Base values, modulations and smoothed values. Owned by the render thread only."""

    def __init__(self, registry: Registry = REGISTRY) -> None:
        self.registry = registry
        self.base: dict[str, Value] = registry.defaults()
        self.current: dict[str, Value] = dict(self.base)
        self._mods: dict[str, dict[str, float]] = {}
        self._smoothing: dict[str, float] = {}  # per-binding override of a parameter's smoothing
        self._reported: set[str] = set()
        self.time = 0.0
        self.warnings: list[str] = []  # run-time problems to show once in the HUD

    def spec(self, name: str) -> ParamSpec:
        return self.registry[name]

    def set_base(self, name: str, value: Value, smoothing: float | None = None, jump: bool = False) -> Value:
        """Set a parameter's base value; out-of-range values are clamped and reported once per parameter."""
        spec = self.registry[name]
        coerced = spec.coerce(value)
        if spec.kind in ("float", "int") and not isinstance(value, bool):
            x = float(value)
            if (x < spec.lo or x > spec.hi or math.isnan(x)) and name not in self._reported:
                self._reported.add(name)
                msg = f"{name}: {value!r} is outside {spec.range_text()}; clamped to {coerced}"
                log.warning(msg)
                self.warnings.append(msg)
        self.base[name] = coerced
        if smoothing is not None:
            self._smoothing[name] = smoothing
        if jump or not spec.continuous:
            self.current[name] = coerced
        return coerced

    def set_modulation(self, name: str, source: str, amount: float) -> None:
        """Set one source's additive modulation of a continuous parameter (replaces that source's last amount)."""
        self._mods.setdefault(name, {})[source] = amount

    def clear_modulations(self, source_prefix: str = "") -> None:
        for mods in self._mods.values():
            for key in [k for k in mods if k.startswith(source_prefix)]:
                del mods[key]

    def target(self, name: str) -> Value:
        spec = self.registry[name]
        base = self.base[name]
        mods = self._mods.get(name)
        if not mods or spec.kind in ("bool", "enum"):
            return base
        return spec.coerce(float(base) + sum(mods.values()))

    def tick(self, dt: float) -> Snapshot:
        """Advance smoothing by dt seconds and return the frame's immutable snapshot."""
        self.time += dt
        for spec in self.registry:
            goal = self.target(spec.name)
            if not spec.continuous:
                self.current[spec.name] = goal
                continue
            tau = self._smoothing.get(spec.name, spec.smoothing)
            cur = float(self.current[spec.name])
            if tau <= 0.0 or dt <= 0.0:
                cur = float(goal)
            else:
                # Exponential slew: frame-rate independent (two half steps equal one whole step).
                cur += (float(goal) - cur) * (1.0 - math.exp(-dt / tau))
                if abs(cur - float(goal)) < 1e-6 * max(1.0, abs(spec.hi - spec.lo)):
                    cur = float(goal)
            self.current[spec.name] = cur
        return Snapshot(self.time, dt, MappingProxyType(dict(self.current)))
