"""`vj bench gen`: the diffusion engine against the plain diffusers img2img pipeline, same run.

Both sides run the same model, size, number of UNet calls, strength and seed, as a feedback loop
(each frame's init image is the previous output), ending with the frame in host memory:

- baseline: `AutoPipelineForImage2Image.from_pipe(pipe).__call__(..., output_type="np")`. Diffusers
  runs int(num_inference_steps * strength) UNet calls, so it is asked for ceil(steps / strength)
  inference steps to make the same number of UNet calls as the engine.
- engine: `DiffusionEngine.generate` (TAESD by default, cached embeddings and timesteps, no PIL).

The two sides alternate in blocks, so drifts in machine load hit both alike. One JSON object
with `engine_fps`, `baseline_fps`, `ratio` (engine / baseline), per-stage engine milliseconds,
the device, model, size and steps.
"""

from __future__ import annotations

import itertools
import json
import math
import platform
import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vj.gen.base import GenRequest, Prompt
from vj.gen.device import pick_device, pick_dtype
from vj.vocabulary import MotionRates

PROMPT = "a bioluminescent jellyfish cathedral, volumetric light"
BLOCKS = 4


@dataclass(frozen=True)
class GenBenchOptions:
    model: str = "tiny"
    arch: str | None = None  # "sd-turbo" | "sdxl-turbo": full-size architecture
    random_weights: bool = False
    size: tuple[int, int] | None = None
    steps: int = 1
    strength: float = 0.5
    frames: int = 40
    device: str = "auto"
    dtype: str = "auto"
    vae: str = "taesd"
    compile: bool = False


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


def bench_gen(options: GenBenchOptions) -> dict[str, object]:
    from diffusers import AutoPipelineForImage2Image

    from vj.gen.diffusion import DiffusionEngine, EngineConfig

    device = pick_device(options.device)
    dtype = pick_dtype(options.dtype, device)
    # Two copies of the model: the engine changes its pipeline in place (memory layout, compiled
    # UNet), and the baseline must stay the plain pipeline.
    pipe, label, family = _pipeline(options, device, dtype)
    plain, _, _ = _pipeline(options, device, dtype)
    size = _default_size(options, family)
    w, h = size

    engine = DiffusionEngine(pipe, EngineConfig(device=str(device), dtype=dtype, vae=options.vae,
                                                compile=options.compile))
    baseline = AutoPipelineForImage2Image.from_pipe(plain)
    baseline.set_progress_bar_config(disable=True)
    inference_steps = math.ceil(options.steps / options.strength - 1e-9)
    params = {"steps": options.steps, "guidance": 0.0}

    def request(i: int) -> GenRequest:
        return GenRequest(time=i / 30, size=size, prompts=(Prompt(PROMPT, 1.0),), seed=7, seed_walk=0.0,
                          strength=options.strength, feedback=1.0, motion=MotionRates(zoom=0.2), params=params)

    state = {"frame": np.random.default_rng(0).random((h, w, 3), dtype=np.float32)}
    frames = itertools.count(1)
    generator = torch.Generator(device="cpu").manual_seed(7)

    def baseline_frame() -> None:
        out = baseline(prompt=PROMPT, image=state["frame"], num_inference_steps=inference_steps,
                       strength=options.strength, guidance_scale=0.0, output_type="np", generator=generator)
        state["frame"] = out.images[0]

    def engine_frame() -> None:
        engine.generate(request(next(frames)))

    stage_sums: dict[str, list[float]] = {}
    times: dict[str, list[float]] = {"engine": [], "baseline": []}
    warmup = 3 if not options.compile else 10
    with torch.inference_mode():
        for _ in range(warmup):
            engine_frame()
            baseline_frame()
        per_block = max(1, options.frames // BLOCKS)
        for _ in range(BLOCKS):
            for side, run in (("baseline", baseline_frame), ("engine", engine_frame)):
                for _ in range(per_block):
                    _sync(device)
                    started = time.perf_counter()
                    run()
                    _sync(device)  # both end with the frame on the host; this only guards stray work
                    times[side].append(time.perf_counter() - started)
                    if side == "engine":
                        for stage, ms in engine.timings.items():
                            stage_sums.setdefault(stage, []).append(ms)
    engine_s = statistics.median(times["engine"])
    baseline_s = statistics.median(times["baseline"])
    return {
        "benchmark": "gen",
        "engine_fps": round(1.0 / engine_s, 2),
        "baseline_fps": round(1.0 / baseline_s, 2),
        "ratio": round(baseline_s / engine_s, 3),
        "engine_ms": round(engine_s * 1000, 3),
        "baseline_ms": round(baseline_s * 1000, 3),
        "stages_ms": {k: round(statistics.median(v), 3) for k, v in stage_sums.items()},
        "device": str(device),
        "device_name": _device_name(device),
        "dtype": str(dtype).replace("torch.", ""),
        "model": label,
        "size": f"{w}x{h}",
        "steps": options.steps,
        "strength": options.strength,
        "baseline_inference_steps": inference_steps,
        "vae": options.vae,
        "compile": options.compile,
        "frames": len(times["engine"]),
        "torch": torch.__version__,
    }


def run_gen_bench(options: GenBenchOptions, as_json: bool = False) -> int:
    result = bench_gen(options)
    if as_json:
        print(json.dumps(result))
        return 0
    print(f"gen benchmark: {result['model']} {result['size']}, {result['steps']} step(s), strength "
          f"{result['strength']}, {result['device']} ({result['device_name']}, {result['dtype']})")
    print(f"  engine   {result['engine_ms']:9.2f} ms  {result['engine_fps']:8.2f} fps")
    print(f"  baseline {result['baseline_ms']:9.2f} ms  {result['baseline_fps']:8.2f} fps")
    print(f"  ratio {result['ratio']:.3f}   stages (ms): {result['stages_ms']}")
    return 0
