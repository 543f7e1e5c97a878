"""The generator as the show sees it: the newest request in, the newest finished frame out.

Live, the show never waits: it submits the newest request and takes whatever frame is done
(a CPU gradient stands in until the backend's first frame). In lockstep (offline renders) it
asks for one frame per `max_fps` period and waits for it, so a render is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from types import MappingProxyType

import numpy as np

from vj.config.preset import Preset
from vj.gen.base import GenRequest, Prompt
from vj.gen.gradient import GradientGenerator
from vj.gen.handover import hand_over
from vj.gen.process import process_workers
from vj.gen.worker import GeneratorHandle, GenFrame, with_alpha
from vj.params import Snapshot
from vj.vocabulary import MAX_PROMPTS, MotionRates

WorkerFactory = Callable[[Preset], GeneratorHandle]
default_worker: WorkerFactory = process_workers()

STAND_IN_PERIOD = 0.25  # seconds between stand-in frames while the backend starts


def request_from(snap: Snapshot, preset: Preset, dream_time: float,
                 audio: Mapping[str, float] | None = None, camera: np.ndarray | None = None) -> GenRequest:
    prompts = tuple(
        Prompt(p.text, snap.f(f"prompt.{i + 1}.weight")) for i, p in enumerate(preset.prompts[:MAX_PROMPTS])
    )
    return GenRequest(
        time=dream_time,
        size=preset.size,
        prompts=prompts,
        seed=int(snap["seed"]),
        seed_walk=snap.f("seed.walk"),
        strength=snap.f("strength"),
        feedback=snap.f("feedback"),
        motion=motion_rates(snap),
        params=snap.values,
        audio=MappingProxyType(dict(audio or {})),
        init_image=camera,
        init_mix=snap.f("camera.mix"),
    )


def motion_rates(snap: Snapshot) -> MotionRates:
    return MotionRates(snap.f("zoom"), snap.f("pan.x"), snap.f("pan.y"), snap.f("rotate"))


class GeneratorFeed:
    """The playing preset's generator (`worker`) and the pace frames are asked of it."""

    def __init__(self, preset: Preset, factory: WorkerFactory, interim: Callable[[], GeneratorHandle],
                 lockstep: bool, stand_in: bool) -> None:
        self.lockstep = lockstep
        self._factory = factory
        self._interim = interim
        self._next_gen = 0.0  # show time of the next lockstep frame
        self._gradient = GradientGenerator() if stand_in else None
        self._next_stand_in = 0.0
        self.worker: GeneratorHandle = self._new_worker(preset, None)

    def switch(self, preset: Preset) -> None:
        """A preset with another generator or model is playing: its worker takes over."""
        self.worker = self._new_worker(preset, self.worker)

    def _new_worker(self, preset: Preset, old: GeneratorHandle | None) -> GeneratorHandle:
        """The preset's generator. Live, the old one (or the procedural dream) plays while it
        loads; in lockstep (offline renders) nothing stands in, so a render is deterministic."""
        new = self._factory(preset)
        if self.lockstep:
            if old is not None:
                old.stop(timeout=0.0)
            return new
        return hand_over(old, new, self._interim)

    def exchange(self, request: GenRequest, now: float, max_fps: float) -> GenFrame | None:
        """Hand over the newest request; a finished frame, if there is one (`now`: show time)."""
        if self.lockstep:
            if now + 1e-9 < self._next_gen:
                return None
            period = 1.0 / max_fps if max_fps > 0 else 0.0
            self._next_gen = max(self._next_gen + period, now) if period else now
            return self.worker.generate_blocking(request)
        self.worker.submit(request)
        frame = self.worker.take_frame()
        if frame is None and self._gradient is not None and self.worker.status().frames == 0:
            frame = self._stand_in(request)
        return frame

    def _stand_in(self, request: GenRequest) -> GenFrame | None:
        """Until the backend's first frame (a model can take many seconds to load), a small CPU
        gradient in the prompts' colours keeps the screen alive: never a black stage."""
        if request.time < self._next_stand_in:
            return None
        self._next_stand_in = request.time + STAND_IN_PERIOD
        w, h = request.size
        scale = max(1, max(w, h) // 192)  # a few hundred microseconds at this size: fine on the render thread
        small = replace(request, size=(max(8, w // scale), max(8, h // scale)))
        assert self._gradient is not None
        return GenFrame(with_alpha(self._gradient.generate(small)), request, 0.0, "stand-in", 0)

    def close(self) -> None:
        self.worker.stop()
