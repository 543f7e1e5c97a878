"""Prompt text -> a visual "look" for the procedural generator, deterministically.

A look is a cosine palette (color = a + b*cos(2*pi*(c*t + d))) plus the weights of the
pattern forms the dream shader mixes (clouds, ridges, cells, kaleidoscope, tunnel) and a few
shape rates. Words from a keyword table pick the character (ocean -> blue and flowing,
cathedral -> symmetric...); a stable hash of the text fills in everything the keywords leave
open and nudges the rest, so every text gets its own look and the same text always gets the
same one. Blending is linear in every field, so a prompt-weight knob morphs smoothly.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

from vj.gen.base import Prompt

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class Look:
    """Everything the dream shader needs to know about the prompts. All fields blend linearly."""

    palette_a: Vec3 = (0.5, 0.5, 0.5)
    palette_b: Vec3 = (0.5, 0.5, 0.5)
    palette_c: Vec3 = (1.0, 1.0, 1.0)
    palette_d: Vec3 = (0.0, 0.33, 0.67)
    clouds: float = 1.0  # domain-warped soft fbm
    ridges: float = 0.0  # sharp creases: crystal, lightning, marble veins
    cells: float = 0.0  # voronoi cells: city, circuit, scales, stone
    kaleido: float = 0.0  # 0..1 mirror symmetry around the centre
    folds: float = 6.0  # kaleidoscope segments (fractional values blend neighbours)
    tunnel: float = 0.0  # 0..1 polar tunnel mapping
    scale: float = 2.4  # pattern features per screen height
    swirl: float = 0.0  # twist around the centre (signed)
    flow: float = 1.4  # domain-warp amplitude: how liquid the forms are
    depth: float = 1.0  # 0..1 how much low heights darken the palette (ramps carry their own dark)
    stars: float = 0.0  # 0..1 star field
    hue_flow: float = 0.0  # 0..1 how much the palette follows the flow instead of the height
    glow: float = 0.45  # 0..1 brightness of lines: cell walls, ridge crests
    speed: float = 1.0  # time-rate multiplier

    def form_weights(self) -> Vec3:
        """Clouds, ridges, cells normalised to sum 1 (clouds alone if all are zero)."""
        total = self.clouds + self.ridges + self.cells
        if total <= 1e-9:
            return (1.0, 0.0, 0.0)
        return (self.clouds / total, self.ridges / total, self.cells / total)


NEUTRAL = Look()


def _ramp(
    lo: Vec3, hi: Vec3, lead: Vec3 = (0.0, 0.0, 0.0), c: float = 0.4, depth: float = 0.4
) -> dict[str, Any]:
    """A palette rising from `lo` near t=0 to `hi` near t=1.25; a channel with a lead rises earlier.

    Cosine palettes are hard to read; this builds one from the colours a designer thinks in.
    Channel i is at `lo` at t = -lead[i] and at `hi` at t = 1/(2c) - lead[i].
    """
    a = tuple((low + high) / 2 for low, high in zip(lo, hi))
    b = tuple((high - low) / 2 for low, high in zip(lo, hi))
    d = tuple(0.5 + c * g for g in lead)
    return {"palette_a": a, "palette_b": b, "palette_c": (c, c, c), "palette_d": d, "depth": depth}


def _cycle(a: Vec3, b: Vec3, c: Vec3, d: Vec3, hue_flow: float = 0.3) -> dict[str, Any]:
    """A palette cycling through hues; brightness comes from the shader's depth shading."""
    return {"palette_a": a, "palette_b": b, "palette_c": c, "palette_d": d, "depth": 1.0, "hue_flow": hue_flow}


