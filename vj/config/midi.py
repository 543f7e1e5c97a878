"""MIDI in mapping files: the `midi:` device section and the MIDI sources of bindings.

    midi:
      name: apc40             # the device's id (default: the file's name)
      input: "APC40 mkII"     # which input ports: a case-insensitive part of the port name, or a
                              # glob (* ?); leave it out to take every input
      output: "APC40 mkII"    # where LED feedback and value echo go (default: none)
      channel: 1              # default channel of the bindings, 1-16 (default: any)
      takeover: pickup        # default takeover of absolute controls: jump | pickup | scale
      beat: [{note: 91, led: [0, 1]}]   # LEDs that flash on the beat
      init: [[0xF0, 0x00, 0x20, 0x29, 0x02, 0x11, 0x77, 0x08, 0xF7]]   # sent on each connect
    bindings:
      - {cc: 48, param: strength}                  # absolute knob or fader, 0-127
      - {cc: 16, encoder: twos-complement, param: zoom, step: 0.01, accel: 1}
      - {cc14: 1, param: crossfade}                # 14-bit: MSB cc 1, LSB cc 33
      - {nrpn: 1234, param: hue}                   # NRPN 0-16383, 7- or 14-bit data
      - {note: 36, action: freeze, led: [0, 127]}  # a pad; led: [off, on] velocities
      - {note: 0, action: hud, led: [0, 127, 7]}   # ... [off, on, channel] when the LED's channel differs
      - {note: 37, param: strength, mode: value}   # velocity as the value
      - {pitchbend: true, param: pan.x}
      - {program: any, action: preset.select}      # program change N selects preset N

A binding's source key is ("midi", device, channel 1-16, kind, number); `channel: any` (or no
channel anywhere) listens on all 16, and `program: any` on all 128 programs: the keys are
expanded here, once, so the engine still does one dict lookup per event.

MIDI source keys name a device, not a port: ("midi", device, channel, kind, number), the
device being the mapping's name for a controller. The port manager resolves port names to
devices when it opens a port, so a renamed or replugged port (JACK appends `-01`) still lands
on the same bindings, and the engine stays one dict lookup. `channel: any` and `program: any`
are expanded into their keys when the mapping is compiled.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from vj.config.source import Section, is_bool, is_choice, is_int, is_str, type_name
from vj.vocabulary import SourceKey

MIDI_KINDS = ("cc", "cc14", "nrpn", "note", "pitchbend", "program")
ENCODERS = ("twos-complement", "signed-bit", "binary-offset")
TAKEOVERS = ("jump", "pickup", "scale")
CHANNELS = tuple(range(1, 17))
ANY_DEVICE = "*"  # a mapping without a `midi:` section listens to every input port
_LIMITS = {"cc": 127, "cc14": 31, "nrpn": 16383, "note": 127, "program": 127}


@dataclass(frozen=True)
class BeatLed:
    kind: str  # note | cc
    number: int
    channel: int
    off: int = 0
    on: int = 127


@dataclass(frozen=True)
class MidiDevice:
    """One controller as a mapping file names it."""

    name: str
    input: str = ""  # port-name pattern; "" matches every input
    output: str | None = None
    channel: int | None = None  # default channel (None: any)
    takeover: str = "jump"
    beat: tuple[BeatLed, ...] = ()
    init: tuple[bytes, ...] = ()  # sent to the output on every (re)connect: mode switches, LED styles

    def matches_input(self, port: str) -> bool:
        return port_matches(self.input, port)

    def matches_output(self, port: str) -> bool:
        return self.output is not None and port_matches(self.output, port)


def port_matches(pattern: str, port: str) -> bool:
    """A glob when it has wildcards, else a case-insensitive part of the name ("" matches all)."""
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(port.lower(), pattern.lower())
    return pattern.lower() in port.lower()


def _channel(value: object) -> int | None:
    if value == "any":
        return None
    return is_int(1, 16)(value)


def _led(value: object) -> tuple[int, ...]:  # (off, on) or (off, on, channel)
    """[off, on] values, and optionally the channel the LED listens on (some controllers pick
    brightness or blinking by channel)."""
    if (
        isinstance(value, list)
        and len(value) in (2, 3)
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 127 for v in value)
        and (len(value) == 2 or 1 <= value[2] <= 16)
    ):
        return tuple(int(v) for v in value)
    raise ValueError(f"expected [off, on] values in 0..127 (and optionally a channel 1-16), got {value!r}")


def _message(value: object) -> bytes:
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value)
        and value[0] >= 0x80
    ):
        return bytes(value)
    raise ValueError(f"expected a MIDI message as a list of bytes starting with a status byte, got {value!r}")


def parse_device(top: Section, file: str) -> MidiDevice | None:
    """The file's `midi:` section, or None when it has none."""
    if not top.has("midi"):
        return None
    sec = top.section("midi")
    if not sec.ok:
        return None
    output = sec.get("output", is_str, "") or None
    channel = sec.get("channel", _channel, None)
    beat = []
    for index, line, item in sec.items("beat"):
        b = Section(sec.file, item, f"midi.beat[{index}]", sec.problems, line)
        if not b.ok:
            continue
        kinds = [k for k in ("note", "cc") if b.has(k)]
        if len(kinds) != 1:
            b.problem("", "needs exactly one of note or cc")
        else:
            default: tuple[int, ...] = (0, 127)
            off, on = b.get("led", _led, default)[:2]  # a beat LED's channel is its own `channel`
            beat.append(
                BeatLed(
                    kinds[0],
                    b.get(kinds[0], is_int(0, 127), 0),
                    b.get("channel", is_int(1, 16), channel or 1),
                    off,
                    on,
                )
            )
        b.finish(("note", "cc", "channel", "led"))
    init = []
    for index, line, item in sec.items("init"):
        try:
            init.append(_message(item))
        except ValueError as exc:
            sec.problem("init", f"[{index}]: {exc}", line)
    if beat and output is None:
        sec.problem("beat", "beat LEDs need an output port: add output: PATTERN")
    if sec.has("init") and output is None:
        sec.problem("init", "init messages need an output port: add output: PATTERN")
    device = MidiDevice(
        name=sec.get("name", is_str, Path(file).stem) or Path(file).stem,
        input=sec.get("input", is_str, ""),
        output=output,
        channel=channel,
        takeover=sec.get("takeover", is_choice(*TAKEOVERS), "jump"),
        beat=tuple(beat),
        init=tuple(init),
    )
    sec.finish(("name", "input", "output", "channel", "takeover", "beat", "init"))
    return device


