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
    """A control moved: `value` is normalised to 0..1 (a key: 1 pressed, 0 released).

    `pressed` overrides the button reading of `value` (a note at velocity 20 is pressed);
    `raw` is the control's own value (a relative encoder's 7-bit code, a program number, an OSC
    argument in the parameter's own units or a string);
    `time` is when it arrived (time.perf_counter), for encoder acceleration and latency;
    `one_shot`: a press that needs no release (an OSC message fires its action every time);
    `pattern`: the source's last part is an OSC address pattern (wildcards) to match bindings.
    """

    source: SourceKey
    value: float
    pressed: bool | None = None
    raw: int | float | str | None = None
    time: float = 0.0
    one_shot: bool = False
    pattern: bool = False


@dataclass(frozen=True)
class ClockEvent:
    """A MIDI real-time message: tick (24 per quarter note), start, stop, continue, or
    position (song position pointer, `value` in sixteenth notes). `time` as in ControlEvent."""

    kind: str
    time: float
    value: int = 0


@dataclass(frozen=True)
class DeviceStatus:
    """An input or output device came or went; the show reports it in the HUD and log."""

    device: str  # the mapping's name for it (a MIDI device's name)
    connected: bool
    message: str
    role: str = ""  # e.g. "midi in", "midi out": an output coming back needs its LEDs resent


@dataclass(frozen=True)
class ConfigChanged:
    """A watched preset or mapping file was re-read; `config` is the parsed object or None on error."""

    path: str
    config: object | None
    error: str | None = None


Event = Union[ControlEvent, ConfigChanged, ClockEvent, DeviceStatus]


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
