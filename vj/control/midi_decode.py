"""Raw MIDI bytes -> control and clock events, for one input port (its callback thread only).

Every control change is emitted as a plain `cc` event; controls 0-31 with their partner 32-63
are also assembled into `cc14` events, and parameter-number sequences (CC 99/98 then 6/38) into
`nrpn` events. Unmapped interpretations cost one dict miss in the engine, so the decoder needs
no configuration and a mapping reload never has to reach it.

14-bit rule (cc14 and nrpn): the value is emitted when the LSB arrives, completing the MSB before
it; a controller that has never sent an LSB for that control gets its MSB emitted at once
(7-bit precision), so 7-bit-only hardware still works with a 14-bit binding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mido

from vj.vocabulary import ClockEvent, ControlEvent, Event

_CLOCK = {"clock": "tick", "start": "start", "stop": "stop", "continue": "continue"}
_NRPN_MSB, _NRPN_LSB, _RPN_MSB, _RPN_LSB, _DATA_MSB, _DATA_LSB = 99, 98, 101, 100, 6, 38


@dataclass
class DecodeCounts:
    messages: int = 0
    ignored: dict[str, int] = field(default_factory=dict)  # message type -> count (sysex, aftertouch...)
    invalid: int = 0  # bytes that are not a MIDI message


class MidiDecoder:
    def __init__(self, devices: tuple[str, ...]) -> None:
        self.devices = devices  # the mapping devices this port feeds (events are emitted for each)
        self.counts = DecodeCounts()
        self._msb: dict[tuple[int, int], int] = {}  # (channel, control 0-31) -> last MSB
        self._lsb_seen: set[tuple[int, int]] = set()
        self._nrpn: dict[int, int | None] = {}  # channel -> selected NRPN number (None: an RPN is selected)
        self._nrpn_part: dict[int, list[int]] = {}  # channel -> [number MSB, number LSB]
        self._data_msb: dict[int, int] = {}
        self._nrpn_lsb_seen: set[tuple[int, int]] = set()

    def decode(self, data: bytes | list[int], now: float) -> list[Event]:
        if len(data) == 3 and 0x80 <= data[0] < 0xF0 and data[1] < 0x80 and data[2] < 0x80:
            # the common case (CC, notes, pitch bend) read directly: mido's parser costs ~4 us
            status, a, b = data[0] & 0xF0, data[1], data[2]
            channel = (data[0] & 0x0F) + 1
            if status == 0xB0:
                self.counts.messages += 1
                return self._control(channel, a, b, now)
            if status == 0x90 or status == 0x80:
                self.counts.messages += 1
                velocity = b if status == 0x90 else 0
                return self._emit(channel, "note", a, velocity / 127.0, now, velocity > 0, velocity)
            if status == 0xE0:
                self.counts.messages += 1
                raw = b << 7 | a
                return self._emit(channel, "pitchbend", 0, raw / 16383.0, now, None, raw)
        try:
            msg = mido.Message.from_bytes(list(data))
        except (ValueError, TypeError, IndexError):
            self.counts.invalid += 1
            return []
        self.counts.messages += 1
        kind = msg.type
        if kind in _CLOCK:
            return [ClockEvent(_CLOCK[kind], now)]
        if kind == "songpos":
            return [ClockEvent("position", now, msg.pos)]
        if kind == "control_change":
            return self._control(msg.channel + 1, msg.control, msg.value, now)
        if kind in ("note_on", "note_off"):
            velocity = msg.velocity if kind == "note_on" else 0
            return self._emit(msg.channel + 1, "note", msg.note, velocity / 127.0, now, velocity > 0, velocity)
        if kind == "pitchwheel":
            raw = msg.pitch + 8192
            return self._emit(msg.channel + 1, "pitchbend", 0, raw / 16383.0, now, None, raw)
        if kind == "program_change":  # a one-shot: pressed and released, so every change fires
            ch, n = msg.channel + 1, msg.program
            pressed = self._emit(ch, "program", n, n / 127.0, now, True, n)
            return pressed + self._emit(ch, "program", n, 0.0, now, False, n)
        self.counts.ignored[kind] = self.counts.ignored.get(kind, 0) + 1
        return []

    def _emit(
        self, channel: int, kind: str, number: int, value: float, now: float, pressed: bool | None, raw: int
    ) -> list[Event]:
        return [ControlEvent(("midi", d, channel, kind, number), value, pressed, raw, now) for d in self.devices]

    def _control(self, ch: int, control: int, value: int, now: float) -> list[Event]:
        out = self._emit(ch, "cc", control, value / 127.0, now, None, value)
        if control < 32:
            self._msb[ch, control] = value
            if (ch, control) not in self._lsb_seen:
                out += self._emit(ch, "cc14", control, (value << 7) / 16383.0, now, None, value << 7)
        elif control < 64 and (ch, control - 32) in self._msb:
            self._lsb_seen.add((ch, control - 32))
            raw = self._msb[ch, control - 32] << 7 | value
            out += self._emit(ch, "cc14", control - 32, raw / 16383.0, now, None, raw)
        return out + self._parameter_number(ch, control, value, now)

    def _parameter_number(self, ch: int, control: int, value: int, now: float) -> list[Event]:
        """NRPN: 99 and 98 select a parameter number, then 6 (and 38) carry its value."""
        if control in (_NRPN_MSB, _NRPN_LSB):
            part = self._nrpn_part.setdefault(ch, [0, 0])
            part[0 if control == _NRPN_MSB else 1] = value
            self._nrpn[ch] = part[0] << 7 | part[1]
            self._data_msb.pop(ch, None)
        elif control in (_RPN_MSB, _RPN_LSB):
            self._nrpn[ch] = None  # registered parameters are not ours; data entry now belongs to them
        elif control in (_DATA_MSB, _DATA_LSB) and self._nrpn.get(ch) is not None:
            number = self._nrpn[ch]
            assert number is not None
            if control == _DATA_MSB:
                self._data_msb[ch] = value
                if (ch, number) not in self._nrpn_lsb_seen:
                    return self._emit(ch, "nrpn", number, (value << 7) / 16383.0, now, None, value << 7)
            elif ch in self._data_msb:
                self._nrpn_lsb_seen.add((ch, number))
                raw = self._data_msb[ch] << 7 | value
                return self._emit(ch, "nrpn", number, raw / 16383.0, now, None, raw)
        return []
