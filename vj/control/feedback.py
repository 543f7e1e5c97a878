"""MIDI out: LEDs for toggles, presets and the beat, and value echo to LED rings and motor faders.

Once per display frame (render thread) `Feedback.messages` works out what every lit control
should show and returns only what changed since it was last sent, so a steady show sends
nothing. After a controller reconnects, `forget(device)` makes the next frame resend it all.

What a control shows:
- a button bound to a toggle action (freeze, blackout, hud) or to a toggle/momentary parameter:
  `led[1]` while on, `led[0]` while off;
- preset.select N: lit while preset N plays; prompt.select N: lit while prompt N is up;
  tap: flashes on each beat (the first quarter of the beat);
- a knob or fader (value mode, `echo: true`): the parameter's base value as the control's own
  value (the inverse of its range and curve), so an LED ring or motor fader follows presets and
  other controllers; 14-bit controls get MSB and LSB;
- `midi.beat` LEDs: `on` for the first quarter of each beat.
Echo uses the parameter's base (the target the knob set), not the smoothed value, so a motor
fader does not chase the smoothing and fight the hand that moves it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from vj.config.mapping import Binding, MappingConfig
from vj.control.transform import unshape
from vj.vocabulary import ClockState

BEAT_FLASH = 0.25  # of a beat
DEFAULT_LED = (0, 127)
_STATUS = {"note": 0x90, "cc": 0xB0, "cc14": 0xB0}

Values = Mapping[str, object]  # parameter name -> base value
Lit = Callable[[Values, ClockState], bool]


@dataclass(frozen=True)
class _Light:
    device: str
    message: tuple[int, int]  # (status byte, number): the control it lights
    off: int
    on: int
    lit: Lit


@dataclass(frozen=True)
class _Echo:
    device: str
    status: int
    number: int
    wide: bool  # 14-bit: MSB on number, LSB on number + 32
    binding: Binding


def _on(name: str) -> Lit:
    return lambda v, c: (x := _number(v[name])) is not None and x > 0.5


def _action_light(b: Binding) -> Lit | None:
    if b.action in ("freeze", "hud", "blackout"):
        return _on(b.action)
    if b.action == "preset.select" and b.value is not None:
        number = int(b.value)
        return lambda v, c: int(v["preset"]) == number  # type: ignore[call-overload]
    if b.action == "prompt.select" and b.value is not None:
        weight = f"prompt.{int(b.value)}.weight"
        return lambda v, c: float(v.get(weight, 0.0)) > 0.5  # type: ignore[arg-type]
    if b.action == "tap":
        return lambda v, c: c.phase < BEAT_FLASH
    return None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (bool, int, float)) else None


def _param_light(b: Binding) -> Lit | None:
    """Toggle: lit while nearer its `hi` than its `lo`; momentary and trigger: lit at their value."""
    name = b.param
    assert name is not None
    if b.mode == "toggle":
        lo, hi = b.lo, b.hi
        return lambda v, c: (x := _number(v[name])) is not None and abs(x - hi) < abs(x - lo)
    if b.mode in ("momentary", "trigger"):
        target = b.value if b.value is not None else b.hi
        return lambda v, c: (x := _number(v[name])) is not None and abs(x - target) < 1e-6
    return None


class Feedback:
    def __init__(self, config: MappingConfig) -> None:
        outputs = {d.name for d in config.midi if d.output is not None}
        self.lights: list[_Light] = []
        self.echoes: list[_Echo] = []
        for b in config.bindings:
            source = b.source
            if source[0] != "midi" or source[1] not in outputs:
                continue
            _, device, channel, kind, number = source
            if kind not in _STATUS or not isinstance(number, int) or not isinstance(channel, int):
                continue
            status = _STATUS[kind] | (channel - 1)
            lit = _action_light(b) if b.action else (_param_light(b) if b.mode != "value" else None)
            if lit is not None:
                off, on, *led_channel = b.led or DEFAULT_LED
                if led_channel:
                    status = (status & 0xF0) | (led_channel[0] - 1)
                self.lights.append(_Light(str(device), (status, number), off, on, lit))
            elif b.param is not None and b.mode == "value" and b.echo and kind in ("cc", "cc14"):
                self.echoes.append(_Echo(str(device), status, number, kind == "cc14", b))
        for d in config.midi:
            for led in d.beat if d.output is not None else ():
                status = (0x90 if led.kind == "note" else 0xB0) | (led.channel - 1)
                self.lights.append(
                    _Light(d.name, (status, led.number), led.off, led.on, lambda v, c: c.phase < BEAT_FLASH)
                )
        self._sent: dict[tuple[str, int, int], int] = {}  # (device, status, number) -> last value sent

    @property
    def empty(self) -> bool:
        return not (self.lights or self.echoes)

    def forget(self, device: str) -> None:
        self._sent = {k: v for k, v in self._sent.items() if k[0] != device}

    def messages(self, values: Values, clock: ClockState) -> list[tuple[str, bytes]]:
        out: list[tuple[str, bytes]] = []
        for light in self.lights:
            self._put(out, light.device, *light.message, light.on if light.lit(values, clock) else light.off)
        for echo in self.echoes:
            b = echo.binding
            assert b.param is not None
            value = values[b.param]
            if not isinstance(value, (int, float)):
                continue
            position = unshape(float(value), b.lo, b.hi, b.curve, b.invert)
            if echo.wide:
                raw = round(position * 16383)
                self._put(out, echo.device, echo.status, echo.number, raw >> 7, lsb=raw & 0x7F)
            else:
                self._put(out, echo.device, echo.status, echo.number, round(position * 127))
        return out

    def _put(
        self,
        out: list[tuple[str, bytes]],
        device: str,
        status: int,
        number: int,
        value: int,
        lsb: int | None = None,
    ) -> None:
        key = (device, status, number)
        full = value << 7 | lsb if lsb is not None else value
        if self._sent.get(key) == full:
            return
        self._sent[key] = full
        out.append((device, bytes((status, number, value))))
        if lsb is not None:
            out.append((device, bytes((status, number + 32, lsb))))
