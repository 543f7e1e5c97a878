"""`vj bench gen`: the diffusion engine against the plain diffusers img2img pipeline, same run.

Three sides run the same model, size, strength, number of UNet calls and seed, each as a feedback
loop (each frame's init image is that side's previous output), each ending with the frame in host
memory:

- engine: `DiffusionEngine.generate` (vj.gen.diffusion), built with `profile=True`, the decoder
  `--vae` picks (TAESD by default) and the `--compile`, `--feedback`, `--fuse-qkv` and
  `--no-channels-last` options.
- baseline: `AutoPipelineForImage2Image.from_pipe(plain)(..., output_type="np")`, the plain
  pipeline with its own full VAE. Diffusers runs int(num_inference_steps * strength) UNet calls,
  so it is asked for ceil(steps / strength) inference steps (`baseline_inference_steps`) to make
  as many UNet calls as the engine.
- same-VAE baseline: the same plain pipeline with the engine's decoder as its `vae` (a TAESD of
  the same weights, loaded with the baseline's own copy of the model, never the engine's). When
  the engine decodes with the full VAE it is the baseline itself (`same_vae_baseline`: "full").
  `ratio_same_vae` is what the engine's design earns, without the lighter decoder's share.

The sides alternate in blocks (the order rotating from block to block), so drifts in machine
load hit all alike. What each figure includes and excludes:

- `engine_ms_p50` / `engine_ms_p99` / `engine_fps` (= 1000 / p50): one `generate` call, timed on
  the host, with `torch.cuda.synchronize()` before and after it on CUDA. Includes building the
  request, blending the cached prompt embeddings, warping the previous frame by the camera motion
  (the bench zooms; the baselines have no motion), encode, UNet, decode to uint8 RGBA, the copy
  to host memory (on CUDA a pinned buffer, then an owned array) and the profiling stage clock
  (CUDA events on a GPU). Excludes the warm-up and its compilation or graph capture (`warmup_s`)
  and the prompt's one text encoding (done in untimed frames: a show encodes a prompt once).
- `baseline_*` / `baseline_same_vae_*`: one pipeline call, timed the same way. Includes all the
  call does every time: input checks, tokenising and encoding the prompt (the pipeline has no
  cache), preprocessing the float32 numpy init, scheduler set-up, VAE encode, noise, UNet,
  decode and postprocessing to a float32 (h, w, 3) numpy array. Excludes conversion to uint8.
- `ratio` = engine fps / baseline fps; `ratio_same_vae` = engine fps / same-VAE baseline fps.
- `stages_ms`: the median of each stage over the measured engine frames (engine.timings: "text",
  then "encode", "unet", "decode" eagerly or "frame" compiled or replayed as a graph, then "copy",
  "overhead", "total"); device time from CUDA events on a GPU, host time elsewhere. Medians of
  stages need not add up to the median total.
- `warmup_s`: `engine.warm_up` (the layouts a show starts with, compiled or captured), timed once
  before anything else runs. Every side then runs WARM_FRAMES untimed frames.
- `compile_mode`: the mode asked for; `compile_resolved`: the one that ran (after "auto" and any
  fallback off CUDA); `degraded`: why a graph mode was given up, or null.
"""

from __future__ import annotations

import itertools
import json
import math
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vj.gen.base import GenRequest, Prompt
from vj.gen.device import pick_device, pick_dtype
from vj.vocabulary import MotionRates

PROMPT = "a bioluminescent jellyfish cathedral, volumetric light"
SEED = 7
BLOCKS = 4
WARM_FRAMES = 3  # untimed frames per side before measuring (after the engine's warm_up)
ENGINE, BASELINE, SAME_VAE = "engine", "baseline", "baseline_same_vae"


@dataclass(frozen=True)
class GenBenchOptions:
    model: str = "tiny"
    arch: str | None = None  # "sd-turbo" | "sdxl-turbo": full-size architecture
    random_weights: bool = False
    size: tuple[int, int] | None = None
    steps: int = 1
    strength: float = 0.5
    frames: int = 40  # measured frames per side
    device: str = "auto"
    dtype: str = "auto"
    vae: str = "taesd"  # the engine's decoder: "taesd" or "full"
    compile: str = "off"  # one of vj.gen.runners.COMPILE_MODES
    feedback: str = "pixels"  # the engine's feedback space: "pixels" or "latents"
    fuse_qkv: bool = False
    channels_last: bool = True


