"""The generator worker with real threads and small test backends (tests/support/generators.py)."""

import threading
import time

from tests.support.generators import Flaky, Solid
from tests.support.waiting import wait_for
from vj.gen.base import GeneratorUnavailable, GenRequest
from vj.gen.worker import GeneratorWorker
from vj.slot import LatestSlot


def request(t: float, seed: int = 0) -> GenRequest:
    return GenRequest(time=t, size=(8, 8), prompts=(), seed=seed, seed_walk=0.0, strength=0.5, feedback=0.0)


def test_latest_slot_keeps_only_the_newest():
    slot: LatestSlot[int] = LatestSlot()
    assert slot.take() is None
    for i in range(5):
        slot.put(i)
    assert slot.take() == 4 and slot.take() is None and slot.overwritten == 4
    assert slot.wait_take(0.01) is None


def test_worker_always_works_on_the_newest_request():
    seen: list[int] = []
    worker = GeneratorWorker(lambda: Solid(delay=0.05, seen=seen)).start()
    try:
        worker.submit(request(0.0, seed=1))
        wait_for(lambda: seen == [1], 15, what=lambda: f"the first request; seen {seen}")
        for seed in range(2, 50):  # a burst while the backend is busy: only the last survives
            worker.submit(request(0.0, seed=seed))
        wait_for(lambda: seen and seen[-1] == 49, 15, what=lambda: f"the newest request; seen {seen}")
        assert len(seen) <= 3
        wait_for(lambda: (frame := worker.frames.peek()) is not None and frame.image[0, 0, 0] == 49, 15,
                 what="the newest request's frame")
        assert worker.take_frame().request.seed == 49 and worker.take_frame() is None
    finally:
        worker.stop()


class Blocked(Solid):
    """Holds its frame until released, so the test knows the backend is busy."""

    def __init__(self, release: threading.Event, busy: threading.Event):
        super().__init__()
        self.release, self.busy = release, busy

    def generate(self, req):
        self.busy.set()
        self.release.wait(10)
        return super().generate(req)


def test_submit_and_take_never_block_while_the_backend_is_busy():
    release, busy = threading.Event(), threading.Event()
    worker = GeneratorWorker(lambda: Blocked(release, busy)).start()
    results = []

    def render_loop():
        for _ in range(100):
            worker.submit(request(0.0))
            results.append(worker.take_frame())

    try:
        worker.submit(request(0.0))
        assert busy.wait(5)
        loop = threading.Thread(target=render_loop)
        loop.start()
        loop.join(5)  # generous; it would hang forever if a call blocked on the busy backend
        assert not loop.is_alive() and results == [None] * 100
    finally:
        release.set()
        worker.stop()


def test_faults_are_logged_backed_off_and_the_backend_restarted(caplog):
    fail = threading.Event()
    built = []

    def factory():
        built.append(1)
        return Flaky(fail)

    worker = GeneratorWorker(factory, max_faults=100, backoff=(0.01, 0.05)).start()
    try:
        worker.submit(request(0.0, seed=3))
        wait_for(lambda: worker.status().frames == 1, 15, what="the first frame")
        fail.set()
        for _ in range(20):
            worker.submit(request(0.0, seed=4))
            time.sleep(0.01)  # requests at a render loop's pace, while the backend faults
        wait_for(lambda: worker.status().faults >= 2, 15, what=lambda: f"two faults: {worker.status()}")
        assert "illegal memory access" in worker.status().last_error
        fail.clear()
        worker.submit(request(0.0, seed=5))
        wait_for(lambda: worker.status().frames >= 2, 15, what=lambda: f"a frame after the faults: {worker.status()}")
        assert len(built) >= 2  # a fresh backend after the fault
        assert "generator fault" in caplog.text
    finally:
        worker.stop()


def test_repeated_faults_fall_back_and_frames_keep_flowing():
    fail = threading.Event()
    fail.set()
    worker = GeneratorWorker(lambda: Flaky(fail), fallbacks=[Solid], max_faults=3, backoff=(0.01, 0.02))
    worker.start()
    try:
        got = []

        def render_frame() -> bool:
            """One frame of a render loop: a request out, a generated frame in if there is one."""
            worker.submit(request(0.0, seed=9))
            if (frame := worker.take_frame()) is not None:
                got.append(frame)
            return len(got) >= 3

        wait_for(render_frame, 5, what=lambda: f"three frames; got {len(got)}, {worker.status()}")
        assert all(f.backend == "solid" for f in got)
        status = worker.status()
        assert status.fell_back and status.faults == 3
    finally:
        worker.stop()


def test_an_unavailable_backend_falls_back_at_once():
    def unavailable():
        raise GeneratorUnavailable("no weights for stabilityai/sd-turbo")

    worker = GeneratorWorker(unavailable, fallbacks=[Solid], max_faults=3, backoff=(0.01, 0.02)).start()
    try:
        worker.submit(request(0.0, seed=2))
        wait_for(lambda: worker.status().frames == 0 and worker.status().fell_back, 15, what="the fallback")
        frame = worker.generate_blocking(request(0.1, seed=2), timeout=5)
        assert frame is not None and frame.backend == "solid" and worker.status().faults == 1
    finally:
        worker.stop()


def test_generate_blocking_returns_that_requests_frame():
    worker = GeneratorWorker(lambda: Solid()).start()
    try:
        for seed in (10, 20, 30):
            req = request(0.0, seed=seed)
            frame = worker.generate_blocking(req)
            assert frame.request is req and frame.image[0, 0, 0] == seed
    finally:
        worker.stop()


def test_max_fps_caps_the_generation_rate():
    seen: list[int] = []
    worker = GeneratorWorker(lambda: Solid(seen=seen), max_fps=20).start()
    try:
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            worker.submit(request(0.0))
            time.sleep(0.002)  # requests far faster than the cap
        assert 1 <= len(seen) <= 12  # 20 fps for 0.5 s: the cap holds (a loaded machine may do fewer)
    finally:
        worker.stop()
