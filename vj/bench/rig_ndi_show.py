"""`vj bench rig`'s `ndi_show` case: the NDI figure measured in a real show.

`bench_ndi_show()` runs `vj run --ndi-out vj-bench-show --output-size 1280x720` as a user does (a
real GLFW window of the same size in a private Xvfb, Mesa's software GL where there is no GPU,
the default preset's procedural dream, no audio input) for `seconds` (30: over 600 frames at
the 25-37 display frames a second a 2-core machine draws with NDI's compression and the
receiver beside the show), while a separate receiver process reads the source with
`NdiReceiver`. Both run in one loopback-only network namespace (vj.bench.netns) with the NDI
config naming 127.0.0.1; the Xvfb runs outside it (its socket is a file).

The show runs as `python -m vj`, unchanged but for one note: its NDI output's thread writes
down the wall time (`time.time()`) before each `NdiSink.send` that succeeds. NDI stamps every
frame with the time it was handed to the SDK (the same clock, on one machine), inside that call,
so each frame the receiver reads is matched to the send it came from. That is how frames sent
before the receiver connected are told apart (discovery takes a moment: those are
`sent_before_connected`, not losses), and how `latency_*` is measured.

Figures:
- `sent`: frames the show's NDI output sent from the first one the receiver read on;
  `received`: of those, the frames read (matched to a send); `lost` = sent - received (NDI's
  frame-sync keeps only the newest frame: a receiver starved of a core misses some);
  `sent_total` and `dropped`: the output's own counts at the show's close (`dropped`: display
  frames the output's thread had no time for, replaced by the next: never sent);
- `fps`: frames read a second (first to last);
- `render_thread_ms_p50` / `_p99`: the whole hand-off on the render thread per display frame, the
  picture's read-back and the offer (vj.show.outputs.PictureOutputs, measured in the running
  loop); `readback_ms_p99` and `offer_ms_p99` the two parts (p99 each, so they need not add up);
  on software GL the read-back is a synchronous read on the render thread (vj.render.readback);
  `render_thread_cpu_ms_p99`: the part of the hand-off the thread ran (the rest it waited for the
  GIL or a core);
- `latency_from_send_p50_ms` / `_p99`: from the output thread's send call to the receiver's read
  (the copy into NDI, compression, loopback, decompression, the frame-sync and the copy to RGB;
  not the wait in the output's slot, nor the read-back);
- `unmatched`: frames read that match no send, or a send matched already (0 where NDI stamps
  frames as described above);
- `display_fps`: display frames a second; `renderer`: GL_RENDERER of a context on the same
  display (the driver the show's window gets); `read_mode`: the show's reader (DirectRead on a
  software renderer, PboRing on a GPU).

    python -m vj.bench.rig_ndi_show [SECONDS]    the figure as one JSON object
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vj.bench.harness import percentile, run_vj
from vj.bench.netns import isolated, ndi_config
from vj.vocabulary import PixelOrder

SOURCE = "vj-bench-show"
GRACE_S = 1.0  # the receiver keeps reading this long after the show is done
STARTUP_S = 120.0  # vj run's start and close, on a slow machine


# -- the receiver process ----------------------------------------------------------------------


def receive() -> dict[str, Any]:
    """Read SOURCE until GRACE_S after "done" on stdin: every distinct frame's NDI timestamp (when
    the sender handed it to NDI) and when it was read (both time.time())."""
    from vj.rig.ndi import NdiReceiver

    done = threading.Event()

    def wait_for_done() -> None:
        sys.stdin.readline()
        done.set()

    threading.Thread(target=wait_for_done, daemon=True).start()
    frames: list[tuple[float, float]] = []
    size: list[int] | None = None
    until = float("inf")
    with NdiReceiver(SOURCE) as receiver:
        while time.monotonic() < until:
            if done.is_set() and until == float("inf"):
                until = time.monotonic() + GRACE_S
            frame = receiver.read(0.1)
            if frame is not None:
                frames.append((frame.timestamp, frame.received))
                size = [frame.rgb.shape[1], frame.rgb.shape[0]]
        return {"frames": frames, "size": size, "source": receiver.source, "reconnects": receiver.reconnects}


# -- the show, with its sends written down -------------------------------------------------------


def show(send_log: Path, argv: Sequence[str]) -> int:
    """`vj <argv>` (`python -m vj`, in this process), the NDI output's successful sends' start times written to
    `send_log` (JSON) when it returns."""
    from vj.rig import ndi

    sends: list[float] = []
    original = ndi.NdiSink.send

    def send(self: ndi.NdiSink, frame: Any, time_: float, order: PixelOrder = "rgba") -> None:
        began = time.time()
        original(self, frame, time_, order)
        sends.append(began)  # the output's thread only: a list append a frame

    ndi.NdiSink.send = send  # type: ignore[method-assign, assignment]
    try:
        return run_vj(argv)
    finally:
        send_log.write_text(json.dumps(sends))


# -- inside the namespace ------------------------------------------------------------------------


def match(sends: Sequence[float], stamps: Sequence[float]) -> list[int]:
    """The send each received frame came from: the last send that began at or before its NDI
    stamp (NDI stamps a frame inside the send call); -1 for a stamp before every send."""
    return [bisect.bisect_right(sends, stamp) - 1 for stamp in stamps]


def _figure(pattern: str, text: str, what: str) -> re.Match[str]:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"vj run did not report {what}; it said:\n{text[-3000:]}")
    return found


def run_show(seconds: float, size: tuple[int, int]) -> dict[str, Any]:
    """The receiver process, then the show for `seconds`; the figures (see the module doc). Call
    inside a loopback namespace, with DISPLAY and NDI_CONFIG_DIR set."""
    receiver = subprocess.Popen([sys.executable, "-m", "vj.bench.rig_ndi_show", "--receive"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        with tempfile.TemporaryDirectory(prefix="vj-ndi-show-") as folder:
            send_log = Path(folder) / "sends.json"
            wxh = f"{size[0]}x{size[1]}"
            command = [sys.executable, "-m", "vj.bench.rig_ndi_show", "--show", str(send_log), "--",
                       "run", "--ndi-out", SOURCE, "--output-size", wxh, "--size", wxh, "--seconds", str(seconds),
                       "--preset", "endless-dreams", "--no-audio", "--osc-port", "0", "--no-zeroconf"]
            done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + STARTUP_S)
            said = done.stdout + done.stderr
            if done.returncode != 0 or not send_log.exists():
                raise RuntimeError(f"vj run failed ({done.returncode}):\n{said[-3000:]}")
            sends: list[float] = json.loads(send_log.read_text())
        assert receiver.stdin is not None
        receiver.stdin.write("done\n")
        receiver.stdin.flush()
        out, _ = receiver.communicate(timeout=GRACE_S + 30)
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()
    got = json.loads(out.strip().splitlines()[-1])
    stamps = [stamp for stamp, _ in got["frames"]]
    arrivals = [read for _, read in got["frames"]]
    sources = match(sends, stamps)
    matched = {k: i for i, k in enumerate(sources) if k >= 0}  # send index -> received frame
    first = min(matched, default=len(sends))
    latencies = [(arrivals[i] - sends[k]) * 1000 for k, i in matched.items()]
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0

    shown = _figure(r"video outputs: display_frames=(\d+).*", said, "its display frames")
    costs = {k: float(v) for k, v in re.findall(r"\b(\w+_ms_p\d+)=([\d.]+)", shown.group(0))}
    mode = _figure(r"video outputs: the picture at \d+x\d+, read back (\w+)", said, "its read-back")
    counts = _figure(r"output ndi: sent (\d+), dropped (\d+)", said, "the NDI output's counts")
    sent = len(sends) - first
    return {
        "sent": sent, "received": len(matched), "lost": sent - len(matched),
        "size": got["size"], "fps": round((len(arrivals) - 1) / span, 2) if span > 0 else None,
        "render_thread_ms_p50": costs["handoff_ms_p50"], "render_thread_ms_p99": costs["handoff_ms_p99"],
        "readback_ms_p50": costs.get("readback_ms_p50"), "readback_ms_p99": costs.get("readback_ms_p99"),
        "offer_ms_p50": costs.get("offer_ms_p50"), "offer_ms_p99": costs.get("offer_ms_p99"),
        "render_thread_cpu_ms_p99": costs.get("handoff_cpu_ms_p99"),
        "latency_from_send_p50_ms": round(percentile(latencies, 50), 3) if latencies else None,
        "latency_from_send_p99_ms": round(percentile(latencies, 99), 3) if latencies else None,
        "display_frames": int(shown.group(1)), "display_fps": round(int(shown.group(1)) / seconds, 1),
        "read_mode": mode.group(1),
        "sent_total": int(counts.group(1)), "dropped": int(counts.group(2)), "sent_before_connected": first,
        "unmatched": len(sources) - len(matched), "source": got["source"], "reconnects": got["reconnects"],
        "show_seconds": seconds,
    }


# -- the benchmark -------------------------------------------------------------------------------


def gl_renderer(env: dict[str, str]) -> str:
    """GL_RENDERER of a GL context on env's DISPLAY (a process of its own, as the show is)."""
    probe = "import moderngl; print(moderngl.create_standalone_context().info['GL_RENDERER'])"
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    return done.stdout.strip() or f"unknown ({done.stderr.strip()[-200:]})"


