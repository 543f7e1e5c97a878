"""Prompt text -> look: deterministic, keyword-driven, and smooth to blend."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import astuple, fields

import pytest

from vj.gen.base import Prompt
from vj.gen.look import NEUTRAL, Look, blend_looks, look_for_prompt


def mean_colour(look: Look) -> tuple[float, float, float]:
    """The palette's average colour over the t range the shader uses."""
    acc = [0.0, 0.0, 0.0]
    n = 50
    for i in range(n):
        t = 1.2 * i / (n - 1)
        for k in range(3):
            v = look.palette_a[k] + look.palette_b[k] * math.cos(
                2 * math.pi * (look.palette_c[k] * t + look.palette_d[k])
            )
            acc[k] += min(1.0, max(0.0, v)) / n
    return (acc[0], acc[1], acc[2])


def flat(look: Look) -> list[float]:
    out: list[float] = []
    for value in astuple(look):
        out.extend(value if isinstance(value, tuple) else (value,))
    return out


def distance(a: Look, b: Look) -> float:
    return max(abs(x - y) for x, y in zip(flat(a), flat(b)))


def test_same_text_same_look_and_different_texts_differ() -> None:
    assert look_for_prompt("melting clocks in a desert") == look_for_prompt("melting clocks in a desert")
    texts = ["a quiet afternoon", "melting clocks", "the shape of water", "velvet", "hello world"]
    looks = [look_for_prompt(t) for t in texts]
    for i in range(len(looks)):
        for j in range(i + 1, len(looks)):
            assert distance(looks[i], looks[j]) > 0.01, (texts[i], texts[j])


def test_look_is_stable_across_processes() -> None:
    """hashlib, not Python's salted hash(): the look must not depend on PYTHONHASHSEED."""
    code = "from vj.gen.look import look_for_prompt; print(repr(look_for_prompt('a velvet dream of nowhere')))"
    outputs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        outputs.add(result.stdout)
    assert len(outputs) == 1
    assert outputs.pop().strip() == repr(look_for_prompt("a velvet dream of nowhere"))


def test_colour_keywords() -> None:
    ocean = mean_colour(look_for_prompt("deep ocean"))
    fire = mean_colour(look_for_prompt("fire and lava"))
    forest = mean_colour(look_for_prompt("mossy forest"))
    assert ocean[2] > ocean[0] + 0.15  # blue over red
    assert fire[0] > fire[2] + 0.3  # red over blue
    assert forest[1] > forest[0] and forest[1] > forest[2]  # green leads
    neon = look_for_prompt("neon synthwave")
    assert neon.glow > NEUTRAL.glow


def test_form_keywords() -> None:
    assert look_for_prompt("cathedral").kaleido == 1.0
    assert look_for_prompt("mandala of light").kaleido == 1.0
    assert look_for_prompt("a portal").tunnel == 1.0
    assert look_for_prompt("wormhole").tunnel == 1.0
    city = look_for_prompt("circuit city")
    assert city.cells > city.clouds and city.cells > city.ridges
    ice = look_for_prompt("ice crystal")
    assert ice.ridges > ice.clouds
    nebula = look_for_prompt("nebula")
    assert nebula.ridges == 0.0 and nebula.cells == 0.0 and nebula.stars > 0.0


def test_plurals_find_keywords() -> None:
    assert look_for_prompt("flowers").kaleido == 1.0
    assert look_for_prompt("tunnels").tunnel == 1.0
    assert look_for_prompt("cities").cells == look_for_prompt("city").cells


def test_keywords_do_not_get_random_symmetry() -> None:
    """Structure asked for by words is never overridden by the hash's own kaleidoscope or tunnel."""
    for text in ("ocean waves", "fire", "forest", "neon city", "nebula", "desert dunes", "storm"):
        look = look_for_prompt(text)
        assert look.kaleido == 0.0 and look.tunnel == 0.0, text


def test_empty_text_is_neutral() -> None:
    assert look_for_prompt("") == NEUTRAL
    assert look_for_prompt("  ...  ") == NEUTRAL


def test_form_weights_normalised() -> None:
    w = look_for_prompt("neon circuit crystal").form_weights()
    assert sum(w) == pytest.approx(1.0)
    assert Look(clouds=0.0, ridges=0.0, cells=0.0).form_weights() == (1.0, 0.0, 0.0)


def test_blend_endpoints_and_midpoint() -> None:
    a, b = look_for_prompt("ocean"), look_for_prompt("fire")
    assert blend_looks([Prompt("ocean", 1.0), Prompt("fire", 0.0)]) == a
    assert blend_looks([Prompt("ocean", 0.0), Prompt("fire", 0.7)]) == b
    mid = blend_looks([Prompt("ocean", 0.5), Prompt("fire", 0.5)])
    for f in fields(Look):
        va, vb, vm = getattr(a, f.name), getattr(b, f.name), getattr(mid, f.name)
        if isinstance(va, tuple):
            for x, y, m in zip(va, vb, vm):
                assert m == pytest.approx((x + y) / 2)
        else:
            assert vm == pytest.approx((va + vb) / 2)


def test_blend_weights_are_normalised() -> None:
    half = blend_looks([Prompt("ocean", 0.5), Prompt("fire", 0.5)])
    doubled = blend_looks([Prompt("ocean", 2.0), Prompt("fire", 2.0)])
    assert distance(half, doubled) < 1e-12


def test_blend_degenerate_weights() -> None:
    assert blend_looks([]) == NEUTRAL
    assert blend_looks([Prompt("ocean", 0.0), Prompt("fire", 0.0)]) == look_for_prompt("ocean")
    assert blend_looks([Prompt("ocean", -1.0), Prompt("fire", 0.3)]) == look_for_prompt("fire")
    assert blend_looks([Prompt("ocean", float("nan")), Prompt("fire", 0.3)]) == look_for_prompt("fire")
    # an empty slot has no look: its weight changes nothing
    assert blend_looks([Prompt("", 1.0), Prompt("fire", 0.3)]) == look_for_prompt("fire")
    assert blend_looks([Prompt("", 1.0)]) == NEUTRAL


def test_blend_is_continuous_in_the_weights() -> None:
    prompts = ("cathedral mandala", "tunnel", "neon city", "ocean")
    base = [0.3, 0.2, 0.4, 0.1]
    ref = blend_looks([Prompt(t, w) for t, w in zip(prompts, base)])
    for i in range(len(base)):
        nudged = list(base)
        nudged[i] += 1e-4
        moved = blend_looks([Prompt(t, w) for t, w in zip(prompts, nudged)])
        assert distance(ref, moved) < 1e-2
    # a weight coming up from zero fades in rather than jumping
    off = blend_looks([Prompt("ocean", 1.0), Prompt("fire", 0.0)])
    barely = blend_looks([Prompt("ocean", 1.0), Prompt("fire", 1e-4)])
    assert distance(off, barely) < 1e-2
