"""The last resort: a slowly moving palette gradient drawn with numpy on the CPU.

It needs no GL and no GPU, so it still runs when the procedural dream cannot (a GL driver
that fails in the generator process, say). It answers the prompts (their blended palette),
the seed and the time, and keeps the screen alive until the real backends come back.

It is the last link of the fallback chain (diffusion, procedural, gradient). The show also draws it
as the stand-in, small and on the render thread, until a backend's first frame arrives (loading
a model meant 10-20 s of black screen before).
"""

from __future__ import annotations

import math

import numpy as np

from vj.gen.base import GenRequest
from vj.gen.look import blend_looks

SCALE = 4  # computed at a quarter of the size, then repeated: it is smooth anyway


class GradientGenerator:
    name = "gradient"

    def generate(self, request: GenRequest) -> np.ndarray:
        w, h = request.size
        look = blend_looks(request.prompts)
        sh, sw = -(-h // SCALE), -(-w // SCALE)  # rounded up, cropped after repeating
        y, x = np.mgrid[0:sh, 0:sw].astype(np.float32)
        x = (x / max(1, sh - 1) - 0.5 * w / h) * 2.0
        y = (y / max(1, sh - 1) - 0.5) * 2.0
        t = request.time * 0.15 + (request.seed % 997) * 0.61 + request.seed_walk * 0.37
        # Two soft travelling waves and a radial term: slow, smooth, never flat.
        v = (
            0.5 * np.sin(1.3 * x + t)
            + 0.35 * np.sin(1.7 * y - 0.8 * t + math.sin(t * 0.3))
            + 0.3 * np.hypot(x, y)
        )
        a, b, c, d = (np.array(p, np.float32) for p in (look.palette_a, look.palette_b, look.palette_c, look.palette_d))
        rgb = a + b * np.cos(2 * np.pi * (c * v[..., None] + d))
        small = (np.clip(rgb, 0.0, 1.0) * 255).astype(np.uint8)
        return np.repeat(np.repeat(small, SCALE, axis=0), SCALE, axis=1)[:h, :w]

    def close(self) -> None:
        pass