def bench_ndi_show(seconds: float = 30.0, size: tuple[int, int] = (1280, 720)) -> dict[str, Any]:
    """`vj run --ndi-out` for `seconds` at `size`, read by a receiver process over loopback (see the
    module doc). Targets: nothing lost, render_thread_ms_p99 <= 1 ms."""
    from vj.bench.rig_record import private_display

    with tempfile.TemporaryDirectory(prefix="vj-ndi-show-") as folder, private_display() as display:
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "DISPLAY": display, "NDI_CONFIG_DIR": str(ndi_config(Path(folder))),
               "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
        env.pop("WAYLAND_DISPLAY", None)
        argv = [sys.executable, "-m", "vj.bench.rig_ndi_show", "--inside", str(seconds), f"{size[0]}x{size[1]}"]
        done = isolated(argv, env=env, timeout=seconds + STARTUP_S + 60, cwd=root)
        renderer = gl_renderer(env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the NDI show benchmark failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["renderer"] = renderer
    # llvmpipe's rasteriser threads in the show: vj run's share of the cores unless LP_NUM_THREADS was set
    result["lp_num_threads"] = os.environ.get("LP_NUM_THREADS", "vj run's default")
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--show"] and len(argv) > 1:  # vj's own arguments follow: not parsed here
        return show(Path(argv[1]), argv[3:] if argv[2:3] == ["--"] else argv[2:])
    parser = argparse.ArgumentParser(prog="python -m vj.bench.rig_ndi_show", description=__doc__.splitlines()[0],
                                     epilog="--show SEND_LOG -- ARGS...: vj ARGS with the NDI sends written down")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--inside", nargs=2, metavar=("SECONDS", "WxH"), help="already in a loopback namespace")
    group.add_argument("--receive", action="store_true", help="the receiver process")
    parser.add_argument("seconds", nargs="?", type=float, default=30.0)
    args = parser.parse_args(argv)
    if args.receive:
        result = receive()
    elif args.inside:
        w, h = (int(v) for v in args.inside[1].split("x"))
        result = run_show(float(args.inside[0]), (w, h))
    else:
        result = bench_ndi_show(args.seconds)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":  # guarded: the show's generator children (spawn) import this module
    sys.exit(main())
