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
        time.sleep(self.delay)  # a model's work takes time
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


class Hanging(Solid):
    """Never returns from its second frame, like a GPU driver that hangs."""

    name = "hanging"

    def __init__(self) -> None:
        super().__init__()
        self.frames = 0

    def generate(self, req: GenRequest) -> np.ndarray:
        self.frames += 1
        if self.frames >= 2:
            time.sleep(3600)  # hangs
        return super().generate(req)


def dies_loading() -> Solid:
    """A backend whose loading kills the process (a driver crash while a model loads)."""
    import os

    os._exit(3)


def unavailable() -> Solid:
    """A backend that cannot run here at all (a model whose weights are missing)."""
    from vj.gen.base import GeneratorUnavailable

    raise GeneratorUnavailable("weights for test/model are not here")


class CameraEcho(Solid):
    """Paints the mean colour of the request's camera frame (black without one)."""

    name = "camera-echo"

    def generate(self, req: GenRequest) -> np.ndarray:
        out = np.zeros((req.size[1], req.size[0], 3), np.uint8)
        if req.init_image is not None:
            out[...] = req.init_image.reshape(-1, 3).mean(axis=0).round().astype(np.uint8)
        return out


class ThreadBudget(Solid):
    """Paints the number of compute threads it was given (OMP_NUM_THREADS) as its grey level."""

    name = "thread-budget"

    def generate(self, req: GenRequest) -> np.ndarray:
        import os

        return np.full((req.size[1], req.size[0], 3), int(os.environ.get("OMP_NUM_THREADS", "0")), np.uint8)