# Palettes, designed by eye on strips (t from about -0.1 to 1.3, the range the shader uses).
PALETTES: dict[str, dict[str, Any]] = {
    "ocean": _ramp((0.0, 0.02, 0.08), (0.7, 0.95, 1.0), lead=(0.0, 0.2, 0.35)),
    "fire": _ramp((0.03, 0.0, 0.0), (1.0, 0.95, 0.35), lead=(0.55, 0.05, 0.0)),
    "forest": _ramp((0.0, 0.03, 0.01), (1.0, 0.95, 0.45), lead=(0.0, 0.3, 0.05), depth=0.7),
    "neon": _cycle((0.15, 0.1, 0.6), (0.9, 0.8, 0.4), (1.0, 1.0, 2.0), (0.8, 0.3, 0.6), hue_flow=1.0),
    "gold": _ramp((0.04, 0.01, 0.0), (1.0, 0.9, 0.6), lead=(0.3, 0.15, 0.0)),
    "ice": _ramp((0.01, 0.04, 0.12), (0.95, 1.0, 1.0), lead=(0.0, 0.1, 0.3)),
    "cosmos": _cycle((0.5, 0.28, 0.6), (0.5, 0.25, 0.35), (0.9, 2.0, 0.8), (0.14, 0.0, 0.48)),
    "sunset": _ramp((0.1, 0.0, 0.15), (1.0, 0.85, 0.55), lead=(0.35, 0.0, 0.15)),
    "desert": _ramp((0.12, 0.05, 0.02), (1.0, 0.9, 0.7), lead=(0.2, 0.1, 0.0)),
    "pastel": _cycle((0.78, 0.7, 0.8), (0.22, 0.25, 0.2), (1.0, 1.0, 1.0), (0.0, 0.25, 0.6)),
    "blood": _ramp((0.04, 0.0, 0.01), (1.0, 0.5, 0.4), lead=(0.4, 0.0, 0.05)),
    "ink": _ramp((0.02, 0.02, 0.03), (0.95, 0.93, 0.88), lead=(0.0, 0.0, 0.0)),
    "rainbow": _cycle((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), (1.0, 1.0, 1.0), (0.0, 0.33, 0.67), hue_flow=0.8),
    "acid": _cycle((0.45, 0.55, 0.35), (0.45, 0.45, 0.35), (1.0, 1.0, 1.0), (0.3, 0.1, 0.6)),
    "violet": _ramp((0.04, 0.0, 0.1), (0.95, 0.8, 1.0), lead=(0.2, 0.0, 0.35)),
    "rose": _ramp((0.08, 0.0, 0.04), (0.98, 0.74, 0.8), lead=(0.4, 0.0, 0.15), depth=0.6),
    "stained": _cycle((0.45, 0.3, 0.4), (0.45, 0.35, 0.45), (1.0, 1.0, 1.0), (0.0, 0.15, 0.45)),
    # moods for texts no keyword names (the hash picks one)
    "twilight": _ramp((0.02, 0.02, 0.08), (1.0, 0.78, 0.65), lead=(0.15, 0.0, 0.45)),
    "coral": _cycle((0.55, 0.5, 0.5), (0.45, 0.25, 0.3), (1.0, 1.0, 1.0), (0.0, 0.5, 0.5)),
    "mint": _cycle((0.65, 0.72, 0.72), (0.3, 0.25, 0.25), (1.0, 1.0, 1.0), (0.5, 0.0, 0.3)),
    "jade": _ramp((0.0, 0.03, 0.03), (0.75, 1.0, 0.8), lead=(0.0, 0.25, 0.15)),
    "sepia": _ramp((0.05, 0.03, 0.02), (1.0, 0.92, 0.78), lead=(0.15, 0.05, 0.0)),
    "abyss": _ramp((0.0, 0.0, 0.05), (0.35, 1.0, 0.85), lead=(0.0, 0.1, 0.35)),
    "plum": _cycle((0.7, 0.45, 0.35), (0.3, 0.35, 0.1), (1.0, 1.0, 1.0), (0.0, 0.0, 0.5)),
    "dusk": _cycle((0.45, 0.35, 0.55), (0.4, 0.3, 0.35), (1.0, 1.0, 1.0), (0.05, 0.15, 0.5)),
}

# Keyword -> traits: a palette name and/or shape fields. Fields a matched keyword leaves out
# come from the text's hash; where several keywords set a field, their values are averaged.
_K = dict[str, Any]
_WATER: _K = {"palette": "ocean", "clouds": 1.0, "flow": 2.0, "swirl": 0.3, "speed": 0.9}
_FIRE: _K = {"palette": "fire", "clouds": 1.0, "ridges": 0.45, "flow": 2.2, "speed": 1.4}
_GREEN: _K = {"palette": "forest", "clouds": 0.8, "cells": 0.35, "ridges": 0.2, "scale": 2.8}
_NEON: _K = {"palette": "neon", "ridges": 0.6, "cells": 0.3, "clouds": 0.5, "speed": 1.2, "glow": 1.0}
_GOLD: _K = {"palette": "gold", "ridges": 0.35, "clouds": 0.8}
_ICE: _K = {"palette": "ice", "ridges": 1.0, "clouds": 0.3, "flow": 0.9, "speed": 0.6, "glow": 0.7}
_SYMMETRY: _K = {"kaleido": 1.0, "ridges": 0.5, "folds": 8.0, "palette": "stained"}
_FLOWER: _K = {"kaleido": 1.0, "folds": 6.0, "clouds": 1.0, "palette": "rose"}
_TUNNEL: _K = {"tunnel": 1.0, "swirl": 0.6, "speed": 1.3}
_CELLS: _K = {"cells": 1.0, "clouds": 0.3, "flow": 0.8, "scale": 3.0}
_SOFT: _K = {"clouds": 1.0, "ridges": 0.0, "cells": 0.0, "flow": 1.7, "scale": 1.8, "speed": 0.7}
_COSMOS: _K = {"palette": "cosmos", **_SOFT, "stars": 0.8}
_STORM: _K = {"ridges": 1.0, "clouds": 0.6, "flow": 1.8, "speed": 1.5, "palette": "violet", "glow": 0.9}

