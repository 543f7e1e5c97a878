"""The mapping engine: compiled bindings turn control events into parameter writes and actions.

An event costs one dict lookup (its source key), one transform and one write.
Modulators (LFOs) are evaluated once per display frame. The engine knows
nothing about where events come from: any source that produces a SourceKey
and a 0..1 value plugs in.

Relative encoders and takeover (pickup, scale) are transforms here, because they need the
binding and the parameter's value; the engine still does not know where events come from.
Events carry `pressed` (a pad at velocity 20 is pressed), `raw` (an encoder's code, a program
number, an OSC argument as sent) and `time` (arrival, for acceleration). The target interprets
`raw`: numbers in words for numeric parameters (vj.control.transform.text_number), names for
choices and presets, verbatim text for prompts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from vj.config.mapping import Binding, LfoSpec, MappingConfig
from vj.control.transform import acceleration, curve, relative_delta, shape, text_number, unshape
from vj.params import ParamState
from vj.vocabulary import ACTIONS, TEXT_ACTIONS, ActionSink, ClockState, ControlEvent, SourceKey

PRESS = 0.5  # a normalised value above this counts as "pressed" for buttons
MAX_UNKNOWN_REPORTS = 16  # distinct unknown OSC addresses reported before the rest are only counted
PICKUP_WINDOW = 1.5 / 127  # a knob this close to the parameter (in knob travel) has picked it up


def osc_pattern(pattern: str) -> re.Pattern[str]:
    """An OSC 1.0 address pattern as a regex: * and ? within one part, [abc] [!a-z], {one,two}."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                negate = body.startswith("!")
                body = body[1:] if negate else body
                out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
                i = end
        elif c == "{":
            end = pattern.find("}", i)
            if end < 0:
                out.append(re.escape(c))
            else:
                out.append("(?:" + "|".join(re.escape(p) for p in pattern[i + 1 : end].split(",")) + ")")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    try:
        return re.compile("".join(out))
    except re.error:
        return re.compile(re.escape(pattern))  # a malformed class: match it literally


def wave(shape_name: str, phase: float) -> float:
    """Bipolar LFO waveforms, -1..1, period 1."""
    p = phase % 1.0
    if shape_name == "sine":
        return math.sin(2.0 * math.pi * p)
    if shape_name == "saw":
        return 2.0 * p - 1.0
    if shape_name == "triangle":
        return 1.0 - 4.0 * abs(p - 0.5)
    if shape_name == "square":
        return 1.0 if p < 0.5 else -1.0
    raise ValueError(f"unknown LFO shape {shape_name!r}")


def lfo_value(lfo: LfoSpec, time: float, clock: ClockState) -> float:
    cycles = clock.beats / lfo.beats if lfo.beats else time * (lfo.hz or 0.0)
    return lfo.amount * wave(lfo.shape, cycles + lfo.phase)


def action_value(action: str, raw: int | float | str) -> int | float | str:
    """A message's argument as an action's value: text actions take it as text (a number sent for
    a prompt is written as one), the others as a number where it is one (`/vj/preset s "2"`)."""
    if action in TEXT_ACTIONS:
        if isinstance(raw, str):
            return raw
        return f"{raw:g}" if isinstance(raw, float) else str(raw)
    number = text_number(raw) if isinstance(raw, str) else raw
    return raw if number is None else number


@dataclass
class _Held:
    """Run-time state of one binding (render thread only)."""

    pressed: bool = False
    restore: float | int | bool | str | None = None  # momentary: value to return to on release
    knob: float | None = None  # takeover: where the control was last seen, 0..1
    engaged: bool = False  # takeover: the control has caught the parameter and now drives it
    written: object = None  # takeover: what it last wrote (anything else moved it: catch again)
    last_time: float | None = None  # encoder: arrival of the previous detent, for acceleration


@dataclass(frozen=True)
class Pickup:
    """A knob waiting to catch its parameter: shown in the HUD so the VJ knows which way to turn."""

    param: str
    knob: float  # where the control is, 0..1
    target: float  # where it must go, 0..1


