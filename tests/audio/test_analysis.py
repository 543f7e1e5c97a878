"""The live analysis: every feature always there and finite, levels, bands, hits, latency, hygiene."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.support.synth import SR, click, groove, hat, kick, place, tone
from vj.audio.analysis import EVENTS, FEATURES, AnalysisConfig, Analyzer, AudioFrame

HOP = 512


def run(samples: np.ndarray, config: AnalysisConfig = AnalysisConfig(),
        block: int = HOP) -> list[AudioFrame]:
    analyzer = Analyzer(config)
    return [analyzer.process(samples[i:i + block]) for i in range(0, samples.size, block)]


def event_times(frames: list[AudioFrame], name: str) -> np.ndarray:
    return np.array([f.time for f in frames for e in f.events if e == name])


def assert_sane(frame: AudioFrame) -> None:
    assert set(frame.features) == set(FEATURES)
    assert all(math.isfinite(v) for v in frame.features.values()), frame.features
    assert set(frame.events) <= set(EVENTS)
    for name in ("level", "bass", "mid", "high", "onset", "bass.hit", "mid.hit", "high.hit", "presence",
                 "bass.presence", "mid.presence", "high.presence", "beat.confidence", "beat.phase",
                 "bar.phase"):
        assert 0.0 <= frame.features[name] <= 1.0, (name, frame.features[name])
    assert -100.0 <= frame.features["db"] <= 0.0


def test_silence_gives_every_feature_finite_and_no_events() -> None:
    frames = run(np.zeros(10 * SR, dtype=np.float32))
    for frame in frames:
        assert_sane(frame)
        assert frame.events == ()
    last = frames[-1].features
    assert last["level"] == 0.0 and last["db"] == -100.0 and last["time"] == 0.0
    assert last["beat.confidence"] == 0.0 and last["beat.count"] == 0.0
    assert frames[-1].time == pytest.approx(10.0)


def test_nan_inf_and_clipping_are_replaced_counted_and_harmless() -> None:
    rng = np.random.default_rng(0)
    analyzer = Analyzer()
    bad = 0
    for i in range(200):
        block = (0.3 * rng.standard_normal(HOP)).astype(np.float32)
        if i % 7 == 0:
            block[::50] = np.nan
            block[1::97] = np.inf
            block[2::89] = -np.inf
            bad += int(np.count_nonzero(~np.isfinite(block)))
        frame = analyzer.process(block)
        assert_sane(frame)
    clipped = analyzer.problems["clipped"]
    for _ in range(50):  # a hot input: everything far beyond full scale
        assert_sane(analyzer.process((8.0 * rng.standard_normal(HOP)).astype(np.float32)))
    assert analyzer.problems["nan"] == bad
    assert analyzer.problems["clipped"] > clipped + 40 * HOP
    assert analyzer.frame.features["db"] <= 0.0


def test_any_block_length_gives_the_same_analysis() -> None:
    y = groove(124, 6.0, "funk", seed=5).samples
    whole = Analyzer().process(y)
    for block in (64, 100, 512, 777, 4096):
        frames = run(y, block=block)
        assert frames[-1].time == pytest.approx(whole.time)
        for name in FEATURES:
            assert frames[-1].features[name] == pytest.approx(whole.features[name], rel=1e-9, abs=1e-12), name
        assert [e for f in frames for e in f.events] == list(whole.events)


def test_mono_only() -> None:
    with pytest.raises(ValueError, match="mono"):
        Analyzer().process(np.zeros((512, 2), dtype=np.float32))
    assert Analyzer().process(np.zeros((512, 1), dtype=np.float32)).time == pytest.approx(512 / SR)


def test_config_errors_name_the_field_and_the_allowed_range() -> None:
    with pytest.raises(ValueError, match=r"block must be in 16\.\.512"):
        AnalysisConfig(block=1024)
    with pytest.raises(ValueError, match="bass band"):
        AnalysisConfig(bass=(200.0, 100.0))
    with pytest.raises(ValueError, match="latency"):
        AnalysisConfig(latency=-0.1)
    with pytest.raises(ValueError, match="window"):
        AnalysisConfig(window=1000)


def test_louder_input_reads_louder() -> None:
    rng = np.random.default_rng(1)
    loud = (0.2 * rng.standard_normal(3 * SR)).astype(np.float32)
    quiet = 0.1 * loud[:SR]
    frames = run(np.concatenate([loud, quiet]))
    at_loud, at_quiet = frames[3 * SR // HOP - 1].features, frames[-1].features
    assert at_loud["db"] - at_quiet["db"] == pytest.approx(20.0, abs=1.0)
    assert at_loud["level"] > 0.8
    assert at_quiet["level"] < 0.2  # the auto-gain remembers the loud part for seconds
    # ... and slowly raises a quiet signal that stays: after 30 s it reads loud again
    frames = run(np.tile(quiet, 30))
    assert frames[-1].features["level"] > 0.8


def test_band_separation() -> None:
    bass = run(tone(60.0, 3.0))[-1].features
    high = run(tone(5000.0, 3.0))[-1].features
    assert bass["bass"] > 0.9 and bass["high"] < 0.01 and bass["mid"] < 0.3
    assert high["high"] > 0.9 and high["bass"] < 0.01 and high["mid"] < 0.01
    assert bass["bass.presence"] > 0.5 > bass["high.presence"]
    assert high["high.presence"] > 0.5 > high["bass.presence"]
    # the time accumulators follow the band: bass.time ran, high.time barely moved
    assert bass["bass.time"] > 4.0 > 0.5 > bass["high.time"]
    assert high["high.time"] > 4.0 > 0.5 > high["bass.time"]


def test_presence_is_slow_and_time_stops_in_silence() -> None:
    y = np.concatenate([np.zeros(SR, np.float32), tone(1000.0, 4.0), np.zeros(2 * SR, np.float32)])
    frames = run(y)
    soon = frames[int(1.1 * SR) // HOP].features
    assert soon["level"] > 0.9 and soon["presence"] < 0.3
    assert frames[int(4.9 * SR) // HOP].features["presence"] > 0.7
    t_end = frames[-1].features["time"]
    assert t_end == pytest.approx(frames[int(5.5 * SR) // HOP].features["time"], abs=0.05)  # stopped
    assert 6.0 < t_end < 8.5  # about time_speed (2) x 4 s at level ~1


def test_a_kick_is_a_bass_hit_that_decays() -> None:
    y = np.zeros(2 * SR, dtype=np.float32)
    place(y, kick(), [1.0], 0.8)
    frames = run(y)
    hits = [i for i, f in enumerate(frames) if "bass.hit" in f.events]
    assert len(hits) == 1
    i = hits[0]
    assert frames[i].features["bass.hit"] == 1.0
    assert "onset" in frames[i].events
    later = frames[i + round(0.25 * SR / HOP)].features["bass.hit"]
    assert 0.2 < later < 0.5  # about e^-1 after hit_release (0.25 s)


def test_hits_in_a_groove_land_on_their_drums() -> None:
    """Kicks, snares and hats: bass hits on kicks, high hits on hats and snares (both hiss).
    Scored after the first second, in which the auto-gain learns the levels."""
    g = groove(110, 12.0, "rock", jitter=0.004, pad=0.3, seed=3)
    frames = run(g.samples)

    def matched(events: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
        events, truth = events[events > 1.0], truth[truth > 1.0]
        near = [np.min(np.abs(truth - t + 0.006)) <= 0.02 for t in events]  # reported 0..26 ms after
        found = [np.min(np.abs(events - t - 0.006)) <= 0.02 for t in truth]
        return float(np.mean(near)), float(np.mean(found))

    precision, recall = matched(event_times(frames, "bass.hit"), g.hits["kick"])
    assert precision > 0.9 and recall > 0.9, (precision, recall)
    highs = np.concatenate([g.hits["hat"], g.hits["snare"]])
    precision, recall = matched(event_times(frames, "high.hit"), highs)
    assert precision > 0.9 and recall > 0.6, (precision, recall)
    precision, _ = matched(event_times(frames, "onset"), np.concatenate([highs, g.hits["kick"]]))
    assert precision > 0.95


@pytest.mark.parametrize("offset", [0, 100, 256, 400, 511])
def test_onset_event_within_20_ms(offset: int) -> None:
    """A click at a known sample: its onset (and its frame) is reported at most 20 ms later,
    wherever in a hop it falls."""
    rng = np.random.default_rng(offset)
    y = (1e-3 * rng.standard_normal(3 * SR)).astype(np.float32)
    start = 2 * SR + offset
    y[start:start + 240] += 0.5 * click()
    frames = run(y)
    reported = [f.time for f in frames if "onset" in f.events and f.time >= start / SR]
    assert reported, "no onset event"
    assert 0.0 <= reported[0] - start / SR <= 0.020


def test_a_hat_alone_after_a_groove_is_not_a_bass_hit() -> None:
    g = groove(120, 8.0, "rock", seed=4)
    y = np.concatenate([g.samples, np.zeros(SR, np.float32)])
    place(y, hat(), [8.5], 0.5)
    frames = run(y)
    tail = [e for f in frames if f.time > 8.4 for e in f.events]
    assert "high.hit" in tail and "bass.hit" not in tail
