"""Generators in child processes (vj.gen.process + vj.gen.host): frames through shared memory,
faults, restarts, hangs, fallbacks, and nothing left behind."""

from __future__ import annotations

import gc
import os
import signal
import time

import numpy as np
import pytest

from tests.support.waiting import alive, wait_for
from vj.gen.backends import GRADIENT, PROCEDURAL, BackendSpec
from vj.gen.base import GenRequest, Prompt
from vj.gen.procedural import ProceduralGenerator
from vj.gen.process import GeneratorProcess, ProcessOptions
from vj.priority import GENERATOR_NICE

pytestmark = pytest.mark.e2e  # generators in real child processes, under the supervisor


def request(t: float = 0.0, seed: int = 7, size=(96, 64), **kw) -> GenRequest:
    return GenRequest(time=t, size=size, prompts=(Prompt("aurora over a frozen sea", 1.0),), seed=seed,
                      seed_walk=0.3, strength=0.5, feedback=0.5, params={"speed": 1.0}, **kw)


def custom(target: str) -> BackendSpec:
    return BackendSpec("custom", target.split(":")[1], target=f"tests.support.generators:{target.split(':')[1]}")


FAST = ProcessOptions(backoff=(0.1, 0.4), silence=2.0)


def next_frame(gen: GeneratorProcess, req: GenRequest | None = None, timeout: float = 30.0):
    def take():
        gen.submit(req or request())
        return gen.take_frame()

    return wait_for(take, timeout, "a frame")


def ring_mappings() -> int:
    with open("/proc/self/maps") as f:
        return sum("memfd:vj-frames" in line for line in f)


def test_procedural_in_a_child_process_matches_in_process_and_comes_through_shared_memory():
    gen = GeneratorProcess([PROCEDURAL], FAST).start()
    local = ProceduralGenerator()
    try:
        for t in (0.0, 0.1, 0.2):
            frame = gen.generate_blocking(request(t), timeout=60)
            assert frame is not None and frame.backend == "procedural"
            expected = local.generate(request(t))
            assert frame.image.shape == (64, 96, 4) and np.array_equal(frame.image[..., :3], expected)
            assert (frame.image[..., 3] == 255).all()
            assert not frame.image.flags.writeable and not frame.image.flags.owndata  # a view into the ring
    finally:
        gen.stop()
        local.close()


def test_latest_request_wins_and_the_render_side_never_waits():
    gen = GeneratorProcess([BackendSpec("custom", "slow", target="tests.support.generators:Solid")], FAST).start()
    try:
        next_frame(gen)
        worst = 0.0
        for seed in range(1, 200):
            t0 = time.perf_counter()
            gen.submit(request(seed=seed))
            gen.take_frame()
            worst = max(worst, time.perf_counter() - t0)
            time.sleep(0.002)  # requests at far more than a render loop's rate
        frame = wait_for(lambda: (f := gen.take_frame()) is not None and f.request.seed >= 190 and f,
                         what="a frame for one of the last requests")
        assert frame.image[0, 0, 0] == frame.request.seed % 256
        assert worst < 0.05  # submit and take never wait for the child
    finally:
        gen.stop()


def test_the_camera_frame_reaches_the_child_through_the_ring():
    gen = GeneratorProcess([custom("x:CameraEcho")], FAST).start()
    try:
        camera = np.zeros((48, 80, 3), np.uint8)
        camera[...] = (200, 30, 90)
        frame = gen.generate_blocking(request(init_image=camera, init_mix=1.0), timeout=60)
        assert frame is not None and tuple(frame.image[0, 0, :3]) == (200, 30, 90)
        frame = gen.generate_blocking(request(), timeout=60)
        assert frame is not None and tuple(frame.image[0, 0, :3]) == (0, 0, 0)
    finally:
        gen.stop()


def test_the_child_gets_its_thread_budget():
    gen = GeneratorProcess([custom("x:ThreadBudget")], ProcessOptions(threads=3)).start()
    try:
        frame = gen.generate_blocking(request(), timeout=60)
        assert frame is not None and frame.image[0, 0, 0] == 3
    finally:
        gen.stop()