def _pipeline(options: GenBenchOptions, device: torch.device, dtype: torch.dtype) -> tuple[Any, str, str]:
    """(pipeline, model label, family)."""
    if options.arch:
        if not options.random_weights:
            raise SystemExit("--arch builds an architecture from its config: add --random-weights (no download)")
        from vj.gen.arch import build_architecture

        pipe = build_architecture(options.arch, device=device, dtype=dtype)
        return pipe, f"{options.arch} (random weights)", "sdxl" if "xl" in options.arch else "sd"
    from vj.catalogue import resolve_model
    from vj.gen.models import load_pipeline

    spec = resolve_model(options.model)
    pipe = load_pipeline(spec, device=str(device), dtype=dtype, vae="taesd")
    return pipe, spec.name, spec.family


def _default_size(options: GenBenchOptions, family: str) -> tuple[int, int]:
    if options.size:
        return options.size
    if options.arch:
        return (1024, 1024) if family == "sdxl" else (512, 512)
    return (64, 64)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return str(torch.cuda.get_device_name(device))
    return platform.processor() or platform.machine()


class _PlainLoop:
    """A baseline side: a plain diffusers img2img pipeline whose every call starts from its last output."""

    def __init__(self, pipe: Any, options: GenBenchOptions, inference_steps: int, size: tuple[int, int],
                 device: torch.device) -> None:
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe
        self.steps = inference_steps
        self.strength = options.strength
        w, h = size
        self.frame = np.random.default_rng(0).random((h, w, 3), dtype=np.float32)
        self.generator = torch.Generator(device=device).manual_seed(SEED)  # noise made where it is used

    def __call__(self) -> None:
        out = self.pipe(prompt=PROMPT, image=self.frame, num_inference_steps=self.steps, strength=self.strength,
                        guidance_scale=0.0, output_type="np", generator=self.generator)
        self.frame = out.images[0]


class _EngineLoop:
    """The engine side: one `generate` per call (the engine keeps its previous frame as the next init);
    `stages` collects each frame's engine.timings."""

    def __init__(self, engine: Any, options: GenBenchOptions, size: tuple[int, int]) -> None:
        self.engine = engine
        self.size = size
        self.strength = options.strength
        self.params = {"steps": options.steps, "guidance": 0.0}
        self.stages: dict[str, list[float]] = {}
        self._frames = itertools.count(1)

    def request(self, i: int) -> GenRequest:
        return GenRequest(time=i / 30, size=self.size, prompts=(Prompt(PROMPT, 1.0),), seed=SEED, seed_walk=0.0,
                          strength=self.strength, feedback=1.0, motion=MotionRates(zoom=0.2), params=self.params)

    def __call__(self) -> None:
        self.engine.generate(self.request(next(self._frames)))
        for stage, ms in self.engine.timings.items():
            self.stages.setdefault(stage, []).append(ms)


def _engine(pipe: Any, options: GenBenchOptions, device: torch.device, dtype: torch.dtype) -> Any:
    from vj.gen.diffusion import DiffusionEngine, EngineConfig

    config = EngineConfig(device=str(device), dtype=dtype, vae=options.vae, compile=options.compile,
                          feedback_space=options.feedback, fuse_qkv=options.fuse_qkv,
                          channels_last=options.channels_last)
    return DiffusionEngine(pipe, config, profile=True)


def _baselines(plain: Any, options: GenBenchOptions, inference_steps: int, size: tuple[int, int],
               device: torch.device) -> tuple[dict[str, _PlainLoop], str]:
    """The baseline sides, and the decoder of the same-VAE one ("taesd" or "full": then it is the
    baseline itself, which is not run twice)."""
    from diffusers import AutoPipelineForImage2Image

    sides = {BASELINE: _PlainLoop(AutoPipelineForImage2Image.from_pipe(plain), options, inference_steps, size,
                                  device)}
    taesd = getattr(plain, "taesd", None)  # the baseline's own copy: the engine changes its copy in place
    if options.vae == "full" or taesd is None:  # the engine decodes with the full VAE too (vj.gen.conditioning)
        return sides, "full"
    same = AutoPipelineForImage2Image.from_pipe(plain, vae=taesd)
    sides[SAME_VAE] = _PlainLoop(same, options, inference_steps, size, device)
    return sides, "taesd"


