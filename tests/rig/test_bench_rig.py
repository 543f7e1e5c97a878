"""`vj bench rig` runs every case for real and prints one JSON object with the issue's keys."""

import json

import pytest

from tests.support.vj_process import vj

pytestmark = pytest.mark.e2e  # NDI, Link, JACK, Xvfb and vj processes


def test_bench_rig_prints_every_case_with_its_figures():
    result = vj("bench", "rig", "--json", "--quick", timeout=600)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["benchmark"] == "rig"
    for case in ("ndi", "link", "midi_clock_out", "record", "node"):
        assert "error" not in report[case], (case, report[case])
    ndi, link, clock = report["ndi"], report["link"], report["midi_clock_out"]
    record, node = report["record"], report["node"]
    assert ndi["sent"] == 120 and ndi["received"] > 0 and ndi["render_thread_ms_p99"] > 0
    assert link["peers"] >= 1 and link["tempo_error_bpm"] >= 0 and link["phase_error_ms"] >= 0
    assert clock["bpm_set"] == 128.0 and clock["bpm_measured_by_peer"] > 0
    assert record["frames_shown"] > 0 and record["frames_recorded"] > 0 and record["dropped"] >= 0
    assert node["frames_shown_local"] > 0 and node["gen_fps_node"] > 0 and node["fallback_seconds"] > 0
    assert result.returncode == 0, result.stderr[-2000:]
