"""`vj bench audio` as a user runs it, on one short annotated excerpt; its F-measure and tempo check.

No timing is asserted (shared machines are too noisy): only that every figure is there, sane
and consistent with the others.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from tests.support.vj_process import vj
from vj.bench.audio import DEFAULT_DATA, TARGETS, TRACKERS, beat_interval, f_measure, tempo_ok

EXCERPT = "simac_greek_01"  # 20 s: the shorter of the shared excerpts
INSTALLED = ("vj", "madmom", "aubio", "librosa")  # by scripts/setup.sh (madmom: the beats extra)


def test_f_measure() -> None:
    beats = [5.0 + 0.5 * i for i in range(20)]
    assert f_measure(beats, beats) == 1.0
    assert f_measure(beats, [b + 0.06 for b in beats]) == 1.0
    assert f_measure(beats, [b + 0.08 for b in beats]) == 0.0
    assert f_measure(beats, beats + [b + 0.25 for b in beats]) == pytest.approx(2 / 3)  # double tempo
    assert f_measure(beats, beats[::2]) == pytest.approx(2 / 3)  # half tempo
    assert f_measure(beats, []) == 0.0
    assert f_measure([1.0, 2.0, 6.0], [1.0, 2.0, 6.01]) == 1.0  # the first 5 s are not scored
    precision, recall = 1 / 3, 1 / 20  # a detection matches one annotation, once
    assert f_measure(beats, [beats[0]] * 3) == pytest.approx(2 * precision * recall / (precision + recall))


def test_tempo_check_compares_median_beat_intervals_after_the_first_5_s() -> None:
    reference = [5.0 + 0.5 * i for i in range(20)]
    assert beat_interval(reference) == pytest.approx(0.5)
    assert beat_interval([0.0, 0.9, 6.0]) is None  # one beat after 5 s: no interval
    assert tempo_ok(reference, [b * 1.03 for b in reference])  # 3% slow
    assert not tempo_ok(reference, [b * 1.05 for b in reference])  # 5% slow
    assert not tempo_ok(reference, reference[::2])  # half the tempo
    assert not tempo_ok(reference, sorted(reference + [b + 0.25 for b in reference]))  # double
    assert tempo_ok(reference, [0.1, 0.3] + reference)  # what comes before 5 s does not count
    assert not tempo_ok(reference, [])


@pytest.mark.e2e
def test_bench_audio_json_on_one_excerpt(tmp_path: Path) -> None:
    for suffix in (".flac", ".beats"):
        shutil.copy(DEFAULT_DATA / f"{EXCERPT}{suffix}", tmp_path)
    (tmp_path / "README.md").write_text("not audio\n")  # ignored: no .beats beside it
    result = vj("bench", "audio", "--json", "--data", str(tmp_path), "--grooves", "2", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    r = json.loads(result.stdout)
    assert r["benchmark"] == "audio" and r["data"] == str(tmp_path)
    assert r["aubio_version"], "aubio (aubio-ledfx) is a test dependency: pip install -e .[test]"
    assert list(r["files"]) == [f"{EXCERPT}.flac"]
    entry = r["files"][f"{EXCERPT}.flac"]
    assert entry["duration_s"] == pytest.approx(20.0, abs=0.05)
    assert entry["annotated_beats"] == 25 and entry["reference_bpm"] == pytest.approx(74, abs=2)
    assert set(INSTALLED) <= set(r["trackers"]), r["notes"]
    for tracker in TRACKERS:
        if tracker not in r["trackers"]:  # only the renders' offline tracker may be missing (a note says why)
            assert tracker == "offline" and r["notes"]["offline"], r["notes"]
            assert entry["f_measure"][tracker] is None and r["f_measure"][tracker] is None
            continue
        score, tempo = entry["f_measure"][tracker], entry["tempo"][tracker]
        assert 0.0 <= score <= 1.0 and entry["beats"][tracker] > 0
        assert 40.0 <= tempo <= 250.0 and 40.0 <= entry["beat_tempo"][tracker] <= 250.0
        assert r["f_measure"][tracker] == pytest.approx(score)  # one file: its mean is itself
        off = abs(entry["reference_bpm"] / entry["beat_tempo"][tracker] - 1)  # of the annotations' interval
        if abs(off - 0.04) > 0.002:  # (the tempi are rounded: right at the edge, either answer is right)
            assert entry["tempo_octave_ok"][tracker] == (off <= 0.04)
        assert r["tempo_octave_ok"][tracker] == float(entry["tempo_octave_ok"][tracker])
    if "offline" in r["trackers"]:
        assert r["offline_tracker"]
    scores = r["f_measure"]
    assert r["f_measure_minus_aubio"] == pytest.approx(scores["vj"] - scores["aubio"], abs=1e-3)
    assert r["f_measure_minus_librosa"] == pytest.approx(scores["vj"] - scores["librosa"], abs=1e-3)

    latency = r["latency"]
    for event in ("onset", "bass.hit"):
        stats = latency[event]
        assert stats["missed"] == 0
        assert 0.0 <= stats["p50"] <= stats["p99"] <= stats["max"] <= r["latency_ms"]
    assert r["latency_ms"] == max(latency["onset"]["max"], latency["bass.hit"]["max"])
    assert abs(latency["beat_offset_ms"]) < 35.0
    assert 0.0 <= latency["madmom_beat_offset_ms"] < 70.0  # detected beats: late, never early
    assert 0.0 < r["cpu_fraction"] < 1.0 and r["cpu_per_hop_us"] > 0
    assert math.isclose(r["cpu_per_hop_us"] * 1e-6 / (512 / 48000), r["cpu_fraction"], rel_tol=0.05)
    assert r["cpu_fraction"] < r["cpu_fraction_madmom"] < 1.0 and r["madmom_frame_us"] > 0
    assert math.isclose(r["cpu_per_hop_us_madmom"] * 1e-6 / (512 / 48000), r["cpu_fraction_madmom"], rel_tol=0.05)

    assert r["targets"] == TARGETS
    met = r["met"]
    assert met["f_measure_vs_aubio"] == (r["f_measure"]["vj"] >= r["f_measure"]["aubio"])
    assert met["f_measure_vs_librosa"] == (r["f_measure"]["vj"] >= r["f_measure"]["librosa"] - 0.1)
    assert met["latency_ms"] == (r["latency_ms"] <= 20.0)
    assert met["cpu_fraction"] == (r["cpu_fraction"] < 0.05)


@pytest.mark.e2e
def test_bench_audio_without_data_says_so(tmp_path: Path) -> None:
    result = vj("bench", "audio", "--data", str(tmp_path / "nowhere"), timeout=60)
    assert result.returncode == 2 and "nowhere is not a folder" in result.stderr
    result = vj("bench", "audio", "--data", str(tmp_path), timeout=60)
    assert result.returncode == 2 and "no audio files with same-named .beats files" in result.stderr
