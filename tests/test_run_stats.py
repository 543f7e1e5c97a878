"""`vj run --stats`'s own figures (vj/run_stats.py): written whole, and the garbage collector's
pauses noted with their generation and length."""

from __future__ import annotations

import gc
import json

from vj import run_stats
from vj.run_stats import FrameTimes, GcPauses, write_stats


def test_the_collectors_pauses_are_noted_and_written(tmp_path, monkeypatch):
    monkeypatch.setattr(run_stats, "GC_NOTED_MS", 0.0)  # every collection, however short
    pauses = GcPauses().start()
    try:
        gc.collect(2)
    finally:
        pauses.stop()
    assert any(generation == 2 and ms >= 0 for _, generation, ms in pauses.noted)
    frames = FrameTimes()
    frames.add(1.0, 1.004)
    path = tmp_path / "stats.json"
    write_stats(path, frames, None, None, None, pauses)
    stats = json.loads(path.read_text())
    assert stats["frames"] == 1 and stats["frame_ms"] == [4.0]
    assert [tuple(p) for p in stats["gc_pauses"]] == pauses.noted
    count = len(pauses.noted)
    gc.collect()
    assert len(pauses.noted) == count  # stopped: no longer listening


def test_without_a_path_nothing_is_written(tmp_path):
    write_stats(None, FrameTimes(), None, None, None)
    assert list(tmp_path.iterdir()) == []
