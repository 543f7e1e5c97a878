"""GPU check (issue 14): is the diffusion engine right and how fast is it, on a CUDA GPU, in one run.

    bash benchmarks/gpu_check.sh --out $OUT/gpu_check.json             # a GPU machine, no internet
    bash benchmarks/gpu_check.sh --cpu-smoke --out /tmp/gpu_check.json  # CI: tiny models on the CPU

Part 1, checks: the full-size sd-turbo (512x512) and sdxl-turbo (1024x1024) architectures with
random weights (vj.gen.arch), float16. Random weights make garbage images, so the checks read
numbers, never looks: frames are finite, change when the prompt or the seed does, fp16 stays close
to fp32, every compile mode gives eager's frames, so do frames launched two in flight, and CFG,
the ancestral and LCM samplers, latent feedback, the full VAE and the background prompt encoder
all work. Each check is
{name, ok, detail, seconds, values}; a failure is recorded and the run goes on.

Part 2, speed: `vj bench gen` (vj.bench.gen.bench_gen) per model and compile mode: the engine's
median frame time as fps, against the plain diffusers pipeline of the same run.

Budget: every check and case has an estimate of its GPU seconds and starts only if that much of
`--budget-s` is left; the most important come first (`plan`), the rest are recorded as "not run:
time budget". The JSON is rewritten after each one, and a watchdog ends the run at `--hard-stop-s`
(default: the budget + HARD_GRACE_S), recording the item it stopped, so a timeout keeps what was
measured. `--cpu-smoke` runs the same plan on the CPU with the tiny models at 64x64: CUDA-only
items are "not run: no CUDA" (ok null, never passed) and torch.compile is skipped (about a minute
on a CPU). Exit status: 0 when everything that ran passed, 1 otherwise, 2 when it cannot start (no
CUDA GPU without --cpu-smoke, or no diffusers).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import logging
import os
import platform
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch._dynamo

from vj.gen.base import GenRequest, Prompt
from vj.gen.diffusion import DiffusionEngine, EngineConfig
from vj.gen.prompts import PromptBank
from vj.vocabulary import MotionRates

PROMPT = "a bioluminescent jellyfish cathedral, volumetric light"
OTHER_PROMPT = "a neon city in the rain, reflections"
NEGATIVE = "blurry, low quality"
SEED = 7
SEQUENCE = 4  # frames per check: the first from noise, the rest from the zooming previous frame
ARCHS = {"sd": "sd-turbo", "sdxl": "sdxl-turbo"}
TINY = {"sd": "tiny", "sdxl": "tiny-sdxl"}  # vj.catalogue names of vj.gen.tiny's pipelines
GPU_SIZES = {"sd": (512, 512), "sdxl": (1024, 1024)}
SMOKE_SIZE = (64, 64)
CUDA_MODES = ("graphs", "compiled-graphs", "reduce-overhead")  # need CUDA (vj.gen.runners)
COMPILED_MODES = ("default", "compiled-graphs", "reduce-overhead", "max-autotune")  # torch.compile
RECOMPILE_LIMIT = 64  # see main(): this run compiles FrameCore.run for more engines than a show does

# Tolerances, in the JSON's meta too. Levels are uint8 levels (0-255) of the RGB channels.
FP16_TOLERANCE = 2.0  # mean |fp16 frame - fp32 frame| per frame
COMPILE_TOLERANCE = 1.0  # mean |compiled or graph frame - eager frame| per frame
RELATIVE_TOLERANCE = 0.25  # and at most this share of the reference frame's own variation (`variation`):
# random weights make nearly flat frames (a few levels of spread), where 2 levels alone would let a flat frame pass
SAME_TOLERANCE = 0.5  # mean difference of two runs that must give the same frame
BANK_TOLERANCE = 0.01  # max |background - synchronous embeddings| / max |synchronous|
DIFFERS = 1  # two frames differ when some pixel differs by at least this many levels
HARD_GRACE_S = 20.0  # the watchdog's default stop: the budget plus this
BANK_WAIT_S = 60.0


@dataclass(frozen=True)
class Target:
    """What the run uses: the GPU (full-size architectures, fp16) or the CPU smoke (tiny models, fp32)."""

    smoke: bool
    device: str
    dtype: torch.dtype
    frames: int  # timed frames per side in a speed case

    @property
    def cuda(self) -> bool:
        return self.device == "cuda"

    def size(self, model: str) -> tuple[int, int]:
        return SMOKE_SIZE if self.smoke else GPU_SIZES[model]

    def label(self, model: str) -> str:
        w, h = self.size(model)
        return f"{TINY[model] if self.smoke else ARCHS[model]} {w}x{h}"

    def build(self, model: str, dtype: torch.dtype) -> Any:
        """A fresh pipeline (random weights, seeded: the same call builds the same model)."""
        if self.smoke:
            from vj.gen.tiny import tiny_sd, tiny_sdxl

            return tiny_sd() if model == "sd" else tiny_sdxl()
        from vj.gen.arch import build_architecture

        return build_architecture(ARCHS[model], device=self.device, dtype=dtype)


@dataclass
class Outcome:
    ok: bool
    detail: str
    values: dict[str, Any] = field(default_factory=dict)


# -- frames and measures ------------------------------------------------------------------


def request(size: tuple[int, int], i: int = 0, *, prompt: str = PROMPT, seed: int = SEED, steps: int = 1,
            guidance: float = 0.0, negative: str = "") -> GenRequest:
    """Frame i of a feedback loop zooming in at 30 fps (frame 0 of a reset engine starts from noise)."""
    return GenRequest(time=i / 30, size=size, prompts=(Prompt(prompt, 1.0),), seed=seed, seed_walk=0.0,
                      strength=0.5, feedback=1.0, motion=MotionRates(zoom=0.2),
                      params={"steps": steps, "guidance": guidance}, negative=negative)


def sequence(engine: DiffusionEngine, size: tuple[int, int], frames: int = SEQUENCE,
             times: list[float] | None = None, **kw: Any) -> list[np.ndarray]:
    """`frames` frames from a reset engine (two layouts: from noise, then the moving previous frame)."""
    engine.reset()
    out = []
    for i in range(frames):
        started = time.perf_counter()
        out.append(engine.generate(request(size, i, **kw)))
        if times is not None:
            times.append(round(time.perf_counter() - started, 3))
    return out


def overlapped(engine: DiffusionEngine, size: tuple[int, int], frames: int = SEQUENCE) -> list[np.ndarray]:
    """`sequence`'s frames, each launched before the previous one is finished (two in flight, as vj.gen.host
    runs a live show on a GPU)."""
    engine.reset()
    out = []
    launched = engine.launch(request(size, 0))
    for i in range(1, frames):
        following = engine.launch(request(size, i))
        out.append(engine.finish(launched))
        launched = following
    out.append(engine.finish(launched))
    return out


def first_frame(engine: DiffusionEngine, size: tuple[int, int], **kw: Any) -> np.ndarray:
    engine.reset()
    return engine.generate(request(size, 0, **kw))


def levels(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """(mean, max) |a - b| over the RGB channels, in uint8 levels."""
    d = np.abs(a[..., :3].astype(np.int16) - b[..., :3].astype(np.int16))
    return round(float(d.mean()), 4), int(d.max())


def variation(frame: np.ndarray) -> float:
    """Mean |pixel - its channel's mean| over RGB, in levels: how far from flat a frame is."""
    rgb = frame[..., :3].astype(np.float32)
    return round(float(np.abs(rgb - rgb.mean(axis=(0, 1))).mean()), 4)


