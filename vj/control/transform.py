"""Binding transforms: normalised 0..1 control value -> parameter value.

Order: invert, curve, then range. Curves bend the knob's travel: `exp` gives
fine control at the low end, `log` at the high end; both map 0->0 and 1->1.
"""

from __future__ import annotations

import math

CURVES = ("lin", "exp", "log")
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
