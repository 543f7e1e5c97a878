"""`vj bench live`: diffusion inside the live show against the same engine alone, same run.

The real show loop (Show.frame on a real GL context, EGL offscreen, into a 1280x720 target,
paced at 60 fps as a display without vsync is) runs the tiny diffusion model at 256x256
(crossfade 0, no generator rate cap). Cases, alternated in short rounds so drifts in machine
load hit all of them alike:

- `alone`: the engine by itself in a child process with the same thread budget, generating
  back to back (its own rate: no show, no frame ring);
- `none`: the show with no generator (one still frame): the display baseline;
- `gen`: the show with the diffusion generator process (vj's design): frames reaching the show;
- `thread` (unless --no-thread): the old design, the same engine on a thread of the render
  process, to show what the benchmark guards against.

Figures: `gen_fps_show` (frames accepted by the show a second), `gen_fps_alone`, `gen_ratio`
(show / alone, target >= 0.8), display frame-work p99 (Show.frame + glFinish, the pacing sleep
excluded) with no generator and with it (`display_p99_ratio`, target <= 1.1), the display's
frame interval p99, and `display_fps` (at most the 60 fps cap).
"""

from __future__ import annotations

import os
import platform
import queue
import time
from typing import Any

import numpy as np

from vj.bench import emit
from vj.bench.harness import percentile
from vj.config.library import load_mapping
from vj.config.preset import Preset, PromptSpec
from vj.gen.backends import BackendSpec, diffusion_spec
from vj.gen.base import GenRequest, Prompt
from vj.gen.host import thread_env
from vj.gen.process import GeneratorProcess, ProcessOptions
from vj.priority import GENERATOR_NICE
from vj.proc.child import ChildLink
from vj.proc.supervisor import ChildHandler, ChildSpec, supervisor
from vj.render.pacing import FramePacer

DISPLAY = (1280, 720)
CAP = 60.0
ROUNDS = 3


def _preset(size: tuple[int, int], steps: int) -> Preset:
    """The shipped tiny-diffusion preset's settings, with no rate cap and no crossfade."""
    return Preset(name="bench", path="bench", generator="diffusion", model="tiny", size=size, steps=steps,
                  scheduler="euler", vae="full", max_fps=0.0, crossfade=0.0,
                  prompts=(PromptSpec("a glowing coral reef at night, bioluminescent", 1.0),
                           PromptSpec("a storm of neon lightning over a city", 0.3)),
                  params={"strength": 0.55, "feedback": 0.9, "zoom": 0.1, "rotate": 4.0, "seed.rate": 0.1})


# -- the engine alone, in a child ------------------------------------------------------------------


def engine_alone(link: ChildLink, spec: BackendSpec, threads: int, steps: int) -> None:
    """A child: builds the backend as a generator process does (same thread budget, same warm-up),
    then on ("run", seconds) generates a feedback loop back to back and answers the frame count."""
    from vj.gen.backends import build
    from vj.gen.host import _limit_torch

    _limit_torch(threads)
    generator = build(spec)
    link.send(("loaded",))
    t = 0.0
    while True:
        message = link.recv()
        if message is None or message[0] != "run":
            continue
        end = time.perf_counter() + float(message[1])
        frames = 0
        started = time.perf_counter()
        while time.perf_counter() < end:
            t += 1 / 60
            generator.generate(GenRequest(time=t, size=spec.size, prompts=(Prompt("a glowing coral reef", 1.0),),
                                          seed=0, seed_walk=t * 0.1, strength=0.55, feedback=0.9,
                                          params={"steps": steps}))
            frames += 1
        link.send(("ran", frames, time.perf_counter() - started))


class _Alone(ChildHandler):
    """The engine-alone child, kept loaded across rounds."""

    def __init__(self, spec: BackendSpec, threads: int, steps: int) -> None:
        self.answers: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.child = supervisor().start(ChildSpec("bench engine alone", "vj.bench.live:engine_alone",
                                                  (spec, threads, steps), env=thread_env(threads),
                                                  silence=600.0, give_up_after=1, nice=GENERATOR_NICE), self)
        self.answers.get(timeout=600)  # loaded

    def message(self, message: tuple[Any, ...]) -> None:
        self.answers.put(message)

    def run(self, seconds: float) -> tuple[int, float]:
        self.child.send(("run", seconds))
        _, frames, took = self.answers.get(timeout=seconds + 600)
        return int(frames), float(took)

    def close(self) -> None:
        self.child.stop()


