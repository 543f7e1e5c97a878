"""The online tracker's tempo octave on drum grooves at both ends of the range (issue 16): slow
grooves (hip-hop, ballads) must not read double time, drum and bass must not read half time."""

from __future__ import annotations

import numpy as np
import pytest

from vj.audio.analysis import AnalysisConfig
from vj.audio.beat import BeatTracker, TempoEstimator
from vj.bench.audio import beat_interval, f_measure, track_vj
from vj.bench.grooves import groove

CASES = [
    (75.0, "backbeat"), (75.0, "hiphop"), (85.0, "backbeat"), (85.0, "backbeat16"), (85.0, "hiphop"),
    (95.0, "backbeat"), (95.0, "backbeat16"), (128.0, "four"), (128.0, "backbeat"), (140.0, "four"),
    (140.0, "backbeat16"), (174.0, "backbeat"), (174.0, "backbeat16"), (174.0, "dnb"), (174.0, "four"),
]


@pytest.mark.parametrize(("bpm", "style"), CASES)
def test_the_beat_is_at_the_groove_s_tempo_not_double_or_half(bpm: float, style: str) -> None:
    g = groove(bpm, style, seconds=24.0, seed=int(bpm) + 7)
    tracked = track_vj(g.samples)
    interval = beat_interval(tracked.beats)
    assert interval is not None, "no beats"
    assert 60.0 / interval == pytest.approx(bpm, rel=0.04), f"{style} at {bpm:g} bpm read as {60 / interval:.1f}"
    assert f_measure(g.beats, tracked.beats) > 0.9


def test_the_level_follows_the_drums_the_onset_strength_alone_cannot_tell() -> None:
    """The same groove with and without the kick and snare channels: the onset strength alone (the
    tracker fed no snare) reads 75 bpm with eighth-note hats in double time; with them, 75."""
    g = groove(75.0, "backbeat", seconds=24.0, seed=82)
    with_drums = track_vj(g.samples)

    from vj.audio.analysis import Analyzer

    analyzer = Analyzer(AnalysisConfig())
    assert isinstance(analyzer.beat, BeatTracker)
    plain = analyzer.beat.update
    analyzer.beat.update = lambda strength, accent=0.0, snare=None: plain(strength, accent)  # type: ignore[method-assign]
    beats = []
    for i in range(0, g.samples.size - 512 + 1, 512):
        frame = analyzer.process(g.samples[i:i + 512])
        if "beat" in frame.events:
            beats.append(frame.time)
    without = beat_interval(np.array(beats))
    drums = beat_interval(with_drums.beats)
    assert without is not None and drums is not None
    assert 60.0 / drums == pytest.approx(75.0, rel=0.04)
    assert 60.0 / without == pytest.approx(150.0, rel=0.04)


def test_a_click_track_has_no_drums_to_move_the_level() -> None:
    """Clicks on every beat at 90 bpm: every level's kick evidence is the same click, the fastest
    level with enough of it is the clicks' own."""
    rate = 48000
    y = np.zeros(20 * rate, dtype=np.float32)
    click = (0.5 * np.random.default_rng(1).standard_normal(240) * np.exp(-np.arange(240) / 40)).astype(np.float32)
    times = np.arange(0.25, 19.5, 60.0 / 90.0)
    for t in times:
        y[int(t * rate):int(t * rate) + 240] += click
    tracked = track_vj(y)
    interval = beat_interval(tracked.beats)
    assert interval is not None and 60.0 / interval == pytest.approx(90.0, rel=0.04)


def test_before_the_drums_can_say_the_level_the_filter_s_tempo_stands() -> None:
    """2.5 s of a kick at 70 bpm: too short for the snare's lag at 70 (two beats, 1.7 s, within
    half of what was heard), so no level is chosen yet and the tempo is the filter's 70, not the
    octave nearest the prior's 120 (140)."""
    rate = 48000 / 512
    estimator = TempoEstimator(rate, round(8 * rate), min_bpm=60.0, max_bpm=200.0, prior_bpm=120.0,
                               prior_octaves=1.0, hold=2.0)
    frames = round(2.5 * rate)
    kick = np.zeros(frames)
    kick[np.arange(0.1 * rate, frames, 60.0 * rate / 70.0).astype(int)] = 1.0
    snare = np.full(frames, 1e-3)
    estimator.update(kick, (kick, snare))
    assert estimator.bpm == pytest.approx(70.0, rel=0.02)