def close(reference: list[np.ndarray], frames: list[np.ndarray], tolerance: float) -> tuple[bool, dict[str, Any]]:
    """Each frame within `tolerance` mean levels of its reference and within RELATIVE_TOLERANCE of the
    reference's variation; the measures, for the JSON."""
    diffs = [levels(a, b) for a, b in zip(reference, frames)]
    spread = [variation(f) for f in reference]
    ok = all(m <= tolerance and m <= RELATIVE_TOLERANCE * v for (m, _), v in zip(diffs, spread))
    return ok, {"mean_levels": [m for m, _ in diffs], "max_levels": [x for _, x in diffs],
                "reference_variation_levels": spread, "tolerance_mean_levels": tolerance,
                "tolerance_share_of_variation": RELATIVE_TOLERANCE}


def differs(a: np.ndarray, b: np.ndarray) -> bool:
    return levels(a, b)[1] >= DIFFERS


def well_formed(frames: list[np.ndarray], size: tuple[int, int]) -> str | None:
    """Why the frames are not RGBA uint8 at `size` and opaque, or None. (Finite: generate raises otherwise.)"""
    w, h = size
    for i, f in enumerate(frames):
        if f.shape != (h, w, 4) or f.dtype != np.uint8:
            return f"frame {i} is {f.dtype} {f.shape}, not uint8 {(h, w, 4)}"
        if int(f[..., 3].min()) != 255:
            return f"frame {i} is not opaque"
    return None


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# -- what the checks share --------------------------------------------------------------------


