"""`vj bench rig`'s NDI case: does every frame the show sends as NDI arrive, how late, and what
does sending cost the render thread?

Everything runs inside a private network namespace holding only loopback (NDI discovers sources
by multicast on every interface: nothing may leave the machine), with `NDI_CONFIG_DIR` naming
127.0.0.1 (no mDNS there). In it, this module (`python -m vj.bench.rig_ndi --inside ...`) drives
an `NdiSink` the way the show does: a `VideoOutputs` with one `SinkThread`, the "render" loop
only offering frames at 60 fps (`render_thread_ms_*`: the whole `offer` call). A separate
receiver process (`--receive`) reads the source with `NdiReceiver`.

Each frame carries its index: a band of 16 black or white cells along its top (the bits) and a
colour of its own below (`colour(index)`). The receiver decodes the index of every frame it
reads and compares its colour; the sender notes the wall time (`time.time()`, shared by both
processes) at which it offered each index, so `latency_*` is offer to read (the output's
thread, the copy into NDI, NDI's compression, loopback, decompression, the frame-sync and the
copy to RGB). Warm-up frames (index 0xFFFF) run until the receiver reads one, so discovery and
connection are not counted as losses.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vj.bench.harness import percentile
from vj.bench.netns import isolated
from vj.rig.sink import VideoSink
from vj.vocabulary import PixelOrder, in_order

SOURCE = "vj-bench"
FPS = 60.0
BITS = 16
WARMUP = (1 << BITS) - 1  # the index of warm-up frames
NDI_CONFIG = {"ndi": {"networks": {"ips": "127.0.0.1"}}}
READY_TIMEOUT_S = 20.0  # discovery and connection, on a slow machine
GRACE_S = 1.0  # the receiver keeps reading this long after the sender is done


# -- frames that carry their index -------------------------------------------------------------


def colour(index: int) -> tuple[int, int, int]:
    """The colour frame `index` carries below its band (away from black and white)."""
    return (40 + index * 53 % 176, 40 + index * 101 % 176, 40 + index * 197 % 176)


def _band(h: int) -> int:
    return max(8, h // 8)


def marked_frame(index: int, size: tuple[int, int]) -> np.ndarray:
    """An RGBA frame (read-only) whose top band spells `index` in 16 cells and whose rest is
    `colour(index)`."""
    w, h = size
    frame = np.empty((h, w, 4), np.uint8)
    frame[..., :3] = colour(index)
    frame[..., 3] = 255
    cell = w // BITS
    for bit in range(BITS):
        frame[:_band(h), bit * cell:(bit + 1) * cell, :3] = 255 if index >> bit & 1 else 0
    frame.flags.writeable = False
    return frame


def read_mark(rgb: np.ndarray) -> int:
    """The index a received frame (RGB) carries: each cell's inner half, thresholded."""
    h, w = rgb.shape[:2]
    cell, band = w // BITS, _band(h)
    index = 0
    for bit in range(BITS):
        inner = rgb[band // 4:band * 3 // 4, bit * cell + cell // 4:(bit + 1) * cell - cell // 4]
        index |= int(inner.mean() > 127) << bit
    return index


def colour_error(rgb: np.ndarray, index: int) -> float:
    """How far a received frame's colour (the mean of a patch in its middle) is from its index's,
    in levels (the largest of the three channels)."""
    h, w = rgb.shape[:2]
    patch = rgb[h // 2 - h // 8:h // 2 + h // 8, w // 2 - w // 8:w // 2 + w // 8].reshape(-1, 3)
    return float(np.abs(patch.mean(axis=0) - np.array(colour(index))).max())


# -- the receiver process ----------------------------------------------------------------------


def receive(frames: int) -> dict[str, Any]:
    """Read SOURCE until `frames` distinct indices arrived, or GRACE_S after "done" on stdin.
    Prints "ready" once it has read a warm-up frame; returns what it read, by index."""
    from vj.rig.ndi import NdiReceiver

    done = threading.Event()

    def wait_for_done() -> None:
        sys.stdin.readline()
        done.set()

    threading.Thread(target=wait_for_done, daemon=True).start()
    seen: dict[int, tuple[float, float]] = {}  # index -> (when read, colour error)
    ready, reads, until = False, 0, float("inf")
    size: list[int] | None = None
    with NdiReceiver(SOURCE) as receiver:
        while len(seen) < frames and time.monotonic() < until:
            if done.is_set() and until == float("inf"):
                until = time.monotonic() + GRACE_S
            frame = receiver.read(0.1)
            if frame is None:
                continue
            reads += 1
            size = [frame.rgb.shape[1], frame.rgb.shape[0]]
            index = read_mark(frame.rgb)
            if index == WARMUP:
                if not ready:
                    ready = True
                    print("ready", flush=True)
            elif index not in seen:
                seen[index] = (frame.received, colour_error(frame.rgb, index))
        return {"seen": {str(i): list(v) for i, v in seen.items()}, "reads": reads, "size": size,
                "source": receiver.source, "reconnects": receiver.reconnects}


# -- the sending side (in the namespace) ---------------------------------------------------------


class _TimedSink:
    """Wraps the NdiSink a SinkThread builds, timing each `send` (the output thread's cost)."""

    name = "ndi"

    def __init__(self, factory: Callable[[], VideoSink]) -> None:
        self._factory = factory
        self._sink: VideoSink | None = None
        self.seconds: list[float] = []

    @property
    def detail(self) -> str:
        return str(getattr(self._sink, "detail", ""))

    def open(self) -> _TimedSink:
        self._sink = self._factory()
        return self

    def send(self, frame: np.ndarray, time_: float, order: PixelOrder = "rgba") -> None:
        assert self._sink is not None
        start = time.perf_counter()
        self._sink.send(frame, time_, order)
        self.seconds.append(time.perf_counter() - start)

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()


def _wait_ready(receiver: subprocess.Popen[str], offer: Callable[[np.ndarray, float], None],
                size: tuple[int, int]) -> None:
    """Send warm-up frames at FPS until the receiver says it reads them."""
    assert receiver.stdout is not None
    warm = marked_frame(WARMUP, size)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        offer(warm, 0.0)
        if select.select([receiver.stdout], [], [], 1 / FPS)[0]:
            line = receiver.stdout.readline()
            if line.strip() == "ready":
                return
            if not line:
                raise RuntimeError("the NDI receiver process ended before it read a frame")
    raise RuntimeError(f"the NDI receiver read no frame within {READY_TIMEOUT_S:g} s")


def send_and_receive(frames: int, size: tuple[int, int], fourcc: str = "rgba",
                     order: PixelOrder = "rgba") -> dict[str, Any]:
    """Send `frames` marked frames from an NdiSink through a SinkThread at FPS to a receiver
    process, offered in `order` as the show's pictures are; the figures (see the module doc). Call
    inside a loopback namespace."""
    from vj.rig.ndi import NdiSink
    from vj.rig.sink import SinkThread, VideoOutputs

    receiver = subprocess.Popen([sys.executable, "-m", "vj.bench.rig_ndi", "--receive", str(frames)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    sink = _TimedSink(lambda: NdiSink(SOURCE, fourcc))
    outputs = VideoOutputs([SinkThread("ndi", sink.open)]).start()
    sent_at: list[float] = []
    offer_s: list[float] = []
    try:
        _wait_ready(receiver, lambda frame, t: outputs.offer(in_order(frame, "rgba", order), t, order), size)
        warm_dropped = outputs.statuses()[0].dropped
        sink.seconds.clear()
        next_due = time.perf_counter()
        for index in range(frames):
            frame = in_order(marked_frame(index, size), "rgba", order)
            next_due += 1 / FPS
            time.sleep(max(0.0, next_due - time.perf_counter()))
            sent_at.append(time.time())
            start = time.perf_counter()
            outputs.offer(frame, index / FPS, order)
            offer_s.append(time.perf_counter() - start)
        status = outputs.statuses()[0]
        assert receiver.stdin is not None
        receiver.stdin.write("done\n")
        receiver.stdin.flush()
        out, _ = receiver.communicate(timeout=GRACE_S + 30)
    finally:
        outputs.stop()
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()
    got = json.loads(out.strip().splitlines()[-1])
    read = {int(i): v for i, v in got["seen"].items()}
    seen = {i: v for i, v in read.items() if i < frames}
    latencies = [(seen[i][0] - sent_at[i]) * 1000 for i in sorted(seen)]
    return {
        "sent": frames, "received": len(seen), "size": list(size), "fps": FPS, "fourcc": fourcc,
        "missing": [i for i in range(frames) if i not in seen][:20], "misread": len(read) - len(seen),
        "latency_p50_ms": round(percentile(latencies, 50), 3) if latencies else None,
        "latency_p99_ms": round(percentile(latencies, 99), 3) if latencies else None,
        "render_thread_ms_p50": round(percentile(offer_s, 50) * 1000, 4),
        "render_thread_ms_p99": round(percentile(offer_s, 99) * 1000, 4),
        "send_ms_p50": round(percentile(sink.seconds, 50) * 1000, 3) if sink.seconds else None,
        "send_ms_p99": round(percentile(sink.seconds, 99) * 1000, 3) if sink.seconds else None,
        "output_dropped": status.dropped - warm_dropped, "output_error": status.error, "output_detail": status.detail,
        "colour_error_max": max((v[1] for v in seen.values()), default=None),
        "received_size": got["size"], "source": got["source"], "reads": got["reads"],
    }


# -- the benchmark -----------------------------------------------------------------------------


def bench_ndi(frames: int = 600, size: tuple[int, int] = (1280, 720), fourcc: str = "rgba") -> dict[str, Any]:
    """`{sent, received, size, fps, latency_p99_ms, render_thread_ms_p99, ...}` for `frames`
    frames of `size` sent over NDI in a loopback namespace (see the module doc). Targets: nothing
    lost, render_thread_ms_p99 <= 1 ms."""
    with tempfile.TemporaryDirectory(prefix="vj-ndi-") as folder:
        (Path(folder) / "ndi-config.v1.json").write_text(json.dumps(NDI_CONFIG))
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "NDI_CONFIG_DIR": folder,
               "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
        argv = [sys.executable, "-m", "vj.bench.rig_ndi", "--inside", str(frames), f"{size[0]}x{size[1]}", fourcc]
        done = isolated(argv, env=env, timeout=frames / FPS + 90)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the NDI benchmark failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vj.bench.rig_ndi", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--inside", nargs=3, metavar=("FRAMES", "WxH", "FOURCC"),
                       help="the sending side, already in a loopback namespace")
    group.add_argument("--receive", type=int, metavar="FRAMES", help="the receiver process")
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--size", default="1280x720")
    args = parser.parse_args(argv)
    if args.receive is not None:
        result = receive(args.receive)
    elif args.inside:
        w, h = (int(v) for v in args.inside[1].split("x"))
        result = send_and_receive(int(args.inside[0]), (w, h), args.inside[2])
    else:
        w, h = (int(v) for v in args.size.split("x"))
        result = bench_ndi(args.frames, (w, h))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
