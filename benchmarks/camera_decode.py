"""Does decoding the camera on a thread of the render process slow the display? Same run, alternated.

The camera stays in the render process (design note 32): one reader serves every generator
process, across restarts and handovers, and its frames reach the generator through the shared
memory ring. This measures what that costs the display loop: the headless show at 1280x720,
paced at 60 fps, with no camera (the baseline) and while a 1280x720 30 fps h264 video is decoded
as the camera (vj.camera, PyAV on its own thread), in alternating rounds. Prints one JSON
object: the display work p50 / p99 of each case and `p99_ratio` (camera / none; target <= 1.1).

    .venv/bin/python benchmarks/camera_decode.py [--seconds 24]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROUNDS = 3


def _video(path: Path, seconds: int = 10) -> Path:
    import av

    rng = np.random.default_rng(0)
    base = (rng.random((720, 1280, 3)) * 255).astype(np.uint8)  # noise: a worst case for the decoder
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for i in range(30 * seconds):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.roll(base, i * 7, axis=1), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=24.0, help="measuring time per case")
    args = parser.parse_args()

    from vj.bench.harness import percentile
    from vj.bench.render import _Case
    from vj.camera import CameraConfig, open_camera
    from vj.gen.process import ProcessOptions
    from vj.render.context import create_headless_context, share_cores

    share_cores(ProcessOptions().compute_threads)  # as `vj run` does
    ctx = create_headless_context()
    loop = _Case(ctx, (1280, 720), "none")
    times: dict[str, list[float]] = {"none": [], "camera": []}
    decoded = 0
    with tempfile.TemporaryDirectory() as folder:
        video = _video(Path(folder) / "camera.mp4")
        for _ in range(ROUNDS):
            for case in times:
                camera = open_camera(CameraConfig(str(video))) if case == "camera" else None
                time.sleep(0.5)
                end = time.perf_counter() + args.seconds / ROUNDS
                due = time.perf_counter()
                while time.perf_counter() < end:
                    start = time.perf_counter()
                    loop.show.frame(1 / 60, loop.target)
                    ctx.finish()
                    times[case].append((time.perf_counter() - start) * 1000)
                    due = max(due + 1 / 60, time.perf_counter())
                    time.sleep(max(0.0, due - time.perf_counter()))
                if camera is not None:
                    decoded += camera.status().frames
                    camera.stop()
    loop.close()
    figures = {case: {"frames": len(t), "p50_ms": round(percentile(t, 50), 3), "p99_ms": round(percentile(t, 99), 3)}
               for case, t in times.items()}
    print(json.dumps({"benchmark": "camera_decode", **figures, "camera_frames_decoded": decoded,
                      "p99_ratio": round(figures["camera"]["p99_ms"] / figures["none"]["p99_ms"], 3),
                      "render_threads": int(os.environ.get("LP_NUM_THREADS", "0"))}))


if __name__ == "__main__":
    main()
