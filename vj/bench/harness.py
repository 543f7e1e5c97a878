"""What the input benchmarks (`vj bench midi`, `vj bench osc`) share.

- a sender process, driven over stdin/stdout: each `run N RATE FIRST TIMES_PATH TARGET` line
  makes it send N messages (indices FIRST...) to TARGET at RATE per second (0: as fast as it
  can), write their send times (`time.perf_counter`, float64) to TIMES_PATH and answer
  `done SENT DROPPED SECONDS`; `quit` ends it. The benchmark module supplies what one message is.
- the consumer side: the real `MappingEngine`, timed per event, fed by a thread that drains
  the event queue as soon as anything is on it;
- a headless `Show` (EGL) drawing at 60 Hz, which drains the queue once per display frame as
  `vj run` does;
- percentiles in milliseconds.

`time.perf_counter` is the system-wide monotonic clock on Linux, so send times taken in the
sender process compare with arrival and write times taken here.
"""

from __future__ import annotations

import queue
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vj.config.mapping import MappingConfig
from vj.control.engine import MappingEngine
from vj.params import ParamState
from vj.vocabulary import ControlEvent, Event, EventQueue

FPS = 60.0
RENDER_SIZE = (640, 360)

Records = list[tuple[ControlEvent, float]]  # (event, when its parameter write was done)


# -- figures -------------------------------------------------------------------------------------


def run_vj(argv: Sequence[str]) -> int:
    """`python -m vj ARGV` in this process, as a program, for a bench that patches a piece of the
    show first (the benches sit below the CLI and never import it); its exit code."""
    import runpy

    saved, sys.argv = sys.argv, ["vj", *argv]
    try:
        runpy.run_module("vj", run_name="__main__", alter_sys=True)
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))])


def ms_stats(seconds: Sequence[float]) -> dict[str, float | None]:
    """p50 / p99 / max in milliseconds (None when nothing was measured: JSON has no NaN)."""
    if not seconds:
        return {"p50": None, "p99": None, "max": None}
    values = [s * 1000.0 for s in seconds]
    return {"p50": round(statistics.median(values), 4), "p99": round(percentile(values, 99), 4),
            "max": round(max(values), 4)}


def frame_figures(frames: dict[str, list[float]]) -> dict[str, Any]:
    """Per case: frame count, p50 and p99 of the frame work in ms, frames over a 60 Hz period."""
    out: dict[str, Any] = {}
    for case, times in frames.items():
        out[f"frames_{case}"] = len(times)
        out[f"frame_p50_ms_{case}"] = round(statistics.median(times) * 1000, 3)
        out[f"frame_p99_ms_{case}"] = round(percentile(times, 99) * 1000, 3)
        out[f"frames_late_{case}"] = sum(t > 1.0 / FPS for t in times)
    return out


# -- the sender process --------------------------------------------------------------------------


def paced_sends(n: int, rate: float, send: Callable[[int], object]) -> np.ndarray:
    """Calls send(0), ..., send(n - 1) at `rate` per second and returns when each call began.

    Paced per millisecond: everything due by now, then a sleep to the next one (at least
    0.5 ms), i.e. small bursts, as a busy controller or a fader sweep sends. Rate 0: as fast as
    possible, no sleeping."""
    times = np.zeros(n)
    clock = time.perf_counter
    start = clock() + 0.002
    sent = 0
    while sent < n:
        due = n if rate <= 0 else min(n, int((clock() - start) * rate) + 1)
        while sent < due:
            times[sent] = clock()
            send(sent)
            sent += 1
        if sent < n:
            time.sleep(max(0.0005, start + sent / rate - clock()))
    return times


# run(n, rate, first index, target) -> (send times, messages the sender's own library dropped)
SenderRunFn = Callable[[int, float, int, str], tuple[np.ndarray, int]]


def serve_sender(run: SenderRunFn) -> None:
    """The sender process's side of the protocol (module docstring), until `quit` or EOF."""
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        n, rate, first, path, target = int(words[1]), float(words[2]), int(words[3]), words[4], words[5]
        times, dropped = run(n, rate, first, target)
        elapsed = float(times[-1] - times[0]) if n > 1 else 0.0
        times.tofile(path)
        print(f"done {n} {dropped} {elapsed:.6f}", flush=True)


