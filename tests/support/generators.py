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


class Pipelined(Solid):
    """A pipelined backend, like diffusion on a GPU: `launch` queues a frame, `finish` hands it over.

    A frame's pixel holds (seed, frames launched when it was finished, its own launch number), so a
    test sees whether the next frame was launched before this one was finished. Seed 13 fails when
    finished, like a NaN frame found at the copy."""

    name = "pipelined"
    pipelined = True

    def __init__(self) -> None:
        super().__init__()
        self.launches = 0

    def launch(self, req: GenRequest) -> tuple[GenRequest, int]:
        self.launches += 1
        time.sleep(0.004)  # queueing a frame takes the host a little
        return req, self.launches

    def finish(self, launched: tuple[GenRequest, int]) -> np.ndarray:
        req, number = launched
        if req.seed == 13:
            raise FloatingPointError("the frame has NaN/inf values")
        time.sleep(0.004)  # the device's work, then the copy
        out = np.empty((req.size[1], req.size[0], 3), np.uint8)
        out[...] = (req.seed % 256, self.launches % 256, number % 256)
        return out


def pipelined_tiny_diffusion():
    """The real diffusion engine on the tiny model, its launch/finish pipelining forced on the CPU
    (on the CPU it normally runs unpipelined: `launch` does the whole frame there)."""
    from vj.gen.diffusion import DiffusionGenerator, EngineConfig
    from vj.gen.tiny import tiny_sd

    class Forced(DiffusionGenerator):
        pipelined = True  # type: ignore[assignment]

    return Forced(tiny_sd, EngineConfig())
