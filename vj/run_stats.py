"""`vj run --stats FILE`: the show's own figures, written as one JSON object when it stops.

For benchmarks that drive a real `vj run` (`vj bench soak`) and for anyone who wants to know how
a night went:

- `frame_start`: when each display frame began (`time.monotonic()`, seconds: the system-wide
  monotonic clock on Linux, so another process can line its own events up with these), and
  `frame_ms`: its work on the render thread (`Show.frame` and the buffer swap; the pacing wait
  excluded), in milliseconds;
- `midi`: the MIDI manager's status at the end (`messages` received over every port it opened);
- `osc`: the OSC server's (`datagrams`, `messages`, `invalid`, `coalesced`...);
- `children`: every supervised child process's last status (starts, failures, fault);
- `audio` (with `--audio`): the input's status (`blocks`, `overflows`: lost by the audio system,
  `dropped`: thrown away because the analysis fell behind) and the analysis thread's figures
  (vj.audio.feed.AudioRunner.figures: `blocks`, `busy` and `cpu` shares, and `lag_p50_ms`,
  `lag_p99_ms`, `lag_max_ms` from a block's capture to the end of its analysis);
- `gc_pauses`: the garbage collector's collections in vj's process that took GC_NOTED_MS or more,
  as `[began (time.monotonic()), generation, ms]`: every thread stands still meanwhile.

Frame times are kept in `array`s (12 bytes a frame: a night at 60 fps is about 30 MB, ten
minutes about 0.4 MB), so recording them does not look like a leak.
"""

from __future__ import annotations

import gc
import json
import logging
import time
from array import array
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vj.control.midi_ports import MidiPorts
    from vj.control.osc_server import OscServer
    from vj.proc.supervisor import Supervisor

log = logging.getLogger(__name__)


class FrameTimes:
    """Per display frame: when it began and how long its work took."""

    def __init__(self) -> None:
        self.starts = array("d")
        self.work_ms = array("f")

    def add(self, began: float, ended: float) -> None:
        """A frame whose work ran from `began` to `ended` (`time.monotonic()` seconds)."""
        self.starts.append(began)
        self.work_ms.append((ended - began) * 1000.0)

    def to_json(self) -> dict[str, list[float]]:
        return {"frame_start": [round(t, 6) for t in self.starts],
                "frame_ms": [round(float(w), 4) for w in self.work_ms]}


GC_NOTED_MS = 5.0  # collections at least this long are written down


class GcPauses:
    """The collections of the garbage collector that took GC_NOTED_MS or more (see the module doc)."""

    def __init__(self) -> None:
        self.noted: list[tuple[float, int, float]] = []
        self._began = 0.0

    def start(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def stop(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.monotonic()
        elif (ms := (time.monotonic() - self._began) * 1000.0) >= GC_NOTED_MS:
            self.noted.append((round(self._began, 6), info.get("generation", -1), round(ms, 3)))


def write_stats(path: Path | None, frames: FrameTimes | None, midi: MidiPorts | None, osc: OscServer | None,
                processes: Supervisor | None, pauses: GcPauses | None = None,
                audio: dict[str, Any] | None = None) -> None:
    """The figures (module doc) into `path`, written whole or not at all (a reader never sees half);
    a file that cannot be written is logged, and the show stops as it would without. Nothing
    without a path or frames (no --stats)."""
    if path is None or frames is None:
        return
    children = [asdict(c.status()) for c in processes.children()] if processes is not None else []
    stats: dict[str, Any] = {
        "written_at": time.monotonic(),
        "frames": len(frames.starts),
        **frames.to_json(),
        "midi": asdict(midi.status()) if midi is not None else None,
        "osc": asdict(osc.status()) if osc is not None else None,
        "children": children,
        "audio": audio,
        "gc_pauses": pauses.noted if pauses is not None else [],
    }
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(json.dumps(stats, default=str))
        partial.replace(path)
    except OSError as exc:
        log.warning("cannot write the stats to %s: %s", path, exc)