def test_backend_errors_are_faults_and_repeated_faults_restart_the_process():
    gen = GeneratorProcess([custom("x:Exploding")], ProcessOptions(max_faults=2, backoff=(0.1, 0.2),
                                                                    give_up_after=10)).start()
    try:
        first = wait_for(lambda: gen.pid, what="a process")

        def restarted() -> bool:
            gen.submit(request())  # a request every poll: each one faults
            return gen.status().restarts >= 1

        wait_for(restarted, 10, what=lambda: f"a restart after the faults: {gen.status()}")
        st = gen.status()
        assert st.faults >= 2 and "ValueError: expected 4 channels, got 3" in (st.last_error or "")
        assert st.restarts >= 1
        wait_for(lambda: gen.pid and gen.pid != first, what="a new process")
    finally:
        gen.stop()


def test_kill_9_restarts_the_child_and_the_last_frame_stays():
    gen = GeneratorProcess([PROCEDURAL, GRADIENT], FAST).start()
    try:
        kept = next_frame(gen)
        kept_pixels = kept.image.copy()
        pid = gen.pid
        os.kill(pid, signal.SIGKILL)
        st = wait_for(lambda: gen.status().restarts >= 1 and gen.status(), what="a restart")
        assert "killed by SIGKILL" in (st.last_error or "") and st.faults >= 1
        assert np.array_equal(kept.image, kept_pixels)  # the frame on screen is untouched by the new child
        fresh = next_frame(gen, request(t=1.0))
        assert fresh.backend == "procedural" and gen.pid != pid and not alive(pid)
        assert not gen.status().fell_back
    finally:
        gen.stop()


def test_a_child_that_hangs_is_killed_restarted_and_then_falls_back():
    options = ProcessOptions(silence=1.0, backoff=(0.1, 0.2), give_up_after=2)
    gen = GeneratorProcess([custom("x:Hanging"), GRADIENT], options).start()
    try:
        first = next_frame(gen)
        assert first.backend == "hanging"
        started = time.monotonic()
        st = wait_for(lambda: gen.status().restarts >= 1 and gen.status(), what="the hang to be noticed")
        assert "hung: silent for" in (st.last_error or "")
        assert time.monotonic() - started < 10
        frame = wait_for(lambda: (gen.submit(request()), gen.take_frame())[1], timeout=60, what="the fallback")
        while frame.backend != "gradient":
            frame = next_frame(gen)
        assert gen.status().fell_back and gen.status().backend == "gradient (fallback)"
    finally:
        gen.stop()


def test_a_child_that_dies_while_loading_falls_back_to_procedural_with_a_clear_message():
    options = ProcessOptions(backoff=(0.1, 0.2), give_up_after=2)
    gen = GeneratorProcess([custom("x:dies_loading"), PROCEDURAL, GRADIENT], options).start()
    try:
        frame = next_frame(gen, timeout=60)
        st = gen.status()
        assert frame.backend == "procedural" and st.fell_back
        assert st.last_error == "dies_loading: exited with code 3"
    finally:
        gen.stop()


def test_a_render_waits_through_a_fallback_so_its_first_frame_is_a_picture():
    """Lockstep (`vj render`): a backend that cannot load falls back at once, and the frame asked
    for is drawn by the next backend instead of coming back empty (a black first frame)."""
    gen = GeneratorProcess([custom("x:unavailable"), PROCEDURAL, GRADIENT], FAST).start()
    try:
        frame = gen.generate_blocking(request(), timeout=60)
        assert frame is not None and frame.backend == "procedural"
        assert frame.image[..., :3].mean() > 10  # a picture, not black
        st = gen.status()
        assert st.fell_back and "weights for test/model are not here" in st.last_error
    finally:
        gen.stop()