# -- the show loop -----------------------------------------------------------------------------


class _Loop:
    """A headless Show drawing into a DISPLAY-sized target, paced at CAP like a display without vsync."""

    def __init__(self, ctx: Any, preset: Preset, worker: Any) -> None:
        from vj.gen.worker import GenFrame, with_alpha
        from vj.show import Show, ShowOptions

        self.ctx = ctx
        self.show = Show(ctx, [preset], load_mapping(None),
                         options=ShowOptions(worker_factory=lambda p: worker, stand_in=False))
        y, x = np.mgrid[0:256, 0:256]
        still = np.stack([x, y, (x + y) // 2], axis=-1).astype(np.uint8)
        self.show.accept_frame(GenFrame(with_alpha(still), None, 0.0, "still", 0))  # type: ignore[arg-type]
        self.target = ctx.framebuffer(color_attachments=[ctx.texture(DISPLAY, 3)])
        self.work: list[float] = []
        self.intervals: list[float] = []
        self.frames_in = 0  # generated frames accepted while measuring
        self.seconds = 0.0

    def run(self, seconds: float, measure: bool = True) -> None:
        pacer = FramePacer(max_fps=CAP)
        last = time.perf_counter()
        end = last + seconds
        shown = self.show.crossfader.frames_shown
        begin = last
        while last < end:
            start = time.perf_counter()
            self.show.frame(start - last if measure else 1 / CAP, self.target)
            self.ctx.finish()
            done = time.perf_counter()
            if measure:
                self.work.append(done - start)
                self.intervals.append(start - last)
            last = start
            pacer.wait()
        if measure:
            self.frames_in += self.show.crossfader.frames_shown - shown
            self.seconds += time.perf_counter() - begin

    def figures(self) -> dict[str, float]:
        work = [w * 1000 for w in self.work[1:]]
        intervals = [i * 1000 for i in self.intervals[1:]]
        return {
            "frames": len(work),
            "work_p50_ms": round(percentile(work, 50), 3),
            "work_p99_ms": round(percentile(work, 99), 3),
            "interval_p99_ms": round(percentile(intervals, 99), 3),
            "display_fps": round(len(work) / self.seconds, 2) if self.seconds else 0.0,
            "gen_fps": round(self.frames_in / self.seconds, 3) if self.seconds else 0.0,
        }

    def close(self) -> None:
        self.show.close()
        self.target.release()


class _NoGenerator:
    """The display baseline: a generator that is never asked for anything."""

    def submit(self, request: GenRequest) -> None:
        pass

    def take_frame(self) -> None:
        return None

    def status(self) -> Any:
        from vj.gen.worker import WorkerStatus

        return WorkerStatus("none", 0.0, 1, 0, None, False)

    def generate_blocking(self, request: GenRequest, timeout: float = 60.0) -> None:
        return None

    def stop(self, timeout: float = 5.0) -> None:
        pass


def _thread_worker(preset: Preset, threads: int) -> Any:
    """The old design: the diffusion backend on a thread of this (the render) process."""
    import torch

    from vj.gen.backends import build
    from vj.gen.worker import GeneratorWorker

    torch.set_num_threads(threads)
    spec = diffusion_spec(preset)
    generator = build(spec)  # loaded and warmed up before the clock starts, as the process is
    return GeneratorWorker(lambda: generator, backend_name="thread").start()


def _wait_first_frame(loop: _Loop, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = loop.show.generator.worker.status()
        if st.frames > 0 and not st.interim:  # the model's own frames, not the procedural meanwhile
            return
        loop.run(0.2, measure=False)
    raise RuntimeError(f"the generator gave no frame within {timeout:.0f} s")


def bench_live(seconds: float = 6.0, size: tuple[int, int] = (256, 256), steps: int = 2, threads: int = 0,
               thread_case: bool = True) -> dict[str, Any]:
    from vj.render.context import create_headless_context, share_cores

    options = ProcessOptions(threads=threads)
    threads = options.compute_threads
    share_cores(threads)  # as `vj run` does
    preset = _preset(size, steps)
    spec = diffusion_spec(preset)
    ctx = create_headless_context()
    renderer = str(ctx.info.get("GL_RENDERER", "?"))
    alone = _Alone(spec, threads, steps)
    loops = {"none": _Loop(ctx, preset, _NoGenerator()),
             "gen": _Loop(ctx, preset, GeneratorProcess((spec,), options).start())}
    if thread_case:
        loops["thread"] = _Loop(ctx, preset, _thread_worker(preset, threads))
    alone_frames, alone_seconds = 0, 0.0
    try:
        for name in ("gen", "thread"):
            if name in loops:
                _wait_first_frame(loops[name])
        per_round = seconds / ROUNDS
        for _ in range(ROUNDS):
            frames, took = alone.run(per_round)
            alone_frames, alone_seconds = alone_frames + frames, alone_seconds + took
            for loop in loops.values():
                loop.run(0.3, measure=False)  # settle: the generator catches up with the loop
                loop.run(per_round)
        figures = {name: loop.figures() for name, loop in loops.items()}
    finally:
        alone.close()
        for loop in loops.values():
            loop.close()
        ctx.release()
    fps_alone = alone_frames / alone_seconds
    none, gen = figures["none"], figures["gen"]
    result: dict[str, Any] = {
        "benchmark": "live",
        "gen_fps_show": gen["gen_fps"],
        "gen_fps_alone": round(fps_alone, 3),
        "gen_ratio": round(gen["gen_fps"] / fps_alone, 3),
        "display_p99_ms_none": none["work_p99_ms"],
        "display_p99_ms_gen": gen["work_p99_ms"],
        "display_p99_ratio": round(gen["work_p99_ms"] / none["work_p99_ms"], 3),
        "display_interval_p99_ms_none": none["interval_p99_ms"],
        "display_interval_p99_ms_gen": gen["interval_p99_ms"],
        "display_fps": gen["display_fps"],
        "display_cap": CAP,
        "cases": figures,
        "model": "tiny (random weights)",
        "size": f"{size[0]}x{size[1]}",
        "steps": steps,
        "threads": threads,
        "render_threads": int(os.environ.get("LP_NUM_THREADS", "0")),
        "cpus": os.cpu_count(),
        "display_target": f"{DISPLAY[0]}x{DISPLAY[1]}",
        "seconds_per_case": seconds,
        "gl": renderer,
        "cpu": platform.processor() or platform.machine(),
    }
    if "thread" in figures:
        result["gen_fps_thread"] = figures["thread"]["gen_fps"]
        result["gen_ratio_thread"] = round(figures["thread"]["gen_fps"] / fps_alone, 3)
        result["display_p99_ms_thread"] = figures["thread"]["work_p99_ms"]
    return result


def _table(r: dict[str, Any]) -> None:
    print(f"live benchmark: tiny diffusion {r['size']}, {r['steps']} steps, {r['threads']} thread(s), "
          f"display {r['display_target']} capped at {r['display_cap']:g} fps on {r['gl']}")
    print(f"  generator alone       {r['gen_fps_alone']:7.2f} fps")
    print(f"  generator in the show {r['gen_fps_show']:7.2f} fps   ratio {r['gen_ratio']:.3f}  (target >= 0.8)")
    if "gen_fps_thread" in r:
        print(f"  old design (thread)   {r['gen_fps_thread']:7.2f} fps   ratio {r['gen_ratio_thread']:.3f}")
    print(f"  display work p99: none {r['display_p99_ms_none']:.2f} ms, with the generator "
          f"{r['display_p99_ms_gen']:.2f} ms   ratio {r['display_p99_ratio']:.3f}  (target <= 1.1)")
    print(f"  display interval p99: none {r['display_interval_p99_ms_none']:.2f} ms, with the generator "
          f"{r['display_interval_p99_ms_gen']:.2f} ms; display {r['display_fps']:.1f} fps")


def run_live_bench(as_json: bool = False, seconds: float = 6.0, size: tuple[int, int] = (256, 256),
                   steps: int = 2, threads: int = 0, thread_case: bool = True) -> int:
    return emit(bench_live(seconds, size, steps, threads, thread_case), as_json, _table)