KEYWORDS: dict[str, _K] = {
    **dict.fromkeys(("ocean", "sea", "water", "wave", "river", "lake", "underwater", "aqua"), _WATER),
    **dict.fromkeys(("fire", "lava", "sun", "flame", "magma", "inferno", "ember", "volcano"), _FIRE),
    **dict.fromkeys(("forest", "jungle", "moss", "leaf", "tree", "fern", "garden", "nature"), _GREEN),
    **dict.fromkeys(("neon", "cyber", "cyberpunk", "synthwave", "vaporwave", "laser", "rave"), _NEON),
    **dict.fromkeys(("gold", "golden", "amber", "honey", "brass", "treasure"), _GOLD),
    **dict.fromkeys(("ice", "crystal", "frost", "frozen", "glacier", "snow", "diamond", "glass"), _ICE),
    **dict.fromkeys(("cathedral", "mandala", "kaleidoscope", "temple", "sacred", "geometry"), _SYMMETRY),
    **dict.fromkeys(("flower", "lotus", "bloom", "petal", "blossom", "rose"), _FLOWER),
    **dict.fromkeys(("tunnel", "portal", "vortex", "wormhole", "spiral", "hyperspace", "warp"), _TUNNEL),
    **dict.fromkeys(("city", "circuit", "grid", "cell", "honeycomb", "mosaic", "stone", "scale"), _CELLS),
    **dict.fromkeys(("nebula", "cosmos", "galaxy", "space", "star", "universe", "aurora"), _COSMOS),
    **dict.fromkeys(("smoke", "cloud", "mist", "fog", "dream", "haze", "silk", "ghost"), _SOFT),
    **dict.fromkeys(("storm", "lightning", "electric", "plasma", "thunder"), _STORM),
    **{w: {"palette": "sunset"} for w in ("sunset", "dusk", "sunrise", "dawn", "peach")},
    **{w: {"palette": "desert", "ridges": 0.5, "flow": 1.0} for w in ("desert", "sand", "dune", "canyon")},
    **{w: {"palette": "pastel", "flow": 1.2} for w in ("pastel", "candy", "cotton", "soft", "baby")},
    **{w: {"palette": "blood", "flow": 1.8} for w in ("blood", "red", "crimson", "heart", "flesh")},
    **{w: {"palette": "ink", "ridges": 0.4} for w in ("ink", "noir", "monochrome", "charcoal", "pencil")},
    **{w: {"palette": "rainbow"} for w in ("rainbow", "psychedelic", "prism", "iridescent", "trippy")},
    **{w: {"palette": "acid", "flow": 2.2} for w in ("acid", "toxic", "slime", "alien", "radioactive")},
    **{w: {"palette": "violet"} for w in ("purple", "violet", "lavender", "amethyst", "ultraviolet")},
    "blue": {"palette": "ocean"},
    "green": {"palette": "forest"},
    "orange": {"palette": "fire"},
    "pink": {"palette": "rose"},
    "marble": {"palette": "ink", "ridges": 0.8, "flow": 2.0},
    "fractal": {"ridges": 0.6, "kaleido": 0.5, "folds": 5.0},
    "liquid": {"flow": 2.4, "clouds": 1.0, "speed": 1.1},
    "calm": {"speed": 0.5, "flow": 1.0},
    "chaos": {"speed": 1.7, "flow": 2.5, "ridges": 0.5},
}

_PALETTE_FIELDS = ("palette_a", "palette_b", "palette_c", "palette_d")


def _words(text: str) -> list[str]:
    """Lower-case words, with simple plurals folded so 'waves' finds 'wave'."""
    out: list[str] = []
    for w in re.findall(r"[a-z]+", text.lower()):
        if w in KEYWORDS or len(w) <= 3:
            out.append(w)
        elif w.endswith("ies") and w[:-3] + "y" in KEYWORDS:
            out.append(w[:-3] + "y")
        elif w.endswith("s") and w[:-1] in KEYWORDS:
            out.append(w[:-1])
        else:
            out.append(w)
    return out


class _Dice:
    """Deterministic uniform numbers from a text: SHA-256, never Python's salted hash()."""

    def __init__(self, text: str) -> None:
        self._seed = text.encode("utf-8")
        self._counter = 0

    def uniform(self, lo: float = 0.0, hi: float = 1.0) -> float:
        digest = hashlib.sha256(self._seed + b"#" + str(self._counter).encode()).digest()
        self._counter += 1
        return lo + (hi - lo) * int.from_bytes(digest[:8], "big") / 2.0**64


