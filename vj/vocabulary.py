"""vj's vocabulary: the words every layer shares, in one module that imports nothing from vj.

Inputs (keyboard, MIDI, OSC, audio, voice, file watchers) speak in events with source keys;
config files are checked against the action, key, curve and voice-command names; the mapping,
parameters, show and generators speak of motion rates and the beat clock's state. Keeping these
here lets each layer import only this module and the layers below it, never back up
(tests/test_imports.py walks the import graph and fails on a cycle), and keeps `vj check`
free of glfw and torch.

Sections: events and the event queue, actions, key names, curves, motion, clock, voice commands,
pictures.
"""

from __future__ import annotations

import queue
from collections import deque
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    import numpy as np

MAX_PROMPTS = 8  # prompt slots a preset and a mapping can address (prompt.1 .. prompt.8)

# -- events ---------------------------------------------------------------------------------
# Inputs never touch parameters or GL: they put small immutable events on the one EventQueue.
# A source is a hashable key tuple, e.g. ("key", "SPACE"), ("midi", port, channel, "cc", 49),
# ("osc", "/vj/zoom"): a new kind of input adds its own keys without changing the engine.

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


Event = ControlEvent | ConfigChanged | ClockEvent | DeviceStatus | SpokenPrompt | Notice


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


# -- actions --------------------------------------------------------------------------------
# Named actions a binding can fire. The show implements each (vj.show.actions); configs are
# validated against this table.

# name -> (description, takes a value)
ACTIONS: dict[str, tuple[str, bool]] = {
    "fullscreen": ("toggle fullscreen", False),
    "hud": ("show or hide the heads-up display", False),
    "freeze": ("toggle freeze: hold the picture", False),
    "blackout": ("toggle blackout (fades to black)", False),
    "flash": ("a white flash that fades in a fraction of a second (put it on a kick or a pad)", False),
    "preset.select": ("switch to preset number `value` (0-based, in the order listed), or one named (OSC)", True),
    "preset.next": ("switch to the next preset", False),
    "preset.prev": ("switch to the previous preset", False),
    "tap": ("tap tempo: taps set the bpm", False),
    "tempo.double": ("double the tempo: x2 on the audio, MIDI or Link tempo, else the bpm times 2", False),
    "tempo.half": ("halve the tempo: ÷2 on the audio, MIDI or Link tempo, else the bpm divided by 2", False),
    "beat.nudge": ("move the beat `value` ms later (negative: earlier), gliding there; lasts while "
                   "the audio, MIDI or Link leads", True),
    "beat.resync": ("the beat playing is beat one of the bar (manual: or the next tap; audio: its next beat)",
                    False),
    "seed.step": ("walk to the next seed (crossfades there)", False),
    "prompt.select": ("fade to prompt number `value` (1-8) alone: its weight to 1, the others to 0", True),
    "motion.reset": ("stop all camera motion and return the view home", False),
    "learn": ("MIDI learn mode: choose a target, move a control to bind it (vj run)", False),
    "quit": ("close vj", False),
}
# Text actions take a string (OSC /vj/prompt/<i>/text): no MIDI control can play them.
TEXT_ACTIONS = {f"prompt.{i}.text": f"set prompt {i}'s text in the playing preset" for i in range(1, MAX_PROMPTS + 1)}
ACTIONS.update({name: (description, True) for name, description in TEXT_ACTIONS.items()})


class ActionSink(Protocol):
    def action(self, name: str, value: float | int | str | None) -> None: ...


def action_list() -> str:
    """The actions for an error message, the per-prompt text actions as one entry."""
    return ", ".join([name for name in ACTIONS if name not in TEXT_ACTIONS] + [f"prompt.N.text (N 1-{MAX_PROMPTS})"])


# -- key names ------------------------------------------------------------------------------
# GLFW's key names (`SPACE`, `LEFT`, `A`, `1`, `F11`...), written out so that parsing a mapping
# file does not load the windowing library; vj.render.window maps GLFW's key codes to these
# names (tests/render/test_window.py checks the two agree).

