"""`vj bench voice` on its quick set: every figure there, sane and consistent with the others.

No latency value is asserted (shared machines are too noisy): only that each was measured.
Accuracy is, loosely: the quick set is commands the recognizer hears and chatter it ignores.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from typing import Any

import pytest

from vj.bench.voice import LATENCY_TARGET_MS, QUICK

CODE = "from vj.bench.voice import run_voice_bench; import sys; sys.exit(run_voice_bench(True, quick=True))"

pytestmark = pytest.mark.e2e  # the bench runs as a process of its own (the recognizer in children of its own)


@pytest.fixture(scope="module")
def quick() -> dict[str, Any]:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    done = subprocess.run([sys.executable, "-c", CODE], check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def rate(value: Any) -> bool:
    return isinstance(value, float | int) and 0.0 <= value <= 1.0


def positive(stats: dict[str, Any]) -> bool:
    return all(isinstance(v, float | int) and math.isfinite(v) and v > 0 for v in stats.values())


def test_counts_are_the_quick_set(quick: dict[str, Any]) -> None:
    r = quick
    assert r["benchmark"] == "voice" and r["quick"] is True
    assert r["commands"] == QUICK["commands"] and r["chatter"] == QUICK["chatter"]
    assert r["latency_utterances"] == QUICK["latency"] and r["push"]["utterances"] == QUICK["latency"]
    assert r["live_chatter"] == QUICK["live_chatter"]


def test_accuracy_against_the_baseline(quick: dict[str, Any]) -> None:
    r, b = quick, quick["baseline"]
    for figures in (r, b):
        assert rate(figures["command_accuracy"]) and rate(figures["false_accept_rate"])
    assert r["command_accuracy"] >= 0.8, r["misses"]
    assert r["false_accept_rate"] <= 0.2, r["accepted"]
    assert len(r["misses"]) == round((1 - r["command_accuracy"]) * r["commands"])
    assert len(r["accepted"]) == round(r["false_accept_rate"] * r["chatter"])
    assert r["accuracy_vs_baseline"] == pytest.approx(r["command_accuracy"] / b["command_accuracy"], abs=1e-3)
    # without rejection every utterance becomes some command: chatter is accepted
    assert b["false_accept_rate"] > r["false_accept_rate"]
    if b["false_accept_rate"]:
        assert r["false_accept_vs_baseline"] == pytest.approx(r["false_accept_rate"] / b["false_accept_rate"],
                                                              abs=1e-3)


def test_latencies_measured(quick: dict[str, Any]) -> None:
    r = quick
    for stats in (r["latency_ms"], r["recognised_ms"], r["endpoint_ms"], r["decode_ms"],
                  r["push"]["latency_ms"], r["push"]["speech_end_latency_ms"]):
        assert set(stats) == {"p50", "p95", "max"} and positive(stats), stats
        assert stats["p50"] <= stats["p95"] <= stats["max"]
    assert all(v >= 0 for v in r["drain_ms"].values())
    assert r["latency_target_ms"] == LATENCY_TARGET_MS
    assert r["latency_ok"] == (r["latency_ms"]["p95"] <= LATENCY_TARGET_MS)
    assert r["push"]["latency_ok"] == (r["push"]["latency_ms"]["p95"] <= LATENCY_TARGET_MS)
    stalls = r["stall_ms"]
    assert stalls["feed_late_max_commands"] >= 0 and stalls["frame_gap_max_commands"] > 0
