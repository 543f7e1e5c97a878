"""A one-slot mailbox: the writer overwrites, the reader takes the newest. Latest wins, nothing queues up."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._value: T | None = None
        self._fresh = False
        self.overwritten = 0  # values replaced before anyone took them (latest-wins drops)

    def put(self, value: T) -> None:
        self.swap(value)

    def swap(self, value: T) -> T | None:
        """Like put; returns the value it replaced if nobody took it (None otherwise)."""
        with self._cond:
            replaced = self._value if self._fresh else None
            if self._fresh:
                self.overwritten += 1
            self._value = value
            self._fresh = True
            self._cond.notify_all()
            return replaced

    def take(self) -> T | None:
        """The newest value if one arrived since the last take, else None. Never blocks."""
        with self._cond:
            if not self._fresh:
                return None
            self._fresh = False
            return self._value

    def wait_take(self, timeout: float) -> T | None:
        """Like take, but waits up to `timeout` seconds for a value to arrive."""
        with self._cond:
            if not self._fresh:
                self._cond.wait(timeout)
            if not self._fresh:
                return None
            self._fresh = False
            return self._value

    def peek(self) -> T | None:
        """The last value put, taken or not."""
        with self._cond:
            return self._value