KEY_NAMES: frozenset[str] = frozenset((
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F", "G", "H", "I",
    "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T", "U", "V", "W", "X", "Y", "Z",
    "APOSTROPHE", "BACKSLASH", "BACKSPACE", "CAPS_LOCK", "COMMA", "DELETE", "DOWN", "END", "ENTER",
    "EQUAL", "ESCAPE", "F1", "F10", "F11", "F12", "F13", "F14", "F15", "F16", "F17", "F18", "F19",
    "F2", "F20", "F21", "F22", "F23", "F24", "F25", "F3", "F4", "F5", "F6", "F7", "F8", "F9",
    "GRAVE_ACCENT", "HOME", "INSERT", "KP_0", "KP_1", "KP_2", "KP_3", "KP_4", "KP_5", "KP_6",
    "KP_7", "KP_8", "KP_9", "KP_ADD", "KP_DECIMAL", "KP_DIVIDE", "KP_ENTER", "KP_EQUAL",
    "KP_MULTIPLY", "KP_SUBTRACT", "LEFT", "LEFT_ALT", "LEFT_BRACKET", "LEFT_CONTROL", "LEFT_SHIFT",
    "LEFT_SUPER", "MENU", "MINUS", "NUM_LOCK", "PAGE_DOWN", "PAGE_UP", "PAUSE", "PERIOD",
    "PRINT_SCREEN", "RIGHT", "RIGHT_ALT", "RIGHT_BRACKET", "RIGHT_CONTROL", "RIGHT_SHIFT",
    "RIGHT_SUPER", "SCROLL_LOCK", "SEMICOLON", "SLASH", "SPACE", "TAB", "UP", "WORLD_1", "WORLD_2"
))


def normalise_key(name: str) -> str:
    """Config spelling -> GLFW name: case-insensitive, so `space` and `f11` work."""
    return name.strip().upper().replace(" ", "_")


def key_source(name: str) -> SourceKey:
    return ("key", normalise_key(name))


def key_event(name: str, pressed: bool) -> ControlEvent:
    return ControlEvent(key_source(name), 1.0 if pressed else 0.0)


# -- curves ---------------------------------------------------------------------------------

CURVES = ("lin", "exp", "log")  # how a binding bends a knob's travel (vj.control.transform)

# -- motion ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class MotionRates:
    """Camera motion as rates per second (see vj.params for units)."""

    zoom: float = 0.0  # natural-log scale per second: exp(zoom) = magnification after 1 s
    pan_x: float = 0.0  # screen heights per second; > 0 moves the camera right
    pan_y: float = 0.0  # screen heights per second; > 0 moves the camera up
    rotate: float = 0.0  # degrees per second; > 0 turns the camera clockwise

    @property
    def still(self) -> bool:
        return self.zoom == 0.0 and self.pan_x == 0.0 and self.pan_y == 0.0 and self.rotate == 0.0


# -- clock ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClockState:
    bpm: float
    beats: float  # beats elapsed since the clock started (or since MIDI Start / Song Position)
    source: str  # "manual", "tap", "midi", "link" or "audio"
    running: bool = True  # False while a MIDI clock is stopped: the phase holds

    @property
    def phase(self) -> float:
        """Position within the current beat, 0..1."""
        return self.beats % 1.0

    @property
    def bar(self) -> float:
        """Position within a 4/4 bar, 0..4."""
        return self.beats % 4.0


# -- voice commands -------------------------------------------------------------------------

# canonical command -> the phrases that say it (every word must be in pocketsphinx's en-us dictionary)
VOICE_COMMANDS: dict[str, list[str]] = {
    "zoom.in": ["zoom in", "closer"],
    "zoom.out": ["zoom out"],
    "pan.left": ["move left"],
    "pan.right": ["pan right", "go right", "move right"],
    "pan.up": ["move up"],  # "pan up" measured 2/6
    "pan.down": ["pan down", "go down"],
    "faster": ["faster", "speed up"],
    "slower": ["slower", "slow down"],
    "stop": ["pause"],
    "preset.next": ["next preset"],
    "preset.prev": ["previous preset"],
    "freeze": ["freeze"],
    "resume": ["resume"],
    "blackout": ["blackout"],
    "lights.on": ["lights on"],
    "seed.new": ["new seed", "new dream"],
    "flash": ["flash"],
}


def phrase_index(commands: dict[str, list[str]]) -> dict[str, str]:
    """Normalised phrase -> command name; a phrase claimed by two commands is an error."""
    index: dict[str, str] = {}
    for name, phrases in commands.items():
        for phrase in phrases:
            key = " ".join(phrase.lower().split())
            if key in index and index[key] != name:
                raise ValueError(f"phrase {phrase!r} is bound to both {index[key]!r} and {name!r}")
            index[key] = name
    return index


# -- pictures ------------------------------------------------------------------------------------

# A picture's byte order, uint8 (h, w, 4): RGBA, or BGRA where the window holds it so (read as it
# is, a plain copy: half the time of RGBA on software GL) and the outputs take it as it comes
PixelOrder = Literal["rgba", "bgra"]


def in_order(frame: np.ndarray, order: PixelOrder, want: PixelOrder, out: np.ndarray | None = None) -> np.ndarray:
    """`frame` (uint8 (h, w, 4) in `order`) in the order `want`: itself, or red and blue swapped
    (into `out` when given, else a new array)."""
    if order == want:
        return frame
    swapped: np.ndarray = frame.take([2, 1, 0, 3], axis=2, out=out)
    return swapped
