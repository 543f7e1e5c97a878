"""`vj bench render`: does a slow generator slow the display? (It must not.)

Runs the real display loop (Show.frame + glFinish) offscreen at 1280x720 and
1920x1080, once with no generator at all (one still frame, the baseline) and
once with a generator that takes 200 ms per frame, in the same run, and reports
frame-time percentiles and the p99 ratio slow / none (target <= 1.1).
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from dataclasses import dataclass

import numpy as np

from vj.config.library import load_mapping
from vj.config.preset import Preset
from vj.gen.base import GenRequest
from vj.gen.worker import GeneratorWorker, with_alpha

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
class SlowGenerator:
    """A backend that takes `seconds` per frame, sleeping like a CPU waiting on a busy GPU.

    Its frames are made in advance so the benchmark measures the display loop, not numpy.
    """

    seconds: float = SLOW_SECONDS
    name: str = "slow"
    frames: tuple[np.ndarray, ...] = (with_alpha(_still((512, 512), 1)), with_alpha(_still((512, 512), 2)))
    made: int = 0

    def generate(self, request: GenRequest) -> np.ndarray:
        time.sleep(self.seconds)
        self.made += 1
        return self.frames[self.made % len(self.frames)]

    def close(self) -> None:
        pass


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _frame_times(ctx, size: tuple[int, int], slow: bool, seconds: float) -> tuple[list[float], int]:  # type: ignore[no-untyped-def]
    """Display-loop frame times (ms) of one run: Show.frame plus glFinish, as a live loop would."""
    from vj.gen.worker import GenFrame
    from vj.show import Show

    preset = Preset(name="bench", path="bench", size=(512, 512), max_fps=0.0,
                    params={"zoom": 0.1, "rotate": 5.0})  # type: ignore[arg-type]
    if slow:
        factory = lambda p: GeneratorWorker(SlowGenerator, backend_name="slow").start()  # noqa: E731
    else:
        factory = lambda p: GeneratorWorker(SlowGenerator, backend_name="none")  # noqa: E731 - never started
    show = Show(ctx, [preset], load_mapping(None), worker_factory=factory, stand_in=False)  # the display loop alone
    show.accept_frame(GenFrame(with_alpha(_still((512, 512), 0)), None, 0.0, "still", 0))  # type: ignore[arg-type]
    target = ctx.framebuffer(color_attachments=[ctx.texture(size, 3)])
    times: list[float] = []
    try:
        for _ in range(10):  # warm-up: shader compiles, first uploads
            show.frame(1 / 60, target)
            ctx.finish()
        end = time.perf_counter() + seconds
        last = time.perf_counter()
        while last < end:
            show.frame(1 / 60, target)
            ctx.finish()
            now = time.perf_counter()
            times.append((now - last) * 1000.0)
            last = now
        shown = show.frames_shown - 1
    finally:
        show.close()
        target.release()
    return times, shown


def _summary(times: list[float], shown: int) -> dict[str, float]:
    return {
        "frames": len(times),
        "p50_ms": round(statistics.median(times), 3),
        "p99_ms": round(_percentile(times, 99), 3),
        "max_ms": round(max(times), 3),
        "generated_frames_shown": shown,
    }


def bench_render(seconds: float = 15.0) -> dict[str, object]:
    from vj.render.context import create_headless_context

    ctx = create_headless_context()
    cases: dict[str, object] = {}
    ratios = []
    for size in SIZES:
        # Alternate short runs of both cases so drifts in machine load hit both alike.
        runs: dict[bool, tuple[list[float], int]] = {False: ([], 0), True: ([], 0)}
        for _ in range(ROUNDS):
            for slow_case in (False, True):
                times, shown = _frame_times(ctx, size, slow_case, seconds / ROUNDS)
                runs[slow_case] = (runs[slow_case][0] + times, runs[slow_case][1] + shown)
        none, slow = _summary(*runs[False]), _summary(*runs[True])
        ratio = slow["p99_ms"] / none["p99_ms"]
        ratios.append(ratio)
        cases[f"{size[0]}x{size[1]}"] = {"none": none, "slow_200ms": slow, "p99_ratio": round(ratio, 3)}
    return {
        "benchmark": "render",
        "device": ctx.info.get("GL_RENDERER", "?"),
        "cpu": platform.processor() or platform.machine(),
        "seconds_per_case": seconds,
        "cases": cases,
        "p99_ratio": round(max(ratios), 3),
    }


def run_render_bench(as_json: bool = False, seconds: float = 15.0) -> int:
    result = bench_render(seconds)
    if as_json:
        print(json.dumps(result))
        return 0
    print(f"render benchmark on {result['device']}")
    for size, case in result["cases"].items():  # type: ignore[union-attr]
        for name in ("none", "slow_200ms"):
            c = case[name]
            print(f"  {size} {name:11s} p50 {c['p50_ms']:7.2f} ms  p99 {c['p99_ms']:7.2f} ms  ({c['frames']} frames)")
        print(f"  {size} p99 ratio slow/none: {case['p99_ratio']:.3f}")
    print(f"p99_ratio (worst size): {result['p99_ratio']:.3f}  (target <= 1.1)")
    return 0

