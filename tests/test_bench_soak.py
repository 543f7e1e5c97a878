"""`vj bench soak`: the real show for a minute under MIDI, OSC, OSCQuery, music, voice, a camera
file, preset switches, mapping rewrites and two faults (the generator and the audio worker
killed). Hard checks only: nothing crashed, every fault injected was recovered, and the JSON has
every figure; the figures themselves are judged in the 10-minute run (docs/benchmarks.md)."""

from __future__ import annotations

import json

import pytest

from tests.support.vj_process import vj
from vj.bench.soak import Load, holdings_figures, mapping_text
from vj.bench.soak_show import Holdings

pytestmark = pytest.mark.e2e

KEYS = (
    "minutes", "crashes", "midi_sent", "midi_lost", "midi_rate", "osc_sent", "osc_lost", "osc_rate",
    "osc_dropped_by_kernel",
    "faults_injected", "faults_recovered", "recovery_seconds_p99", "recovery_seconds_p99_by_kind", "faults",
    "display_p99_ms_first_minute", "display_p99_ms_last_minute", "display_p99_drift",
    "rss_mb_start", "rss_mb_end", "rss_growth", "threads_start", "threads_end", "fds_start", "fds_end", "fds_change",
    "preset_switches", "mapping_writes", "mapping_kept_last_good", "oscquery_gets_ok", "audio_analysis",
)


def test_every_third_mapping_version_is_broken_in_turn():
    kinds = [mapping_text(v)[1] for v in range(7)]
    assert kinds == ["good", "good", "yaml", "good", "good", "value", "good"]


def _series(rss: list[float], fds: list[int]) -> Load:
    samples = [Holdings(at=5.0 * i, rss_mb=r, rss_mb_vj=r / 2, threads=24, fds=f, processes=5,
                        fd_kinds={"socket": f}) for i, (r, f) in enumerate(zip(rss, fds))]
    return Load(start=0.0, end=5.0 * (len(rss) - 1), samples=samples)


def test_resources_are_compared_by_window_medians_that_a_restart_does_not_move_but_a_leak_does():
    steady = [1000.0] * 121  # 10 minutes, one sample every 5 s
    restarts = [1400.0 if i % 20 == 19 else r for i, r in enumerate(steady)]  # a child restarted now and then
    restarts[-1] = 1400.0  # ... one of them at the very end
    figures = holdings_figures(_series(restarts, [42] * 120 + [45]))
    assert figures["rss_growth"] == 0.0 and (figures["fds_start"], figures["fds_end"]) == (42, 42)
    leaking = [1000.0 + 0.5 * i for i in range(121)]  # 60 MB in 10 minutes
    figures = holdings_figures(_series(leaking, [42 + i // 10 for i in range(121)]))
    assert figures["rss_growth"] > 0.04 and figures["fds_end"] > figures["fds_start"]
    assert figures["fds_change"] == {"socket": figures["fds_end"] - figures["fds_start"]}


def test_a_one_minute_soak_crashes_nothing_and_recovers_from_every_fault():
    done = vj("bench", "soak", "--minutes", "1", "--json", timeout=900)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert [k for k in KEYS if k not in result] == []
    why = (result["exit_code"], result["tracebacks"], result["last_words"], result["stop_hang"])
    assert result["crashes"] == 0, why
    assert result["faults_injected"] >= 2, result["faults"]
    assert result["faults_recovered"] == result["faults_injected"], result["faults"]
    assert {f["kind"] for f in result["faults"]} >= {"generator", "audio"}
    assert result["midi_sent"] > 0 and result["osc_sent"] > 0 and result["oscquery_gets_ok"] > 0
    # the music went through the analysis thread: every block, analysed or counted as dropped (but
    # the few still queued when the figures were written: the queue holds 0.5 s, 94 blocks)
    audio = result["audio_analysis"]
    assert audio["input"]["blocks"] > 5000
    assert audio["analysis"]["blocks"] + audio["input"]["dropped"] >= audio["input"]["blocks"] - 94, audio
    assert result["mapping_kept_last_good"] == result["mapping_broken"] > 0
    assert done.returncode == 0
