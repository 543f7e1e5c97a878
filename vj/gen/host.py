"""A generator process: builds one backend, then turns requests into frames in a shared ring.

Runs in a child of the supervisor (vj.proc), started by vj.gen.process. The conversation:

    child -> parent   ("idle",)                          send a request (loaded and warmed up; or a
                                                         pipelined frame was launched)
    parent -> child   ("request", seq, request, frees, camera, more)
                      frees: ring slots given back; camera: (h, w) of the camera frame the
                      parent wrote into the ring's input area, or None; more: the parent may
                      send the next request at once (false in lockstep: offline renders)
    child -> parent   ("frame", seq, slot, h, w, seconds, backend, idle)   slot now belongs to the parent
                      ("fault", seq, message, idle)      this request failed; the next may not
                      ("unavailable", message)           cannot run here (no weights): fall back

`idle` true also asks for the next request. Each request is answered by exactly one ask for the
next ("idle", or a frame or fault with idle true), so a request never waits in a pipe (latest
wins: the parent sends the newest it has) and at most two are in flight: one on the device, one
being handed over (vj.gen.host._Server, pipelined generators).
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from vj.gen.backends import BackendSpec, build
from vj.gen.base import Generator, GeneratorUnavailable, GenRequest
from vj.proc.child import ChildLink
from vj.proc.ring import FrameRing

log = logging.getLogger(__name__)

LOAD_PATIENCE = 900.0  # seconds a load, a warm-up or a compile may stay silent
SLOW_FRAME_FACTOR = 4.0  # a frame may take this many times the slowest recent one before it hangs
# A launched frame waits for the next request up to this share of a recent frame's time before it is
# finished alone: long enough for the parent's reply to "idle", short of the frame itself.
OVERLAP = 0.5


def thread_env(threads: int) -> dict[str, str]:
    """The environment that holds a child's compute libraries to `threads` threads: OpenMP and
    MKL (torch on the CPU) and llvmpipe (Mesa's software GL, the procedural dream)."""
    n = str(max(1, threads))
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "LP_NUM_THREADS": n}


def _limit_torch(threads: int) -> None:
    try:
        import torch
    except ImportError:
        return  # no diffusion extra: build() says so, and the show falls back

    torch.set_num_threads(max(1, threads))
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set (it may be set once per process)


_warmed: dict[str, Generator] = {}  # backends a spare built ahead (warm), by kind


def warm() -> None:
    """A spare's head start (vj.proc.child): the procedural dream, which every live chain ends with
    and the soak kills, imported and its GL context made, so that a restart only draws (0.2 s of
    imports and context on an idle machine, three times that on a loaded one)."""
    from vj.gen.procedural import ProceduralGenerator

    generator = ProceduralGenerator()
    generator.prepare()
    _warmed["procedural"] = generator


def _built(spec: BackendSpec, progress: Callable[[str], None]) -> Generator:
    """The backend `spec` names: the one a spare built ahead if it is that, else built now."""
    ready = _warmed.pop(spec.kind, None) if spec.kind == "procedural" else None
    for spare in _warmed.values():
        spare.close()
    _warmed.clear()
    return ready or build(spec, progress)


def serve(link: ChildLink, spec: BackendSpec, ring_fd: int, slots: int, capacity: int, input_capacity: int,
          threads: int, silence: float) -> None:
    ring = FrameRing(ring_fd, slots, capacity, input_capacity)
    os.close(ring_fd)
    started = time.monotonic()
    link.progress(f"loading {spec.label}", patience=LOAD_PATIENCE)
    if spec.kind == "diffusion":
        _limit_torch(threads)
    try:
        generator = _built(spec, lambda text: link.progress(f"{spec.label}: {text}", patience=LOAD_PATIENCE))
    except GeneratorUnavailable as exc:
        link.send(("unavailable", str(exc)))
        while True:
            link.recv()  # until the parent stops this process (Stopped ends it)
    loaded = time.monotonic() - started
    server = _Server(link, ring, generator, slots, silence)
    try:
        server.loop(f"{spec.label} ready: loaded in {loaded:.1f} s")
    finally:
        generator.close()


