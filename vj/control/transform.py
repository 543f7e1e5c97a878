"""Binding transforms: normalised 0..1 control value -> parameter value.

Order: invert, curve, then range. Curves bend the knob's travel: `exp` gives
fine control at the low end, `log` at the high end; both map 0->0 and 1->1.
"""

from __future__ import annotations

import math

from vj.vocabulary import CURVES

_K = 4.0  # how strongly exp/log bend; 4 makes the first half of the travel cover ~12% of the range


def curve(value: float, name: str) -> float:
    v = min(1.0, max(0.0, value))
    if name == "lin":
        return v
    if name == "exp":
        return (math.exp(_K * v) - 1.0) / (math.exp(_K) - 1.0)
    if name == "log":
        return math.log1p((math.exp(_K) - 1.0) * v) / _K
    raise ValueError(f"unknown curve {name!r}; expected one of {', '.join(CURVES)}")


def shape(value: float, lo: float, hi: float, curve_name: str = "lin", invert: bool = False) -> float:
    v = min(1.0, max(0.0, value))
    if invert:
        v = 1.0 - v
    return lo + (hi - lo) * curve(v, curve_name)


def uncurve(value: float, name: str) -> float:
    """The inverse of `curve`: where on the knob's travel a curve gives `value`."""
    v = min(1.0, max(0.0, value))
    if name == "lin":
        return v
    if name == "exp":
        return math.log1p((math.exp(_K) - 1.0) * v) / _K
    if name == "log":
        return (math.exp(_K * v) - 1.0) / (math.exp(_K) - 1.0)
    raise ValueError(f"unknown curve {name!r}; expected one of {', '.join(CURVES)}")


def unshape(value: float, lo: float, hi: float, curve_name: str = "lin", invert: bool = False) -> float:
    """The inverse of `shape`: the normalised knob position that gives a parameter value."""
    v = 0.0 if hi == lo else uncurve((value - lo) / (hi - lo), curve_name)
    return 1.0 - v if invert else v


def relative_delta(code: int, encoder: str) -> int:
    """A relative encoder's 7-bit code as signed detents.

    twos-complement: 1..63 up, 127..65 down by 1..63 (64: -64), as a 7-bit two's complement.
    signed-bit:      1..63 up, 65..127 down by 1..63: bit 6 is the sign, bits 0-5 the size.
    binary-offset:   65..127 up, 63..0 down: the code minus 64.
    """
    code &= 0x7F
    if encoder == "twos-complement":
        return code - 128 if code >= 64 else code
    if encoder == "signed-bit":
        return -(code & 0x3F) if code & 0x40 else code
    if encoder == "binary-offset":
        return code - 64
    raise ValueError(f"unknown encoder {encoder!r}")


ACCEL_REFERENCE = 0.05  # seconds between detents at an unhurried turn: no acceleration
ACCEL_MAX = 16.0


def acceleration(interval: float | None, accel: float) -> float:
    """How much a detent counts when the encoder turns fast: (reference / interval) ** accel,
    1 when slow or off, capped at 16. accel 1 gives 5x at 10 ms between detents."""
    if accel <= 0 or interval is None or interval <= 0 or interval >= ACCEL_REFERENCE:
        return 1.0
    return min(ACCEL_MAX, (ACCEL_REFERENCE / interval) ** accel)


_WORDS = {"true": 1.0, "on": 1.0, "yes": 1.0, "false": 0.0, "off": 0.0, "no": 0.0}


def text_number(text: str) -> float | None:
    """A number sent as text (an OSC string "0.5", "true", "off"), or None for other words."""
    word = text.strip().lower()
    if word in _WORDS:
        return _WORDS[word]
    try:
        return float(word)
    except ValueError:
        return None