class Child:
    """A helper process of a bench that speaks in lines: `ready` when it is up, then one answer per
    command (its first word, then values); stderr is kept for the message when it answers wrong."""

    def __init__(self, command: Sequence[str], what: str, env: dict[str, str] | None = None,
                 ready_timeout: float = 20.0) -> None:
        self.what = what
        self.proc = subprocess.Popen(list(command), env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        self.lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.errors: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_errors, daemon=True).start()
        self._expect("ready", ready_timeout)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put("")  # it ended

    def _read_errors(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.errors.append(line.rstrip())

    def _expect(self, word: str, timeout: float) -> list[str]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            line = ""
        if not line.startswith(word):
            tail = " | ".join(self.errors[-8:])
            raise RuntimeError(f"the {self.what} process did not answer {word!r} (got {line!r}): {tail}")
        return line.split()[1:]


class Sender(Child):
    """A sender process (`python -m MODULE --sender ARGS...`), driven from here."""

    def __init__(self, module: str, args: Sequence[str] = (), what: str = "") -> None:
        super().__init__([sys.executable, "-m", module, "--sender", *args], f"{what} sender".strip())

    def start(self, n: int, rate: float, first: int, times: Path, target: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"run {n} {rate} {first} {times} {target}\n")
        self.proc.stdin.flush()

    def wait(self, timeout: float) -> tuple[int, int, float]:
        """(sent, dropped by the sender's own library, seconds from first to last send)."""
        sent, dropped, seconds = self._expect("done", timeout)
        return int(sent), int(dropped), float(seconds)

    def close(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


class SenderRun:
    """The sender, the indices it has used, a scratch file for its send times."""

    def __init__(self, sender: Sender, scratch: Path, first_index: int = 0) -> None:
        self.sender, self.scratch, self.next_index = sender, scratch, first_index

    def send(self, n: int, rate: float, target: str, during: Callable[[], object] | None = None
             ) -> tuple[int, int, int, float, np.ndarray]:
        """Sends n messages at rate to `target` (running `during` meanwhile): (first index, sent,
        dropped by the sender, seconds of sending, send times)."""
        first, self.next_index = self.next_index, self.next_index + n
        path = self.scratch / "times.f64"
        self.sender.start(n, rate, first, path, target)
        if during is not None:
            during()
        sent, dropped, seconds = self.sender.wait(60.0 + (n / rate if rate > 0 else 0.0))
        return first, sent, dropped, seconds, np.fromfile(path)


# -- the consumer side ---------------------------------------------------------------------------


class TimedEngine(MappingEngine):
    """The mapping engine, noting per event when its parameter write was done."""

    def __init__(self, config: MappingConfig) -> None:
        super().__init__(config)
        self.records: Records = []

    def handle(self, event: ControlEvent, state: ParamState, sink: Any) -> None:
        super().handle(event, state, sink)
        self.records.append((event, time.perf_counter()))

    def take(self) -> Records:
        records, self.records = self.records, []
        return records


class WaitQueue(EventQueue):
    """The event queue with a blocking wait, so the continuous consumer sleeps between events
    instead of spinning on the cores the input thread and the sender need."""

    def wait(self, timeout: float) -> list[Event]:
        return list(self.drain()) if self.wait_pending(timeout) else []


class NoActions:
    def action(self, name: str, value: float | None) -> None:
        pass


class Consumer:
    """A thread handing every event to the engine as soon as it is on the queue."""

    def __init__(self, events: WaitQueue, engine: TimedEngine) -> None:
        self.events, self.engine, self.state = events, engine, ParamState()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-consumer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sink = NoActions()
        while not self._stop.is_set():
            for event in self.events.wait(0.05):
                if isinstance(event, ControlEvent):
                    self.engine.handle(event, self.state, sink)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2.0)


def settle(engine: TimedEngine, count: int, pump: Callable[[], None], quiet: float = 1.0) -> None:
    """Until `count` events have been handled and a little longer (stragglers belong to this
    phase, not the next), or none came for `quiet` seconds (the rest is lost)."""
    last, seen = time.monotonic(), -1
    while len(engine.records) < count:
        pump()
        if len(engine.records) != seen:
            last, seen = time.monotonic(), len(engine.records)
        elif time.monotonic() - last > quiet:
            return
    end = time.monotonic() + 0.05
    while time.monotonic() < end:
        pump()


def sleep_pump() -> None:
    time.sleep(0.005)


# -- the render loop -----------------------------------------------------------------------------


class _Still:
    """A generator that is never started: the show displays one still frame (the render bench's
    baseline), so what is measured is the display loop and the events it drains."""

    name = "still"

    def generate(self, request: Any) -> np.ndarray:
        raise AssertionError("never called")

    def close(self) -> None:
        pass


class RenderLoop:
    """A headless Show at RENDER_SIZE, its engine timed, drawing at 60 Hz."""

    def __init__(self, events: EventQueue, mapping: MappingConfig, engine: TimedEngine | None = None) -> None:
        from vj.config.preset import Preset
        from vj.gen.worker import GeneratorWorker, GenFrame, with_alpha
        from vj.render.context import create_headless_context
        from vj.show import Show, ShowOptions

        self.ctx = create_headless_context()
        preset = Preset(name="bench", path="bench", size=(256, 256), max_fps=0.0,
                        params={"zoom": 0.1, "rotate": 5.0})
        self.show = Show(self.ctx, [preset], mapping, events=events,
                         options=ShowOptions(stand_in=False,  # the still's worker is never started
                                             worker_factory=lambda p: GeneratorWorker(_Still, backend_name="still")))
        self.engine = engine if engine is not None else TimedEngine(mapping)
        self.show.engine = self.engine
        y, x = np.mgrid[0:256, 0:256]
        still = np.stack([x, y, (x + y) // 2], axis=-1).astype(np.uint8)
        self.show.accept_frame(GenFrame(with_alpha(still), None, 0.0, "still", 0))  # type: ignore[arg-type]
        self.target = self.ctx.framebuffer(color_attachments=[self.ctx.texture(RENDER_SIZE, 3)])
        self.next_frame = time.perf_counter()
        for _ in range(10):  # warm-up: shader compiles, first uploads
            self.frame()

    def frame(self) -> float:
        """One display frame: its work (update with the events, draw, glFinish) in seconds; then
        a sleep to the next 1/60 s tick, as a live loop waits for vsync."""
        start = time.perf_counter()
        self.show.frame(1.0 / FPS, self.target)
        self.ctx.finish()
        end = time.perf_counter()
        self.next_frame = max(self.next_frame + 1.0 / FPS, end)
        time.sleep(max(0.0, self.next_frame - time.perf_counter()))
        return end - start

    def run(self, seconds: float) -> list[float]:
        end = time.perf_counter() + seconds
        times = []
        while time.perf_counter() < end:
            times.append(self.frame())
        return times

    def extend(self, into: list[float], seconds: float) -> None:
        """Runs for `seconds`, adding the frame times to `into` (a sender's `during`)."""
        into.extend(self.run(seconds))

    def close(self) -> None:
        self.show.close()
        self.target.release()
        self.ctx.release()