class MappingEngine:
    def __init__(self, config: MappingConfig) -> None:
        self.config = config
        self._table: dict[SourceKey, list[tuple[Binding, _Held]]] = {}
        for binding in config.bindings:
            held = _Held()  # one state per binding, however many keys (channels) it listens on
            for key in binding.sources:
                self._table.setdefault(key, []).append((binding, held))
        self.unmapped = 0  # events whose source no binding listens to
        self.pickup: Pickup | None = None  # the latest knob that has not caught its parameter yet
        self._patterns: dict[SourceKey, list[tuple[Binding, _Held]]] = {}  # address pattern -> matches
        self.rejected = 0  # events whose value the target could not take
        self.problems: list[str] = []  # new reports for the HUD and log (the show drains them)
        self._reported: set[str] = set()
        self._unknowns: set[str] = set()
        self._smoothed: dict[int, float] = {}  # audio modulator index -> its smoothed value
        self._mod_time: float | None = None

    def handle(self, event: ControlEvent, state: ParamState, sink: ActionSink) -> None:
        entries = self._table.get(event.source) if not event.pattern else self._matching(event.source)
        if not entries:
            self.unmapped += 1
            if event.source[0] == "osc":
                self._unknown(str(event.source[-1]))
            return
        for binding, held in entries:
            self._apply(binding, held, event, state, sink)

    def _matching(self, pattern: SourceKey) -> list[tuple[Binding, _Held]]:
        """Bindings whose source matches an OSC address pattern (`/vj/prompt/*/weight`)."""
        if pattern not in self._patterns:
            if len(self._patterns) > 1024:
                self._patterns.clear()  # patterns come from the network: keep the cache bounded
            regex = osc_pattern(str(pattern[-1]))
            prefix = pattern[:-1]
            self._patterns[pattern] = [
                entry
                for key, entries in self._table.items()
                if key[:-1] == prefix and isinstance(key[-1], str) and regex.fullmatch(key[-1])
                for entry in entries
            ]
        return self._patterns[pattern]

    def _apply(self, b: Binding, held: _Held, event: ControlEvent, state: ParamState, sink: ActionSink) -> None:
        value = event.value
        pressed = event.pressed if event.pressed is not None else value > PRESS
        edge_down = pressed and not held.pressed
        edge_up = held.pressed and not pressed
        held.pressed = pressed and not event.one_shot  # a one-shot press needs no release
        if b.action is not None:
            takes_value = ACTIONS[b.action][1]  # program N -> preset.select N; /vj/preset 0 -> preset 0
            if takes_value and b.value is None and event.one_shot and event.raw is not None:
                sink.action(b.action, action_value(b.action, event.raw))  # the message is the press itself
            elif b.action in TEXT_ACTIONS:
                self._reject(b, event, "no text")
            elif edge_down:
                sink.action(b.action, b.value if b.value is not None or not takes_value else event.raw)
            return
        assert b.param is not None  # validated at load: exactly one target
        name = b.param
        spec = state.spec(name)
        if isinstance(event.raw, str) and not b.native and text_number(event.raw) is None:
            self._reject(b, event, "a word where a number belongs")
            return
        if b.mode == "value":
            if b.native:
                self._write_native(b, event, state)
            elif b.encoder is not None:
                self._turn(b, held, event, state)
            elif b.takeover == "jump" or spec.kind not in ("float", "int"):
                state.set_base(name, shape(value, b.lo, b.hi, b.curve, b.invert), b.smoothing)
            else:
                self._take_over(b, held, value, state)
        elif b.mode == "toggle":
            if edge_down:
                base = state.base[name]
                current = float(spec.choices.index(base) if isinstance(base, str) else base)
                state.set_base(name, b.lo if abs(current - b.hi) < abs(current - b.lo) else b.hi, b.smoothing)
        elif b.mode == "momentary":
            if edge_down:
                held.restore = state.base[name]
                state.set_base(name, b.value if b.value is not None else b.hi, b.smoothing)
            elif edge_up and held.restore is not None:
                state.set_base(name, held.restore, b.smoothing)
                held.restore = None
        elif b.mode == "trigger":
            if edge_down:
                state.set_base(name, b.value if b.value is not None else b.hi, b.smoothing)
        elif b.mode == "step" and edge_down:
            base = state.base[name]
            current = float(spec.choices.index(base) if isinstance(base, str) else base)
            nxt = current + b.step
            lo, hi = min(b.lo, b.hi), max(b.lo, b.hi)
            if b.wrap and spec.kind != "bool":
                span = hi - lo + (1 if spec.kind in ("int", "enum") else 0)
                nxt = lo + (nxt - lo) % span if span > 0 else lo
            else:
                nxt = min(hi, max(lo, nxt))
            state.set_base(name, nxt, b.smoothing)

    def _write_native(self, b: Binding, event: ControlEvent, state: ParamState) -> None:
        """A value in the parameter's own units (OSC): numbers are clamped by the registry (and
        reported once per parameter there); a choice by name or index; text that is not a number
        or a choice is rejected."""
        assert b.param is not None
        spec = state.spec(b.param)
        raw = event.raw
        if raw is None:
            return self._reject(b, event, "no value")
        if isinstance(raw, str):
            if spec.kind == "enum" and raw not in spec.choices and text_number(raw) is None:
                return self._reject(b, event, f"expected one of {', '.join(spec.choices)}")
            if spec.kind != "enum" or raw not in spec.choices:
                number = text_number(raw)
                if number is None:
                    return self._reject(b, event, "not a number")
                raw = number
        try:
            state.set_base(b.param, raw, b.smoothing)
        except (ValueError, TypeError, OverflowError) as exc:
            self._reject(b, event, str(exc))

    def _unknown(self, address: str) -> None:
        """An OSC address nothing listens to (a typo in TouchDesigner, another app's traffic):
        the first few are reported once each, the rest only counted (the HUD shows the count)."""
        if len(self._unknowns) < MAX_UNKNOWN_REPORTS and address not in self._unknowns:
            self._unknowns.add(address)
            more = "; further unknown addresses are only counted" if len(self._unknowns) == MAX_UNKNOWN_REPORTS else ""
            self.problems.append(f"OSC {address[:80]}: no such address (`vj osc` lists them){more}; ignored")

    def _reject(self, b: Binding, event: ControlEvent, why: str) -> None:
        """A value the target cannot take: counted, and reported once per binding (not per incoming
        address: patterns come from the network, and a stream of different ones must not grow the
        reports without end)."""
        self.rejected += 1
        where = " ".join(str(part) for part in b.source)
        if where not in self._reported:
            self._reported.add(where)
            target = b.param or b.action
            self.problems.append(f"{where}: {event.raw!r} is not a value for {target} ({why}); ignored")

    def _turn(self, b: Binding, held: _Held, event: ControlEvent, state: ParamState) -> None:
        """A relative encoder: detents move the parameter by `step` each (faster turns count more)."""
        assert b.param is not None and b.encoder is not None
        detents = relative_delta(event.raw if isinstance(event.raw, int) else round(event.value * 127), b.encoder)
        interval = event.time - held.last_time if held.last_time is not None and event.time else None
        held.last_time = event.time or None
        step = b.step or (b.hi - b.lo) / 128.0  # default: the whole range in 128 detents
        lo, hi = min(b.lo, b.hi), max(b.lo, b.hi)
        moved = float(state.base[b.param]) + (-1 if b.invert else 1) * detents * step * acceleration(interval, b.accel)
        state.set_base(b.param, min(hi, max(lo, moved)), b.smoothing)

    def _take_over(self, b: Binding, held: _Held, knob: float, state: ParamState) -> None:
        """Pickup and scale takeover: a knob that is far from its parameter's value (after a preset
        change, or another control moved it) must not make it jump.

        pickup: nothing happens until the knob reaches or crosses the value, then it drives it.
        scale:  the value moves toward the knob's end stop in proportion, so they meet there.
        """
        assert b.param is not None
        name = b.param
        if held.engaged and state.base[name] != held.written:
            held.engaged = False  # something else moved the parameter since: catch it again
        if not held.engaged:
            at = unshape(float(state.base[name]), b.lo, b.hi, b.curve, b.invert)
            previous, held.knob = held.knob, knob
            crossed = previous is not None and (previous - at) * (knob - at) <= 0
            if not (crossed or abs(knob - at) <= PICKUP_WINDOW):
                if b.takeover == "scale" and previous is not None and previous != knob:
                    if knob > previous:
                        at += (knob - previous) * (1.0 - at) / (1.0 - previous)
                    else:
                        at -= (previous - knob) * at / previous
                    self._write(b, held, at, state)
                    held.engaged = abs(knob - at) <= PICKUP_WINDOW
                else:
                    self.pickup = Pickup(name, knob, at)
                return
            held.engaged = True
            if self.pickup is not None and self.pickup.param == name:
                self.pickup = None
        held.knob = knob
        self._write(b, held, knob, state)

    @staticmethod
    def _write(b: Binding, held: _Held, knob: float, state: ParamState) -> None:
        assert b.param is not None
        state.set_base(b.param, shape(knob, b.lo, b.hi, b.curve, b.invert), b.smoothing)
        held.written = state.base[b.param]

    def modulate(self, state: ParamState, time: float, clock: ClockState,
                 features: Mapping[str, float] | None = None) -> None:
        """Evaluate every LFO and audio modulator for this display frame and write each as its
        own modulation. Without audio features the audio modulations are 0 (silence)."""
        for index, lfo in enumerate(self.config.lfos):
            state.set_modulation(lfo.param, f"lfo{index}", lfo_value(lfo, time, clock))
        if not self.config.audio:
            return
        dt = max(0.0, time - self._mod_time) if self._mod_time is not None else 0.0
        self._mod_time = time
        scale = float(state.current["audio.amount"])
        for index, mod in enumerate(self.config.audio):
            x = min(1.0, max(0.0, (features or {}).get(mod.feature, 0.0)))
            x = curve(1.0 - x if mod.invert else x, mod.curve)
            if mod.smoothing > 0 and index in self._smoothed:
                x = self._smoothed[index] + (x - self._smoothed[index]) * (1.0 - math.exp(-dt / mod.smoothing))
            self._smoothed[index] = x
            state.set_modulation(mod.param, f"audio{index}", scale * mod.amount * x)
