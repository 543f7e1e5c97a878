"""The mapping engine: compiled bindings turn control events into parameter writes and actions.

An event costs one dict lookup (its source key), one transform and one write.
Modulators (LFOs) are evaluated once per display frame. The engine knows
nothing about where events come from: any source that produces a SourceKey
and a 0..1 value plugs in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vj.clock import ClockState
from vj.config.mapping import Binding, LfoSpec, MappingConfig
from vj.control.actions import ActionSink
from vj.control.events import ControlEvent, SourceKey
from vj.control.transform import shape
from vj.params import ParamState

PRESS = 0.5  # a normalised value above this counts as "pressed" for buttons


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


@dataclass
class _Held:
    """Run-time state of one button binding (render thread only)."""

    pressed: bool = False
    restore: float | int | bool | str | None = None  # momentary: value to return to on release


class MappingEngine:
    def __init__(self, config: MappingConfig) -> None:
        self.config = config
        self._table: dict[SourceKey, list[tuple[Binding, _Held]]] = {}
        for binding in config.bindings:
            self._table.setdefault(binding.source, []).append((binding, _Held()))
        self.unmapped = 0  # events whose source no binding listens to

    def handle(self, event: ControlEvent, state: ParamState, sink: ActionSink) -> None:
        entries = self._table.get(event.source)
        if entries is None:
            self.unmapped += 1
            return
        for binding, held in entries:
            self._apply(binding, held, event.value, state, sink)

    def _apply(self, b: Binding, held: _Held, value: float, state: ParamState, sink: ActionSink) -> None:
        pressed = value > PRESS
        edge_down = pressed and not held.pressed
        edge_up = held.pressed and not pressed
        held.pressed = pressed
        if b.action is not None:
            if edge_down:
                sink.action(b.action, b.value)
            return
        assert b.param is not None  # validated at load: exactly one target
        name = b.param
        spec = state.spec(name)
        if b.mode == "value":
            state.set_base(name, shape(value, b.lo, b.hi, b.curve, b.invert), b.smoothing)
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

    def modulate(self, state: ParamState, time: float, clock: ClockState) -> None:
        """Evaluate every LFO for this display frame and write it as that LFO's modulation."""
        for index, lfo in enumerate(self.config.lfos):
            state.set_modulation(lfo.param, f"lfo{index}", lfo_value(lfo, time, clock))
