"""A generator node on another machine: its frames as the show's generator layer, with the local
procedural dream as the fallback.

`vj serve` (vj.serve) dreams on a GPU box and sends each generated frame as an NDI source;
`vj run --node NAME` shows that source's frames where the local generator's would be (crossfades,
motion between frames, post and the HUD stay local) and sends its parameter changes to the node
over OSC (vj's own OSC out, `/vj/param/*` and `/vj/prompt/*/text`, at the node's OSC port).

- `NodeLink`: one node's stream, read on a thread of its own (NDI's receiver polls), the newest
  frame in a latest-wins slot as RGBA (converted on that thread, not the render thread).
- `NodeGenerator`: a GeneratorHandle (vj.gen.worker). While the node's frames keep coming it
  hands them out; when none came for LOST_S it falls back to a local generator (the procedural
  dream, started at once and kept idle while the node plays, so falling back costs one local
  frame), and switches back when the node's frames return.
- `TapGenerator`: the node's side: a GeneratorHandle that copies every frame its generator makes
  to a video output (an NDI source) on the way to the show.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from vj.gen.base import GenRequest
from vj.gen.worker import GeneratorHandle, GenFrame, WorkerStatus, with_alpha
from vj.rig.sink import OutputUnavailable, SinkThread
from vj.slot import LatestSlot

log = logging.getLogger(__name__)

LOST_S = 0.5  # no node frame for this long: the local dream takes over (the issue allows a second)
READ_S = 0.1  # how long one read of the node's stream waits


class FrameReader(Protocol):
    """A node's stream (vj.rig.ndi.NdiReceiver): `read` waits up to `timeout` s for a newer frame,
    whose `rgb` is (h, w, 3) uint8; `message` says why none is coming."""

    message: str

    def read(self, timeout: float) -> object | None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class NodeFrame:
    image: np.ndarray  # RGBA uint8, row 0 at the top
    arrived: float  # time.monotonic()
    index: int


class NodeLink:
    """One node's frames, read on their own thread (see the module doc). `factory` opens the stream
    there; if it raises, `message` says why and the show stays on the local dream."""

    def __init__(self, name: str, factory: Callable[[], FrameReader]) -> None:
        self.name = name
        self._factory = factory
        self.frames: LatestSlot[NodeFrame] = LatestSlot()
        self.message = f"waiting for node '{name}'"
        self.received = 0
        self._recent: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"vj-node-{name}", daemon=True)

    def start(self) -> NodeLink:
        self._thread.start()
        return self

    @property
    def fps(self) -> float:
        recent = self._recent
        return (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else 0.0

    def _run(self) -> None:
        try:
            reader = self._factory()
        except (OutputUnavailable, ValueError, OSError) as exc:
            self.message = f"node '{self.name}': {exc}"
            log.error("%s", self.message)
            return
        try:
            while not self._stop.is_set():
                frame = reader.read(READ_S)
                if frame is None:
                    self.message = f"node '{self.name}': {reader.message}"
                    continue
                rgb = np.asarray(getattr(frame, "rgb", frame))
                now = time.monotonic()
                self.received += 1
                self._recent = (self._recent + [now])[-16:]
                self.frames.put(NodeFrame(with_alpha(rgb), now, self.received))
        finally:
            reader.close()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)


class NodeGenerator:
    """A GeneratorHandle over a node's stream with a local fallback (see the module doc)."""

    def __init__(self, link: NodeLink, local: GeneratorHandle, lost_after: float = LOST_S) -> None:
        self.link = link
        self.local = local
        self.lost_after = lost_after
        self._request: GenRequest | None = None
        self._last_node = -1e9  # time.monotonic() of the newest node frame handed out
        self._frames = 0
        self._was_playing = False  # for the log: a line when the node takes over or is lost

    @property
    def playing_node(self) -> bool:
        return time.monotonic() - self._last_node < self.lost_after

    def submit(self, request: GenRequest) -> None:
        self._request = request
        if not self.playing_node:  # the local dream idles while the node plays
            self.local.submit(request)

    def take_frame(self) -> GenFrame | None:
        node = self.link.frames.take()
        if node is not None and self._request is not None:
            self._last_node = node.arrived
            self._frames += 1
            self._note(True)
            return GenFrame(node.image, self._request, 0.0, f"node {self.link.name}", self._frames)
        if self.playing_node:
            return None
        self._note(False)
        return self.local.take_frame()

    def _note(self, playing: bool) -> None:
        if playing != self._was_playing:
            self._was_playing = playing
            if playing:
                log.info("playing node '%s'", self.link.name)
            else:
                log.warning("node '%s' lost (%s): the local dream plays", self.link.name, self.link.message)

    def status(self) -> WorkerStatus:
        if self.playing_node:
            return WorkerStatus(f"node {self.link.name}", self.link.fps, self._frames, 0, None, False)
        st = self.local.status()
        return replace(st, backend=f"{st.backend} ({self.link.message})", fell_back=True)

    def generate_blocking(self, request: GenRequest, timeout: float = 60.0) -> GenFrame | None:
        return self.local.generate_blocking(request, timeout)  # renders stay local

    def stop(self, timeout: float = 5.0) -> None:
        self.local.stop(timeout)  # the link is the show's: it outlives a preset switch


class TapGenerator:
    """A GeneratorHandle that offers each frame its `inner` generator makes to `output` (the node's
    NDI source), then hands it on to the show as usual."""

    def __init__(self, inner: GeneratorHandle, output: SinkThread) -> None:
        self.inner = inner
        self.output = output

    @property
    def backend(self) -> object:
        return getattr(self.inner, "backend", None)

    def submit(self, request: GenRequest) -> None:
        self.inner.submit(request)

    def _tap(self, frame: GenFrame | None) -> GenFrame | None:
        if frame is not None and frame.backend != "stand-in":
            # A copy: the frame is a view into the generator's ring, valid until the next take.
            self.output.offer(np.array(frame.image), frame.request.time)
        return frame

    def take_frame(self) -> GenFrame | None:
        return self._tap(self.inner.take_frame())

    def status(self) -> WorkerStatus:
        return self.inner.status()

    def generate_blocking(self, request: GenRequest, timeout: float = 60.0) -> GenFrame | None:
        return self._tap(self.inner.generate_blocking(request, timeout))

    def stop(self, timeout: float = 5.0) -> None:
        self.inner.stop(timeout)


class NodeWorkers:
    """`vj run --node NAME`: the show's generator factory, one node stream shared by every preset
    (a preset switch keeps the connection), each preset's fallback the local procedural dream."""

    def __init__(self, name: str, threads: int = 0) -> None:
        from vj.rig.ndi import NdiReceiver

        self.link = NodeLink(name, lambda: NdiReceiver(name)).start()
        self.threads = threads

    def __call__(self, preset: object) -> GeneratorHandle:
        from vj.gen.backends import GRADIENT, PROCEDURAL
        from vj.gen.process import GeneratorProcess, ProcessOptions

        local = GeneratorProcess((PROCEDURAL, GRADIENT), ProcessOptions(threads=self.threads)).start()
        return NodeGenerator(self.link, local)

    def stop(self) -> None:
        self.link.stop()
