"""Tiny children for the supervisor's tests, each a `main(link, ...)` run by vj.proc.child
(`ChildSpec(name, "tests.support.children:echo")`), and a handler recording what they say."""

from __future__ import annotations

import os
import queue
import time

from vj.proc.child import ChildLink
from vj.proc.supervisor import ChildHandler, ChildStatus


class Recorder(ChildHandler):
    """Every message a child sent and every status it went through (with the time)."""

    def __init__(self) -> None:
        self.messages: queue.Queue[tuple] = queue.Queue()
        self.statuses: list[tuple[float, ChildStatus]] = []

    def message(self, message: tuple) -> None:
        self.messages.put(message)

    def changed(self, status: ChildStatus) -> None:
        self.statuses.append((time.monotonic(), status))

    def next(self, kind: str, timeout: float = 20.0) -> tuple:
        """The next message of `kind` (those of other kinds before it are dropped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if message[0] == kind:
                return message
        raise AssertionError(f"no {kind!r} message within {timeout} s")

    def states(self) -> list[str]:
        return [s.state for _, s in self.statuses]


# -- the children ----------------------------------------------------------------------------------


def echo(link: ChildLink, greeting: str = "hello") -> None:
    """Says `greeting` and that it is ready, then answers ("echo", x) with ("echoed", x, its pid)."""
    link.send(("greeting", greeting, os.getpid()))
    link.ready("echoing")
    while True:
        message = link.recv()
        if message is not None and message[0] == "echo":
            link.send(("echoed", message[1], os.getpid()))
        elif message is not None and message[0] == "hang":
            time.sleep(3600)  # never answers again, not even a heartbeat
        elif message is not None and message[0] == "exit":
            os._exit(int(message[1]))


def crash_at_start(link: ChildLink) -> None:
    raise RuntimeError("no such device: /dev/nothing")


def silent(link: ChildLink) -> None:
    """Never says anything: hung from the start."""
    time.sleep(3600)  # hung


def slow_start(link: ChildLink, seconds: float) -> None:
    """Asks for patience, stays silent that long, then works like echo."""
    link.progress("loading a big model", patience=seconds + 5.0)
    time.sleep(seconds)  # loading
    echo(link, "loaded")


def stubborn(link: ChildLink) -> None:
    """Ignores the stop message (it never reads): the supervisor must kill it."""
    link.ready()
    while True:
        time.sleep(0.2)  # a heartbeat every 0.2 s, and never a look at its messages
        link.beat()


def env(link: ChildLink, name: str) -> None:
    link.send(("env", os.environ.get(name)))
    link.ready()
    link.recv()


def warn(link: ChildLink) -> None:
    import logging

    logging.getLogger("vj.test.child").warning("the lens cap is on")
    link.ready()
    link.recv()


def answer(link: ChildLink, question: str) -> None:
    """Answers once, then returns (the process ends)."""
    if question == "die":
        os._exit(7)
    link.send(("answer", question.upper()))


def read_fd(link: ChildLink, fd: int) -> None:
    """Reads what its inherited descriptor holds and says it (with its pid and whether it was a
    spare: its /proc/PID/comm then had been vj-spare), then echoes as `echo` does."""
    data = os.read(fd, 1024).decode()
    os.close(fd)
    link.send(("read", data, os.getpid()))
    link.ready("read")
    while True:
        message = link.recv()
        if message is not None and message[0] == "echo":
            link.send(("echoed", message[1], os.getpid()))


class PipeHandler(Recorder):
    """Gives each start of its child a fresh pipe holding "start N" as an inherited descriptor."""

    def __init__(self) -> None:
        super().__init__()
        self.starts = 0

    def starting(self, child):
        from vj.proc.child import InheritedFd

        self.starts += 1
        r, w = os.pipe()
        os.write(w, f"start {self.starts}".encode())
        os.close(w)
        return (InheritedFd(r),), (r,)