# Palettes a text without colour words may get: curated, because random cosine palettes are
# too often muddy (olive, brown) or garish.
MOODS: tuple[str, ...] = (
    "twilight", "coral", "mint", "jade", "sepia", "abyss", "plum", "dusk", "stained",
    "ocean", "cosmos", "sunset", "violet", "rose", "gold", "ice", "pastel", "rainbow",
)


def _hash_palette(dice: _Dice) -> dict[str, Any]:
    return dict(PALETTES[MOODS[int(dice.uniform(0, len(MOODS)))]])


def _hash_look(dice: _Dice, structured: bool) -> dict[str, Any]:
    """A pleasant random look: a harmonious palette and mostly cloud-like forms.

    Symmetry and tunnels are left to keywords when any matched (`structured`), so a hash
    never overrides what the words asked for.
    """
    look = _hash_palette(dice)
    kaleido = dice.uniform() < 0.2
    tunnel = dice.uniform() < 0.12
    look.update(
        clouds=dice.uniform(0.6, 1.0),
        ridges=max(0.0, dice.uniform(-0.3, 0.6)),
        cells=max(0.0, dice.uniform(-0.5, 0.5)),
        kaleido=1.0 if kaleido and not structured else 0.0,
        folds=float(int(dice.uniform(4, 9))),
        tunnel=1.0 if tunnel and not structured else 0.0,
        scale=dice.uniform(1.8, 3.0),
        swirl=dice.uniform(-0.5, 0.5),
        flow=dice.uniform(1.1, 2.0),
        speed=dice.uniform(0.75, 1.25),
    )
    return look


@lru_cache(maxsize=256)
def look_for_prompt(text: str) -> Look:
    """The look of one prompt text: keyword traits over a hash-derived base. Pure and cached."""
    norm = " ".join(_words(text))
    if not norm:
        return NEUTRAL
    dice = _Dice(norm)
    matched = [KEYWORDS[w] for w in _words(text) if w in KEYWORDS]
    values = _hash_look(dice, structured=bool(matched))
    # The first colour word leads ("fire mandala" burns): averaging cosine palettes turns to mud.
    palettes = [PALETTES[str(t["palette"])] for t in matched if "palette" in t][:1]
    if palettes:
        for name in _PALETTE_FIELDS:
            values[name] = _mean_vec([p[name] for p in palettes])
        for name in ("depth", "hue_flow"):
            values[name] = sum(float(p.get(name, 0.0)) for p in palettes) / len(palettes)
    shape_keys = {k for t in matched for k in t if k != "palette"}
    for key in shape_keys:
        vals = [float(t[key]) for t in matched if key in t]
        values[key] = sum(vals) / len(vals)

    # A small hash-driven nudge so 'deep ocean' and 'ocean waves' are related but not equal.
    d = values["palette_d"]
    shift = dice.uniform(-0.04, 0.04)
    values["palette_d"] = tuple(x + shift for x in d)
    values["scale"] = float(values["scale"]) * dice.uniform(0.92, 1.08)
    values["swirl"] = float(values["swirl"]) + dice.uniform(-0.1, 0.1)
    return Look(**values)


def _mean_vec(vs: Sequence[Vec3]) -> Vec3:
    n = len(vs)
    return (sum(v[0] for v in vs) / n, sum(v[1] for v in vs) / n, sum(v[2] for v in vs) / n)


def _weighted(looks: Sequence[Look], weights: Sequence[float]) -> Look:
    out: dict[str, Any] = {}
    for f in fields(Look):
        vals = [getattr(lk, f.name) for lk in looks]
        if isinstance(vals[0], tuple):
            out[f.name] = tuple(sum(w * v[i] for w, v in zip(weights, vals)) for i in range(3))
        else:
            out[f.name] = sum(w * v for w, v in zip(weights, vals))
    return Look(**out)


def blend_looks(prompts: Sequence[Prompt]) -> Look:
    """The weighted blend of the prompts' looks (weights normalised; negatives count as zero).

    Prompts with empty text have no look and are skipped. All weights zero -> the first
    prompt's look; no prompts -> the neutral look.
    """
    live = [p for p in prompts if p.text.strip()]
    if not live:
        return NEUTRAL
    weights = [max(0.0, float(p.weight)) if math.isfinite(p.weight) else 0.0 for p in live]
    total = sum(weights)
    if total <= 1e-9:
        return look_for_prompt(live[0].text)
    looks = [look_for_prompt(p.text) for p, w in zip(live, weights) if w > 0.0]
    return _weighted(looks, [w / total for w in weights if w > 0.0])