class Context:
    """The target, each model's pipeline (built once, in the target's dtype) and cached frames."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._pipes: dict[str, Any] = {}
        self._memo: dict[tuple[str, str], Any] = {}

    def pipe(self, model: str) -> Any:
        if model not in self._pipes:
            self._pipes[model] = self.target.build(model, self.target.dtype)
        return self._pipes[model]

    def drop(self, model: str) -> None:
        """Free a model's pipeline and frames (the speed cases build their own)."""
        self._pipes.pop(model, None)
        self._memo = {k: v for k, v in self._memo.items() if k[1] != model}
        free_memory()

    @contextmanager
    def engine(self, model: str, pipe: Any = None, **config: Any) -> Iterator[DiffusionEngine]:
        config.setdefault("dtype", self.target.dtype)
        engine = DiffusionEngine(self.pipe(model) if pipe is None else pipe,
                                 EngineConfig(device=self.target.device, **config))
        try:
            yield engine
        finally:
            engine.close()

    def memo(self, what: str, model: str, make: Callable[[], Any]) -> Any:
        if (what, model) not in self._memo:
            self._memo[(what, model)] = make()
        return self._memo[(what, model)]

    def reference(self, model: str) -> list[np.ndarray]:
        """The eager frames of `sequence` (euler, 1 step, pixel feedback, TAESD)."""
        def make() -> list[np.ndarray]:
            with self.engine(model) as engine:
                return sequence(engine, self.target.size(model))
        return self.memo("eager", model, make)


# -- part 1: checks ---------------------------------------------------------------------------


def check_host_transfer(ctx: Context) -> Outcome:
    """The non-CUDA host copy (`.cpu()`, the path Apple's MPS takes), on the tiny model on the CPU."""
    from vj.gen.tiny import tiny_sd

    engine = DiffusionEngine(tiny_sd(), EngineConfig(device="cpu", dtype=torch.float32))
    try:
        frames = sequence(engine, SMOKE_SIZE, frames=2)
    finally:
        engine.close()
    bad = well_formed(frames, SMOKE_SIZE)
    return Outcome(bad is None, bad or "2 frames 64x64 through Transfers' .cpu() path: RGBA uint8, opaque")


def check_fp16(ctx: Context, model: str) -> Outcome:
    """The same frames built in fp32, then with the same weights cast to fp16."""
    size = ctx.target.size(model)
    pipe = ctx.target.build(model, torch.float32)
    with ctx.engine(model, pipe, dtype=torch.float32) as engine:
        full = sequence(engine, size, frames=2)
    with ctx.engine(model, pipe, dtype=torch.float16) as engine:  # casts the pipeline in place
        half = sequence(engine, size, frames=2)
    del pipe
    free_memory()
    ok, values = close(full, half, FP16_TOLERANCE)
    return Outcome(ok, f"mean |fp16 - fp32| per frame {values['mean_levels']} levels, max {values['max_levels']} "
                       f"(tolerance {FP16_TOLERANCE} and {RELATIVE_TOLERANCE} x the fp32 frame's variation "
                       f"{values['reference_variation_levels']})", {**values, "size": list(size)})


def check_frames(ctx: Context, model: str) -> Outcome:
    size = ctx.target.size(model)
    started = time.perf_counter()
    frames = ctx.reference(model)
    seconds = time.perf_counter() - started
    bad = well_formed(frames, size)
    spread = [round(float(f[..., :3].std()), 2) for f in frames]
    return Outcome(bad is None, bad or f"{len(frames)} finite frames at {size[0]}x{size[1]} "
                                       f"(RGB std per frame {spread})",
                   {"size": list(size), "rgb_std": spread, "seconds_for_frames": round(seconds, 3)})


def check_changes(ctx: Context, model: str, what: str) -> Outcome:
    """The first frame changes with the prompt (or the seed), and a repeat of the same request does not."""
    size = ctx.target.size(model)
    base = ctx.reference(model)[0]
    change = {"prompt": OTHER_PROMPT} if what == "prompt" else {"seed": SEED + 1}
    with ctx.engine(model) as engine:
        repeat = first_frame(engine, size)
        other = first_frame(engine, size, **change)
    same, changed = levels(base, repeat), levels(base, other)
    ok = same[0] <= SAME_TOLERANCE and differs(base, other)
    return Outcome(ok, f"another {what}: mean {changed[0]} levels, max {changed[1]}; the same request "
                       f"again: mean {same[0]}, max {same[1]} (tolerance {SAME_TOLERANCE})",
                   {"changed_mean_levels": changed[0], "changed_max_levels": changed[1],
                    "repeat_mean_levels": same[0], "repeat_max_levels": same[1]})


def check_cfg(ctx: Context, model: str) -> Outcome:
    """Guidance 3 with a negative prompt: finite, and both the guidance and the negative change the frame."""
    size = ctx.target.size(model)
    base = ctx.reference(model)[0]
    with ctx.engine(model) as engine:
        guided = sequence(engine, size, frames=2, guidance=3.0, negative=NEGATIVE)
        empty = first_frame(engine, size, guidance=3.0, negative="")
    bad = well_formed(guided, size)
    by_cfg, by_negative = levels(base, guided[0]), levels(empty, guided[0])
    ok = bad is None and differs(base, guided[0]) and differs(empty, guided[0])
    return Outcome(ok, bad or f"guidance 3 vs none: mean {by_cfg[0]} levels; negative {NEGATIVE!r} vs '': "
                              f"mean {by_negative[0]} levels",
                   {"cfg_mean_levels": by_cfg[0], "negative_mean_levels": by_negative[0]})