def _block_sizes(frames: int) -> list[int]:
    """`frames` split into up to BLOCKS blocks as evenly as they go."""
    blocks = max(1, min(BLOCKS, frames))
    return [frames // blocks + (1 if i < frames % blocks else 0) for i in range(blocks)]


def _measure(sides: dict[str, Callable[[], None]], frames: int, device: torch.device) -> dict[str, list[float]]:
    """Seconds per frame of each side, the sides alternating in blocks (their order rotating)."""
    names = list(sides)
    times: dict[str, list[float]] = {name: [] for name in names}
    for block, count in enumerate(_block_sizes(frames)):
        shift = block % len(names)
        for name in names[shift:] + names[:shift]:
            run = sides[name]
            for _ in range(count):
                _sync(device)
                started = time.perf_counter()
                run()
                _sync(device)  # every side ends with its frame on the host; this only guards stray work
                times[name].append(time.perf_counter() - started)
    return times


def _figures(prefix: str, seconds: list[float]) -> dict[str, float]:
    p50, p99 = (float(np.percentile(seconds, q)) * 1000.0 for q in (50, 99))
    return {f"{prefix}_fps": round(1000.0 / p50, 3), f"{prefix}_ms_p50": round(p50, 3),
            f"{prefix}_ms_p99": round(p99, 3)}


def bench_gen(options: GenBenchOptions) -> dict[str, object]:
    import diffusers

    device = pick_device(options.device)
    dtype = pick_dtype(options.dtype, device)
    # Two copies of the model: the engine changes its pipeline in place (memory layout, compiled
    # frame, fused projections), and the baselines must stay the plain pipeline.
    pipe, label, family = _pipeline(options, device, dtype)
    plain, _, _ = _pipeline(options, device, dtype)
    size = _default_size(options, family)
    inference_steps = math.ceil(options.steps / options.strength - 1e-9)
    engine = _engine(pipe, options, device, dtype)
    loop = _EngineLoop(engine, options, size)
    baselines, same_vae = _baselines(plain, options, inference_steps, size, device)
    sides: dict[str, Callable[[], None]] = {**baselines, ENGINE: loop}
    with torch.inference_mode():
        warmup_s = engine.warm_up(size, loop.params)
        for run in sides.values():
            for _ in range(WARM_FRAMES):
                run()
        loop.stages.clear()
        times = _measure(sides, options.frames, device)
    times.setdefault(SAME_VAE, times[BASELINE])  # a full-VAE engine: the baseline is its same-VAE baseline
    engine_s, baseline_s, same_s = (statistics.median(times[k]) for k in (ENGINE, BASELINE, SAME_VAE))
    return {
        "benchmark": "gen",
        **_figures("engine", times[ENGINE]),
        **_figures("baseline", times[BASELINE]),
        **_figures("baseline_same_vae", times[SAME_VAE]),
        "same_vae_baseline": same_vae,
        "ratio": round(baseline_s / engine_s, 3),
        "ratio_same_vae": round(same_s / engine_s, 3),
        "stages_ms": {k: round(statistics.median(v), 3) for k, v in loop.stages.items()},
        "warmup_s": round(warmup_s, 3),
        "compile_mode": options.compile,
        "compile_resolved": engine.compile_mode,
        "degraded": engine.degraded,
        "device": str(device),
        "device_name": _device_name(device),
        "dtype": str(dtype).replace("torch.", ""),
        "model": label,
        "size": f"{size[0]}x{size[1]}",
        "steps": options.steps,
        "strength": options.strength,
        "baseline_inference_steps": inference_steps,
        "vae": options.vae,
        "feedback_space": options.feedback,
        "fuse_qkv": options.fuse_qkv,
        "channels_last": options.channels_last,
        "frames": len(times[ENGINE]),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
    }


def run_gen_bench(options: GenBenchOptions, as_json: bool = False) -> int:
    result = bench_gen(options)
    if as_json:
        print(json.dumps(result))
        return 0
    print(f"gen benchmark: {result['model']} {result['size']}, {result['steps']} step(s), strength "
          f"{result['strength']}, {result['device']} ({result['device_name']}, {result['dtype']}), "
          f"compile {result['compile_mode']} -> {result['compile_resolved']}, {result['frames']} frames per side")
    for name, label in ((ENGINE, "engine"), (BASELINE, "baseline"),
                        (SAME_VAE, f"baseline, {result['same_vae_baseline']} VAE")):
        print(f"  {label:22} p50 {result[f'{name}_ms_p50']:9.2f} ms  p99 {result[f'{name}_ms_p99']:9.2f} ms  "
              f"{result[f'{name}_fps']:8.2f} fps")
    print(f"  ratio {result['ratio']:.3f}  same-VAE ratio {result['ratio_same_vae']:.3f}  "
          f"warm-up {result['warmup_s']:.2f} s")
    print(f"  engine stages (ms): {result['stages_ms']}")
    if result["degraded"]:
        print(f"  degraded: {result['degraded']}")
    return 0
