"""The runtime inside every supervised child: `python -m vj.proc.child FD PID NAME`.

The parent (vj.proc.supervisor) passes one end of a socket pair as FD (then its own pid, and
the child's name, which is only there for `ps`) and sends the first
message, `(main, args)`: "module:function" and its arguments. The child calls
`function(link, *args)` and exits when it returns. A `ChildLink` is how a child talks to its
parent: `send` (any message proves it is alive), `recv` (which beats while it waits),
`progress` (a line for the HUD, optionally asking for a longer silence, such as while a model
loads), `ready` (it works as meant: the supervisor forgets earlier failures). A "stop" message
from the parent raises `Stopped` out of `recv`, so a child's `finally` blocks run.

A spare (ChildSpec.spare) is the same started ahead with a module to import, `python -m
vj.proc.child FD PID NAME MODULE`: it imports MODULE (and calls its `warm()` if it has one),
names itself `vj-spare` (Linux's /proc/PID/comm, so that tools looking for the running child
skip it) and waits. When the child
it stands in for dies, the supervisor sends it the first message at once, `(main, args,
positions)`, then the file descriptors the args name at those positions over the socket
(SCM_RIGHTS: a spare was started before they existed); it takes its name and runs.

Why a fresh interpreter and not fork or multiprocessing's spawn: a fork would copy the render
process's GL context and threads; spawn re-imports the parent's main script. The child ignores
Ctrl-C (the parent stops it in order), dies with its parent (PR_SET_PDEATHSIG on Linux; EOF on
the socket elsewhere) and sends its warnings to the parent's log.
"""

from __future__ import annotations

import ctypes
import importlib
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from vj.priority import NICE_ENV, below

BEAT = 0.5  # seconds between heartbeats while a child waits in `recv`


class Stopped(Exception):
    """The parent asked the child to stop."""


class ChildLink:
    """The child's end of its socket to the supervisor. `send` may be called from any thread."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._last_sent = time.monotonic()

    def send(self, message: tuple[Any, ...]) -> None:
        with self._lock:
            self._conn.send(message)
            self._last_sent = time.monotonic()

    def recv(self, timeout: float | None = None) -> tuple[Any, ...] | None:
        """The next message from the parent, or None after `timeout` seconds (None: wait for
        one). Sends a heartbeat when nothing was sent for BEAT seconds, whether it waits or
        messages keep coming; raises Stopped on "stop"."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if time.monotonic() - self._last_sent >= BEAT:  # also while messages keep coming (a stream)
                self.beat()
            wait = BEAT if deadline is None else min(BEAT, deadline - time.monotonic())
            if wait > 0 and self._conn.poll(wait):
                message = self._conn.recv()
                if message == ("stop",):
                    raise Stopped
                return message
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def beat(self) -> None:
        self.send(("beat",))

    def ready(self, detail: str = "") -> None:
        """The child works as meant (a device opened, a first frame made): earlier failures are forgiven."""
        self.send(("ready", detail))

    def progress(self, text: str, patience: float | None = None) -> None:
        """A line for the HUD and the log ("loading sd-turbo"). `patience`: the longest silence
        to expect until the next message (a model load, a compile), instead of the usual."""
        self.send(("progress", text, patience))

    def patience(self, seconds: float) -> None:
        """The longest silence to expect until the next message (a slow frame, say)."""
        self.send(("patience", seconds))


class _LinkHandler(logging.Handler):
    """Warnings and errors of the child go to the parent's log, under the same logger names."""

    def __init__(self, link: ChildLink) -> None:
        super().__init__(logging.WARNING)
        self.link = link

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.link.send(("log", record.levelno, record.name, self.format(record)))
        except Exception:  # noqa: BLE001 - a log line must never take the child down
            pass


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the thread that started it ends (the
    supervisor's). Elsewhere the child notices the closed socket instead."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return


def resolve(target: str) -> Callable[..., Any]:
    """"package.module:function" -> the function."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


SPARE_NAME = "vj-spare"  # a waiting spare's /proc/PID/comm


class InheritedFd(int):
    """A file descriptor among a child's args (ChildHandler.starting) that it inherits: marked so
    that a spare, started before it existed, can be sent it and have it put in its place."""


def name_process(name: str) -> None:
    """Linux: the process's short name (/proc/PID/comm, 15 bytes), which `ps -o comm` and tools show."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        return


def _received_fds(fd: int, args: tuple[Any, ...], positions: tuple[int, ...]) -> tuple[Any, ...]:
    """`args` with the descriptors sent after the first message (SCM_RIGHTS) put in at `positions`."""
    if not positions:
        return args
    sock = socket.socket(fileno=os.dup(fd))  # closing it closes the duplicate only
    try:
        _, fds, _, _ = socket.recv_fds(sock, 1, len(positions))
    finally:
        sock.close()
    out = list(args)
    for position, received in zip(positions, fds, strict=True):
        out[position] = received
    return tuple(out)


def main(fd: int, parent: int, name: str = "", preload: str | None = None) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if nice := int(os.environ.get(NICE_ENV, "0") or 0):
        below(nice)  # first: every thread started from here on inherits it
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the line above took effect
        return 0
    conn = Connection(fd)
    link = ChildLink(conn)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")  # stderr, drained by the parent
    logging.getLogger().addHandler(_LinkHandler(link))
    try:
        if preload is not None:
            name_process(SPARE_NAME)
            warm = getattr(importlib.import_module(preload), "warm", None)
            if callable(warm):  # the module's own head start (vj.gen.host.warm)
                warm()
        first = conn.recv()
        if first == ("stop",):
            return 0
        target, args, positions = first
        if preload is not None:
            name_process(name)
        resolve(target)(link, *_received_fds(fd, args, positions))
    except (Stopped, EOFError, BrokenPipeError, ConnectionResetError):
        return 0  # asked to stop, or the parent went away
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which decides what follows
        try:
            link.send(("crash", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        except OSError:
            pass
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:5]))