def check_scheduler(ctx: Context, model: str, scheduler: str) -> Outcome:
    """Two steps with `scheduler`: finite, and not euler's frames."""
    size = ctx.target.size(model)

    def euler() -> list[np.ndarray]:
        with ctx.engine(model) as engine:
            return sequence(engine, size, frames=3, steps=2)

    reference = ctx.memo("euler-2-steps", model, euler)
    with ctx.engine(model, scheduler=scheduler) as engine:
        frames = sequence(engine, size, frames=3, steps=2)
    bad = well_formed(frames, size)
    diffs = [levels(a, b)[0] for a, b in zip(reference, frames)]
    ok = bad is None and any(differs(a, b) for a, b in zip(reference, frames))
    return Outcome(ok, bad or f"3 finite frames of 2 steps; mean levels from euler's {diffs}",
                   {"mean_levels_from_euler": diffs})


def check_latents(ctx: Context, model: str) -> Outcome:
    """Latent feedback: finite; the first frame (from noise) as with pixel feedback, later ones not."""
    size = ctx.target.size(model)
    reference = ctx.reference(model)
    with ctx.engine(model, feedback_space="latents") as engine:
        frames = sequence(engine, size)
    bad = well_formed(frames, size)
    diffs = [levels(a, b)[0] for a, b in zip(reference, frames)]
    ok = bad is None and diffs[0] <= SAME_TOLERANCE and any(differs(a, b) for a, b in zip(reference[1:], frames[1:]))
    return Outcome(ok, bad or f"{len(frames)} finite frames; mean levels from pixel feedback per frame {diffs}",
                   {"mean_levels_from_pixels": diffs})


def check_full_vae(ctx: Context, model: str) -> Outcome:
    """The full KL VAE instead of TAESD (SDXL's is kept in fp32 under fp16): finite, and other frames."""
    size = ctx.target.size(model)
    reference = ctx.reference(model)
    with ctx.engine(model, vae="full") as engine:
        frames = sequence(engine, size, frames=2)
    bad = well_formed(frames, size)
    ok = bad is None and differs(reference[0], frames[0])
    return Outcome(ok, bad or f"2 finite frames; mean levels from TAESD's {levels(reference[0], frames[0])[0]}")


def _relative(a: torch.Tensor | None, b: torch.Tensor | None) -> float:
    if a is None or b is None:
        return 0.0 if a is b else float("inf")
    scale = float(b.float().abs().max()) or 1.0
    return float((a.float() - b.float()).abs().max()) / scale


def check_prompt_bank(ctx: Context, model: str) -> Outcome:
    """The background bank (encoder thread; on CUDA its own stream and an event) against the synchronous one."""
    pipe, target = ctx.pipe(model), ctx.target
    prompts = (Prompt(PROMPT, 0.5), Prompt(OTHER_PROMPT, 0.5))
    sync = PromptBank(pipe, target.device, target.dtype)
    bank = PromptBank(pipe, target.device, target.dtype, background=True)
    try:
        first = bank.blend(prompts)  # encodes one text here, queues the other to the thread
        deadline = time.monotonic() + BANK_WAIT_S
        while bank.pending and time.monotonic() < deadline:
            time.sleep(0.005)
        if bank.pending:
            return Outcome(False, f"the encoder thread did not finish in {BANK_WAIT_S:.0f} s")
        both = bank.blend(prompts)
        expected = sync.blend(prompts)
        other, other_sync = bank.encode(OTHER_PROMPT), sync.encode(OTHER_PROMPT)
    finally:
        bank.close()
    errors = {"blend": _relative(both.prompt, expected.prompt), "pooled": _relative(both.pooled, expected.pooled),
              "thread_text": _relative(other.prompt, other_sync.prompt)}
    errors = {k: round(v, 6) for k, v in errors.items()}
    partial_first = _relative(first.prompt, expected.prompt) > 0.0  # without the thread's text yet
    ok = all(v <= BANK_TOLERANCE for v in errors.values())
    where = "a CUDA stream and an event" if target.cuda else "the thread (no CUDA here: no stream, no event)"
    return Outcome(ok, f"max relative difference {errors} (tolerance {BANK_TOLERANCE}), through {where}; "
                       f"the first blend had {'1 of 2 texts' if partial_first else 'both texts'}",
                   {"relative_errors": errors, "first_blend_partial": partial_first})


