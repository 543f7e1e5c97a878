"""Events: small immutable messages that input threads put on the one event queue.

Inputs never touch parameters or GL. A source is identified by a hashable key
tuple, e.g. ("key", "SPACE"); later sources add their own kinds
(("midi", port, channel, "cc", 49), ("osc", "/vj/zoom")) without changing the engine.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass
from typing import Hashable, Iterator, Union

SourceKey = tuple[Hashable, ...]


@dataclass(frozen=True)
class ControlEvent:
    """A control moved: `value` is normalised to 0..1 (a key: 1 pressed, 0 released)."""

    source: SourceKey
    value: float


@dataclass(frozen=True)
class ConfigChanged:
    """A watched preset or mapping file was re-read; `config` is the parsed object or None on error."""

    path: str
    config: object | None
    error: str | None = None


Event = Union[ControlEvent, ConfigChanged]


class EventQueue:
    """The one queue from input threads to the render thread. Never blocks the consumer."""

    def __init__(self) -> None:
        self._q: queue.SimpleQueue[Event] = queue.SimpleQueue()

    def put(self, event: Event) -> None:
        self._q.put(event)

    def drain(self, limit: int = 10_000) -> Iterator[Event]:
        """Everything pending now (bounded, so a flood cannot stall a display frame forever)."""
        for _ in range(limit):
            try:
                yield self._q.get_nowait()
            except queue.Empty:
                return
