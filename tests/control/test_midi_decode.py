"""The MIDI decoder: raw bytes as a controller sends them -> events the mapping engine reads."""

from __future__ import annotations

from vj.control.midi_decode import MidiDecoder
from vj.vocabulary import ClockEvent, ControlEvent


def _events(decoder: MidiDecoder, *messages: list[int]) -> list[ControlEvent]:
    out = []
    for data in messages:
        out += [e for e in decoder.decode(data, 1.0) if isinstance(e, ControlEvent)]
    return out


def _of(events: list[ControlEvent], kind: str) -> list[tuple[object, int | None]]:
    return [(e.source[4], e.raw) for e in events if e.source[3] == kind]


def test_a_control_change_carries_device_channel_number_and_value() -> None:
    [event] = _events(MidiDecoder(("apc",)), [0xB4, 48, 127])[:1]
    assert event.source == ("midi", "apc", 5, "cc", 48)
    assert (event.value, event.raw, event.time) == (1.0, 127, 1.0)


def test_one_port_feeding_two_devices_emits_for_each() -> None:
    events = _events(MidiDecoder(("a", "b")), [0xB0, 70, 10])
    assert {e.source[1] for e in events} == {"a", "b"}


def test_fourteen_bit_pairs_are_assembled_msb_then_lsb() -> None:
    d = MidiDecoder(("x",))
    first = _events(d, [0xB0, 1, 0x40])
    # no LSB seen yet for this control: the MSB alone is a 7-bit reading, at once
    assert _of(first, "cc14") == [(1, 0x40 << 7)]
    pair = _events(d, [0xB0, 33, 0x11])
    assert _of(pair, "cc14") == [(1, 0x40 << 7 | 0x11)]
    # once the controller is known to send LSBs, an MSB waits for its LSB (no dip to xx00)
    later = _events(d, [0xB0, 1, 0x7F], [0xB0, 33, 0x7F])
    assert _of(later, "cc14") == [(1, 16383)]
    assert later[-1].value == 1.0
    # the plain 7-bit views are there too (a binding may use cc 1 as an ordinary knob)
    assert _of(later, "cc") == [(1, 0x7F), (33, 0x7F)]


def test_an_lsb_without_any_msb_is_only_a_plain_cc() -> None:
    assert _of(_events(MidiDecoder(("x",)), [0xB0, 40, 5]), "cc14") == []


def test_nrpn_number_then_data_entry() -> None:
    d = MidiDecoder(("x",))
    msb, lsb = divmod(1234, 128)
    events = _events(d, [0xB2, 99, msb], [0xB2, 98, lsb], [0xB2, 6, 100], [0xB2, 38, 5])
    nrpn = [(e.source, e.raw) for e in events if e.source[3] == "nrpn"]
    # MSB alone first (LSB not yet known to come), then the full 14-bit value
    assert nrpn == [(("midi", "x", 3, "nrpn", 1234), 100 << 7), (("midi", "x", 3, "nrpn", 1234), 100 << 7 | 5)]
    again = _events(d, [0xB2, 6, 1], [0xB2, 38, 2])
    assert _of(again, "nrpn") == [(1234, 1 << 7 | 2)]


def test_data_entry_for_a_registered_parameter_is_not_an_nrpn() -> None:
    d = MidiDecoder(("x",))
    _events(d, [0xB0, 99, 0], [0xB0, 98, 7])
    events = _events(d, [0xB0, 101, 0], [0xB0, 100, 0], [0xB0, 6, 2])  # RPN 0: pitch bend range
    assert _of(events, "nrpn") == []


def test_notes_are_pressed_at_any_velocity_and_released_by_note_off_or_velocity_zero() -> None:
    d = MidiDecoder(("x",))
    on, off, zero = (_events(d, m)[0] for m in ([0x91, 36, 20], [0x81, 36, 64], [0x91, 36, 0]))
    assert on.source == ("midi", "x", 2, "note", 36)
    assert (on.pressed, on.raw) == (True, 20) and abs(on.value - 20 / 127) < 1e-9
    assert (off.pressed, off.value) == (False, 0.0)
    assert (zero.pressed, zero.value) == (False, 0.0)


def test_pitch_bend_spans_zero_to_one_with_the_centre_in_the_middle() -> None:
    d = MidiDecoder(("x",))
    low, centre, high = (_events(d, m)[0] for m in ([0xE0, 0, 0], [0xE0, 0, 0x40], [0xE0, 0x7F, 0x7F]))
    assert (low.value, centre.raw, high.value) == (0.0, 8192, 1.0)
    assert low.source == ("midi", "x", 1, "pitchbend", 0)


def test_program_change_carries_the_program_number() -> None:
    press, release = _events(MidiDecoder(("x",)), [0xC0, 5])  # one-shot: every change fires
    assert press.source == release.source == ("midi", "x", 1, "program", 5)
    assert (press.raw, press.pressed, release.pressed) == (5, True, False)


def test_clock_and_transport_become_clock_events() -> None:
    d = MidiDecoder(("x",))
    kinds = [d.decode([b], 2.0)[0] for b in (0xF8, 0xFA, 0xFC, 0xFB)]
    assert [(e.kind, e.time) for e in kinds if isinstance(e, ClockEvent)] == [
        ("tick", 2.0), ("start", 2.0), ("stop", 2.0), ("continue", 2.0)]
    [position] = d.decode([0xF2, 0x10, 0x01], 2.0)  # 16 + 128 = 144 sixteenths
    assert position == ClockEvent("position", 2.0, 144)


def test_sysex_and_other_messages_are_ignored_and_counted_and_garbage_too() -> None:
    d = MidiDecoder(("x",))
    assert d.decode([0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7], 0.0) == []
    assert d.decode([0xA0, 60, 10], 0.0) == []  # polyphonic aftertouch
    assert d.decode([0xB0, 200], 0.0) == []  # truncated, out of range data
    assert d.decode([], 0.0) == []
    assert d.counts.ignored == {"sysex": 1, "polytouch": 1}
    assert d.counts.invalid == 2