def check_compile(ctx: Context, model: str, mode: str) -> Outcome:
    """`mode`'s frames against eager's, the same requests from a reset engine."""
    size = ctx.target.size(model)
    reference = ctx.reference(model)
    times: list[float] = []
    with ctx.engine(model, compile=mode) as engine:
        frames = sequence(engine, size, times=times)
        ran, degraded = engine.compile_mode, engine.degraded
    values: dict[str, Any] = {"frame_s": times, "first_two_frames_s": round(sum(times[:2]), 3)}
    if ran != mode or degraded:
        return Outcome(False, f"asked for {mode}, ran {ran}: {degraded or 'no reason given'}", values)
    ok, measures = close(reference, frames, COMPILE_TOLERANCE)
    values.update(measures)
    return Outcome(ok, f"mean |{mode} - eager| per frame {values['mean_levels']} levels, max {values['max_levels']} "
                       f"(tolerance {COMPILE_TOLERANCE} and {RELATIVE_TOLERANCE} x eager's variation "
                       f"{values['reference_variation_levels']}); first two frames (compile, capture) "
                       f"{values['first_two_frames_s']} s", values)


def check_pipelined(ctx: Context, model: str, mode: str) -> Outcome:
    """Frames launched two in flight (launch k+1, then finish k) against eager's sequential frames."""
    size = ctx.target.size(model)
    reference = ctx.reference(model)
    with ctx.engine(model, compile=mode) as engine:
        frames = overlapped(engine, size)
        ran, degraded = engine.compile_mode, engine.degraded
    if ran != mode or degraded:
        return Outcome(False, f"asked for {mode}, ran {ran}: {degraded or 'no reason given'}")
    ok, values = close(reference, frames, COMPILE_TOLERANCE)
    return Outcome(ok, f"mean |two in flight ({mode}) - eager one at a time| per frame {values['mean_levels']} "
                       f"levels, max {values['max_levels']} (tolerance {COMPILE_TOLERANCE} and {RELATIVE_TOLERANCE} "
                       f"x eager's variation)", values)


# -- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[Context], Outcome]
    estimate_s: float  # GPU seconds; the budget starts a check only if this much is left
    cuda_only: bool = False
    compiles: bool = False


@dataclass(frozen=True)
class Case:
    """One `vj bench gen` run. `mode` "fastest": the fastest sd mode measured so far."""

    model: str
    mode: str
    estimate_s: float
    variant: tuple[tuple[str, Any], ...] = ()  # extra GenBenchOptions fields


@dataclass(frozen=True)
class Drop:
    """Free a model's pipeline: its checks are done."""

    model: str


Item = Check | Case | Drop


def model_checks(model: str, heavy: float) -> list[Item]:
    """One model's cheap checks (`heavy` scales the estimates: sdxl at 1024x1024 costs more)."""
    return [
        Check(f"{model}-frames-finite", partial(check_frames, model=model), 15 * heavy),  # builds the model
        Check(f"{model}-prompt-changes-frame", partial(check_changes, model=model, what="prompt"), 5 * heavy),
        Check(f"{model}-seed-changes-frame", partial(check_changes, model=model, what="seed"), 5 * heavy),
        Check(f"{model}-cfg-negative", partial(check_cfg, model=model), 8 * heavy),
        Check(f"{model}-prompt-bank-background", partial(check_prompt_bank, model=model), 5),
        Check(f"{model}-compile-graphs", partial(check_compile, model=model, mode="graphs"), 15 * heavy,
              cuda_only=True),
        Check(f"{model}-pipelined-off", partial(check_pipelined, model=model, mode="off"), 5 * heavy),
        Check(f"{model}-pipelined-graphs", partial(check_pipelined, model=model, mode="graphs"), 15 * heavy,
              cuda_only=True),
    ]


def plan() -> list[Item]:
    """Everything in run order, most important first; estimates in GPU seconds (module doc).

    The cheap checks, then the speed of eager and graphs (the modes that compile nothing), then each
    torch.compile mode's check followed by its speed case, whose warm-up then finds most of its
    layouts in inductor's cache.
    """
    sd_only: list[Item] = [
        Check("sd-scheduler-euler-a", partial(check_scheduler, model="sd", scheduler="euler-a"), 8),
        Check("sd-scheduler-lcm", partial(check_scheduler, model="sd", scheduler="lcm"), 8),
        Check("sd-latent-feedback", partial(check_latents, model="sd"), 8),
    ]
    compiled = [partial(check_compile, model="sd", mode=m) for m in ("default", "compiled-graphs", "reduce-overhead")]
    fastest = [Case("sd", "fastest", 40, ((name, value),)) for name, value in
               (("channels_last", False), ("fuse_qkv", True), ("feedback", "latents"))]
    return [
        Check("host-transfer-cpu", check_host_transfer, 5),
        Check("sd-fp16-vs-fp32", partial(check_fp16, model="sd"), 20),
        *model_checks("sd", 1.0), *sd_only,
        *model_checks("sdxl", 1.5),
        Check("sdxl-full-vae", partial(check_full_vae, model="sdxl"), 15),
        Drop("sdxl"),
        Case("sd", "graphs", 40), Case("sd", "off", 40), Case("sdxl", "graphs", 75), Case("sdxl", "off", 75),
        Check("sd-compile-default", compiled[0], 150, compiles=True),
        Case("sd", "default", 120),
        Check("sd-compile-compiled-graphs", compiled[1], 60, cuda_only=True, compiles=True),
        Case("sd", "compiled-graphs", 90),
        *fastest,
        Check("sd-compile-reduce-overhead", compiled[2], 150, cuda_only=True, compiles=True),
        Case("sdxl", "default", 300), Case("sdxl", "compiled-graphs", 240),
    ]


