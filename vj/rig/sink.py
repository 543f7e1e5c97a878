"""Video outputs: where the show's finished picture goes besides its window (NDI, a virtual camera,
Syphon, Spout, a recording).

The render thread only hands a frame over (`SinkThread.offer`, `Outputs.offer`): each output
runs on a thread of its own, reads the newest frame from a latest-wins slot and sends it; a frame
it had no time for is replaced by the next and counted as dropped, so a slow output (a network, a
disk, an encoder) never slows the show. Frames are fresh read-only arrays (vj.render.readback),
shared by every output.

An output that cannot start (a package, an OS, a kernel module or a device missing) or that
fails says why in its status, once, in words a performer can act on, and the show goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from vj.slot import LatestSlot
from vj.vocabulary import PixelOrder

log = logging.getLogger(__name__)

RETRY_S = 2.0  # seconds before an output that failed to start is tried again


class VideoSink(Protocol):
    """One output. `send` runs on the output's own thread: uint8 (h, w, 4) in `order` (RGBA or
    BGRA: vj.vocabulary.PixelOrder, the order the picture was read in; the output converts if it
    must), row 0 at the top, and the time it belongs to (from the show's picture:
    time.perf_counter() when it was drawn, the clock the audio input stamps its blocks with, so a
    recording keeps the two in step)."""

    name: str

    def send(self, frame: np.ndarray, time: float, order: PixelOrder) -> None: ...

    def close(self) -> None: ...


class OutputUnavailable(RuntimeError):
    """An output cannot run here; the message says what to install or do."""


@dataclass(frozen=True)
class SinkStatus:
    name: str
    sent: int  # frames sent
    dropped: int  # frames replaced before the output could take them
    fps: float  # frames sent a second, recently
    error: str | None = None  # why it is not sending, if it is not
    detail: str = ""  # what the output says about itself once running ("NDI 'vj' 1280x720 BGRA")


@dataclass(frozen=True)
class _Offer:
    frame: np.ndarray
    time: float
    order: PixelOrder


class SinkThread:
    """Runs one output on its own thread (see the module doc). `factory` builds it on that thread
    (so a slow start never blocks the show); `OutputUnavailable` there is reported, not retried,
    other errors are retried every RETRY_S. `rate`: the most frames a second (0: every frame)."""

    def __init__(self, name: str, factory: Callable[[], VideoSink], rate: float = 0.0) -> None:
        self.name = name
        self._factory = factory
        self._period = 1.0 / rate if rate > 0 else 0.0
        self._slot: LatestSlot[_Offer] = LatestSlot()
        self._status: LatestSlot[SinkStatus] = LatestSlot()
        self._status.put(SinkStatus(name, 0, 0, 0.0, None, "starting"))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"vj-output-{name}", daemon=True)
        self._next = 0.0  # render thread: when the next frame is due (with a rate)

    def start(self) -> SinkThread:
        self._thread.start()
        return self

    def offer(self, frame: np.ndarray, time_: float, order: PixelOrder = "rgba", final: bool = False) -> None:
        """Render thread: never blocks. An output that could not start takes nothing. `final`: a
        frame handed over as the show ends (a read-back's last); a frame it replaces is not counted
        as dropped, as `stop` does not count the one it leaves unsent."""
        if not self._thread.is_alive():
            return
        if self._period:
            now = time.monotonic()
            if now < self._next:
                return
            self._next = max(self._next + self._period, now - self._period)
        if self._slot.swap(_Offer(frame, time_, order)) is not None and final:
            self._slot.overwritten -= 1

    def status(self) -> SinkStatus:
        status = self._status.peek()
        assert status is not None
        return SinkStatus(status.name, status.sent, self._slot.overwritten, status.fps, status.error, status.detail)

    def stop(self, timeout: float = 5.0) -> None:
        """Stops after the frame being sent; one still waiting is not sent, nor counted as dropped."""
        self._stop.set()
        if self._slot.swap(_Offer(np.zeros((1, 1, 4), np.uint8), 0.0, "rgba")) is not None:  # wake the thread
            self._slot.overwritten -= 1
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _publish(self, sent: int, recent: list[float], error: str | None, detail: str) -> None:
        fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else 0.0
        self._status.put(SinkStatus(self.name, sent, 0, fps, error, detail))

    def _open(self) -> VideoSink | None:
        """Build the output until it runs, is unavailable for good, or the show stops."""
        while not self._stop.is_set():
            try:
                return self._factory()
            except OutputUnavailable as exc:
                log.error("output %s: %s", self.name, exc)
                self._publish(0, [], str(exc), "")
                return None
            except Exception as exc:  # noqa: BLE001 - any failure to start: say so, try again
                log.warning("output %s failed to start: %s", self.name, exc)
                self._publish(0, [], f"{type(exc).__name__}: {exc}", "")
                self._stop.wait(RETRY_S)
        return None

    def _run(self) -> None:
        sink = self._open()
        if sink is None:
            return
        detail = str(getattr(sink, "detail", "") or "")
        sent, error = 0, None
        recent: list[float] = []
        self._publish(sent, recent, error, detail)
        try:
            while not self._stop.is_set():
                offer = self._slot.wait_take(0.25)
                if offer is None or self._stop.is_set():
                    continue
                try:
                    sink.send(offer.frame, offer.time, offer.order)
                except Exception as exc:  # noqa: BLE001 - a failed send is reported; the next frame tries again
                    if error is None:
                        log.warning("output %s: %s", self.name, exc)
                    error = f"{type(exc).__name__}: {exc}"
                else:
                    sent += 1
                    error = None
                    recent = (recent + [time.monotonic()])[-16:]
                detail = str(getattr(sink, "detail", "") or detail)
                self._publish(sent, recent, error, detail)
        finally:
            try:
                sink.close()
            except Exception:  # noqa: BLE001 - closing must not raise out of a stopping show
                log.exception("output %s failed to close", self.name)


class VideoOutputs:
    """Every video output of a show: the render thread offers each finished frame once."""

    def __init__(self, sinks: Sequence[SinkThread] = ()) -> None:
        self.sinks = tuple(sinks)

    def start(self) -> VideoOutputs:
        for sink in self.sinks:
            sink.start()
        return self

    @property
    def wanted(self) -> bool:
        """Whether anyone takes frames (the show reads the picture back only then)."""
        return bool(self.sinks)

    def offer(self, frame: np.ndarray, time_: float, order: PixelOrder = "rgba", final: bool = False) -> None:
        frame.flags.writeable = False  # shared by every output
        for sink in self.sinks:
            sink.offer(frame, time_, order, final)

    def statuses(self) -> tuple[SinkStatus, ...]:
        return tuple(sink.status() for sink in self.sinks)

    def stop(self) -> None:
        for sink in self.sinks:
            sink.stop()
