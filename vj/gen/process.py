"""A generator in a child process: the render process's side of vj.gen.host.

Why a process: torch's per-op dispatch (about 1,400 small ops a diffusion frame) and moderngl
hold Python's GIL, so a generator on a thread of the render process starved the render loop or
itself (tiny diffusion kept 9% of its own rate inside `vj run`). A child runs truly in
parallel, and a CUDA fault, an OOM or a driver hang takes only the child down.

Threads here, and what they share (latest-value slots, a queue, an event; no locks held):
- the render thread calls `submit` (newest request wins) and `take_frame` (never waits);
- the feeder thread sends the newest request when the child asks for one (vj.gen.host: two in
  flight at most, one of them on the device),
  with the ring slots given back since, and writes the camera frame into the ring's input area;
- the supervisor thread (vj.proc.supervisor) delivers the child's messages: a finished frame is
  published as a view into its shared-memory slot (no copy), a fault is counted.

Faults: a frame that raises is a fault; `max_faults` in a row restart the process. A crash, an
OOM that kills it or a hang (silent past `silence`) is a failure: the supervisor restarts it
after a back-off, and after `give_up_after` failures in a row the next backend of the chain
takes over (diffusion -> procedural -> gradient). A backend that cannot run here at all (no
weights) falls back at once. Meanwhile the last good frame stays on screen.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from vj.config.preset import Preset
from vj.gen.backends import GRADIENT, PROCEDURAL, BackendSpec, chain, default_threads
from vj.gen.base import GenRequest
from vj.gen.host import thread_env
from vj.gen.worker import GenFrame, WorkerStatus
from vj.priority import GENERATOR_NICE
from vj.proc.child import InheritedFd
from vj.proc.ring import FrameRing
from vj.proc.supervisor import Child, ChildHandler, ChildSpec, ChildStatus, Supervisor, supervisor
from vj.slot import LatestSlot

log = logging.getLogger(__name__)

RESEND_WINDOW = 0.25  # seconds: a show that submitted nothing for this long is frozen or gone


@dataclass(frozen=True)
class ProcessOptions:
    max_fps: float = 0.0  # the most frames a second (0: as fast as the backend goes)
    threads: int = 0  # compute threads in the child (0: every core but one)
    max_faults: int = 3  # failed frames in a row before the process is restarted
    give_up_after: int = 3  # process failures in a row before the next backend takes over
    # seconds before a restart: first, doubling up to. The first at once: a generator killed mid-show
    # is back as soon as a process starts (the soak's target: 1 s); a crash loop backs off.
    backoff: tuple[float, float] = (0.05, 8.0)
    silence: float = 10.0  # seconds without a sign of life that mean a hang (slow frames earn more)
    start_timeout: float = 60.0  # seconds to the first sign of life (starting Python, imports)
    # a live show keeps an interpreter started for the next restart (vj.proc.child): a killed generator
    # is back without waiting for Python and the imports
    spare: bool = False

    @property
    def compute_threads(self) -> int:
        return self.threads if self.threads > 0 else default_threads()


@dataclass(frozen=True)
class _Arrival:
    frame: GenFrame
    ring: FrameRing
    slot: int


class _Lane(ChildHandler):
    """One backend's process. Its callbacks run on the supervisor thread."""

    def __init__(self, owner: GeneratorProcess, spec: BackendSpec) -> None:
        self.owner = owner
        self.spec = spec
        self.child: Child | None = None
        self.ring: FrameRing | None = None  # this process's ring (a new one each start)

    def starting(self, child: Child) -> tuple[tuple[Any, ...], tuple[int, ...]]:
        self.child = child
        self.owner._idle.clear()
        ring, fd = FrameRing.create()
        self.ring = ring
        o = self.owner.options
        return (self.spec, InheritedFd(fd), ring.slots, ring.capacity, ring.input_capacity, o.compute_threads,
                o.silence), (fd,)

    def message(self, message: tuple[Any, ...]) -> None:
        self.owner._on_message(self, message)

    def changed(self, status: ChildStatus) -> None:
        self.owner._on_changed(self, status)


