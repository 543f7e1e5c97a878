"""MIDI clock out: vj's beat clock as a 24 ppqn MIDI clock with Start, Stop, Continue and Song
Position Pointer, to the output ports the VJ names (patterns, as for controllers).

The render thread only hands each clock state over (`MidiClockOut.follow`, a latest-value slot,
stamped with the time it belongs to). A thread of its own sends the ticks at absolute deadlines
from a timeline (beats = b0 + (t - t0) * rate), so timing errors never add up into drift:

- The tempo is the clock's, taken at once when it changes.
- The phase is the clock's too. The difference is measured at each handover; the largest of the
  last few (the least delayed: a late handover only ever makes the clock look behind) is the
  error. Within `DEAD_BAND` it is left alone (the render thread's own noise); beyond it the
  ticks run up to `SLEW` faster or slower until caught up, about a beat later, so receivers never
  see a step. A difference of `JUMP` beats or more is a jump (a tap far off, MIDI Song Position
  in, a Link session starting): Stop, then Song Position and Continue at the next sixteenth.
- Transport: the clock stopping sends Stop (ticks go on, so receivers keep the tempo); starting
  again sends Start when it is at the top of the song (within two ticks of beat 0: the ticks
  already due go at once, the rest on the clock's grid), or just before beat 0's tick when the
  song is still counting in (a Link session starts at its next bar), else Song Position and
  Continue just before the tick at the next sixteenth, so the first tick after Continue plays
  exactly that position.

Ports are rescanned every `POLL` seconds on a second thread (opening one can take a tenth of a
second, which the ticks must not wait for): one that vanished is reported (a DeviceStatus for the
HUD and the log) and reopened when it is back, and a port that opens while the clock runs joins
with Song Position and Continue at the next sixteenth. Our own ports are named after the MIDI
client (`vj-midi-clock`), which vj's MIDI inputs never open, so vj cannot hear its own clock.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import rtmidi

from vj.clock import TICKS_PER_BEAT
from vj.config.midi import port_matches
from vj.control.midi_ports import CLIENT, MidiUnavailable, _probe, api_name, midi_api, own_port
from vj.slot import LatestSlot
from vj.vocabulary import ClockState, DeviceStatus, EventQueue

log = logging.getLogger(__name__)

TICK, START, CONTINUE, STOP = b"\xf8", b"\xfa", b"\xfb", b"\xfc"
SIXTEENTH = TICKS_PER_BEAT // 4  # ticks in a sixteenth note: Song Position's unit
START_WITHIN = 2 / TICKS_PER_BEAT  # beats: a start this close to beat 0 is sent as Start
JUMP = 0.5  # beats: a difference this large is a jump, not drift
DEAD_BAND = 0.002  # seconds of phase difference left alone
SLEW = 0.25  # the most the tick rate runs faster or slower while catching up
WINDOW = 8  # handovers whose least-delayed difference is the phase error
LATE = 12  # ticks overdue (the thread stalled) beyond which it resynchronises instead of bursting
POLL = 0.5  # seconds between port scans
ROLE = "midi clock out"


def song_position(sixteenths: int) -> bytes:
    """Song Position Pointer; it counts 14 bits, so it wraps (at a bar line: 16384 sixteenths)."""
    value = sixteenths % 16384
    return bytes([0xF2, value & 0x7F, value >> 7])


class TickSchedule:
    """When each tick is due and the transport messages that go with it, from the clock's states:
    no ports and no threads (MidiClockOut's thread drives it). Times are time.monotonic()."""

    def __init__(self) -> None:
        self.t0, self.b0, self.rate = 0.0, 0.0, 0.0  # the timeline; rate 0: no state yet
        self.base = 0.0  # the clock's tempo, beats per second
        self.tick = 0  # the next tick; while running it plays beat tick / 24
        self.running = False  # what the receivers were told (or are about to be, when pending)
        self.pending: bytes | None = None  # START or CONTINUE, waiting for its tick
        self._errors: list[float] = []

    def beats(self, t: float) -> float:
        return self.b0 + (t - self.t0) * self.rate

    def due(self) -> float | None:
        """When the next tick is due (None before the first state)."""
        return self.t0 + (self.tick / TICKS_PER_BEAT - self.b0) / self.rate if self.rate else None

    def _anchor(self, now: float, beats: float, rate: float) -> None:
        self.t0, self.b0, self.rate = now, beats, rate

    def hand(self, state: ClockState, at: float, now: float) -> list[bytes]:
        """A clock state (for time `at`) handed over at `now`; returns the messages to send now."""
        base = max(state.bpm, 1.0) / 60.0
        position = state.beats + (now - at) * base if state.running else state.beats
        if not self.rate:
            self.base = base
            self._anchor(now, position, base)
            return self._resume(now, position) if state.running else []
        if base != self.base:  # a new tempo: from here on, without a step in phase
            self.base = base
            self._anchor(now, self.beats(now), base)
        if not state.running:
            stopped, self.running, self.pending = self.running, False, None
            return [STOP] if stopped else []
        if not self.running:
            return self._resume(now, position)
        error = state.beats - self.beats(at)
        if abs(error) >= JUMP:
            return [STOP, *self._resume(now, position)]
        self._errors = [*self._errors, error][-WINDOW:]
        self._slew(now)
        return []

    def _resume(self, now: float, position: float) -> list[bytes]:
        self.running, self._errors = True, []
        self._anchor(now, position, self.base)
        if -START_WITHIN < position < START_WITHIN:
            # Tick 0 goes at once (it is due, or at most two ticks late, then sent as they are
            # due); the ticks after it fall on the clock's own grid
            self.tick, self.pending = 0, None
            return [START]
        # Before beat 0 (a Link count-in): Start just before tick 0; else Song Position and Continue
        # just before the next sixteenth's tick
        self.tick = math.ceil(position * TICKS_PER_BEAT - 1e-9)
        self.pending = START if position < 0 else CONTINUE
        return []

    def _slew(self, now: float) -> None:
        error = max(self._errors)
        factor = 1.0 if abs(error) / self.base < DEAD_BAND else 1.0 + max(-SLEW, min(SLEW, error))
        if self.base * factor != self.rate:
            self._anchor(now, self.beats(now), self.base * factor)

    def next_tick(self) -> list[bytes]:
        """The messages for the tick that is due: Song Position and Continue before it if they wait."""
        out = []
        if self.pending == START and self.tick == 0:
            out, self.pending = [START], None
        elif self.pending == CONTINUE and self.tick % SIXTEENTH == 0:
            out, self.pending = [song_position(self.tick // SIXTEENTH), CONTINUE], None
        self.tick += 1
        return [*out, TICK]

    def late(self, now: float) -> list[bytes]:
        """The thread stalled past LATE ticks: start over from where the clock is now."""
        position = self.beats(now)
        self._anchor(now, position, self.base)
        if not self.running:
            self.tick = math.ceil(position * TICKS_PER_BEAT)
            return []
        return [STOP, *self._resume(now, position)]


@dataclass(frozen=True)
class ClockOutStatus:
    ports: tuple[str, ...] = ()  # open now
    missing: tuple[str, ...] = ()  # patterns that match no port now
    ticks: int = 0  # sent (to each port)
    running: bool = False
    bpm: float = 0.0
    error: str | None = None  # why nothing is sent at all


@dataclass
class _Port:
    port: rtmidi.MidiOut
    fresh: bool = True  # just opened: the clock thread greets it (Stop, or Song Position and Continue)
    joining: bool = False  # Song Position and Continue still to send, at the next sixteenth


class MidiClockOut:
    """Sends vj's beat clock as MIDI clock to every output port matching `patterns` (a vj.clock
    ClockFollower: add it to BeatClock.followers). Port changes go to `events` as DeviceStatus.

    Two threads: the clock thread sends on time and never waits for the MIDI system; the port
    thread scans and opens ports (opening one makes a JACK client: that can take a tenth of a
    second) and hands them over under a lock the clock thread holds only while sending."""

    def __init__(self, patterns: Sequence[str], events: EventQueue | None = None, api: int | None = None,
                 poll: float = POLL) -> None:
        self.patterns = tuple(patterns)
        self.events = events
        self.poll = poll
        self._api = api
        self._slot: LatestSlot[tuple[ClockState, float]] = LatestSlot()
        self._ports: dict[str, _Port] = {}  # name -> open port, shared by both threads under _lock
        self._lock = threading.Lock()
        self._status = ClockOutStatus(missing=self.patterns)
        self._schedule = TickSchedule()  # the clock thread's
        self._ticks = 0
        self._stop = threading.Event()
        self._threads = (threading.Thread(target=self._run_clock, name="vj-midi-clock-out", daemon=True),
                         threading.Thread(target=self._run_ports, name="vj-midi-clock-ports", daemon=True))

    def start(self) -> MidiClockOut:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._slot.put((ClockState(120.0, 0.0, "manual"), 0.0))  # wake the clock thread
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)
        with self._lock:
            ports, self._ports = list(self._ports.values()), {}
        for opened in ports:
            opened.port.delete()

    def follow(self, state: ClockState, at: float) -> None:
        """Render thread: the clock's newest state, for time `at` (time.monotonic()). Never blocks."""
        self._slot.put((state, at))

    def status(self) -> ClockOutStatus:
        s = self._schedule
        return replace(self._status, ticks=self._ticks, running=s.running, bpm=s.base * 60.0)

    # -- the clock thread ---------------------------------------------------------------------

    def _run_clock(self) -> None:
        schedule = self._schedule
        while not self._stop.is_set():
            now = time.monotonic()
            due = schedule.due()
            until = due if due is not None else now + 0.05
            handed = self._slot.wait_take(min(until - now, 0.05)) if until > now else self._slot.take()
            if self._stop.is_set():
                break
            if handed is not None:
                self._send(schedule.hand(handed[0], handed[1], time.monotonic()))
            self._tick()

    def _tick(self) -> None:
        """Every tick that is due, on time; after a stall, a resynchronisation instead of a burst."""
        schedule = self._schedule
        while (due := schedule.due()) is not None and due <= (now := time.monotonic()):
            if (now - due) * schedule.rate * TICKS_PER_BEAT > LATE:
                self._send(schedule.late(now))
                continue
            tick = schedule.tick
            messages = schedule.next_tick()
            join = len(messages) == 1 and schedule.running and schedule.pending is None and tick % SIXTEENTH == 0
            self._send(messages, join=[song_position(tick // SIXTEENTH), CONTINUE] if join else None)
            self._ticks += 1

    def _send(self, messages: list[bytes], join: list[bytes] | None = None) -> None:
        """To every open port; `join` goes first to the ports still joining (at a sixteenth's tick)."""
        transport = any(m in (START, CONTINUE, STOP) for m in messages)
        with self._lock:
            for opened in self._ports.values():
                if opened.fresh:  # a known state: stopped, or joining where the song is
                    opened.fresh = False
                    opened.joining = self._schedule.running
                    if not opened.joining:
                        _write(opened, [STOP])
                if join is not None and opened.joining:
                    _write(opened, join)
                if transport or join is not None:
                    opened.joining = False
                if messages:
                    _write(opened, messages)

    # -- the port thread ----------------------------------------------------------------------

    def _run_ports(self) -> None:
        try:
            api = midi_api() if self._api is None else self._api
            lister = _probe(rtmidi.MidiOut, api)
        except MidiUnavailable as exc:
            log.warning("MIDI clock out: %s", exc)
            self._status = ClockOutStatus(missing=self.patterns, error=str(exc))
            self._post(DeviceStatus("midi clock out", False, f"MIDI clock out: {exc}", ROLE))
            return
        log.info("MIDI clock out: %s, to %s", api_name(api), ", ".join(repr(p) for p in self.patterns))
        present: dict[str, bool] = {}  # pattern -> last reported
        try:
            while not self._stop.is_set():
                self._scan(api, [n for n in lister.get_ports() if not own_port(n)], present)
                self._stop.wait(self.poll)
        finally:
            lister.delete()

    def _scan(self, api: int, names: list[str], present: dict[str, bool]) -> None:
        with self._lock:
            gone = [self._ports.pop(n) for n in list(self._ports) if n not in names]
            have = set(self._ports)
        for opened in gone:
            opened.port.delete()
        for index, name in enumerate(names):
            if name not in have and any(port_matches(p, name) for p in self.patterns):
                port = _open(api, index, name)
                if port is not None:
                    with self._lock:
                        self._ports[name] = _Port(port)
                    have.add(name)
        missing = []
        for pattern in self.patterns:
            found = any(port_matches(pattern, n) for n in have)
            if not found:
                missing.append(pattern)
            if present.get(pattern) != found:
                present[pattern] = found
                key = f"MIDI clock out {pattern!r}"
                ports = ", ".join(names) or "none"
                message = f"{key} connected" if found else f"{key} is not connected; ports: {ports}"
                (log.info if found else log.warning)("%s", message)
                self._post(DeviceStatus(pattern, found, message, ROLE))
        self._status = ClockOutStatus(tuple(sorted(have)), tuple(missing))

    def _post(self, event: DeviceStatus) -> None:
        if self.events is not None:
            self.events.put(event)


def _open(api: int, index: int, name: str) -> rtmidi.MidiOut | None:
    port = rtmidi.MidiOut(rtapi=api, name=f"{CLIENT}-clock")
    try:
        port.open_port(index, name=_label(name))
    except (rtmidi.SystemError, rtmidi.InvalidPortError, RuntimeError) as exc:
        log.warning("MIDI clock out: cannot open %r: %s", name, exc)
        port.delete()
        return None
    return port


def _write(opened: _Port, messages: list[bytes]) -> None:
    try:
        for message in messages:
            opened.port.send_message(message)
    except (rtmidi.SystemError, RuntimeError, ValueError) as exc:
        log.debug("MIDI clock out: %s", exc)


def _label(name: str) -> str:
    """Our own port's name, after the receiver's (JACK port names must be short and plain)."""
    client = name.split(":")[0]
    return "clock-" + ("".join(c if c.isalnum() else "-" for c in client)[:32] or "port")
