"""Changing generators without a gap: the outgoing one keeps dreaming until the incoming one's
first frame (a diffusion model loads and warms up for seconds to minutes).

Two diffusion models never load side by side (GPU memory): when both are diffusion, the
procedural dream fills in while the new model warms up. The render thread owns a Handover; it
collapses into the incoming generator once that one has delivered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from vj.gen.base import GenRequest
from vj.gen.worker import GeneratorHandle, GenFrame, WorkerStatus


def slow_start(worker: GeneratorHandle) -> bool:
    backend = getattr(worker, "backend", None)
    return bool(getattr(backend, "slow_start", False))


class Handover:
    """Frames from `incoming` once it has any; until then from `outgoing` (stopped then)."""

    def __init__(self, outgoing: GeneratorHandle | None, incoming: GeneratorHandle) -> None:
        self.outgoing = outgoing
        self.incoming = incoming

    @property
    def backend(self) -> object:
        return getattr(self.incoming, "backend", None)

    def submit(self, request: GenRequest) -> None:
        self.incoming.submit(request)
        if self.outgoing is not None:
            self.outgoing.submit(request)

    def take_frame(self) -> GenFrame | None:
        frame = self.incoming.take_frame()
        if frame is not None:
            self._retire()
            return frame
        return self.outgoing.take_frame() if self.outgoing is not None else None

    def status(self) -> WorkerStatus:
        st = self.incoming.status()
        if self.outgoing is None or st.frames > 0:
            return st
        old = self.outgoing.status()
        return replace(st, fps=old.fps, frames=old.frames, interim=old.backend)

    def generate_blocking(self, request: GenRequest, timeout: float = 60.0) -> GenFrame | None:
        self._retire()  # an offline render waits for the real backend
        return self.incoming.generate_blocking(request, timeout)

    def stop(self, timeout: float = 5.0) -> None:
        self._retire()
        self.incoming.stop(timeout)

    def settle(self) -> GeneratorHandle | None:
        """Keep only the one on screen (the incoming once it delivered, else the outgoing); stop the other."""
        if self.incoming.status().frames > 0:
            self._retire()
            return self.incoming
        self.incoming.stop(timeout=0.0)
        return self.outgoing

    def _retire(self) -> None:
        if self.outgoing is not None:
            self.outgoing.stop(timeout=0.0)
            self.outgoing = None


def hand_over(old: GeneratorHandle | None, new: GeneratorHandle,
              interim: Callable[[], GeneratorHandle]) -> GeneratorHandle:
    """What the show plays while `new` starts: `old` until then, or `interim()` (the procedural
    dream) when both are slow to start (two models in one GPU's memory) or nothing plays yet."""
    if isinstance(old, Handover):
        old = old.settle()
    if old is not None and slow_start(old) and slow_start(new):
        old.stop(timeout=0.0)
        old = None
    if old is None and slow_start(new):
        old = interim()
    return Handover(old, new) if old is not None else new
