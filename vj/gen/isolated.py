"""Run a generator backend in its own process.

Why: moderngl holds Python's GIL through every GL call, so a GL generator on a
thread of the render process stalls the render loop for as long as a frame
takes to draw (measured: 66 ms gaps on the render thread with the procedural
dream on a worker thread). In a child process its GL work runs truly in
parallel; the worker thread here only waits on a pipe, which releases the GIL.
A crash of the child is an ordinary generator fault: the worker restarts it.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing as mp
import subprocess
import sys
import traceback
from dataclasses import replace
from multiprocessing.connection import Connection

import numpy as np

from vj.gen.base import Generator, GenRequest

log = logging.getLogger(__name__)

START_SECONDS = 60.0  # first frame: the child imports numpy and moderngl and builds its GL context
FRAME_SECONDS = 30.0  # any later frame; past this the child is considered hung


def _load(target: str) -> Generator:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)()  # type: ignore[no-any-return]


def _serve(conn: Connection, target: str) -> None:
    """The child: build the backend, then answer requests until told to stop (None) or orphaned."""
    generator: Generator | None = None
    try:
        generator = _load(target)
        while True:
            request = conn.recv()
            if request is None:
                break
            try:
                image = np.ascontiguousarray(generator.generate(request), dtype=np.uint8)
            except Exception as exc:  # noqa: BLE001 - reported to the parent, which decides
                conn.send(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
                continue
            conn.send(("ok", image.shape, image.tobytes()))
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        pass  # the parent went away
    finally:
        if generator is not None:
            generator.close()


class ProcessGenerator:
    """A Generator that forwards each request to `target` ("module:factory") in a child process.

    The child is a fresh `python -m vj.gen.isolated` talking over a socket pair: no forked copy
    of the render process's GL state or threads, and (unlike multiprocessing's spawn) no
    re-import of the parent's main script, which would need an `if __name__` guard in it.
    """

    def __init__(self, target: str, name: str) -> None:
        self.name = name
        self._target = target
        self._conn: Connection | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._served = 0

    def _start(self) -> Connection:
        parent, child = mp.Pipe()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "vj.gen.isolated", str(child.fileno()), self._target],
                pass_fds=(child.fileno(),),
            )
        finally:
            child.close()
        self._conn = parent
        return parent

    def generate(self, request: GenRequest) -> np.ndarray:
        conn = self._conn or self._start()
        conn.send(replace(request, params=dict(request.params), audio=dict(request.audio)))  # a mappingproxy does not pickle
        limit = START_SECONDS if self._served == 0 else FRAME_SECONDS
        if not conn.poll(limit):
            raise TimeoutError(f"{self.name} process gave no frame in {limit:.0f} s")
        try:
            reply = conn.recv()
        except (EOFError, ConnectionResetError):
            code = self._process.poll() if self._process else None
            raise RuntimeError(f"{self.name} process died (exit code {code})") from None
        if reply[0] == "error":
            log.debug("%s process traceback:\n%s", self.name, reply[2])
            raise RuntimeError(reply[1])
        self._served += 1
        _, shape, data = reply
        return np.frombuffer(data, dtype=np.uint8).reshape(shape)

    def close(self) -> None:
        conn, process = self._conn, self._process
        self._conn = self._process = None
        if conn is not None:
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            conn.close()
        if process is not None:
            try:
                process.wait(2.0)
            except subprocess.TimeoutExpired:
                process.terminate()
                process.wait(2.0)


if __name__ == "__main__":  # the child: python -m vj.gen.isolated FD MODULE:FACTORY
    _serve(Connection(int(sys.argv[1])), sys.argv[2])
