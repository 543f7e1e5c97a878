"""`vj bench rig` runs every case for real and prints one JSON object with the issue's keys."""

import json

import pytest

from tests.support.vj_process import vj

pytestmark = pytest.mark.e2e  # NDI, Link, JACK, Xvfb and vj processes


def test_bench_rig_prints_every_case_with_its_figures():
    result = vj("bench", "rig", "--json", "--quick", timeout=600)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["benchmark"] == "rig"
    for case in ("ndi", "ndi_show", "link", "midi_clock_out", "record", "node"):
        assert "error" not in report[case], (case, report[case])
    ndi, link, clock = report["ndi"], report["link"], report["midi_clock_out"]
    record, node = report["record"], report["node"]
    assert ndi["sent"] == 120 and ndi["received"] > 0 and ndi["render_thread_ms_p99"] > 0
    assert link["peers"] >= 1 and link["tempo_error_bpm"] >= 0 and link["phase_error_ms"] >= 0
    assert clock["bpm_set"] == 128.0 and clock["bpm_measured_by_peer"] > 0
    assert record["frames_shown"] > 0 and record["frames_recorded"] > 0 and record["dropped"] >= 0
    assert node["frames_shown_local"] > 0 and node["gen_fps_node"] > 0 and node["fallback_seconds"] > 0
    assert result.returncode == 0, result.stderr[-2000:]


def test_bench_rig_ndi_show_measures_ndi_sent_by_a_real_show():
    result = vj("bench", "rig", "--json", "--quick", "--only", "ndi_show", timeout=300)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    show = report["ndi_show"]
    assert "error" not in show, show
    assert set(report) == {"benchmark", "ndi_show"}
    assert 0 < show["received"] <= show["sent"] and show["lost"] == show["sent"] - show["received"]
    assert show["size"] == [1280, 720] and show["fps"] > 0
    assert show["sent"] + show["sent_before_connected"] == show["sent_total"]
    assert show["sent_total"] + show["dropped"] <= show["display_frames"]
    for part in ("render_thread", "readback", "offer"):
        assert show[f"{part}_ms_p99"] >= show[f"{part}_ms_p50"] >= 0, part
    assert show["render_thread_ms_p50"] >= show["readback_ms_p50"]
    assert show["display_fps"] > 0 and show["renderer"] and show["read_mode"] in ("ServerRead", "DirectRead", "PboRing")
    assert result.returncode == 0, result.stderr[-2000:]


def test_ndi_show_matches_each_frame_read_to_the_send_ndi_stamped_it_in():
    from vj.bench.rig_ndi_show import match

    sends = [10.0, 10.02, 10.04]  # when each send call began
    assert match(sends, [10.0005, 10.0401, 10.0203, 9.99]) == [0, 2, 1, -1]
