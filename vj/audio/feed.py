"""From the audio input to the show: an analysis thread and the slot the render thread reads.

The capture (vj.audio.capture) hands over blocks; one thread runs the analysis on them and puts
each `AudioFrame` into an `AudioSlot`. The render thread takes the newest frame once per display
frame: features are latest-wins (only the newest matters), events accumulate until taken, so a
beat or a hit that happened between two display frames is never lost. `vj render --audio`
feeds the same slot from the offline analysis.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

import numpy as np

from vj.audio.analysis import Analyzer, AudioFrame

log = logging.getLogger(__name__)

LAG_BINS_MS = 2000  # the lag histogram: 1 ms bins, the last one for everything longer


class AudioSlot:
    """Latest features, every event: the one mailbox from audio analysis to the render thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frame: AudioFrame | None = None
        self._fresh = False
        self.frames = 0  # frames put, for the HUD's rate

    def put(self, frame: AudioFrame) -> None:
        with self._lock:
            if self._fresh and self._frame is not None and self._frame.events:
                frame = replace(frame, events=self._frame.events + frame.events)
            self._frame, self._fresh = frame, True
            self.frames += 1

    def take(self) -> AudioFrame | None:
        """The newest frame with every event since the last take, or None if nothing came."""
        with self._lock:
            if not self._fresh:
                return None
            self._fresh = False
            return self._frame

    def peek(self) -> AudioFrame | None:
        with self._lock:
            return self._frame


class BlockSource(Protocol):
    """What the runner needs of an input (vj.audio.capture.AudioInput)."""

    def read(self, timeout: float) -> tuple[np.ndarray, float] | None: ...


class Tee:
    """A block source that also hands every block to `listeners` (the voice thread's `feed`): one
    capture, several consumers. Listeners must not block (they run on the analysis thread)."""

    def __init__(self, source: BlockSource, *listeners: Callable[[np.ndarray], None]) -> None:
        self.source, self.listeners = source, listeners

    def read(self, timeout: float) -> tuple[np.ndarray, float] | None:
        got = self.source.read(timeout)
        if got is not None:
            for listen in self.listeners:
                listen(got[0])
        return got


class AudioRunner:
    """The analysis thread: blocks from `source` through `analyzer` into `slot`."""

    def __init__(self, source: BlockSource, analyzer: Analyzer, slot: AudioSlot,
                 on_problem: Callable[[str], None] | None = None) -> None:
        self.source, self.analyzer, self.slot = source, analyzer, slot
        self.on_problem = on_problem
        self.busy = 0.0  # seconds spent analysing (wall clock), for the HUD's cpu share
        self.started = time.perf_counter()
        self.blocks = 0  # blocks analysed
        self._thread_cpu = 0.0  # of `busy`, seconds this thread ran: the rest it waited for a core or the GIL
        # from a block's first captured sample to the end of its analysis, in 1 ms bins (a night's
        # worth in a fixed size)
        self._lags = np.zeros(LAG_BINS_MS + 1, dtype=np.int64)
        self._reported: set[str] = set()
        self._kinds: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vj-audio-analysis", daemon=True)

    def start(self) -> AudioRunner:
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def cpu_fraction(self) -> float:
        return self.busy / max(1e-9, time.perf_counter() - self.started)

    def figures(self) -> dict[str, float]:
        """For `vj run --stats`: whether the analysis kept up with the input. `busy` is the share
        of the time spent analysing, `cpu` the share this thread ran: the difference is time it
        waited for a core or the GIL. Lags in ms, from a block's capture to its analysis's end."""
        elapsed = max(1e-9, time.perf_counter() - self.started)
        lags = np.cumsum(self._lags)

        def quantile(q: float) -> float:
            return float(np.searchsorted(lags, q * lags[-1])) if lags[-1] else 0.0

        return {"blocks": self.blocks, "busy": round(self.busy / elapsed, 4),
                "cpu": round(self._thread_cpu / elapsed, 4),
                "lag_p50_ms": quantile(0.5), "lag_p99_ms": quantile(0.99),
                "lag_max_ms": float(np.flatnonzero(self._lags)[-1]) if lags[-1] else 0.0}

    def _run(self) -> None:
        while not self._stop.is_set():
            got = self.source.read(0.1)
            if got is None:
                continue
            began, ran = time.perf_counter(), time.thread_time()
            try:
                frame = self.analyzer.process(got[0])
            except Exception as exc:  # noqa: BLE001 (the analysis must not take the show down)
                self._report(f"audio analysis failed: {type(exc).__name__}: {exc}")
                continue
            done = time.perf_counter()
            self.busy += done - began
            self._thread_cpu += time.thread_time() - ran
            self.blocks += 1
            self._lags[min(LAG_BINS_MS, max(0, int((done - got[1]) * 1000.0)))] += 1
            self.slot.put(frame)
            for kind, count in self.analyzer.problems.items():
                if count and kind not in self._kinds:  # once per kind: the HUD must not fill up
                    self._kinds.add(kind)
                    self._report(f"audio input: {kind} samples found ({count} in the first block); "
                                 "they are cleaned up and counted")

    def _report(self, message: str) -> None:
        if message in self._reported:
            return
        self._reported.add(message)
        log.warning(message)
        if self.on_problem is not None:
            self.on_problem(message)
