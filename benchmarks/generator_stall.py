"""Does a running procedural generator stall the render thread? Thread vs child process, same run.

A probe loop on the main thread sleeps 5 ms per iteration, as a render loop waiting on vsync would,
while the procedural dream renders 768x432 frames flat out, first on a worker thread (the
baseline), then in a child process (what vj does). Prints one JSON object: the probe's p50 / p99 /
max iteration time in each case and `p99_ratio` (process / thread; lower is better).

    .venv/bin/python benchmarks/generator_stall.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import threading
import time

from vj.gen.base import GenRequest, Prompt
from vj.gen.isolated import ProcessGenerator
from vj.gen.procedural import ProceduralGenerator

REQUEST = GenRequest(time=1.0, size=(768, 432), prompts=(Prompt("neon synthwave tunnel", 1.0),), seed=0,
                     seed_walk=0.0, strength=0.5, feedback=0.5)


def probe(generator, seconds: float) -> dict[str, float]:  # type: ignore[no-untyped-def]
    generator.generate(REQUEST)  # warm up: context, shaders, child start
    stop = threading.Event()
    made = [0]

    def work() -> None:
        while not stop.is_set():
            generator.generate(REQUEST)
            made[0] += 1

    thread = threading.Thread(target=work)
    thread.start()
    gaps: list[float] = []
    end = time.perf_counter() + seconds
    last = time.perf_counter()
    while last < end:
        time.sleep(0.005)
        now = time.perf_counter()
        gaps.append((now - last) * 1000)
        last = now
    stop.set()
    thread.join()
    generator.close()
    gaps.sort()
    return {"p50_ms": round(gaps[len(gaps) // 2], 2), "p99_ms": round(gaps[int(len(gaps) * 0.99)], 2),
            "max_ms": round(gaps[-1], 2), "probe_iterations": len(gaps), "generated": made[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    thread = probe(ProceduralGenerator(), args.seconds)
    process = probe(ProcessGenerator("vj.gen.procedural:ProceduralGenerator", "procedural"), args.seconds)
    print(json.dumps({"benchmark": "generator_stall", "thread": thread, "process": process,
                      "p99_ratio": round(process["p99_ms"] / thread["p99_ms"], 3)}))


if __name__ == "__main__":
    main()
