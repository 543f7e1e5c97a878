"""Camera motion (zoom, pan, rotate) accumulated from per-second rates.

Coordinates: *view* space is centred on the screen, y up, in units of the
screen's height (x spans -aspect/2..aspect/2, y spans -0.5..0.5). *Content*
space is the same for a generated frame: centred, y up, units of the frame's
height. A `ViewTransform` (the camera's accumulated motion) is the affine map
view -> content (which content point a screen point shows).

Constant rates form a one-parameter group: moving by dt1 then dt2 equals
moving by dt1 + dt2 exactly. That is what makes the show look the same at
60 Hz and 144 Hz and at any generation rate. The flow is solved in closed form
with complex numbers: p' = e^(lambda t) p + v (e^(lambda t) - 1) / lambda,
with lambda = -zoom - i*rotate (rad/s) and v = pan.
"""

from __future__ import annotations

import cmath
import math
from dataclasses import dataclass, field

import numpy as np

from vj.vocabulary import MotionRates

IDENTITY = np.eye(3, dtype=np.float64)


def flow_matrix(rates: MotionRates, dt: float) -> np.ndarray:
    """The 3x3 homogeneous map that moving the camera for `dt` seconds applies to view points."""
    lam = complex(-rates.zoom, -math.radians(rates.rotate))
    v = complex(rates.pan_x, rates.pan_y)
    growth = cmath.exp(lam * dt)
    shift = v * dt if abs(lam * dt) < 1e-9 else v * (growth - 1.0) / lam
    return np.array(
        [
            [growth.real, -growth.imag, shift.real],
            [growth.imag, growth.real, shift.imag],
            [0.0, 0.0, 1.0],
        ],
        dtype=np.float64,
    )


@dataclass(frozen=True)
class ViewTransform:
    """The camera's accumulated motion, view -> content (vj.camera is the live camera input).
    Immutable; `advanced` returns the next one."""

    matrix: np.ndarray = field(default_factory=lambda: IDENTITY.copy())

    def advanced(self, rates: MotionRates, dt: float) -> ViewTransform:
        if rates.still or dt <= 0.0:
            return self
        # The step is taken in the camera's own frame: "pan right" means screen-right.
        return ViewTransform(self.matrix @ flow_matrix(rates, dt))


def cover_scale(screen_aspect: float, frame_aspect: float) -> np.ndarray:
    """Scale view points so a frame of `frame_aspect` covers the whole screen (cropping, never bars)."""
    k = min(1.0, frame_aspect / screen_aspect)
    return np.diag([k, k, 1.0])


def content_to_uv(frame_aspect: float) -> np.ndarray:
    """Content space -> texture uv, for a frame uploaded with its top row first (v = 0 at the top)."""
    return np.array(
        [[1.0 / frame_aspect, 0.0, 0.5], [0.0, -1.0, 0.5], [0.0, 0.0, 1.0]], dtype=np.float64
    )


def ndc_to_view(screen_aspect: float) -> np.ndarray:
    """Normalised device coordinates (-1..1, y up) -> view space."""
    return np.diag([0.5 * screen_aspect, 0.5, 1.0])


def ndc_to_uv(camera: ViewTransform, screen_aspect: float, frame_aspect: float) -> np.ndarray:
    """The whole chain a layer shader applies: NDC -> view -> fitted -> content -> uv."""
    return (
        content_to_uv(frame_aspect)
        @ camera.matrix
        @ cover_scale(screen_aspect, frame_aspect)
        @ ndc_to_view(screen_aspect)
    )