@dataclass(frozen=True)
class _Pending:
    """A pipelined frame launched on the device, not yet on the host."""

    seq: int
    launched: Any
    started: float
    more: bool  # the parent may send the next request at once (not lockstep)


class _Server:
    """The request loop (see the module doc). A generator with `pipelined` true (diffusion on a GPU)
    is asked to `launch` a frame, the parent is told it may send the next request at once, and the
    frame is `finish`ed (waited for, written into the ring) after the next one is launched, or
    when no request comes within OVERLAP of the frame's time: so the device never idles while the
    host hands a frame over. Others `generate` one frame per request."""

    def __init__(self, link: ChildLink, ring: FrameRing, generator: Generator, slots: int, silence: float) -> None:
        self.link = link
        self.ring = ring
        self.generator = generator
        self.silence = silence
        self.pipelined = bool(getattr(generator, "pipelined", False))
        self.free = list(range(slots))
        self.recent: deque[float] = deque(maxlen=8)
        self.pending: _Pending | None = None
        self.ready = ""  # the line for the first frame

    def loop(self, ready: str) -> None:
        self.ready = ready
        self.link.send(("idle",))
        while True:
            timeout = None
            if self.pending is not None:
                guess = min(self.recent) if self.recent else 0.0
                timeout = max(1e-4, OVERLAP * guess) if self.pending.more else 1e-4
            message = self.link.recv(timeout)
            if message is None:
                if self.pending is not None:
                    self._finish()
                continue
            if message[0] == "request":
                self._request(*message[1:])

    def _request(self, seq: int, request: GenRequest, frees: list[int], camera: tuple[int, int] | None,
                 more: bool) -> None:
        self.free.extend(frees)
        if camera is not None:  # copied out at once: the parent may write the next one after our reply
            request = replace(request, init_image=self.ring.input_view(*camera).copy())
        if self.recent and SLOW_FRAME_FACTOR * max(self.recent) > self.silence:
            self.link.patience(SLOW_FRAME_FACTOR * max(self.recent))
        started = time.perf_counter()
        if not self.pipelined:
            try:
                image = np.asarray(self.generator.generate(request))
            except Exception as exc:  # noqa: BLE001 - the parent counts faults and decides
                self._fault(seq, exc, idle=True)
                return
            self._deliver(seq, image, started, idle=True)
            return
        try:
            launched = self.generator.launch(request)  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001
            if self.pending is not None:
                self._finish()
            self._fault(seq, exc, idle=True)
            return
        self.link.send(("idle",))  # the next request may come while this frame runs
        previous, self.pending = self.pending, _Pending(seq, launched, started, more)
        if previous is not None:
            self._finish(previous)

    def _finish(self, pending: _Pending | None = None) -> None:
        if pending is None:
            pending, self.pending = self.pending, None
        assert pending is not None
        try:
            image = np.asarray(self.generator.finish(pending.launched))  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001
            self._fault(pending.seq, exc, idle=False)
            return
        self._deliver(pending.seq, image, pending.started, idle=False)

    def _deliver(self, seq: int, image: np.ndarray, started: float, idle: bool) -> None:
        """Write the frame into a free slot and hand the slot over (`idle`: and ask for the next request)."""
        try:
            if not self.free:
                raise RuntimeError("no free frame slot (the parent kept them all)")
            slot = self.free.pop(0)
            h, w = self.ring.write(slot, image)
        except Exception as exc:  # noqa: BLE001
            self._fault(seq, exc, idle)
            return
        seconds = time.perf_counter() - started
        self.recent.append(seconds)
        self.link.send(("frame", seq, slot, h, w, seconds, self.generator.name, idle))
        if self.ready:
            how = getattr(self.generator, "summary", "")  # diffusion: its compile mode and warm-up seconds
            self.link.ready(f"{self.ready}{', ' + how if how else ''}, first frame {seconds * 1000:.0f} ms")
            self.ready = ""

    def _fault(self, seq: int, exc: Exception, idle: bool) -> None:
        log.debug("frame %d failed:\n%s", seq, traceback.format_exc())
        self.link.send(("fault", seq, f"{type(exc).__name__}: {exc}", idle))
