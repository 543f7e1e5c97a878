"""Waiting on real processes in tests: a condition within a time limit, and whether a pid lives."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 30.0, what: str | Callable[[], str] = "condition",
             every: float = 0.02) -> T:
    """The first truthy value of `condition()`, polled `every` s; AssertionError after `timeout` s.

    `what` names what was awaited in that error; a function gives the name at the timeout, so it
    can show the state then (`what=lambda: f"the LED; got {peer.received}"`). A numpy array has no
    truth value: wait for `x is not None`, or return it in a tuple. A condition that starts a
    process (a JACK client, a screenshot) polls less often, so as not to load what it waits for.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what() if callable(what) else what}")


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


class Ticker:
    """A thread that notes the time every 10 ms: the longest gap between two notes is how long the
    process stood still (the GIL held by a call that waits, say)."""

    def __init__(self) -> None:
        import threading

        self.ticks: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.ticks.append(time.monotonic())
            time.sleep(0.01)

    def start(self) -> Ticker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join()

    def longest_gap(self) -> float:
        return max((b - a for a, b in zip(self.ticks, self.ticks[1:], strict=False)), default=0.0)
