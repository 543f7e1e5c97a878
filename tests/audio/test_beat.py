"""The online beat tracker, through the Analyzer as the live show uses it, and on its own."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tests.support.synth import SR, click_track, groove, tempo_change_track, tone
from vj.audio.analysis import AnalysisConfig, Analyzer
from vj.audio.beat import BeatTracker
from vj.audio.offline import load_audio
from vj.bench.audio import DEFAULT_DATA, f_measure, read_beats

HOP = 512


Log = list[tuple[float, dict[str, float]]]


def track(samples: np.ndarray,
          config: AnalysisConfig = AnalysisConfig()) -> tuple[np.ndarray, Log]:
    """(beat event times, (time, features) per hop)."""
    analyzer = Analyzer(config)
    beats, log = [], []
    for i in range(0, samples.size - HOP + 1, HOP):
        frame = analyzer.process(samples[i:i + HOP])
        assert all(math.isfinite(v) for v in frame.features.values())
        if "beat" in frame.events:
            beats.append(frame.time)
        log.append((frame.time, dict(frame.features)))
    return np.array(beats), log


def after(log: Log, t: float, name: str) -> np.ndarray:
    return np.array([f[name] for time, f in log if time >= t])


@pytest.mark.parametrize("bpm", [90.0, 120.0, 128.0, 174.0])
def test_click_track_tempo_within_one_bpm(bpm: float) -> None:
    samples, clicks = click_track(bpm, 20.0)
    beats, log = track(samples)
    tempo = after(log, 8.0, "bpm")
    assert np.all(np.abs(tempo - bpm) <= 1.0), (tempo.min(), tempo.max())
    assert after(log, 8.0, "beat.confidence").min() > 0.6
    assert f_measure(clicks, beats, skip=5.0) > 0.97
    # beat events land on the clicks: within 15 ms either way (the hop is 10.7 ms)
    late = [b - clicks[np.argmin(np.abs(clicks - b))] for b in beats if 5.0 < b < clicks[-1]]
    assert np.max(np.abs(late)) < 0.015


# Floors for the annotated excerpts (F-measure, +-70 ms, first 5 s skipped). Measured here:
# hainsworth_001 1.000 (librosa's offline beat_track 0.994, aubio's online tracker 0.807);
# simac_greek_01 0.54-0.64 across tuning runs (librosa 0.510, aubio 0.082): it is annotated at
# 74 bpm and every tracker follows its 148 bpm pulse, which caps the F-measure near 0.67. The
# floors leave a margin for small changes of the tracker without letting an octave error or a
# lost phase on the clear excerpt (about 0.67 and 0) pass.
FLOORS = {"hainsworth_001": 0.9, "simac_greek_01": 0.45}


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_annotated_excerpts_beat_f_measure(name: str) -> None:
    audio = DEFAULT_DATA / f"{name}.flac"
    if not audio.is_file():
        pytest.fail(f"{audio} is missing: the shared annotated excerpts are part of the test data")
    beats, log = track(load_audio(audio))
    score = f_measure(read_beats(Path(audio).with_suffix(".beats")), beats)
    assert score >= FLOORS[name], score


def test_tempo_change_relocks_within_four_seconds() -> None:
    samples, clicks = tempo_change_track(120.0, 140.0, change_at=12.0, seconds=25.0)
    beats, log = track(samples)
    assert np.all(np.abs(after(log, 16.0, "bpm") - 140.0) <= 1.0)
    new = clicks[clicks > 12.0]
    assert f_measure(new, beats, skip=16.0) > 0.95


def test_silence_from_the_start_has_no_beats() -> None:
    beats, log = track(np.zeros(15 * SR, dtype=np.float32))
    assert beats.size == 0
    assert max(f["beat.confidence"] for _, f in log) == 0.0
    assert {f["beat.phase"] for _, f in log} == {0.0}


def test_a_steady_chord_is_not_a_rhythm() -> None:
    chord = tone(220.0, 20.0, 0.2) + tone(330.0, 20.0, 0.1) + tone(440.0, 20.0, 0.05)
    beats, log = track(chord)
    assert beats.size == 0
    assert max(f["beat.confidence"] for _, f in log) < 0.1


def test_a_break_of_silence_holds_the_tempo_then_stops_then_relocks() -> None:
    samples, clicks = click_track(120.0, 40.0)
    samples[15 * SR:23 * SR] = 0.0
    beats, log = track(samples)
    in_break = beats[(beats > 15.0) & (beats < 23.0)]
    assert 0 < in_break.size and in_break.max() < 21.0  # a flywheel for a few seconds, then quiet
    assert np.all(np.abs(after(log, 15.0, "bpm") - 120.0) <= 3.0)  # the tempo is held throughout
    assert min(f["beat.confidence"] for t, f in log if 20.0 < t < 23.0) < 0.1
    assert f_measure(clicks, beats, skip=26.0) > 0.95  # back on the clicks within 3 s


@pytest.mark.parametrize(("bpm", "pattern", "swing"), [
    (128.0, "rock", 0.15), (100.0, "funk", 0.0),
    # A known loss of issue 16's drum contrast: with the kick on 1, the "e" of 2, 3 and the "e" of
    # 4 and hard-swung sixteenth hats in the snare band, the kick's contrast says 70. The contrast
    # read a ballroom waltz and a country song at their 84 bpm where the periodicity doubled them.
    pytest.param(140.0, "funk", 0.3, marks=pytest.mark.xfail(strict=True, reason="read at half tempo")),
])
def test_drum_grooves(bpm: float, pattern: str, swing: float) -> None:
    g = groove(bpm, 25.0, pattern, swing=swing, jitter=0.006, pad=0.3, seed=int(bpm))
    beats, log = track(g.samples)
    assert f_measure(g.beats, beats) > 0.9
    assert np.median(after(log, 10.0, "bpm")) == pytest.approx(bpm, abs=1.0)


def test_phases_rise_within_the_beat_and_the_bar() -> None:
    samples, _ = click_track(120.0, 15.0)
    analyzer = Analyzer()
    phases, bars, count = [], [], 0
    for i in range(0, samples.size - HOP + 1, HOP):
        frame = analyzer.process(samples[i:i + HOP])
        if "beat" in frame.events:
            count += 1
            assert frame.features["beat.phase"] == 0.0
        if "bar" in frame.events:
            bars.append(count)
            assert "beat" in frame.events and frame.features["bar.phase"] == 0.0
        if count:
            f = frame.features
            phases.append((f["beat.phase"], f["bar.phase"], f["beat.time"]))
    assert count > 20
    assert list(np.diff(bars[-3:])) == [4, 4]  # (which click starts a bar is arbitrary: all are alike)
    beat_time = [p[2] for p in phases]
    assert all(b >= a for a, b in zip(beat_time, beat_time[1:]))  # monotonic
    assert beat_time[-1] == pytest.approx(count - 1 + phases[-1][0])
    assert max(p[0] for p in phases) > 0.9 and max(p[1] for p in phases) > 0.9


def test_latency_setting_fires_beats_that_much_earlier() -> None:
    samples, _ = click_track(120.0, 20.0)
    plain, _ = track(samples)
    early, _ = track(samples, AnalysisConfig(latency=0.05))
    plain, early = plain[plain > 8.0], early[early > 8.0 - 0.05]
    n = min(plain.size, early.size)
    shift = np.median(plain[:n] - early[:n])
    assert shift == pytest.approx(0.05, abs=0.011)  # within one hop


def test_the_tracker_is_causal() -> None:
    """What happens after time T cannot change what was reported up to T."""
    a, _ = click_track(120.0, 20.0)
    b = a.copy()
    b[12 * SR:] = groove(97.0, 8.0, "funk", seed=1).samples[:b.size - 12 * SR]
    beats_a, log_a = track(a)
    beats_b, log_b = track(b)
    assert list(beats_a[beats_a <= 12.0]) == list(beats_b[beats_b <= 12.0])
    assert [f for t, f in log_a if t <= 12.0] == [f for t, f in log_b if t <= 12.0]


def test_beat_tracker_on_its_own_follows_an_impulse_train() -> None:
    rate = 100.0  # frames a second
    tracker = BeatTracker(rate, min_bpm=60.0, max_bpm=200.0)
    period = 60.0 / 150.0 * rate  # 150 bpm: 40 frames
    fired = []
    for n in range(2000):
        if tracker.update(1.0 if n % round(period) == 0 else 0.0).beat:
            fired.append(n)
    assert tracker.bpm == pytest.approx(150.0, abs=1.0)
    assert np.all(np.diff(fired[-20:]) == round(period))
    # fired on the impulses, less the half frame a beat is moved to land nearest its time
    assert all(f % round(period) in (0, round(period) - 1) for f in fired[-20:])