class _Account:
    """The supervisor thread's account of a generator, for its WorkerStatus: frames made, faults
    (all, and in a row), the last error, the recent frame rate and the child's own status."""

    def __init__(self) -> None:
        self.frames = 0
        self.faults = 0
        self.in_a_row = 0  # faults since the last good frame
        self.last_error: str | None = None
        self.error_at = 0.0
        self.recent: list[float] = []  # when the last (up to 16) frames arrived
        self.child: ChildStatus | None = None

    def frame(self) -> None:
        self.frames += 1
        self.in_a_row = 0
        self.recent = (self.recent + [time.monotonic()])[-16:]

    def error(self, message: str) -> None:
        self.last_error, self.error_at = message, time.monotonic()

    def status(self, label: str, fell_back: bool, state: str | None = None) -> WorkerStatus:
        recent = self.recent
        fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else 0.0
        st = self.child
        if state is None:
            state = {"starting": "loading", "ready": "running", "waiting": "restarting", "failed": "failed",
                     "stopped": "stopped"}.get(st.state, "loading") if st is not None else "loading"
            if state == "loading" and self.frames and st is not None and st.starts <= 1:
                state = "running"  # the first frame arrived before the ready message
        return WorkerStatus(
            label, fps, self.frames, self.faults, self.last_error, fell_back, state,
            st.progress if st is not None else "", st.since if st is not None else time.monotonic(),
            max(0, st.starts - 1) if st is not None else 0, error_at=self.error_at,
            detail=st.detail if st is not None else "",
        )


class _InFlight:
    """Requests sent and not answered yet, by sequence number: the feeder adds, the supervisor thread
    takes. At most two are (vj.gen.host); a restart leaves a few unanswered, which age out."""

    LIMIT = 4

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[int, GenRequest] = OrderedDict()

    def put(self, seq: int, request: GenRequest) -> None:
        with self._lock:
            self._items[seq] = request
            while len(self._items) > self.LIMIT:
                self._items.popitem(last=False)

    def pop(self, seq: int) -> GenRequest | None:
        with self._lock:
            return self._items.pop(seq, None)


