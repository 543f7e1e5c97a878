"""Synthetic drum grooves with known beats, for the beat tracker's tests and `vj bench audio`.

Real annotated music is scarce here (two excerpts), and the tempo-octave decision has to hold at
both ends of the range: hip-hop and reggae at 70-100 bpm, house and techno at 120-140, drum and
bass at 170-175. A groove is a drum kit (a pitch-dropping sine kick, a tone-and-noise snare or
clap, high-passed noise hats) playing one of the patterns a style is recognised by, over a bass
line on the kick's eighths and a sustained chord pad, with human timing and velocity jitter. The
beat times are the quarter notes, whatever the hats subdivide into.

Patterns (16 sixteenths a bar; K kick, S snare, C clap, h closed hat, o open hat):
- `backbeat`: kick on 1 and 3, snare on 2 and 4, hats in eighths (rock, pop, hip-hop);
- `backbeat16`: the same with hats in sixteenths;
- `hiphop`: kick on 1, the and of 2 and 3, snare on 2 and 4, swung eighth hats (boom bap);
- `four`: kick on every beat, clap on 2 and 4, open hats on the off-beats (house, techno);
- `dnb`: kick on 1 and the and of 3, snare on 2 and 4, hats in eighths (two-step drum and bass).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 48000
STEPS = 16  # sixteenths in a bar of 4/4

PATTERNS: dict[str, dict[str, tuple[int, ...]]] = {
    "backbeat": {"kick": (0, 8), "snare": (4, 12), "hat": (0, 2, 4, 6, 8, 10, 12, 14)},
    "backbeat16": {"kick": (0, 8), "snare": (4, 12), "hat": tuple(range(16))},
    "hiphop": {"kick": (0, 6, 8), "snare": (4, 12), "hat": (0, 2, 4, 6, 8, 10, 12, 14)},
    "four": {"kick": (0, 4, 8, 12), "clap": (4, 12), "open": (2, 6, 10, 14), "hat": (0, 4, 8, 12)},
    "dnb": {"kick": (0, 10), "snare": (4, 12), "hat": (0, 2, 4, 6, 8, 10, 12, 14)},
}
SWING = {"hiphop": 0.12}  # of a beat: how late the off-beat eighths land


@dataclass(frozen=True)
class Groove:
    samples: np.ndarray  # mono float32 at SAMPLE_RATE
    beats: np.ndarray  # seconds: every quarter note
    bpm: float
    style: str


def _decay(seconds: float, tau: float, rate: int) -> np.ndarray:
    return np.exp(-np.arange(int(seconds * rate)) / (tau * rate))


def _kit(rng: np.random.Generator, rate: int) -> dict[str, np.ndarray]:
    t = np.arange(int(0.35 * rate)) / rate
    kick = np.sin(2 * np.pi * np.cumsum(48.0 + 110.0 * np.exp(-t / 0.025)) / rate) * np.exp(-t / 0.12)
    n = int(0.2 * rate)
    noise = rng.standard_normal(n)
    snare = 0.5 * np.sin(2 * np.pi * 190.0 * np.arange(n) / rate) * _decay(0.2, 0.04, rate) + \
        0.45 * noise * _decay(0.2, 0.06, rate)
    clap = 0.6 * np.convolve(rng.standard_normal(n), np.ones(6) / 6, mode="same") * _decay(0.2, 0.05, rate)
    hiss = np.diff(rng.standard_normal(int(0.3 * rate) + 1))  # differenced noise: a high-passed hiss
    hat = 0.18 * hiss[:int(0.05 * rate)] * _decay(0.05, 0.012, rate)
    open_hat = 0.15 * hiss * _decay(0.3, 0.08, rate)
    return {"kick": 0.9 * kick, "snare": snare, "clap": clap, "hat": hat, "open": open_hat}


def _place(y: np.ndarray, sound: np.ndarray, at: int, gain: float) -> None:
    if 0 <= at < y.size:
        n = min(sound.size, y.size - at)
        y[at:at + n] += gain * sound[:n]


def groove(bpm: float, style: str = "backbeat", seconds: float = 30.0, seed: int = 0,
           rate: int = SAMPLE_RATE, jitter: float = 0.006) -> Groove:
    """`seconds` of `style` at `bpm` (PATTERNS), with a bass line and a pad, timing jittered by
    `jitter` seconds (standard deviation) and velocities by 15%."""
    if style not in PATTERNS:
        raise ValueError(f"unknown groove style {style!r}: expected one of {', '.join(PATTERNS)}")
    rng = np.random.default_rng(seed)
    kit = _kit(rng, rate)
    beat = 60.0 / bpm
    y = np.zeros(int(seconds * rate))
    start = 0.25  # the first beat, after a moment of quiet
    bars = int((seconds - start) / (4 * beat)) + 1
    swing = SWING.get(style, 0.0)
    roots = rng.choice([41.2, 43.65, 49.0, 55.0], size=bars)  # a bass note per bar (E1..A1)
    for bar in range(bars):
        for step in range(STEPS):
            t = start + (bar * STEPS + step) * beat / 4
            if step % 4 == 2:
                t += swing * beat
            for name, steps in PATTERNS[style].items():
                if step in steps:
                    accent = 1.0 if step % 4 == 0 else 0.7
                    gain = accent * float(np.clip(rng.normal(1.0, 0.15), 0.5, 1.5))
                    _place(y, kit[name], int((t + rng.normal(0.0, jitter)) * rate), gain)
            if step % 2 == 0:  # the bass: a plucked saw on the eighths
                n = int(0.9 * beat / 2 * rate)
                tt = np.arange(n) / rate
                saw = 2.0 * ((roots[bar] * tt) % 1.0) - 1.0
                _place(y, 0.12 * saw * np.exp(-tt / (0.3 * beat)), int(t * rate), 1.0)
    # a pad: a minor chord that changes every bar, swelling slowly (energy without onsets)
    tt = np.arange(y.size) / rate
    chord_at = np.minimum(((tt - start) / (4 * beat)).astype(int).clip(0), bars - 1)
    root = 4 * roots[chord_at]
    pad = sum(np.sin(2 * np.pi * np.cumsum(root * ratio) / rate) for ratio in (1.0, 1.189, 1.498))
    y += 0.04 * pad * (0.6 + 0.4 * np.sin(2 * np.pi * tt / (8 * beat)))
    y *= 0.5 / max(1e-9, float(np.max(np.abs(y))))
    beats = start + beat * np.arange(int((seconds - start) / beat) + 1)
    return Groove(y.astype(np.float32), beats[beats < seconds], float(bpm), style)
