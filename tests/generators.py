"""Small generator backends for tests. They stand in for a GPU model, which cannot run here:
one paints a solid grey taken from the request, one raises on demand like a faulting model."""

from __future__ import annotations

import threading
import time

import numpy as np

from vj.gen.base import GenRequest


class Solid:
    """Fills the frame with a grey level taken from the request's seed."""

    name = "solid"

    def __init__(self, delay: float = 0.0, seen: list | None = None) -> None:
        self.delay = delay
        self.seen = seen if seen is not None else []

    def generate(self, req: GenRequest) -> np.ndarray:
        self.seen.append(req.seed)
        time.sleep(self.delay)
        return np.full((req.size[1], req.size[0], 3), req.seed % 256, np.uint8)

    def close(self) -> None:
        pass


class Flaky(Solid):
    """Like Solid, but raises a CUDA-like error while `fail` is set."""

    name = "flaky"

    def __init__(self, fail: threading.Event) -> None:
        super().__init__()
        self.fail = fail

    def generate(self, req: GenRequest) -> np.ndarray:
        if self.fail.is_set():
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return super().generate(req)


class Exploding(Solid):
    """Raises on every frame, like a model that cannot run."""

    name = "exploding"

    def generate(self, req: GenRequest) -> np.ndarray:
        raise ValueError("expected 4 channels, got 3")


class Dying(Solid):
    """Kills its own process on the first frame, like a segfaulting driver."""

    name = "dying"

    def generate(self, req: GenRequest) -> np.ndarray:
        import os

        os._exit(3)