@pytest.mark.parametrize("ending", ["stop", "kill"])
def test_shared_memory_is_released_on_every_exit_path(ending):
    gc.collect()
    before = ring_mappings()
    gen = GeneratorProcess([PROCEDURAL], FAST).start()
    frame = next_frame(gen)
    pid = gen.pid
    assert ring_mappings() > before
    if ending == "kill":
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: gen.status().restarts >= 1, what="a restart")
    gen.stop()
    assert not alive(pid)
    del frame
    gen = None
    gc.collect()
    assert ring_mappings() == before  # unmapped here; the child's side went with the child
    assert not [n for n in os.listdir("/dev/shm") if n.startswith(("vj-frames", "psm_"))]  # nothing named to leak


def test_a_pipelined_generator_overlaps_frames_and_every_frame_keeps_its_request():
    gen = GeneratorProcess([custom("x:Pipelined")], FAST).start()
    try:
        next_frame(gen)
        frames = []
        for seed in range(20, 120):
            gen.submit(request(seed=seed))
            frame = gen.take_frame()
            if frame is not None:
                frames.append((frame.request.seed, tuple(int(v) for v in frame.image[0, 0, :3])))
            time.sleep(0.002)
        assert len(frames) > 10
        assert all(seed % 256 == pixel[0] for seed, pixel in frames)  # two in flight, never mixed up
        # The next frame was launched before this one was finished: the device would not idle.
        assert any(launched > number for _, (_, launched, number) in frames)
    finally:
        gen.stop()


def test_a_pipelined_generator_in_lockstep_finishes_each_frame_without_waiting_for_the_next():
    gen = GeneratorProcess([custom("x:Pipelined")], FAST).start()
    try:
        for seed in (1, 2, 3, 4):
            frame = gen.generate_blocking(request(seed=seed), timeout=60)
            assert frame is not None and frame.request.seed == seed
            _, launched, number = (int(v) for v in frame.image[0, 0, :3])
            assert launched == number == seed  # nothing else was launched: a render never stalls
        assert gen.generate_blocking(request(seed=13), timeout=60) is None  # failed at the finish
        assert gen.status().faults == 1
        frame = gen.generate_blocking(request(seed=5), timeout=60)
        assert frame is not None and frame.request.seed == 5  # and it goes on
    finally:
        gen.stop()


def test_the_real_engine_pipelined_through_its_process_gives_the_frames_it_gives_in_process():
    from vj.gen.diffusion import DiffusionEngine, EngineConfig
    from vj.gen.tiny import tiny_sd

    gen = GeneratorProcess([custom("x:pipelined_tiny_diffusion")], ProcessOptions(threads=1)).start()
    local = DiffusionEngine(tiny_sd(), EngineConfig())
    try:
        for k in range(4):
            r = GenRequest(time=k * 0.1, size=(64, 64), prompts=(Prompt("a neon cat", 1.0),), seed=3,
                           seed_walk=0.1 * k, strength=0.5, feedback=1.0, params={"steps": 2})
            frame = gen.generate_blocking(r, timeout=120)
            assert frame is not None and frame.backend == "diffusion"
            assert np.array_equal(frame.image, local.generate(r))
    finally:
        gen.stop()


def niceness(pid: int) -> dict[str, int]:
    """Every thread of `pid` (its name) and its niceness, from /proc."""
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            head, _, rest = f.read().rpartition(")")
        threads[f"{head.partition('(')[2]} {tid}"] = int(rest.split()[16])  # field 19 of proc(5): nice
    return threads


def test_the_generator_and_every_thread_it_starts_run_below_the_show():
    # The show's threads come first (vj.priority): the procedural dream on llvmpipe starts its
    # rasterizer threads after the niceness is set, and inherits it; vj itself stays at its own.
    gen = GeneratorProcess([PROCEDURAL, GRADIENT], ProcessOptions(threads=2, backoff=(0.1, 0.4))).start()
    try:
        next_frame(gen)
        threads = niceness(gen.pid)
        # (Mesa puts its shader-cache thread lower still, at 19)
        assert len(threads) > 1 and min(threads.values()) == GENERATOR_NICE, str(sorted(threads.items()))
        assert os.getpriority(os.PRIO_PROCESS, 0) == 0
    finally:
        gen.stop()