def midi_source(kind: str, sec: Section, device: MidiDevice | None) -> tuple[SourceKey, ...] | None:
    """The keys a MIDI binding listens to (all channels for `any`), or None after a problem."""
    raw = sec.raw(kind)
    number: int | None
    if kind == "pitchbend":
        if raw is not True:
            sec.problem(kind, f"expected true, got {type_name(raw)}")
            return None
        number = 0
    elif kind == "program" and raw == "any":
        number = None
    elif isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= _LIMITS[kind]:
        number = raw
    else:
        extra = " or any" if kind == "program" else ""
        hint = " (the MSB's number; its LSB is that plus 32)" if kind == "cc14" else ""
        sec.problem(kind, f"expected a whole number in 0..{_LIMITS[kind]}{extra}{hint}, got {raw!r}")
        return None
    default = device.channel if device else None
    channel = sec.get("channel", _channel, default) if sec.has("channel") else default
    name = device.name if device else ANY_DEVICE
    channels = CHANNELS if channel is None else (channel,)
    numbers = range(128) if number is None else (number,)
    return tuple(("midi", name, ch, kind, n) for ch in channels for n in numbers)


MIDI_OPTIONS = ("channel", "encoder", "accel", "takeover", "led", "echo")


def midi_binding_options(sec: Section, kind: str, device: MidiDevice | None) -> dict[str, object]:
    """The per-binding MIDI options (encoder decoding, takeover, LED feedback) as Binding fields."""
    encoder = sec.get("encoder", is_choice(*ENCODERS), "") or None
    if encoder and kind != "cc":
        sec.problem("encoder", "relative encoders send plain CC: use cc: NUMBER")
    accel = sec.get("accel", _accel, 0.0)
    if accel and not encoder:
        sec.problem("accel", "acceleration applies to relative encoders (set encoder:)")
    return {
        "encoder": encoder,
        "accel": accel,
        "takeover": sec.get("takeover", is_choice(*TAKEOVERS), device.takeover if device else "jump"),
        "led": sec.get("led", _led, None),
        "echo": sec.get("echo", is_bool, True),
    }


def _accel(value: object) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 4:
        return float(value)
    raise ValueError(f"expected a number in 0..4 (0: off), got {value!r}")
