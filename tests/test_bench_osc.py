"""`vj bench osc` as a user runs it, small: real UDP sockets, a real sender process.

No timing is asserted (shared machines are too noisy): only that every figure is there, that
the counts agree with each other, and that nothing was lost where the kernel's receive buffer
alone holds the whole burst (then no scheduling delay on a loaded machine can lose a message).
"""

from __future__ import annotations

import json
import math

import pytest

from tests.support.vj_process import vj
from vj.bench.osc import ADDRESS, account, index_of, latest_applied
from vj.control.osc_codec import encode_message, parse_packet
from vj.control.osc_server import message_event
from vj.vocabulary import ControlEvent

MESSAGES, RATE, SECONDS = 2000, 5000, 0.5
DATAGRAM_COST = 1024  # bytes of receive buffer a small datagram takes in Linux's accounting (about 800)


def test_each_message_carries_its_index_through_vjs_parser() -> None:
    events = [message_event(parse_packet(encode_message(ADDRESS, i))[0], 1.0) for i in (1, 2, 3, 2**31 - 1)]
    assert [index_of(e) for e in events] == [1, 2, 3, 2**31 - 1]
    assert index_of(ControlEvent(("osc", "/vj/param/zoom"), 1.0, raw=2)) is None  # not ours
    assert account([1, 2, 3, 4], 1, 4) == (4, 0, 0)
    assert account([1, 2, 2, 4, None], 1, 4) == (3, 1, 2)  # a duplicate does not hide a loss
    assert latest_applied([1, 5, 9, 10], 1, 10)  # coalesced: in order, ending with the latest
    assert not latest_applied([1, 5, 9], 1, 10) and not latest_applied([5, 1, 10], 1, 10)


@pytest.mark.e2e
def test_bench_osc_json_small_run() -> None:
    result = vj("bench", "osc", "--json", "--messages", str(MESSAGES), "--rate", str(RATE), "--seconds", str(SECONDS),
                timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    r = json.loads(result.stdout)
    assert r["benchmark"] == "osc"
    for key in ("latency_p50_ms", "latency_p99_ms", "transport_p50_ms", "transport_p99_ms",
                "burst_latency_p50_ms", "burst_latency_p99_ms", "frame_latency_p50_ms", "frame_latency_p99_ms",
                "frame_p99_ms_idle", "frame_p99_ms_spare", "frame_p99_ms_flood", "frame_p99_ratio",
                "frame_p99_ratio_spare", "frame_p99_ratio_each", "spare_p99_ratio", "frame_p99_ms_each",
                "received_vs_baseline", "send_rate_per_s", "receive_buffer"):
        assert isinstance(r[key], (int, float)) and math.isfinite(r[key]) and r[key] > 0, (key, r[key])
    for name in ("latency", "transport", "burst_latency", "frame_latency"):
        assert r[f"{name}_p50_ms"] <= r[f"{name}_p99_ms"], name

    # The burst: vj, then the baseline, each counted by index.
    assert r["messages"] == MESSAGES and r["sent"] + r["sender_failed"] == MESSAGES
    assert 0 < r["received"] <= r["sent"] and r["lost"] == r["sent"] - r["received"]
    assert r["applied"] == r["received"] and r["duplicated"] == 0
    assert 0 < r["baseline_received"] <= r["baseline_sent"]
    assert r["baseline_lost"] == r["baseline_sent"] - r["baseline_received"]
    assert r["received_vs_baseline"] == round(r["received"] / r["baseline_received"], 3)

    # The same burst with its address latest-wins: received counted by the server, the values
    # superseded within a batch dropped, the rest applied in order, the latest among them.
    assert 0 < r["coalescing_received"] <= r["coalescing_sent"]
    assert r["coalescing_lost"] == r["coalescing_sent"] - r["coalescing_received"]
    assert r["coalescing_applied"] + r["coalescing_coalesced"] == r["coalescing_received"]
    assert r["coalescing_applied"] > 0 and r["coalescing_latest_applied"] in (True, False)

    # The floods while rendering: latest-wins (flood) and every message an event (each).
    per_round = int(RATE * SECONDS)
    for case in ("flood", "each"):
        assert r[f"{case}_sent"] <= 3 * per_round and r[f"{case}_received"] <= r[f"{case}_sent"], case
        assert r[f"{case}_lost"] == r[f"{case}_sent"] - r[f"{case}_received"], case
        assert r[f"{case}_applied"] + r[f"{case}_coalesced"] == r[f"{case}_received"], case
        assert r[f"{case}_duplicated"] == 0, case
    assert r["each_coalesced"] == 0 and r["flood_latest_applied"] in (True, False)
    assert r["frames_idle"] > 0 and r["frames_spare"] > 0 and r["frames_flood"] > 0 and r["frames_each"] > 0
    assert set(r["met"]) == {"lost", "frame_p99_ratio"}

    if r["receive_buffer"] >= DATAGRAM_COST * MESSAGES:  # it holds the whole burst, whatever the scheduler does
        assert (r["lost"], r["latency_lost"], r["flood_lost"], r["each_lost"], r["sender_failed"],
                r["coalescing_lost"]) == (0, 0, 0, 0, 0, 0), r
        assert r["coalescing_latest_applied"] and r["flood_latest_applied"], r


@pytest.mark.e2e
def test_bench_osc_refuses_bad_sizes() -> None:
    result = vj("bench", "osc", "--messages", "1", timeout=60)
    assert result.returncode == 2 and "--messages" in result.stderr and result.stdout == ""
