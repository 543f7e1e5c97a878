"""Does the diffusion engine's memory grow over a long run? (It must not.)

Runs the engine's feedback loop on the tiny model for many frames (default 5,000 at 64x64,
with the seed walking, the prompt weights moving and the camera zooming, as in a show) and
samples the process's resident memory (and CUDA memory on a GPU) every 500 frames. The
baseline is the memory after the first 500 frames (everything is allocated by then); prints
one JSON object with `growth_mb` (last - baseline) and `growth_ratio` (last / baseline).

    .venv/bin/python benchmarks/gen_memory.py [--frames 5000] [--size 64] [--device auto]
"""

from __future__ import annotations

import argparse
import gc
import json
import resource

import torch

from vj.catalogue import resolve_model
from vj.gen.base import GenRequest, Prompt
from vj.gen.device import pick_device, pick_dtype
from vj.gen.diffusion import DiffusionEngine, EngineConfig
from vj.gen.models import load_pipeline
from vj.vocabulary import MotionRates


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=5000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", default="tiny")
    args = parser.parse_args()
    device = pick_device(args.device)
    dtype = pick_dtype("auto", device)
    pipe = load_pipeline(resolve_model(args.model), device=str(device), dtype=dtype)
    engine = DiffusionEngine(pipe, EngineConfig(device=str(device), dtype=dtype))
    samples = []
    for i in range(args.frames):
        w = (i % 200) / 200
        engine.generate(GenRequest(
            time=i / 30, size=(args.size, args.size), seed=3, seed_walk=i * 0.01, strength=0.5, feedback=0.9,
            prompts=(Prompt("a reef at night", 1 - w), Prompt("neon lightning", w)),
            motion=MotionRates(zoom=0.2, rotate=5.0), params={"steps": 1},
        ))
        if (i + 1) % 500 == 0:
            gc.collect()
            cuda = torch.cuda.memory_allocated() / 2**20 if device.type == "cuda" else None
            samples.append({"frame": i + 1, "rss_mb": round(rss_mb(), 1), "cuda_mb": cuda})
    base, last = samples[0], samples[-1]
    print(json.dumps({
        "benchmark": "gen_memory", "model": args.model, "device": str(device), "frames": args.frames,
        "size": f"{args.size}x{args.size}", "samples": samples,
        "growth_mb": round(last["rss_mb"] - base["rss_mb"], 1),
        "growth_ratio": round(last["rss_mb"] / base["rss_mb"], 4),
    }))


if __name__ == "__main__":
    main()
