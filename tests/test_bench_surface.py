"""`vj bench surface --quick`: a real `vj run --surface` (private Xvfb) played by websocket pages.
Hard checks only: the JSON has every figure and the counts add up; the timings themselves are judged
in the full run (docs/benchmarks.md)."""

from __future__ import annotations

import json

import pytest

from tests.support.vj_process import vj
from vj.bench.surface import Writes
from vj.bench.surface_clients import BURST, PAGES, RATE, SWEEP, Script, index_of, value_of

pytestmark = pytest.mark.e2e  # Xvfb, vj run and a client process

KEYS = (
    "latency_p50_ms", "latency_p99_ms", "transport_p99_ms", "frame_wait_p99_ms", "latency_lost", "lost_latest",
    "burst_applied", "burst_sent", "bursts_seen_latest", "clients", "converged", "convergence_ms_p99",
    "clients_sent", "clients_lost", "preview_fps", "frame_p99_ms_quiet", "frame_p99_ms_loaded",
    "render_p99_ratio", "targets", "met",
)


def test_every_value_a_full_run_sends_is_distinct_in_range_and_maps_back_to_its_index():
    script = Script()
    per_round = 2 * script.sweeps * PAGES * round(SWEEP * RATE)  # the moving and the loaded phases
    sends = 20 + script.latency_sets + script.bursts * BURST + script.rounds * per_round
    assert sends > 200_000  # 31 rounds
    assert [index_of(value_of(i)) for i in range(1, sends + 1)] == list(range(1, sends + 1))
    assert value_of(sends) != value_of(sends - 1)  # the 6 decimals the surface sends keep them apart
    assert -2.0 <= value_of(1) and value_of(sends) <= 2.0


def test_the_show_notes_count_only_values_written_as_sent():
    notes = [(1.0, 0.9, value_of(5), value_of(5)), (2.0, 1.9, value_of(6), 2.0), (3.0, 2.5, value_of(7), value_of(7))]
    writes = Writes(notes)
    assert writes.order == [5, 7] and writes.last_of({5, 6, 7}) == 7
    total, transport, wait, lost = writes.delays([(5, 0.5), (6, 1.5)])
    assert (total, transport, wait, lost) == ([0.5], [0.4], [pytest.approx(0.1)], 1)


def test_a_quick_run_reports_every_figure_and_the_counts_add_up():
    done = vj("bench", "surface", "--quick", "--json", timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert [k for k in KEYS if k not in result] == []
    assert result["tracebacks"] == 0
    assert result["latency_sets"] == 120 and result["latency_lost"] == 0
    assert result["latency_p50_ms"] <= result["latency_p99_ms"] <= result["latency_max_ms"]
    assert result["transport_p99_ms"] <= result["latency_max_ms"]
    assert result["lost_latest"] == 0 and result["bursts_seen_latest"] == result["bursts"] == 3
    assert 0 < result["burst_applied"] <= result["burst_sent"] == 300
    assert result["clients"] == 8 and result["clients_lost"] == 0 and result["clients_sent"] > 0
    assert result["not_converged"] == 0 and result["final_is_a_last_value"]
    assert result["preview_fps"] > 0
    assert result["frames_quiet"] > 0 and result["frames_loaded"] > 0
    assert result["render_p99_ratio_pooled"] == pytest.approx(
        result["frame_p99_ms_loaded"] / result["frame_p99_ms_quiet"], abs=0.001)
    by_round = result["render_p99_ratio_by_round"]
    assert len(by_round) == 1 and result["render_p99_ratio"] == by_round[0]  # --quick: one round, its own ratio
    assert set(result["met"]) == {"latency_p99_ms", "lost_latest", "converged", "preview_fps", "render_p99_ratio"}
