"""Events: small immutable messages that input threads put on the one event queue.

Inputs never touch parameters or GL. A source is identified by a hashable key
tuple, e.g. ("key", "SPACE"); later sources add their own kinds
(("midi", port, channel, "cc", 49), ("osc", "/vj/zoom")) without changing the engine.
"""

from __future__ import annotations

import queue
from collections import deque
from dataclasses import dataclass, fields
from typing import Hashable, Iterator, Sequence, Union

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


_FIELDS = ("source", "value", "pressed", "raw", "time", "one_shot", "pattern")
assert tuple(f.name for f in fields(ControlEvent)) == _FIELDS, "control_event() must list every field"
_new, _set = object.__new__, object.__setattr__


def control_event(source: SourceKey, value: float, pressed: bool | None, raw: int | float | str | None,
                  time: float, one_shot: bool, pattern: bool) -> ControlEvent:
    """ControlEvent(source, value, pressed, raw, time, one_shot, pattern), equal to it, at less than
    half the cost: a frozen dataclass's __init__ sets each field through object.__setattr__, this
    sets its __dict__ once (for inputs that make tens of thousands a second: OSC)."""
    event = _new(ControlEvent)
    _set(event, "__dict__", {"source": source, "value": value, "pressed": pressed, "raw": raw, "time": time,
                             "one_shot": one_shot, "pattern": pattern})
    return event


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


@dataclass(frozen=True)
class SpokenPrompt:
    """A dictated prompt ("dream of a glass city"): the show blends it in over prompt.transition."""

    text: str  # the prompt
    heard: str  # the whole transcript it came from
    time: float  # when the speech ended (time.perf_counter)


@dataclass(frozen=True)
class Notice:
    """Something for the HUD and the log that needs no reply (a voice input's "not understood")."""

    message: str


Event = Union[ControlEvent, ConfigChanged, ClockEvent, DeviceStatus, SpokenPrompt, Notice]


class EventQueue:
    """The one queue from input threads to the render thread. Never blocks the consumer.

    A producer puts events one at a time, or a batch of them at once (`put_batch`: one queue
    operation for many events, which keep their order); the consumer sees single events either way.
    Only one thread consumes (drain, wait_pending).
    """

    def __init__(self) -> None:
        self._q: queue.SimpleQueue[Event | list[Event]] = queue.SimpleQueue()
        self._taken: deque[Event] = deque()  # the rest of a batch taken off the queue, not yet drained

    def put(self, event: Event) -> None:
        self._q.put(event)

    def put_batch(self, events: Sequence[Event]) -> None:
        """Several events in order, as one item (nothing for an empty batch)."""
        if events:
            self._q.put(list(events))

    def _take(self, block: bool, timeout: float | None = None) -> bool:
        """The next item off the queue into `_taken`; False when there was none (in time)."""
        try:
            item = self._q.get(block, timeout)
        except queue.Empty:
            return False
        if isinstance(item, list):
            self._taken.extend(item)
        else:
            self._taken.append(item)
        return True

    def wait_pending(self, timeout: float) -> bool:
        """Blocks until an event is pending (True) or `timeout` seconds passed (False)."""
        return bool(self._taken) or self._take(True, timeout)

    def drain(self, limit: int = 10_000) -> Iterator[Event]:
        """Everything pending now (bounded, so a flood cannot stall a display frame forever: the
        rest of a batch stays for the next drain)."""
        taken = self._taken
        for _ in range(limit):
            if not taken and not self._take(False):
                return
            yield taken.popleft()
