"""`vj bench render`: does a busy generator slow the display? (It must not.)

Runs the real display loop (Show.frame + glFinish) offscreen at 1280x720 and 1920x1080: with no
generator at all (one still frame, the baseline), with a generator that keeps a core busy in
Python for 200 ms a frame in a child process (how vj runs generators), and the same generator on
a thread of the render process (the old design: it contends for the GIL, which a sleeping
stand-in could never show). A control case runs no generator beside a process that just spins a
core: on a small machine that is the floor any busy generator process sets (the cores are
shared), so the process case can be judged against it. Alternated in the same run; frame-time
percentiles and the p99 ratio busy process / none (target <= 1.1), the others beside it.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np

from vj.config.library import load_mapping
from vj.config.preset import Preset
from vj.gen.backends import BackendSpec
from vj.gen.base import GenRequest
from vj.gen.process import GeneratorProcess
from vj.gen.worker import GeneratorHandle, GeneratorWorker, with_alpha

SIZES = ((1280, 720), (1920, 1080))
SLOW_SECONDS = 0.2
ROUNDS = 6


def _still(size: tuple[int, int], seed: int) -> np.ndarray:
    """A smooth colourful image, so texture sampling costs what a real frame costs."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([np.sin(x / 37 + seed), np.cos(y / 23 - seed), np.sin((x + y) / 51)], axis=-1)
    return ((rgb * 0.5 + 0.5) * 255).astype(np.uint8)


@dataclass
class BusyGenerator:
    """A backend that keeps a core busy in Python for `seconds` per frame, as torch's per-op
    dispatch or a GL driver does: it holds the GIL, which a sleeping stand-in would not.

    Its frames are made in advance so the benchmark measures the display loop, not numpy.
    """

    seconds: float = SLOW_SECONDS
    name: str = "busy"
    frames: tuple[np.ndarray, ...] = (with_alpha(_still((512, 512), 1)), with_alpha(_still((512, 512), 2)))
    made: int = 0

    def generate(self, request: GenRequest) -> np.ndarray:
        end = time.perf_counter() + self.seconds
        spins = 0
        while time.perf_counter() < end:
            spins += 1
        self.made += 1
        return self.frames[self.made % len(self.frames)]

    def close(self) -> None:
        pass


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


CASES = ("none", "busy_neighbour", "busy_process", "busy_thread")
SETTLE = 0.4  # seconds between runs: a generator finishes the frame it was on before the next case


def _worker(case: str) -> GeneratorHandle:
    if case == "busy_process":
        return GeneratorProcess([BackendSpec("custom", "busy", target="vj.bench.render:BusyGenerator")]).start()
    worker = GeneratorWorker(BusyGenerator, backend_name=case)
    return worker.start() if case == "busy_thread" else worker  # "none", "busy_neighbour": never started


class _Case:
    """One case's display loop: a Show with its generator, drawing into a target of one size."""

    def __init__(self, ctx, size: tuple[int, int], case: str) -> None:
        from vj.gen.worker import GenFrame
        from vj.show import Show, ShowOptions

        preset = Preset(name="bench", path="bench", size=(512, 512), max_fps=0.0,
                        params={"zoom": 0.1, "rotate": 5.0})
        worker = _worker(case)
        self.ctx = ctx
        self.case = case
        self.show = Show(ctx, [preset], load_mapping(None),
                         options=ShowOptions(worker_factory=lambda p: worker, stand_in=False))
        self.show.accept_frame(GenFrame(with_alpha(_still((512, 512), 0)), None, 0.0, "still", 0))  # type: ignore[arg-type]
        self.target = ctx.framebuffer(color_attachments=[ctx.texture(size, 3)])
        self.times: list[float] = []
        for _ in range(10):  # warm-up: shader compiles, first uploads
            self.show.frame(1 / 60, self.target)
            ctx.finish()

    def wait_first_frame(self, timeout: float = 120.0) -> None:
        """Draw (unmeasured) until the generator's first frame is on screen."""
        deadline = time.monotonic() + timeout
        while self.show.generator.worker.status().frames == 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {self.case} generator gave no frame within {timeout:.0f} s")
            self.show.frame(1 / 60, self.target)
            self.ctx.finish()

    def run(self, seconds: float) -> None:
        """Display-loop frame times (ms): Show.frame plus glFinish, as fast as it goes."""
        if self.case == "busy_neighbour":  # the floor: any busy process beside the show, no generator
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                time.sleep(0.1)
                self._run(seconds)
            finally:
                spinner.kill()
                spinner.wait()
        else:
            self._run(seconds)

    def _run(self, seconds: float) -> None:
        end = time.perf_counter() + seconds
        last = time.perf_counter()
        while last < end:
            self.show.frame(1 / 60, self.target)
            self.ctx.finish()
            now = time.perf_counter()
            self.times.append((now - last) * 1000.0)
            last = now

    def close(self) -> None:
        self.show.close()
        self.target.release()


