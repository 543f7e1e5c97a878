"""The generator worker: one thread that owns a backend and turns the newest request into frames.

Requests arrive in a latest-wins slot (the render loop overwrites it every
display frame); finished frames go out through a one-slot mailbox. The render
thread never waits on either. A backend that raises is logged, closed and
re-created after a back-off; after `max_faults` faults in a row the worker
switches to the next fallback backend (procedural, then a plain CPU gradient), so the
show never goes black.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from vj.gen.base import Generator, GeneratorUnavailable, GenRequest
from vj.slot import LatestSlot

log = logging.getLogger(__name__)

GeneratorFactory = Callable[[], Generator]


@dataclass(frozen=True)
class GenFrame:
    image: np.ndarray  # (h, w, 4) uint8 RGBA, row 0 at the top; from a process: valid until the next take
    request: GenRequest
    seconds: float  # how long the backend took
    backend: str
    index: int  # frames produced by this worker so far


@dataclass(frozen=True)
class WorkerStatus:
    backend: str
    fps: float  # frames per second over the last few frames
    frames: int
    faults: int
    last_error: str | None
    fell_back: bool
    state: str = "running"  # "loading" (model load, warm-up), "running", "restarting", "failed"
    progress: str = ""  # what it is doing while loading ("sd-turbo: warming up at 512x512")
    since: float = 0.0  # time.monotonic() when state or progress last changed
    restarts: int = 0  # processes restarted after a crash, a hang or faults in a row
    interim: str = ""  # the backend that dreams meanwhile, while this one loads
    error_at: float = 0.0  # time.monotonic() of last_error
    detail: str = ""  # how it runs, once running ("sd-turbo ready: loaded in 9.1 s, compile graphs, warm-up 2.0 s")


class GeneratorHandle(Protocol):
    """What the show needs of a generator: a thread (GeneratorWorker) or a process (GeneratorProcess)."""

    def submit(self, request: GenRequest) -> None: ...
    def take_frame(self) -> GenFrame | None: ...
    def status(self) -> WorkerStatus: ...
    def generate_blocking(self, request: GenRequest, timeout: float = 60.0) -> GenFrame | None: ...
    def stop(self, timeout: float = 5.0) -> None: ...


class GeneratorWorker:
    def __init__(
        self,
        factory: GeneratorFactory,
        fallbacks: Sequence[GeneratorFactory] = (),
        max_fps: float = 0.0,
        max_faults: int = 3,
        backoff: tuple[float, float] = (0.1, 2.0),
        backend_name: str = "",
    ) -> None:
        self._factory = factory
        self._fallbacks = tuple(fallbacks)
        self._min_period = 1.0 / max_fps if max_fps > 0 else 0.0
        self._max_faults = max_faults
        self._backoff = backoff
        self.requests: LatestSlot[GenRequest] = LatestSlot()
        self.frames: LatestSlot[GenFrame] = LatestSlot()
        self._status: LatestSlot[WorkerStatus] = LatestSlot()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vj-generator", daemon=True)
        self._backend_name = backend_name or getattr(factory, "__name__", "generator")
        self._since = time.monotonic()
        self._status.put(WorkerStatus(self._backend_name, 0.0, 0, 0, None, False, "loading", since=self._since))

    # -- render-thread side: none of these block ------------------------------------------------

    def start(self) -> GeneratorWorker:
        self._thread.start()
        return self

    def submit(self, request: GenRequest) -> None:
        self.requests.put(request)

    def take_frame(self) -> GenFrame | None:
        return self.frames.take()

    def status(self) -> WorkerStatus:
        status = self._status.peek()
        assert status is not None
        return status

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.requests.put(self.requests.peek())  # type: ignore[arg-type]  # wake the thread
        if self._thread.is_alive():
            self._thread.join(timeout)

    def generate_blocking(self, request: GenRequest, timeout: float = 60.0) -> GenFrame | None:
        """Offline renders: submit and wait for this request's frame (None if the backend faulted)."""
        faults = self.status().faults
        self.submit(request)
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            frame = self.frames.wait_take(0.05)
            if frame is not None and frame.request is request:
                return frame
            if self.status().faults > faults or not self.alive:
                return None
        return None

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- worker thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        generator: Generator | None = None
        factory, fallbacks = self._factory, list(self._fallbacks)
        frames = faults = in_a_row = 0
        fell_back = False
        last_error: str | None = None
        recent: list[float] = []
        while not self._stop.is_set():
            request = self.requests.wait_take(0.1)
            if request is None or self._stop.is_set():
                continue
            started = time.perf_counter()
            try:
                if generator is None:
                    generator = factory()
                    self._backend_name = generator.name
                image = with_alpha(generator.generate(request))
            except Exception as exc:  # noqa: BLE001 - any backend fault must not end the show
                faults += 1
                in_a_row += 1
                last_error = f"{self._backend_name}: {type(exc).__name__}: {exc}"
                if isinstance(exc, GeneratorUnavailable):
                    log.error("%s", exc)
                    in_a_row = self._max_faults  # retrying cannot help
                else:
                    log.exception("generator fault %d in a row (%s)", in_a_row, last_error)
                if generator is not None:
                    _close(generator)
                    generator = None
                if in_a_row >= self._max_faults and fallbacks:
                    factory, fell_back, in_a_row = fallbacks.pop(0), True, 0
                    self._backend_name = f"{getattr(factory, '__name__', 'fallback')} (fallback)"
                    log.error("generator %s failed; falling back to %s", last_error, self._backend_name)
                self._publish(frames, faults, last_error, fell_back, recent)
                delay = min(self._backoff[1], self._backoff[0] * 2 ** max(0, in_a_row - 1))
                self._stop.wait(delay)
                continue
            in_a_row = 0
            frames += 1
            now = time.perf_counter()
            recent = (recent + [now])[-16:]
            self.frames.put(GenFrame(image, request, now - started, generator.name, frames))
            self._publish(frames, faults, last_error, fell_back, recent)
            if self._min_period:
                self._stop.wait(max(0.0, self._min_period - (time.perf_counter() - started)))
        if generator is not None:
            _close(generator)

    def _publish(self, frames: int, faults: int, error: str | None, fell_back: bool, recent: list[float]) -> None:
        fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else 0.0
        self._status.put(WorkerStatus(self._backend_name, fps, frames, faults, error, fell_back,
                                      "running" if frames else "loading", since=self._since))


def with_alpha(image: np.ndarray) -> np.ndarray:
    """RGB -> RGBA on this thread: GL uploads 4-byte pixels ~20x faster, and the render thread pays for uploads."""
    if image.ndim == 3 and image.shape[2] == 3:
        out = np.empty(image.shape[:2] + (4,), np.uint8)
        out[..., :3] = image
        out[..., 3] = 255
        return out
    return image


def _close(generator: Generator) -> None:
    try:
        generator.close()
    except Exception:  # noqa: BLE001 - a backend that cannot close must not take the worker down
        log.exception("generator %s failed to close", getattr(generator, "name", "?"))
