"""The generator interface: what every backend (procedural, diffusion) answers.

A generator turns one immutable request into one RGB frame. It runs on the
generator worker's thread and may own a GPU or GL context there; the render
thread never calls it.

The camera travels on the request (`init_image`, `init_mix`) and each backend mixes it on its
own device: diffusion lerps the moved previous frame and the camera on the GPU before encoding
(and lerps the strength too), the procedural shader warps it through its flow. At mix 0 both
are bit-identical to having no camera, so a `camera.mix` fader is safe to pull to zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

import numpy as np

from vj.vocabulary import MotionRates


@dataclass(frozen=True)
class Prompt:
    """One prompt slot: its text and its current blend weight (0..1)."""

    text: str
    weight: float


@dataclass(frozen=True)
class GenRequest:
    """Everything a backend needs for one frame, taken from one parameter snapshot."""

    time: float  # show time in seconds (simulated in offline renders)
    size: tuple[int, int]  # (width, height) in pixels
    prompts: tuple[Prompt, ...]
    seed: int
    seed_walk: float  # walk position: 2.25 = a quarter of the way from seed+2 to seed+3
    strength: float  # 0..1: how far a frame departs from its init image (turbulence, for procedural)
    feedback: float  # 0..1: how much of the previous frame carries into the next
    motion: MotionRates = MotionRates()
    params: Mapping[str, float | int | bool | str] = field(
        default_factory=lambda: MappingProxyType({})
    )  # the whole snapshot, for backend-specific parameters (guidance, steps...)
    # live audio features (vj.audio.analysis.FEATURES)
    audio: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    negative: str = ""  # negative prompt (used when guidance > 1)
    # An external input (the live camera): RGB uint8 (h, w, 3), any size (cover-fit), row 0 at
    # the top. `init_mix` (0..1, clamped; non-finite: 1) is how much it replaces the moved
    # previous frame as the init: 0 ignores it (the frame is exactly the one without it), 1 uses
    # the camera alone.
    init_image: np.ndarray | None = None
    init_mix: float = 1.0


def finite_number(value: object, default: float) -> float:
    """A request parameter as a finite float; anything else (a string, NaN, None) is `default`."""
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return out if math.isfinite(out) else default


class GeneratorUnavailable(RuntimeError):
    """A backend cannot be built here (missing weights, package or device): fall back at once, no retries."""


class Generator(Protocol):
    """A frame backend. `generate` returns RGB uint8, shape (height, width, 3), row 0 at the top."""

    name: str

    def generate(self, request: GenRequest) -> np.ndarray: ...

    def close(self) -> None: ...
