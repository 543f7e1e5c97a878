"""Synthetic test signals with known truth: click tracks, tones, and small drum grooves.

Everything is generated from a seed, so a test that uses it is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

SR = 48000


def click(length: int = 240, seed: int = 1) -> np.ndarray:
    """A short noise burst with a fast exponential decay (about 1 ms)."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(length) * np.exp(-np.arange(length) / 40.0)).astype(np.float32)


def place(signal: np.ndarray, sound: np.ndarray, times: Sequence[float] | np.ndarray, gain: float = 1.0,
          sr: int = SR) -> None:
    """Adds `sound` at each time (seconds) into `signal`, in place."""
    for t in times:
        i = int(round(t * sr))
        if 0 <= i < signal.size:
            n = min(sound.size, signal.size - i)
            signal[i:i + n] += gain * sound[:n]


def click_track(bpm: float, seconds: float, start: float = 0.25, gain: float = 0.5,
                sr: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """(samples, click times): a click every beat."""
    times = np.arange(start, seconds - 0.05, 60.0 / bpm)
    y = np.zeros(int(seconds * sr), dtype=np.float32)
    place(y, click(), times, gain, sr)
    return y, times


def tempo_change_track(first: float, second: float, change_at: float, seconds: float,
                       sr: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """Clicks at `first` bpm until `change_at`, then at `second` bpm."""
    a = np.arange(0.25, change_at, 60.0 / first)
    b = np.arange(a[-1] + 60.0 / second, seconds - 0.05, 60.0 / second)
    times = np.concatenate([a, b])
    y = np.zeros(int(seconds * sr), dtype=np.float32)
    place(y, click(), times, 0.5, sr)
    return y, times


def tone(freq: float, seconds: float, amplitude: float = 0.5, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# -- drum grooves ------------------------------------------------------------------------------


def kick(sr: int = SR) -> np.ndarray:
    t = np.arange(int(0.25 * sr)) / sr
    freq = 45.0 + 90.0 * np.exp(-t / 0.03)
    phase = 2 * np.pi * np.cumsum(freq) / sr
    return (np.sin(phase) * np.exp(-t / 0.09)).astype(np.float32)


def snare(sr: int = SR, seed: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.2 * sr)) / sr
    noise = np.diff(rng.standard_normal(t.size + 1))  # tilted towards highs
    body = np.sin(2 * np.pi * 190.0 * t) * np.exp(-t / 0.04)
    return (0.35 * noise * np.exp(-t / 0.06) + 0.6 * body).astype(np.float32)


def hat(sr: int = SR, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.06 * sr)) / sr
    noise = np.diff(np.diff(rng.standard_normal(t.size + 2)))  # mostly above 5 kHz
    return (0.25 * noise * np.exp(-t / 0.012)).astype(np.float32)


# Steps of a 16-step bar (sixteenth notes) on which each drum plays.
PATTERNS: dict[str, dict[str, tuple[int, ...]]] = {
    "four": {"kick": (0, 4, 8, 12), "snare": (4, 12), "hat": (2, 6, 10, 14)},
    "rock": {"kick": (0, 8, 10), "snare": (4, 12), "hat": (0, 2, 4, 6, 8, 10, 12, 14)},
    "funk": {"kick": (0, 3, 8, 11), "snare": (4, 12), "hat": tuple(range(16))},
    "half": {"kick": (0, 10), "snare": (8,), "hat": (0, 2, 4, 6, 8, 10, 12, 14)},
}


@dataclass
class Groove:
    """A drum groove and what is in it."""

    samples: np.ndarray
    beats: np.ndarray  # quarter-note times
    hits: dict[str, np.ndarray] = field(default_factory=dict)  # drum -> onset times


def groove(bpm: float, seconds: float, pattern: str = "rock", swing: float = 0.0, jitter: float = 0.0,
           pad: float = 0.0, seed: int = 0, sr: int = SR) -> Groove:
    """A drum groove at `bpm`: `swing` delays off-beat sixteenths by that fraction of a sixteenth,
    `jitter` is the standard deviation (s) of random timing errors, `pad` the level of a
    sustained chord underneath."""
    rng = np.random.default_rng(seed)
    sixteenth = 60.0 / bpm / 4
    steps = int((seconds - 0.3) / sixteenth)
    sounds = {"kick": (kick(sr), 0.8), "snare": (snare(sr), 0.6), "hat": (hat(sr), 0.5)}
    y = np.zeros(int(seconds * sr), dtype=np.float32)
    hits: dict[str, list[float]] = {name: [] for name in sounds}
    for step in range(steps):
        t = 0.2 + step * sixteenth + (swing * sixteenth if step % 2 else 0.0)
        for name, where in PATTERNS[pattern].items():
            if step % 16 in where:
                at = t + (rng.normal(0.0, jitter) if jitter else 0.0)
                sound, gain = sounds[name]
                place(y, sound, [at], gain * rng.uniform(0.8, 1.0), sr)
                hits[name].append(at)
    if pad:
        times = np.arange(y.size) / sr
        chord = np.sum([np.sin(2 * np.pi * f * times) for f in (220.0, 277.2, 329.6, 440.0)], axis=0)
        y += (pad * 0.25 * chord * (0.6 + 0.4 * np.sin(2 * np.pi * 0.1 * times))).astype(np.float32)
    beats = 0.2 + np.arange(0, steps, 4) * sixteenth
    return Groove(y, beats, {k: np.array(v) for k, v in hits.items()})