class GeneratorProcess:
    """A backend chain (see vj.gen.backends.chain) run in child processes; see the module doc."""

    def __init__(self, chain: Sequence[BackendSpec], options: ProcessOptions = ProcessOptions(),
                 supervisor_: Supervisor | None = None) -> None:
        if not chain:
            raise ValueError("a generator needs at least one backend")
        self.options = options
        self._chain = list(chain)
        self._supervisor = supervisor_
        self._period = 1.0 / options.max_fps if options.max_fps > 0 else 0.0
        self.requests: LatestSlot[tuple[float, GenRequest]] = LatestSlot()  # (when submitted, request)
        self._lockstep = threading.Event()  # generate_blocking was used: never resend a request
        self._frames: LatestSlot[_Arrival] = LatestSlot()
        self._frees: queue.Queue[tuple[FrameRing, int]] = queue.Queue()
        self._idle = threading.Event()  # the child waits for a request
        self._inflight = _InFlight()
        self._status: LatestSlot[WorkerStatus] = LatestSlot()
        self._held: tuple[FrameRing, int] | None = None  # render thread: the slot of the frame last taken
        self._stop = threading.Event()
        self._feeder = threading.Thread(target=self._feed, name="vj-generator-feed", daemon=True)
        # supervisor-thread state
        self._index = 0
        self._lane = _Lane(self, self._chain[0])
        self._account = _Account()
        self._publish()

    # -- render-thread side: none of these block --------------------------------------------------

    def start(self) -> GeneratorProcess:
        if self._supervisor is None:
            self._supervisor = supervisor()
        self._start_lane(self._lane)
        self._feeder.start()
        return self

    def submit(self, request: GenRequest) -> None:
        self.requests.put((time.monotonic(), request))

    def take_frame(self) -> GenFrame | None:
        """The newest frame, or None. Its image is a read-only view into shared memory, valid
        until the next `take_frame` (upload it, or copy it, before then)."""
        arrival = self._frames.take()
        if arrival is None:
            return None
        if self._held is not None:
            self._frees.put(self._held)
        self._held = (arrival.ring, arrival.slot)
        return arrival.frame

    def status(self) -> WorkerStatus:
        status = self._status.peek()
        assert status is not None
        return status

    @property
    def backend(self) -> BackendSpec:
        return self._lane.spec

    @property
    def pid(self) -> int | None:
        child = self._lane.child
        return child.pid if child is not None else None

    @property
    def alive(self) -> bool:
        return self._feeder.is_alive() and not self._stop.is_set()

    def generate_blocking(self, request: GenRequest, timeout: float = 60.0) -> GenFrame | None:
        """Offline renders: submit and wait for this request's frame (None if the backend faulted)."""
        self._lockstep.set()
        before = self.status()
        self.submit(request)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            arrival = self._frames.wait_take(0.05)
            if arrival is not None:
                if self._held is not None:
                    self._frees.put(self._held)
                self._held = (arrival.ring, arrival.slot)
                if arrival.frame.request is request:
                    return arrival.frame
            now = self.status()
            if now.backend != before.backend and now.state != "failed":
                # fell back (a model that cannot load here): the next backend draws this frame, so
                # a render's first frame is a picture, not black
                before = now
                self.submit(request)
            elif now.faults > before.faults or self._stop.is_set():
                return None
        return None

    def stop(self, timeout: float = 5.0) -> None:
        """Stops the child (in order, then killed) and the feeder. With timeout 0 it returns at
        once and the child ends in the background."""
        self._stop.set()
        child = self._lane.child
        if child is not None:
            child.stop(timeout)
        if self._feeder.is_alive() and timeout > 0:
            self._feeder.join(timeout)

    # -- the feeder thread ------------------------------------------------------------------------

    def _feed(self) -> None:
        seq = 0
        last_sent = 0.0
        while not self._stop.is_set():
            if not self._idle.wait(0.1):
                continue
            if self._period:
                self._stop.wait(max(0.0, last_sent + self._period - time.monotonic()))
            item = self.requests.take() or self._resend() or self.requests.wait_take(0.1)
            if item is None:
                continue
            request = item[1]
            lane = self._lane
            ring, child = lane.ring, lane.child
            if ring is None or child is None:
                continue
            frees = []
            while True:
                try:
                    freed_ring, slot = self._frees.get_nowait()
                except queue.Empty:
                    break
                if freed_ring is ring:  # a slot of an earlier process's ring: gone with it
                    frees.append(slot)
            camera = None
            if request.init_image is not None:
                try:
                    camera = ring.write_input(np.ascontiguousarray(request.init_image, dtype=np.uint8))
                except ValueError as exc:
                    log.warning("camera frame not sent: %s", exc)
            seq += 1
            self._inflight.put(seq, request)
            wire = replace(request, params=dict(request.params), audio=dict(request.audio), init_image=None)
            self._idle.clear()  # before sending: the reply may come back before the next line
            last_sent = time.monotonic()
            more = not self._lockstep.is_set()
            if not child.send(("request", seq, wire, frees, camera, more)):
                log.debug("request %d not sent: the %s process is gone", seq, lane.spec.label)

    def _resend(self) -> tuple[float, GenRequest] | None:
        """The child is idle and no new request came since the last: the newest one again, while
        the show is live (it submitted one lately). Waiting for the next display frame would idle
        the child up to a frame each time; frozen shows and offline renders get no resends."""
        item = self.requests.peek()
        if item is None or self._lockstep.is_set() or time.monotonic() - item[0] > RESEND_WINDOW:
            return None
        return item

    # -- the supervisor thread --------------------------------------------------------------------

    def _start_lane(self, lane: _Lane) -> None:
        spec = lane.spec
        o = self.options
        assert self._supervisor is not None
        self._supervisor.start(ChildSpec(
            name=f"{spec.kind} ({spec.label})" if spec.label != spec.kind else spec.kind,
            main="vj.gen.host:serve",
            env=thread_env(o.compute_threads),
            start_timeout=o.start_timeout,
            silence=o.silence,
            backoff=o.backoff,
            give_up_after=o.give_up_after,
            spare=o.spare,
            nice=GENERATOR_NICE,  # the show's threads first: vj.priority
        ), lane)

    def _on_message(self, lane: _Lane, message: tuple[Any, ...]) -> None:
        if lane is not self._lane or self._stop.is_set():
            return  # a process on its way out
        kind = message[0]
        if kind == "idle":
            self._idle.set()
        elif kind == "frame":
            _, seq, slot, h, w, seconds, backend, idle = message
            assert lane.ring is not None
            request = self._inflight.pop(seq)
            if request is None:
                log.debug("frame %d arrived for no request in flight", seq)
                self._frees.put((lane.ring, slot))
            else:
                image = lane.ring.view(slot, h, w)
                image.flags.writeable = False
                self._account.frame()
                frame = GenFrame(image, request, seconds, backend, self._account.frames)
                replaced = self._frames.swap(_Arrival(frame, lane.ring, slot))
                if replaced is not None:  # never taken: its slot goes back
                    self._frees.put((replaced.ring, replaced.slot))
            if idle:
                self._idle.set()
            self._publish()
        elif kind == "fault":
            _, seq, text, idle = message
            self._inflight.pop(seq)
            account = self._account
            account.faults += 1
            account.in_a_row += 1
            account.error(f"{lane.spec.label}: {text}")
            log.warning("generator fault %d in a row (%s)", account.in_a_row, account.last_error)
            if account.in_a_row >= self.options.max_faults and lane.child is not None:
                account.in_a_row = 0
                lane.child.restart(f"{self.options.max_faults} faults in a row ({text})")
            elif idle:
                self._idle.set()
            self._publish()
        elif kind == "unavailable":
            self._account.faults += 1
            self._account.error(f"{lane.spec.label}: {message[1]}")
            self._fall_back(lane)  # which logs the message once

    def _on_changed(self, lane: _Lane, status: ChildStatus) -> None:
        if lane is not self._lane:
            return
        self._account.child = status
        if status.state == "waiting" and status.fault:  # it crashed, hung or was restarted
            self._account.faults += 1
            self._account.error(f"{lane.spec.label}: {status.fault}")
        elif status.state == "failed" and not self._stop.is_set():
            self._account.error(f"{lane.spec.label}: {status.fault}")
            self._fall_back(lane)
            return
        self._publish()

    def _fall_back(self, lane: _Lane) -> None:
        if lane.child is not None:
            lane.child.stop(timeout=0.0)  # on this (the supervisor's) thread: never wait for it
        if self._index + 1 >= len(self._chain):
            log.error("generator %s failed and no fallback is left: the last frame stays", self._account.last_error)
            self._publish(state="failed")
            return
        self._index += 1
        self._account.in_a_row = 0
        self._account.child = None
        self._lane = _Lane(self, self._chain[self._index])
        log.error("generator %s failed; falling back to %s", self._account.last_error, self._lane.spec.label)
        self._start_lane(self._lane)
        self._publish()

    def _publish(self, state: str | None = None) -> None:
        fell_back = self._index > 0
        label = self._lane.spec.label + (" (fallback)" if fell_back else "")
        self._status.put(self._account.status(label, fell_back, state))


def process_workers(threads: int = 0, *, live: bool = False, compile: str | None = None
                    ) -> Callable[[Preset], GeneratorProcess]:
    """The show's generator factory: a preset's backend chain in a child process. `live`: a live
    show (vj.gen.backends.BackendSpec); `compile`: the command line's mode over the presets'."""

    def start(preset: Preset) -> GeneratorProcess:
        specs = chain(preset, live=live, compile=compile)
        return GeneratorProcess(specs, ProcessOptions(max_fps=preset.max_fps, threads=threads, spare=live)).start()

    return start


def interim_worker(threads: int = 0) -> GeneratorProcess:
    """The procedural dream that plays while a diffusion model loads."""
    return GeneratorProcess((PROCEDURAL, GRADIENT), ProcessOptions(max_fps=30.0, threads=threads)).start()
