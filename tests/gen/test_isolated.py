"""Generators in a child process: the same frames as in-process, faults surface as exceptions."""

import numpy as np
import pytest


from vj.gen.backends import gradient
from vj.gen.base import GenRequest, Prompt
from vj.gen.isolated import ProcessGenerator
from vj.gen.procedural import ProceduralGenerator
from vj.gen.worker import GeneratorWorker


def request(t: float, seed: int = 7) -> GenRequest:
    return GenRequest(time=t, size=(96, 64), prompts=(Prompt("aurora over a frozen sea", 1.0),), seed=seed,
                      seed_walk=0.3, strength=0.5, feedback=0.5, params={"speed": 1.0})


def test_procedural_in_a_child_process_matches_in_process():
    remote = ProcessGenerator("vj.gen.procedural:ProceduralGenerator", "procedural")
    local = ProceduralGenerator()
    try:
        for t in (0.0, 0.1, 0.2):
            a, b = remote.generate(request(t)), local.generate(request(t))
            assert a.shape == (64, 96, 3) and np.array_equal(a, b)
    finally:
        remote.close()
        local.close()


def test_a_backend_error_in_the_child_is_raised_here_and_the_child_lives_on():
    gen = ProcessGenerator("tests.generators:Exploding", "exploding")
    try:
        for _ in range(2):
            with pytest.raises(RuntimeError, match="ValueError: expected 4 channels, got 3"):
                gen.generate(request(0.0))
        assert gen._process is not None and gen._process.poll() is None  # still alive
    finally:
        gen.close()


def test_a_child_that_dies_is_a_fault_and_the_worker_falls_back():
    gen = ProcessGenerator("tests.generators:Dying", "dying")
    with pytest.raises(RuntimeError, match="dying process died"):
        gen.generate(request(0.0))
    gen.close()

    worker = GeneratorWorker(lambda: ProcessGenerator("tests.generators:Dying", "dying"), fallbacks=[gradient],
                             max_faults=2, backoff=(0.01, 0.02)).start()
    try:
        frame = None
        for _ in range(20):
            frame = worker.generate_blocking(request(0.0, seed=33), timeout=30)
            if frame is not None:
                break
        assert frame is not None and frame.backend == "gradient" and worker.status().fell_back
    finally:
        worker.stop()
