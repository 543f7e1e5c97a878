"""A generator process: builds one backend, then turns requests into frames in a shared ring.

Runs in a child of the supervisor (vj.proc), started by vj.gen.process. The conversation:

    child -> parent   ("idle",)                          loaded and warmed up: send a request
    parent -> child   ("request", seq, request, frees, camera)
                      frees: ring slots given back; camera: (h, w) of the camera frame the
                      parent wrote into the ring's input area, or None
    child -> parent   ("frame", seq, slot, h, w, seconds, backend)   slot now belongs to the parent
                      ("fault", seq, message)            this request failed; the next may not
                      ("unavailable", message)           cannot run here (no weights): fall back

"frame" and "fault" also ask for the next request, so at most one request is ever in flight
and a request never waits in a pipe (latest wins: the parent sends the newest it has).
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections import deque
from dataclasses import replace

import numpy as np

from vj.gen.backends import BackendSpec, build
from vj.gen.base import GeneratorUnavailable
from vj.proc.child import ChildLink
from vj.proc.ring import FrameRing

log = logging.getLogger(__name__)

LOAD_PATIENCE = 900.0  # seconds a load, a warm-up or a compile may stay silent
SLOW_FRAME_FACTOR = 4.0  # a frame may take this many times the slowest recent one before it hangs


def thread_env(threads: int) -> dict[str, str]:
    """The environment that holds a child's compute libraries to `threads` threads: OpenMP and
    MKL (torch on the CPU) and llvmpipe (Mesa's software GL, the procedural dream)."""
    n = str(max(1, threads))
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "LP_NUM_THREADS": n}


def _limit_torch(threads: int) -> None:
    try:
        import torch
    except ImportError:
        return  # no diffusion extra: build() says so, and the show falls back

    torch.set_num_threads(max(1, threads))
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set (it may be set once per process)


def serve(link: ChildLink, spec: BackendSpec, ring_fd: int, slots: int, capacity: int, input_capacity: int,
          threads: int, silence: float) -> None:
    ring = FrameRing(ring_fd, slots, capacity, input_capacity)
    os.close(ring_fd)
    started = time.monotonic()
    link.progress(f"loading {spec.label}", patience=LOAD_PATIENCE)
    if spec.kind == "diffusion":
        _limit_torch(threads)
    try:
        generator = build(spec, lambda text: link.progress(f"{spec.label}: {text}", patience=LOAD_PATIENCE))
    except GeneratorUnavailable as exc:
        link.send(("unavailable", str(exc)))
        while True:
            link.recv()  # until the parent stops this process (Stopped ends it)
    loaded = time.monotonic() - started
    free = list(range(slots))
    recent: deque[float] = deque(maxlen=8)
    first = True
    link.send(("idle",))
    try:
        while True:
            message = link.recv()
            if message is None or message[0] != "request":
                continue
            _, seq, request, frees, camera = message
            free.extend(frees)
            if camera is not None:  # copied out at once: the parent may write the next one after our reply
                request = replace(request, init_image=ring.input_view(*camera).copy())
            if recent and SLOW_FRAME_FACTOR * max(recent) > silence:
                link.patience(SLOW_FRAME_FACTOR * max(recent))
            t0 = time.perf_counter()
            try:
                if not free:
                    raise RuntimeError("no free frame slot (the parent kept them all)")
                image = np.asarray(generator.generate(request))
                slot = free.pop(0)
                h, w = ring.write(slot, image)
            except Exception as exc:  # noqa: BLE001 - the parent counts faults and decides
                log.debug("frame %d failed:\n%s", seq, traceback.format_exc())
                link.send(("fault", seq, f"{type(exc).__name__}: {exc}"))
                continue
            seconds = time.perf_counter() - t0
            recent.append(seconds)
            link.send(("frame", seq, slot, h, w, seconds, generator.name))
            if first:
                first = False
                how = getattr(generator, "summary", "")  # diffusion: its compile mode and warm-up seconds
                link.ready(f"{spec.label} ready: loaded in {loaded:.1f} s{', ' + how if how else ''}, "
                           f"first frame {seconds * 1000:.0f} ms")
    finally:
        generator.close()