# -- part 2: speed --------------------------------------------------------------------------


def bench_fields() -> set[str]:
    from vj.bench.gen import GenBenchOptions

    return {f.name for f in dataclasses.fields(GenBenchOptions)}


def bench_options(target: Target, case: Case, mode: str) -> dict[str, Any]:
    options: dict[str, Any] = dict(size=target.size(case.model), steps=1, strength=0.5, frames=target.frames,
                                   vae="taesd", compile=mode)
    if target.smoke:
        options.update(model=TINY[case.model], device="cpu", dtype="float32")
    else:
        options.update(arch=ARCHS[case.model], random_weights=True, device="cuda", dtype="float16")
    options.update(dict(case.variant))
    return options


def case_entry(mode: str, result: dict[str, Any]) -> dict[str, Any]:
    """A finished case's figures (vj.bench.gen's docstring says what each includes); not ok when the
    engine ran another mode than the one asked for."""
    resolved, degraded = result.get("compile_resolved"), result.get("degraded")
    ok = resolved in (None, mode) and not degraded
    figures = ("engine_fps", "engine_ms_p50", "engine_ms_p99", "baseline_fps", "baseline_ms_p50",
               "baseline_same_vae_fps", "ratio", "ratio_same_vae", "warmup_s")
    return {"ok": ok, "detail": "" if ok else f"asked for {mode}, ran {resolved}: {degraded or 'no reason given'}",
            **{k: result.get(k) for k in figures}, "result": result}


# -- running ---------------------------------------------------------------------------------


class Report:
    """The JSON file, rewritten whole (atomically) after every item."""

    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self.path = path
        self.data: dict[str, Any] = {"meta": meta, "checks": [], "speed": [], "notes": [], "summary": {}}
        self._lock = threading.Lock()

    def add(self, section: str, entry: dict[str, Any]) -> None:
        with self._lock:
            self.data[section].append(entry)

    def note(self, text: str) -> None:
        with self._lock:
            self.data["notes"].append(text)

    def failed(self) -> bool:
        return any(e["ok"] is False for section in ("checks", "speed") for e in self.data[section])

    def write(self, elapsed: float, finished: bool) -> None:
        with self._lock:
            entries = self.data["checks"] + self.data["speed"]
            self.data["summary"] = {
                "passed": sum(e["ok"] is True for e in entries), "failed": sum(e["ok"] is False for e in entries),
                "not_run": sum(e["ok"] is None for e in entries), "elapsed_s": round(elapsed, 1),
                "finished": finished,
            }
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial_path = self.path.with_name(self.path.name + ".partial")
            partial_path.write_text(json.dumps(self.data, indent=1, default=str) + "\n", encoding="utf-8")
            os.replace(partial_path, self.path)


