"""`vj bench midi` as a user runs it, small, over the tests' private JACK server.

No timing is asserted (shared machines are too noisy): only that every figure is there and
sane, and that every message sent arrived, once.
"""

from __future__ import annotations

import json
import math
import os

import pytest

from tests.support.vj_process import vj
from vj.bench.midi import INDEXES, account, index_of, message
from vj.control.midi_decode import MidiDecoder
from vj.vocabulary import ControlEvent


def test_each_message_carries_its_index_through_the_decoder() -> None:
    decoder = MidiDecoder(("bench",))
    indices = [0, 1, 127, 128, 4095, 4096, INDEXES - 1, INDEXES, INDEXES + 5]
    events = [decoder.decode(message(i), 1.0) for i in indices]
    assert all(len(e) == 1 and isinstance(e[0], ControlEvent) for e in events)  # no cc14 / NRPN extras
    assert [index_of(e[0]) for e in events] == [i % INDEXES for i in indices]  # type: ignore[arg-type]
    records = [(e, 2.0) for i in range(4) for e in decoder.decode(message(i), 1.0) if isinstance(e, ControlEvent)]
    assert len(records) == 4
    assert account(records, 0, 4) == (0, 0)
    assert account(records[:3] + records[:1], 0, 4) == (1, 1)  # a duplicate does not hide a loss


@pytest.mark.e2e
@pytest.mark.usefixtures("jack_server")
def test_bench_midi_json_small_run() -> None:
    result = vj("bench", "midi", "--json", "--messages", "2000", "--rate", "5000", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    r = json.loads(result.stdout)
    assert r["benchmark"] == "midi" and r["midi_api"] == "Jack"
    assert "running JACK server" in r["midi_system"]  # the fixture's, not a private one
    for key in ("latency_p50_ms", "latency_p99_ms", "transport_p50_ms", "transport_p99_ms",
                "frame_latency_p50_ms", "frame_latency_p99_ms", "frame_p99_ms_idle", "frame_p99_ms_spare",
                "frame_p99_ms_flood", "frame_p99_ratio", "frame_p99_ratio_spare", "rate_per_s"):
        assert isinstance(r[key], (int, float)) and math.isfinite(r[key]) and r[key] > 0, (key, r[key])
    assert r["latency_p50_ms"] <= r["latency_p99_ms"]
    assert r["sent"] == 2000
    assert r["received"] == r["sent"], r
    assert (r["lost"], r["duplicated"], r["latency_lost"]) == (0, 0, 0), r
    assert r["flood_sent"] > 0 and r["frames_idle"] > 0 and r["frames_flood"] > 0
    assert set(r["met"]) == {"latency_p99_ms", "rate_per_s", "frame_p99_ratio"}


@pytest.mark.e2e
def test_bench_midi_without_a_midi_system_says_so() -> None:
    env = dict(os.environ, VJ_MIDI_API="jack", JACK_DEFAULT_SERVER=f"vjnobody{os.getpid()}")
    result = vj("bench", "midi", "--json", env=env, timeout=60)
    assert result.returncode == 2
    assert "no MIDI system" in result.stderr and "not running" in result.stderr
    assert result.stdout == ""