def _summary(times: list[float], shown: int) -> dict[str, float]:
    return {
        "frames": len(times),
        "p50_ms": round(statistics.median(times), 3),
        "p99_ms": round(_percentile(times, 99), 3),
        "max_ms": round(max(times), 3),
        "generated_frames_shown": shown,
    }


def bench_render(seconds: float = 15.0) -> dict[str, object]:
    from vj.gen.process import ProcessOptions
    from vj.render.context import create_headless_context, share_cores

    share_cores(ProcessOptions().compute_threads)  # the render process's share of the cores, as in `vj run`
    ctx = create_headless_context()
    cases: dict[str, object] = {}
    ratios = []
    for size in SIZES:
        loops = {case: _Case(ctx, size, case) for case in CASES}
        try:
            loops["busy_process"].wait_first_frame()  # the generator process has started
            # Alternate short runs of the cases so drifts in machine load hit all alike.
            for _ in range(ROUNDS):
                for loop in loops.values():
                    time.sleep(SETTLE)
                    loop.run(seconds / ROUNDS)
            shown = {case: loop.show.crossfader.frames_shown - 1 for case, loop in loops.items()}
            summary = {case: _summary(loop.times, shown[case]) for case, loop in loops.items()}
        finally:
            for loop in loops.values():
                loop.close()
        ratio = summary["busy_process"]["p99_ms"] / summary["none"]["p99_ms"]
        ratios.append(ratio)
        none = summary["none"]["p99_ms"]
        cases[f"{size[0]}x{size[1]}"] = {**summary, "p99_ratio": round(ratio, 3),
                                         "p99_ratio_neighbour": round(summary["busy_neighbour"]["p99_ms"] / none, 3),
                                         "p99_ratio_thread": round(summary["busy_thread"]["p99_ms"] / none, 3)}
    return {
        "benchmark": "render",
        "device": ctx.info.get("GL_RENDERER", "?"),
        "cpu": platform.processor() or platform.machine(),
        "seconds_per_case": seconds,
        "busy_seconds_per_frame": SLOW_SECONDS,
        "render_threads": int(os.environ.get("LP_NUM_THREADS", "0")),
        "cases": cases,
        "p99_ratio": round(max(ratios), 3),
    }


def run_render_bench(as_json: bool = False, seconds: float = 15.0) -> int:
    result = bench_render(seconds)
    if as_json:
        print(json.dumps(result))
        return 0
    print(f"render benchmark on {result['device']}")
    cases = result["cases"]
    assert isinstance(cases, dict)
    for size, case in cases.items():
        for name in CASES:
            c = case[name]
            print(f"  {size} {name:13s} p50 {c['p50_ms']:7.2f} ms  p99 {c['p99_ms']:7.2f} ms  ({c['frames']} frames, "
                  f"{c['generated_frames_shown']} generated)")
        print(f"  {size} p99 ratio busy process/none: {case['p99_ratio']:.3f}   (a busy neighbour process/none: "
              f"{case['p99_ratio_neighbour']:.3f}, busy thread/none: {case['p99_ratio_thread']:.3f})")
    print(f"p99_ratio (busy process, worst size): {result['p99_ratio']:.3f}  (target <= 1.1)")
    return 0

