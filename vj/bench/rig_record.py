"""Live recording measured in a real show (`vj bench rig`'s `record` figure).

`bench_record()` runs `vj run --record` as a user does, for `seconds`, in a private Xvfb (a real
GLFW window, Mesa's software GL where there is no GPU), without audio input, and reads what the
show reported when it stopped:

- `frames_shown`: display frames drawn while recording; `frames_recorded`: frames in the file
  (decoded again to be sure: `frames_in_file`); `dropped`: frames the recording had no time for
  (the target is 0 at 1280x720, 30 fps on a 2-core machine);
- `render_thread_ms_p50` / `_p99`: what handing the picture over costs the render thread per
  display frame (the read-back and the offer; vj.show.outputs.PictureOutputs), measured inside
  the running loop; `render_thread_cpu_ms_*` the part of it the thread ran (the rest it waited:
  for the GIL, which the encoder's thread takes between its GIL-free calls, or for a core).

`bench_handoff()` measures the hand-off alone, headless (EGL), against the same show with no
output, for the synchronous read and the PBO ring.

    python -m vj.bench.rig_record [SECONDS]    the figure as one JSON object
    python -m vj.bench.rig_record handoff      the hand-off alone, headless
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def private_display(size: tuple[int, int] = (1920, 1080)) -> Iterator[str]:
    """An Xvfb of the benchmark's own (it picks a free display number); yields ':N'."""
    exe = shutil.which("Xvfb")
    if exe is None:
        raise RuntimeError("the record benchmark needs Xvfb (Debian: apt-get install xvfb)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([exe, "-displayfd", str(write_fd), "-screen", "0", f"{size[0]}x{size[1]}x24",
                             "-nolisten", "tcp"], pass_fds=(write_fd,), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    os.close(write_fd)
    number = b""
    deadline = time.monotonic() + 15
    while not number.endswith(b"\n") and time.monotonic() < deadline:
        if select.select([read_fd], [], [], 0.1)[0]:
            chunk = os.read(read_fd, 16)
            if not chunk:
                break
            number += chunk
    os.close(read_fd)
    try:
        if not number.strip().isdigit():
            raise RuntimeError("Xvfb did not start")
        yield f":{int(number)}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _figure(pattern: str, text: str, what: str) -> re.Match[str]:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"vj run did not report {what}; it said:\n{text[-3000:]}")
    return found


def bench_record(seconds: float = 10.0, size: tuple[int, int] = (1280, 720), fps: int = 30,
                 preset: str | None = None) -> dict[str, Any]:
    """`vj run --record` for `seconds` at `size` and `fps` (see the module doc)."""
    from vj.render.recorder import read_video

    with tempfile.TemporaryDirectory(prefix="vj-bench-record-") as folder, private_display() as display:
        out = Path(folder) / "bench.mp4"
        command = [sys.executable, "-m", "vj", "run", "--record", str(out), "--record-fps", str(fps),
                   "--size", f"{size[0]}x{size[1]}", "--seconds", str(seconds), "--no-audio", "--osc-port", "0",
                   "--no-zeroconf"] + (["--preset", preset] if preset else [])
        env = {**os.environ, "DISPLAY": display}
        env.pop("WAYLAND_DISPLAY", None)
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 120)
        said = done.stdout + done.stderr
        if done.returncode != 0:
            raise RuntimeError(f"vj run failed ({done.returncode}):\n{said[-3000:]}")
        shown = _figure(r"video outputs: display_frames=(\d+)", said, "its display frames")
        costs = dict(re.findall(r"(handoff_\w+_p\d+)=([\d.]+)", said))
        recorded = _figure(r"recorded .*: (\d+) frames, ([\d.]+) s", said, "the recording")
        counts = _figure(r"output record: sent (\d+), dropped (\d+)", said, "the recording's counts")
        in_file = read_video(out)[0]
    frames_shown = int(shown.group(1))
    return {
        "frames_shown": frames_shown,
        "frames_recorded": int(recorded.group(1)),
        "dropped": int(counts.group(2)),
        "frames_in_file": in_file,
        "seconds": seconds,
        "size": f"{size[0]}x{size[1]}",
        "fps": fps,
        "display_fps": round(frames_shown / seconds, 1),
        "recorded_seconds": float(recorded.group(2)),
        "render_thread_ms_p50": float(costs["handoff_ms_p50"]),
        "render_thread_ms_p99": float(costs["handoff_ms_p99"]),
        "render_thread_cpu_ms_p50": float(costs["handoff_cpu_ms_p50"]),
        "render_thread_cpu_ms_p99": float(costs["handoff_cpu_ms_p99"]),
    }


class _Discard:
    """A video output that takes frames and does nothing with them: the hand-off alone is measured."""

    name = "discard"
    detail = "discard"

    def send(self, frame: Any, time: float, order: str = "rgba") -> None:
        pass

    def close(self) -> None:
        pass


def bench_handoff(seconds: float = 4.0, size: tuple[int, int] = (1280, 720), rounds: int = 3) -> dict[str, Any]:
    """The hand-off alone, headless (EGL, an RGBA framebuffer as the window): the default preset's
    show at 60 Hz with no output, then one output that discards its frames, read back
    synchronously (`direct`) and through a PBO ring (`pbo`), alternated `rounds` times; per case
    the display frame's p50/p99 and the hand-off's (medians over the rounds, ms)."""
    import statistics

    from vj.gen.process import process_workers
    from vj.render.context import create_headless_context, share_cores
    from vj.rig.sink import SinkThread, VideoOutputs
    from vj.session import load_session
    from vj.show import Show, ShowLinks, ShowOptions

    share_cores(1)  # as vj run does on two cores
    ctx = create_headless_context()
    window = ctx.framebuffer(color_attachments=[ctx.texture(size, 4)])
    loaded = load_session(None, ())
    found: dict[str, list[dict[str, float]]] = {}
    for _ in range(rounds):
        for case in ("none", "direct", "pbo"):
            video = VideoOutputs([SinkThread("discard", _Discard)]).start() if case != "none" else None
            show = Show(ctx, loaded.presets, loaded.mappings, links=ShowLinks(video=video),
                        options=ShowOptions(worker_factory=process_workers(1, live=True)))
            show.picture.mode = "pbo" if case == "pbo" else "direct"
            frames = []
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                began = time.perf_counter()
                show.frame(1 / 60, window)
                ctx.finish()
                frames.append((time.perf_counter() - began) * 1000)
                time.sleep(max(0.0, 1 / 60 - (time.perf_counter() - began)))
            figures = show.picture.figures()
            show.close()
            if video is not None:
                video.stop()
            frames = sorted(frames[30:])
            found.setdefault(case, []).append({"frame_ms_p50": statistics.median(frames),
                                               "frame_ms_p99": frames[round(0.99 * (len(frames) - 1))],
                                               **{k: float(v) for k, v in figures.items() if k.startswith("handoff")}})
    ctx.release()
    return {case: {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]} for case, runs in found.items()}


if __name__ == "__main__":
    if sys.argv[1:2] == ["handoff"]:
        print(json.dumps(bench_handoff()))
    else:
        print(json.dumps(bench_record(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0)))