class Runner:
    """Runs the plan within the budget, recording every item."""

    def __init__(self, target: Target, report: Report, budget_s: float, only: tuple[str, ...] = ()) -> None:
        self.target = target
        self.only = only
        self.report = report
        self.budget_s = budget_s
        self.ctx = Context(target)
        self.started = time.monotonic()
        self.current = "start"
        self.in_flight: tuple[str, dict[str, Any], float] | None = None  # section, entry, start (the watchdog's)
        self._fields = bench_fields()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def say(self, text: str) -> None:
        print(f"[{self.elapsed():7.1f} s] {text}", flush=True)

    def run(self, items: list[Item]) -> None:
        for item in items:
            if isinstance(item, Drop):
                self.ctx.drop(item.model)
                continue
            if isinstance(item, Check):
                self.check(item)
            else:
                self.case(item)
            self.report.write(self.elapsed(), finished=False)
        self.current = "done"
        self.report.write(self.elapsed(), finished=True)

    def skip_reason(self, name: str, cuda_only: bool, compiles: bool, estimate_s: float) -> str | None:
        if self.only and not any(word in name for word in self.only):
            return f"not run: --only {','.join(self.only)}"
        if cuda_only and not self.target.cuda:
            return "not run: no CUDA"
        if compiles and self.target.smoke:
            return "not run: --cpu-smoke skips torch.compile (about a minute on a CPU)"
        left = max(0.0, self.budget_s - self.elapsed())
        needed = 1.0 if self.target.smoke else estimate_s
        if left < needed:
            return f"not run: time budget ({left:.0f} s of {self.budget_s:.0f} s left, needs about {needed:.0f} s)"
        return None

    def begin(self, section: str, entry: dict[str, Any]) -> float:
        """An item starts: the watchdog records it as stopped if the hard limit comes first."""
        self.current = entry["name"]
        started = time.perf_counter()
        self.in_flight = (section, dict(entry), started)
        self.say(f"{'check' if section == 'checks' else 'speed'} {entry['name']} ...")
        return started

    def check(self, check: Check) -> None:
        reason = self.skip_reason(check.name, check.cuda_only, check.compiles, check.estimate_s)
        entry: dict[str, Any] = {"name": check.name, "ok": None, "detail": reason, "estimate_s": check.estimate_s,
                                 "seconds": 0.0}
        if reason is None:
            started = self.begin("checks", entry)
            try:
                outcome = check.run(self.ctx)
                entry.update(ok=outcome.ok, detail=outcome.detail, values=outcome.values)
            except Exception as exc:  # noqa: BLE001 - a failed check is recorded, the run goes on
                entry.update(ok=False, detail=f"{type(exc).__name__}: {exc}"[:1000])
                traceback.print_exc(file=sys.stdout)
                free_memory()
            entry["seconds"] = round(time.perf_counter() - started, 2)
            self.in_flight = None
        self.report.add("checks", entry)
        verdict = {True: "ok", False: "FAILED", None: "skipped"}[entry["ok"]]
        self.say(f"check {check.name}: {verdict} ({entry['seconds']} s): {entry['detail']}")

    def fastest(self, model: str) -> str | None:
        done = [e for e in self.report.data["speed"] if e["ok"] and e["model"] == model and not e["variant"]]
        return max(done, key=lambda e: e["engine_fps"] or 0.0)["mode"] if done else None

    def case(self, case: Case) -> None:
        mode = self.fastest(case.model) if case.mode == "fastest" else case.mode
        variant = "".join(f" {k}={v}" for k, v in case.variant)
        name = f"{self.target.label(case.model)} {mode or case.mode}{variant}"
        estimate = case.estimate_s * (2 if case.mode == "fastest" and mode in COMPILED_MODES else 1)
        entry: dict[str, Any] = {"name": name, "ok": None, "model": case.model, "mode": mode,
                                 "variant": dict(case.variant), "estimate_s": estimate, "seconds": 0.0}
        if mode is None:
            entry["detail"] = f"not run: no {case.model} mode was measured"
        else:
            options = bench_options(self.target, case, mode)
            missing = sorted(set(options) - self._fields)
            reason = self.skip_reason(name, mode in CUDA_MODES, mode in COMPILED_MODES, estimate)
            if reason is None and missing:
                reason = f"not run: vj.bench.gen.GenBenchOptions has no field {', '.join(missing)}"
            entry["detail"] = reason
            if reason is None:
                entry.update(self.bench(entry, mode, options))
        self.report.add("speed", entry)
        if entry["ok"]:
            self.say(f"speed {name}: {entry['engine_fps']} fps, p99 {entry['engine_ms_p99']} ms (baseline "
                     f"{entry['baseline_fps']}, same-VAE baseline {entry['baseline_same_vae_fps']} fps), warm-up "
                     f"{entry['warmup_s']} s ({entry['seconds']} s)")
        else:
            self.say(f"speed {name}: {'FAILED' if entry['ok'] is False else 'skipped'}: {entry['detail']}")

    def bench(self, entry: dict[str, Any], mode: str, options: dict[str, Any]) -> dict[str, Any]:
        from vj.bench.gen import GenBenchOptions, bench_gen

        started = self.begin("speed", entry)
        try:
            figures = case_entry(mode, bench_gen(GenBenchOptions(**options)))
        except Exception as exc:  # noqa: BLE001 - a failed case is recorded, the run goes on
            traceback.print_exc(file=sys.stdout)
            figures = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:1000]}
        figures["seconds"] = round(time.perf_counter() - started, 2)
        self.in_flight = None
        free_memory()
        return figures


def start_watchdog(runner: Runner, stop_s: float) -> threading.Timer:
    """End the process, JSON written, `stop_s` after the run started: a timeout keeps what was measured."""

    def stop() -> None:
        runner.report.note(f"stopped: the hard limit ({stop_s:.0f} s) passed during {runner.current}")
        if runner.in_flight is not None:
            section, entry, started = runner.in_flight
            seconds = round(time.perf_counter() - started, 2)
            runner.report.add(section, {**entry, "ok": False, "seconds": seconds,
                                        "detail": f"stopped: still running at the hard limit ({stop_s:.0f} s)"})
        runner.report.write(runner.elapsed(), finished=False)
        runner.say(f"stopped at the hard limit during {runner.current}; partial results in {runner.report.path}")
        os._exit(1)

    timer = threading.Timer(max(0.0, stop_s - runner.elapsed()), stop)
    timer.daemon = True
    timer.start()
    return timer


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def meta(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "check": "gpu_check (issue 14)", "mode": "cpu-smoke" if target.smoke else "gpu",
        "started": datetime.now(UTC).isoformat(timespec="seconds"), "argv": sys.argv[1:],
        "device": target.device, "device_name": torch.cuda.get_device_name() if target.cuda else platform.machine(),
        "dtype": str(target.dtype).removeprefix("torch."), "budget_s": args.budget_s, "frames": target.frames,
        "python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
        **{name: package_version(name) for name in ("diffusers", "transformers", "huggingface_hub")},
        "tolerances": {"fp16_mean_levels": FP16_TOLERANCE, "compile_mean_levels": COMPILE_TOLERANCE,
                       "share_of_variation": RELATIVE_TOLERANCE, "same_mean_levels": SAME_TOLERANCE,
                       "bank_relative": BANK_TOLERANCE, "differs_max_levels": DIFFERS},
    }


def quiet_libraries() -> None:
    """diffusers' and transformers' warnings (a "should be kept in float32" notice per cast) flood the log."""
    for name in ("diffusers", "transformers"):
        try:
            __import__(name).utils.logging.set_verbosity_error()
        except (ImportError, AttributeError) as exc:
            print(f"gpu_check: {name}: {exc}", flush=True)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or ".") / "gpu_check.json",
                        help="the JSON file (default: $OUT/gpu_check.json when OUT is set, else ./gpu_check.json)")
    parser.add_argument("--budget-s", type=float, default=450.0,
                        help="seconds for the whole run: an item starts only if its estimate fits (default 450)")
    parser.add_argument("--frames", type=int, default=None, help="timed frames per side in a speed case "
                        "(default 40; 8 with --cpu-smoke)")
    parser.add_argument("--cpu-smoke", action="store_true", help="the tiny models on the CPU at 64x64 (CI)")
    parser.add_argument("--hard-stop-s", type=float, default=None,
                        help=f"end the run, JSON written, this many seconds after it started (default: the "
                        f"budget + {HARD_GRACE_S:.0f})")
    parser.add_argument("--only", default="", help="comma-separated words: run only the checks and cases whose "
                        "name contains one (e.g. compile,sdxl); the rest are recorded as not run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if not args.cpu_smoke and not torch.cuda.is_available():
        print("gpu_check: torch sees no CUDA GPU; use --cpu-smoke to run the tiny models on the CPU", file=sys.stderr)
        return 2
    if package_version("diffusers") is None:
        print("gpu_check: diffusers is not installed: carry its wheel in .whl/ (docs/benchmarks.md, "
              "GPU check (issue 14))", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    quiet_libraries()
    smoke = bool(args.cpu_smoke)
    target = Target(smoke, "cpu" if smoke else "cuda", torch.float32 if smoke else torch.float16,
                    args.frames or (8 if smoke else 40))
    report = Report(args.out, meta(target, args))
    # FrameCore.run is one code object: torch._dynamo compiles it once per layout and engine, and after
    # recompile_limit (8) compilations runs it uncompiled. This run builds more engines than a show.
    limit = "recompile_limit" if hasattr(torch._dynamo.config, "recompile_limit") else "cache_size_limit"
    setattr(torch._dynamo.config, limit, RECOMPILE_LIMIT)
    report.note(f"torch._dynamo.config.{limit} raised to {RECOMPILE_LIMIT} for this run")
    runner = Runner(target, report, args.budget_s, tuple(w for w in args.only.split(",") if w))
    stop_s = args.hard_stop_s if args.hard_stop_s is not None else args.budget_s + HARD_GRACE_S
    runner.say(f"gpu_check: {report.data['meta']['mode']} on {report.data['meta']['device_name']}, "
               f"budget {args.budget_s:.0f} s, hard stop {stop_s:.0f} s, writing {args.out}")
    watchdog = start_watchdog(runner, stop_s)
    runner.run(plan())
    watchdog.cancel()
    watchdog.join()  # a timer thread still alive at exit can abort the interpreter's teardown
    summary = report.data["summary"]
    runner.say(f"done: {summary['passed']} passed, {summary['failed']} failed, {summary['not_run']} not run; "
               f"{args.out}")
    return 1 if report.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
