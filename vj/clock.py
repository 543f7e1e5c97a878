"""The beat clock: one tempo and phase that LFOs and beat triggers read, from several sources.

- "manual": the `bpm` parameter; the beat position is integrated from it each frame, so a
  tempo change bends the phase smoothly instead of jumping it.
- "tap": tap tempo sets the `bpm` parameter and snaps the phase to the nearest beat.
- "midi": an incoming MIDI clock (24 ticks per quarter note) takes over while its messages
  keep coming. The tempo is read by `TempoFilter` from the tick arrival times; the beat
  position is locked to the tick count (Start, Stop, Continue and Song Position Pointer move
  it as a DAW means them). When the clock goes quiet for `MIDI_TIMEOUT` the beat clock falls
  back to manual, free-running from where it was at the last tempo (the show copies the MIDI
  tempo into the `bpm` parameter while MIDI is the source).

- "audio": the live analysis's beat tracker (`AudioBeat`, fed once per display frame) while
  its confidence is high enough. Its tempo is taken as is; the phase is steered toward the
  tracker's beat position (at most half as fast or half again as fast as the tempo), so
  taking over or a re-lock glides instead of jumping, and the clock never runs backwards. When
  the tracker loses confidence for `AUDIO_TIMEOUT` the clock runs on freely, as after MIDI.

- "link": an Ableton Link session (vj.rig.link, attached with `attach_link`): the session's
  tempo, and its beat phase within a bar of `QUANTUM` beats. vj's own beat count keeps its
  number of bars: taking over moves the phase to the session's bar (at most two beats), never
  the bar count, except when the session starts playing, which starts the song over at beat 0
  as MIDI Start does. While a session whose transport is in use is stopped, the phase holds.
  The VJ's tempo moves (a knob on `bpm`, taps, OSC) are proposed to the session, which every
  peer then follows, vj included.

`clock.source` (a parameter) chooses: "auto" follows a MIDI clock when one ticks, else a Link
session that has other peers in it, else a confident audio beat, else the manual bpm and taps;
"manual", "midi", "link" or "audio" use only that one (falling back to the manual tempo while it
is absent). The order is the one a performer means: a MIDI clock is a cable someone plugged in
for this show; a Link session with peers is a network of instruments already agreeing on tempo
and bar; the audio's beat is an estimate from listening; the manual tempo is what is left.

The VJ's overrides (the actions tempo.double, tempo.half, beat.nudge, beat.resync) act on the
clock whatever drives it:

- tempo x2 / ÷2: the manual tempo (and taps) owns the `bpm` parameter, so there the show simply
  doubles or halves the parameter (within its range). An external source's tempo (the audio
  tracker, a MIDI clock, a Link session) is the music's: vj does not ask it to change, it
  counts its own beats at a multiple of the source's (x4..÷4). That is what a VJ means by it:
  the tracker heard half the tempo, or the pictures should cut twice a beat. A Link session is
  not asked to double either: its tempo is what the DJ plays, and every peer would follow.
  The beat stays on the source's beats (whole beats of vj's count land on the source's beats
  or halves), so a multiplier can move vj's phase by up to half a beat, which is glided. The
  multiplier belongs to the source it was pressed on: when another source takes over, or the
  source's own tempo moves by more than `NEW_SONG` (a new song, or the tracker correcting its
  own octave), it goes, because a stale x2 on the next song would double a tempo that is
  right, and the VJ would not see it coming (the HUD shows it go). A DJ's mix from 124 to 128
  bpm keeps it.
- beat.nudge MS: the beat plays MS milliseconds later (negative: earlier). With the manual
  tempo the phase is the clock's own: it moves once. From an external source, whose phase is
  read again every frame, it is a lasting offset (until another source takes over).
- beat.resync: the beat being played is beat one of the bar (the count jumps forward by 0..3
  whole beats, never back, so the downbeat's triggers fire). With the manual tempo: the beat
  nearest the press, or the next tap's within the tap timeout; from the audio tracker: its next
  beat; from MIDI or Link: the nearest beat (vj's own bar count: the source is not asked).
- Every move of the phase but resync glides: the phase runs at most `STEER` faster or slower
  than the tempo until it is there (as a DJ's jog wheel bends the pitch), so it never jumps and
  never runs backwards.

While something else drives the clock, vj shares it with its Link session: its tempo whenever
it changes, its phase while it is alone in the session or bridges a MIDI clock (as Link asks of
a bridge to an external clock), and MIDI Start and Stop as the session's start and stop. What it
shares is what it plays, the VJ's overrides included.
Followers (MIDI clock out) get every state with the real time it belongs to.

The beat clock's own time is the sum of the `dt` passed to `BeatClock.advance`, so tests can
simulate it; only the tempo filter reads the events' arrival times.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from vj.vocabulary import ClockEvent, ClockState

TICKS_PER_BEAT = 24  # MIDI clock: 24 pulses per quarter note
MIDI_TIMEOUT = 0.5  # seconds without clock messages before MIDI stops being the source
AUDIO_TIMEOUT = 1.0  # seconds without a confident audio beat before audio stops being the source
AUDIO_CONFIDENCE = 0.5  # the tracker's beat.confidence from which its beat may drive the clock
AUDIO_STEER = 0.5  # the phase follows the audio at 1 -/+ this times the tempo while it catches up
STEER = AUDIO_STEER  # any glide (a nudge, a multiplier's realignment) runs at 1 -/+ this times the tempo
NEW_SONG = 0.1  # a source's tempo moving by more than this fraction drops the VJ's multiplier on it
RATES = (0.25, 4.0)  # the tempo multiplier's range: ÷4 .. x4
EXTERNAL = ("audio", "midi", "link")  # sources whose tempo and phase are read, not vj's own
QUANTUM = 4.0  # beats in a bar: the phase Ableton Link keeps aligned between peers
LINK_PHASE_TOLERANCE = 0.004  # s: how far the Link session's phase may be from vj's before vj moves it


class TapTempo:
    """Averages the intervals of recent taps; a pause longer than `timeout` starts a new count."""

    def __init__(self, timeout: float = 2.0, keep: int = 8) -> None:
        self.timeout = timeout
        self.keep = keep
        self._taps: list[float] = []

    def tap(self, now: float) -> float | None:
        """Register a tap at `now` (seconds); returns the new bpm once two taps are in."""
        if self._taps and now - self._taps[-1] > self.timeout:
            self._taps.clear()
        self._taps.append(now)
        self._taps = self._taps[-self.keep :]
        if len(self._taps) < 2:
            return None
        span = self._taps[-1] - self._taps[0]
        return 60.0 * (len(self._taps) - 1) / span if span > 0 else None


Point = tuple[int, float]  # (tick number, arrival time)


def _line(points: list[Point]) -> tuple[float, float]:
    """Least-squares (slope, intercept) of arrival time over tick number."""
    n = len(points)
    mean_i = sum(i for i, _ in points) / n
    mean_t = sum(t for _, t in points) / n
    sxx = sum((i - mean_i) ** 2 for i, _ in points)
    sxt = sum((i - mean_i) * (t - mean_t) for i, t in points)
    slope = sxt / sxx
    return slope, mean_t - slope * mean_i


def _robust_line(points: list[Point], floor: float) -> tuple[float, float, float]:
    """(slope, intercept, noise): the line refitted without ticks far off it, until none are.

    Noise is the RMS residual, not the median: arrivals quantised to audio periods are mostly
    exactly on a line with a few a whole period off, and a median would call those outliers.
    The RMS is inflated by the outliers themselves (the run of ticks a period late after a
    lost one, until it is found), hence the repeated fits."""
    kept = points
    while True:
        slope, icpt = _line(kept)
        res = [t - (slope * i + icpt) for i, t in kept]
        noise = max((sum(r * r for r in res) / len(res)) ** 0.5, floor)
        inliers = [p for p, r in zip(kept, res) if abs(r) <= 3.5 * noise]
        if len(inliers) == len(kept) or len(inliers) < max(3, len(points) // 2):
            return slope, icpt, noise
        kept = inliers


class TempoFilter:
    """MIDI clock tick arrival times to bpm: a least-squares line through the last `window` ticks.

    Arrival times carry the sender's jitter and the audio period quantisation of JACK/ALSA
    (5.3 ms at 256 frames, 48 kHz): a long window (4 beats) averages both out. What a loaded
    machine adds is left out: ticks far off the line, ticks bunched together after a stall,
    and a tick lost on the way is found by the ticks after it all arriving a period late.
    A real tempo change shows as the newest ticks drifting away from the line further and
    further; then the ticks from before it are dropped, so the reading follows within about
    two beats. A pause longer than `gap` starts over.
    """

    def __init__(
        self,
        window: int = 4 * TICKS_PER_BEAT,
        gap: float = 0.5,
        min_ticks: int = TICKS_PER_BEAT // 2,
    ) -> None:
        self.window = window
        self.gap = gap
        self.min_ticks = max(min_ticks, 2)  # no reading from fewer: the first few intervals say little
        self.recent = TICKS_PER_BEAT  # where a tempo change is looked for
        self.check = 6  # ticks a change must have lasted
        self.margin = 3  # ticks dropped after the estimated change point
        # The least timing noise assumed (s): USB frames and audio periods never give better
        # than about 1 ms, and ticks locked to the audio period would otherwise look noiseless
        # until they slip by one period, which must not read as a tempo change.
        self.floor = 0.001
        self.bpm: float | None = None
        self.changes = 0  # tempo changes followed, for tests and the log
        self.missed = 0  # ticks found missing (the phase should count them too)
        self._points: list[Point] = []
        self._count = 0  # ticks since the start, the ones left out of the fit included
        self._last = 0.0  # when the newest tick arrived

    def reset(self) -> None:
        self._points.clear()
        self._count = 0
        self.bpm = None

    def add(self, time: float) -> float | None:
        """A tick arrived at `time` (seconds); returns the tempo estimate (None until enough ticks)."""
        since = time - self._last
        self._last = time
        if self._count and since > self.gap:
            self.reset()
        if self.bpm is not None and since < 60.0 / self.bpm / TICKS_PER_BEAT / 4:
            # Ticks bunched together were held up on the way (the MIDI thread stalled): their
            # times say nothing, so they count but stay out of the fit.
            if self._points and self._points[-1][0] == self._count - 1:
                self._points.pop()
            self._count += 1
        else:
            self._points.append((self._count, time))
            self._count += 1
            del self._points[: -self.window]
        if len(self._points) >= 2 * self.recent:
            self._check_recent()
        if len(self._points) >= self.min_ticks:  # until then after a change, the old reading stays
            slope, _, _ = _robust_line(self._points, self.floor)
            if slope > 0:  # not when all arrived at once (a burst before any reading)
                self.bpm = 60.0 / (TICKS_PER_BEAT * slope)
        return self.bpm

    def _check_recent(self) -> None:
        """Follow a tempo change or renumber after missed ticks, if the recent ticks show one.

        Against the line through the older ticks, a tempo change makes the residuals of the
        recent ones grow linearly from the change on (a ramp); a one-off slip (a tick moved to
        the next audio period) makes them jump and stay (a step). A step of a whole tick period
        is a tick that never arrived (the MIDI thread missed an audio period): the ticks after
        it are numbered on by one more. A tempo change must fit clearly better than any step,
        and be at least 1%; then the ticks from before it are dropped."""
        old, recent = self._points[: -self.recent], self._points[-self.recent :]
        slope, icpt, noise = _robust_line(old, self.floor)
        res = [(i, t - (slope * i + icpt)) for i, t in recent]
        newest = sorted(r for _, r in res[-self.check :])
        if abs(newest[len(newest) // 2]) <= 2.5 * noise:
            return  # the newest ticks are on the line: the usual case, and a cheap test
        ramp: tuple[float, int, float] | None = None  # (squared error, tick it starts from, drift)
        step = (float("inf"), 0, 0.0)  # (squared error, index into res, level)
        for k in range(len(res)):
            before = sum(r * r for _, r in res[:k])
            after = res[k:]
            level = sum(r for _, r in after) / len(after)
            sse = before + sum((r - level) ** 2 for _, r in after)
            if sse < step[0]:
                step = (sse, k, level)
            if len(after) < self.check:
                continue
            start = after[0][0] - 1  # the ramp starts at the tick before the first one off the line
            drift = sum((i - start) * r for i, r in after) / sum((i - start) ** 2 for i, _ in after)
            sse = before + sum((r - drift * (i - start)) ** 2 for i, r in after)
            if ramp is None or sse < ramp[0]:
                ramp = (sse, start, drift)
        sse, k, level = step
        missed = round(level / slope)
        if ramp is not None and sse - ramp[0] > 16.0 * noise**2 and abs(ramp[2]) > 0.01 * slope:
            # Keep only ticks surely after the change: the estimate of where it was is a few
            # ticks out either way, and a tick from before would bias the new line for long.
            self._points = [p for p in self._points if p[0] >= ramp[1] + self.margin]
            self.changes += 1
        elif (
            missed >= 1  # ticks go missing, never come extra
            and abs(level - missed * slope) < slope / 4
            and len(res) - k >= self.check  # it lasted: not a few late ticks
            and noise < slope / 5  # jitter far below a tick period, so a slip cannot look like one
            and sse < 4 * noise**2 * len(res)  # and the step explains the ticks
        ):
            first = res[k][0]
            self._points = [(i + missed if i >= first else i, t) for i, t in self._points]
            self._count += missed
            self.missed += missed


@dataclass(frozen=True)
class AudioBeat:
    """The beat tracker's reading (vj.audio.analysis features bpm, beat.confidence, beat.time)."""

    bpm: float
    confidence: float
    beats: float  # beats since the tracker's first beat: count + phase


@dataclass(frozen=True)
class LinkBeat:
    """An Ableton Link session's reading (vj.rig.link), taken at `time` (time.monotonic())."""

    bpm: float
    beats: float  # the session's beat at `time`: vj's own count, its phase within QUANTUM the session's
    time: float
    peers: int  # other peers in the session
    playing: bool  # the session's transport (start/stop sync)
    transport: bool = False  # whether anyone has started the session since vj joined it

    def beats_at(self, now: float) -> float:
        return self.beats + (now - self.time) * self.bpm / 60.0


class LinkPeer(Protocol):
    """vj's peer in a Link session (vj.rig.link.LinkSession): every call returns at once."""

    def reading(self) -> LinkBeat | None: ...

    def set_tempo(self, bpm: float) -> None: ...

    def set_beats(self, beats: float, at: float) -> None:
        """Move the session's phase so that `beats` falls at `at` (time.monotonic())."""

    def set_playing(self, playing: bool) -> None: ...


class ClockFollower(Protocol):
    """Told every state the beat clock takes, with the time.monotonic() it belongs to (render thread:
    it must not block)."""

    def follow(self, state: ClockState, at: float) -> None: ...


@dataclass(frozen=True)
class Overrides:
    """The VJ's corrections to an external source's beat (see the module doc), kept while it leads."""

    source: str = ""  # the source they apply to ("audio", "midi", "link"); "": none
    rate: float = 1.0  # vj's beats per beat of the source: 2 after tempo.double
    tempo: float = 0.0  # the source's own tempo when the rate was set (moving far from it drops the rate)
    nudge: float = 0.0  # seconds: vj's beat plays this much later than the source's (< 0: earlier)

    @property
    def text(self) -> str:
        """As the HUD shows them next to the tempo: `x2`, `÷2 -20 ms`; empty when none."""
        parts = []
        if self.rate > 1:
            parts.append(f"x{self.rate:g}")
        elif self.rate < 1:
            parts.append(f"÷{1 / self.rate:g}")
        if round(self.nudge * 1000):
            parts.append(f"{self.nudge * 1000:+.0f} ms")
        return " ".join(parts)


def _wrap(beats: float) -> float:
    """A beat difference folded into -QUANTUM/2..QUANTUM/2 (the same bar phase is no difference)."""
    return (beats + QUANTUM / 2) % QUANTUM - QUANTUM / 2


class LinkLock:
    """The beat clock's side of a Link session: following it, or sharing vj's own tempo, phase and
    transport with it while something else drives the clock (see the module doc)."""

    def __init__(self, peer: LinkPeer) -> None:
        self.peer = peer
        self.reading: LinkBeat | None = None  # the newest, read once a frame
        self._offset: float | None = None  # while following: our beats minus the session's (whole bars)
        self._playing = False  # the session's transport at the previous frame
        self._bpm_seen: float | None = None  # while following: the manual tempo at the previous frame
        self._pushed: float | None = None  # while leading: the tempo last proposed to the session
        self.transport: bool | None = None  # a MIDI Start or Continue (True) or Stop (False) to pass on

    def read(self) -> LinkBeat | None:
        self.reading = self.peer.reading()
        return self.reading

    def leads(self, mode: str) -> bool:
        r = self.reading
        return r is not None and (mode == "link" or (mode == "auto" and r.peers > 0))

    def follow(self, s: ClockState, bpm: float, now: float, rate: float = 1.0) -> ClockState:
        """The clock's state from the session's; `bpm` is the manual tempo (the `bpm` parameter),
        `rate` the VJ's tempo multiplier (vj counts `rate` beats to each of the session's)."""
        r = self.reading
        assert r is not None
        self._pushed = None
        # The show copies the session's tempo into `bpm`; any other change is the VJ's: propose it
        if (self._bpm_seen is not None and abs(bpm - self._bpm_seen) > 1e-6 and abs(bpm - round(s.bpm, 2)) > 1e-6
                and abs(bpm / rate - r.bpm) > 0.005):
            self.peer.set_tempo(bpm / rate)
        self._bpm_seen = bpm
        beats = rate * r.beats_at(now)
        if r.playing and not self._playing:
            self._offset = 0.0  # the session started: the song starts over with it
        elif self._offset is None:  # taking over: the session's bar phase, our bar count
            self._offset = QUANTUM * round((s.beats - beats) / QUANTUM)
        self._playing = r.playing
        running = r.playing or not r.transport
        return ClockState(r.bpm * rate, beats + self._offset if running else s.beats, "link", running)

    def shift(self, beats: float) -> None:
        """vj's count moves by `beats` against the session's (a nudge, a bar resync)."""
        if self._offset is not None:
            self._offset += beats

    def rescale(self, factor: float, whole: int) -> None:
        """The multiplier changed by `factor`: vj's count becomes `factor` times what it was, less
        `whole` beats."""
        if self._offset is not None:
            self._offset = factor * self._offset - whole

    def share(self, state: ClockState, now: float) -> None:
        """Something else drives the clock: tell the session what changed."""
        r = self.reading
        self._offset, self._bpm_seen = None, None
        self._playing = r.playing if r is not None else False
        if r is None:
            return
        # vj's tempo when it changes (not the session's back when a peer changed it: that is theirs)
        if self._pushed is None or abs(state.bpm - self._pushed) > 0.005:
            if abs(state.bpm - r.bpm) > 0.005:
                self.peer.set_tempo(state.bpm)
            self._pushed = state.bpm
        if self.transport is not None and state.source == "midi":
            self.peer.set_playing(self.transport)
        self.transport = None
        if state.running and (state.source == "midi" or r.peers == 0):
            if abs(_wrap(state.beats - r.beats_at(now))) * 60.0 / state.bpm > LINK_PHASE_TOLERANCE:
                self.peer.set_beats(state.beats, now)


class AudioLock:
    """The beat clock's side of the beat tracker: its newest confident reading while fresh, and
    vj's count less the tracker's (whole beats, rate times the tracker's) once locked."""

    def __init__(self) -> None:
        self.beat: AudioBeat | None = None
        self.quiet = 0.0  # clock time since the last confident reading
        self.offset: float | None = None

    def hear(self, beat: AudioBeat) -> None:
        if beat.confidence >= AUDIO_CONFIDENCE and beat.bpm > 0:
            self.beat, self.quiet = beat, 0.0

    def age(self, dt: float) -> None:
        self.quiet += dt
        if self.quiet > AUDIO_TIMEOUT:
            self.beat = None


class MidiLock:
    """The beat clock's side of a MIDI clock: the tempo read from the ticks, the beat position locked
    to their count, the transport (see the module doc). Positions are the source's: vj's count less
    any glide; `rate` is the VJ's multiplier (vj counts `rate` beats to each of the clock's)."""

    def __init__(self) -> None:
        self.tempo = TempoFilter()
        self.quiet = 0.0  # clock time (the sum of dt passed to advance) since the last MIDI message
        self.heard = False  # a MIDI message was handled since the last advance
        # The beat position the next tick plays is origin + rate * pulses / 24. origin is None
        # until Start / Song Position set it, or a tick takes over from the free-running phase.
        self.origin: float | None = None
        self.pulses = 0
        self.running = True  # the transport: ticks move the phase only while running

    def handle(self, event: ClockEvent, beats: float, rate: float) -> float | None:
        """A message, with the phase at `beats`: the beat position it plays (None: not a clock message)."""
        if event.kind == "tick":
            missed = self.tempo.missed
            self.tempo.add(event.time)
            if self.origin is None:  # take over from where the phase is: no jump
                self.origin, self.pulses = beats, 0
            if self.running:  # a stopped DAW keeps ticking: the tempo follows, the phase holds
                self.pulses += self.tempo.missed - missed  # ticks lost on the way still count
                beats = self.origin + rate * self.pulses / TICKS_PER_BEAT
                self.pulses += 1
        elif event.kind == "start":
            # The song starts over; the first tick after Start plays beat 0.
            self.origin, self.pulses, self.running = 0.0, 0, True
            beats = 0.0
        elif event.kind in ("stop", "continue"):
            self.running = event.kind == "continue"
        elif event.kind == "position":
            self.origin, self.pulses = 0.0, event.value * (TICKS_PER_BEAT // 4)  # value: sixteenths
            beats = rate * event.value / 4.0
        else:
            return None
        self.heard = True
        return beats

    def advance(self, beats: float, step: float, rate: float) -> float:
        """The phase `step` beats on from `beats` between ticks, but never past where the next tick
        will put it, so a late tick holds the phase instead of making it step back."""
        if not self.running or self.origin is None:
            return beats
        upcoming = self.origin + rate * self.pulses / TICKS_PER_BEAT
        return min(beats + step, max(upcoming, beats))


class BeatClock:
    """The one clock: manual bpm, tap tempo, MIDI clock, Link or the audio, whichever drives it now.

    Call `handle` for each `ClockEvent` drained this frame, then `advance` once.
    """

    def __init__(self, bpm: float = 120.0) -> None:
        self._state = ClockState(bpm, 0.0, "manual")
        self.tapper = TapTempo()
        self.midi = MidiLock()
        self.mode = "auto"  # clock.source: auto | manual | midi | link | audio
        self.listening = AudioLock()
        self.link: LinkLock | None = None  # an Ableton Link session, once attached
        self.overrides = Overrides()  # the VJ's multiplier and nudge on the external source leading
        # Where the beat is minus where the source (or, manual, the VJ's last nudge) puts it: a nudge
        # or a multiplier's realignment, run off at STEER a frame (the audio steers by itself).
        self._glide = 0.0
        self._downbeat_at: float | None = None  # beat.resync from the audio: this beat becomes beat one
        self._downbeat_tap = 0.0  # seconds left in which a tap after beat.resync marks beat one
        self.followers: list[ClockFollower] = []  # told every state (MIDI clock out)
        self.now: Callable[[], float] = time.monotonic  # the real time Link's beats are read at

    def attach_link(self, peer: LinkPeer) -> None:
        """Take part in a Link session: a "link" source, and vj's tempo shared with it."""
        self.link = LinkLock(peer)

    @property
    def state(self) -> ClockState:
        return self._state

    @property
    def leader(self) -> str:
        """What drives the clock, as the HUD says it: `link, 2 peers`, `manual, link 0 peers`."""
        reading = self.link.reading if self.link is not None else None
        if reading is None:
            return self._state.source
        peers = f"{reading.peers} peer" + ("" if reading.peers == 1 else "s")
        return f"link, {peers}" if self._state.source == "link" else f"{self._state.source}, link {peers}"

    @property
    def source(self) -> str:
        return self._state.source

    @property
    def bpm(self) -> float:
        return self._state.bpm

    def tap(self, now: float) -> float | None:
        if self._state.source in ("midi", "audio"):
            return None  # an external clock rules the tempo and the downbeat
        bpm = self.tapper.tap(now)
        # A tap also marks the beat: the phase snaps to the nearest whole beat.
        self._glide = 0.0
        self._state = ClockState(self._state.bpm, round(self._state.beats), "tap")
        if self._downbeat_tap > 0.0:
            self._restart_bar(self._state.beats)  # the tap after a beat.resync is beat one
        self._downbeat_tap = 0.0
        return bpm

    # -- the VJ's overrides (see the module doc) -------------------------------------------------

    @property
    def override_text(self) -> str:
        """The overrides in force, for the HUD next to the tempo: `x2 +10 ms`, `1 = next beat`."""
        armed = "1 = next beat" if self._downbeat_at is not None else "1 = next tap" if self._downbeat_tap > 0 else ""
        return " ".join(t for t in (self.overrides.text, armed) if t)

    def _overrides_for(self, source: str) -> Overrides:
        return self.overrides if self.overrides.source == source else Overrides(source)

    def scale_tempo(self, factor: float) -> bool:
        """tempo.double (2) or tempo.half (0.5). With an external source leading: vj's count runs at
        `factor` times what it did (True). With the manual tempo: False, and nothing changes (the
        caller scales the `bpm` parameter). A multiplier outside RATES raises ValueError."""
        source = self._state.source
        if source not in EXTERNAL:
            return False
        o = self._overrides_for(source)
        rate = o.rate * factor
        if not RATES[0] - 1e-9 <= rate <= RATES[1] + 1e-9:
            raise ValueError(f"the {source} tempo multiplier stays within ÷{1 / RATES[0]:g}..x{RATES[1]:g}")
        self._set_rate(o, rate)
        return True

    def _set_rate(self, o: Overrides, rate: float) -> None:
        """The multiplier on `o.source` (the source leading) becomes `rate`: vj's count is rescaled
        and moved by whole beats to stay near, the difference glided."""
        s, factor = self._state, rate / o.rate
        raw = s.beats - self._glide  # where the source puts the beat now
        whole = round((factor - 1.0) * raw)  # keeps whole beats on the source's beats
        if o.source == "audio":
            self.listening.offset = None  # taken over again at the tracker's nearest beat; the steer glides
        elif o.source == "midi" and self.midi.origin is not None:
            self.midi.origin = factor * self.midi.origin - whole
            self._glide = s.beats - (factor * raw - whole)
        elif o.source == "link" and self.link is not None:
            self.link.rescale(factor, whole)
            self._glide = s.beats - (factor * raw - whole)
        self.overrides = replace(o, rate=rate, tempo=o.tempo or s.bpm / o.rate)  # the source's own tempo

    def nudge(self, ms: float) -> None:
        """beat.nudge: the beat plays `ms` milliseconds later (negative: earlier), glided there."""
        s = self._state
        later = ms / 1000.0
        beats = later * s.bpm / 60.0
        if s.source in EXTERNAL:
            o = self._overrides_for(s.source)
            self.overrides = replace(o, nudge=o.nudge + later)
        if s.source == "audio":
            return  # the steer takes the tracker's beat, less the nudge, as its target
        if s.source == "midi" and self.midi.origin is not None:
            self.midi.origin -= beats
        elif s.source == "link" and self.link is not None:
            self.link.shift(-beats)
        self._glide += beats  # where the beat is now minus where it should be

    def resync(self) -> None:
        """beat.resync: the beat being played is beat one of the bar (see the module doc)."""
        s = self._state
        if s.source == "audio":
            self._downbeat_at = math.floor(s.beats) + 1.0
            return
        self._restart_bar(round(s.beats - self._glide))
        if s.source in ("manual", "tap"):
            self._downbeat_tap = self.tapper.timeout

    def _restart_bar(self, beat: float) -> None:
        """`beat` (a whole beat of vj's count) becomes beat one of a bar: the count jumps forward."""
        ahead = (-round(beat)) % round(QUANTUM)
        if not ahead:
            return
        self._state = replace(self._state, beats=self._state.beats + ahead)
        if self.midi.origin is not None:
            self.midi.origin += ahead
        if self.listening.offset is not None:
            self.listening.offset += ahead
        if self.link is not None:
            self.link.shift(ahead)

    def audio(self, beat: AudioBeat) -> None:
        """The beat tracker's newest reading (render thread, once per display frame)."""
        self.listening.hear(beat)

    def handle(self, event: ClockEvent) -> None:
        """A MIDI clock message (drained on the render thread): MIDI becomes the source."""
        if self.mode not in ("auto", "midi"):
            return  # the VJ chose another source: MIDI clock is ignored
        s, midi = self._state, self.midi
        rate = self._overrides_for("midi").rate
        beats = midi.handle(event, s.beats - self._glide, rate)
        if beats is None:
            return
        if event.kind in ("start", "position"):
            self._glide = 0.0  # a jump the DAW asked for
        if self.link is not None and event.kind in ("start", "stop", "continue"):
            self.link.transport = event.kind != "stop"  # the Link session starts and stops with it
        bpm = midi.tempo.bpm * rate if midi.tempo.bpm else s.bpm
        self._state = ClockState(bpm, beats + self._glide, "midi", midi.running)

    def advance(self, dt: float, bpm: float, mode: str = "auto") -> ClockState:
        """Move on by `dt` seconds; `bpm` is the manual tempo (the `bpm` parameter), `mode` the
        `clock.source` parameter. The Link session and the followers hear of the new state."""
        link, now = self.link, self.now()
        if link is not None:
            link.read()
        state = self._keep_overrides(self._advance(dt, bpm, mode, now), dt)
        if link is not None and state.source != "link":
            link.share(state, now)
        for follower in self.followers:
            follower.follow(state, now)
        return state

    def _keep_overrides(self, state: ClockState, dt: float) -> ClockState:
        """Drop the overrides another source took over from or a new song left behind; play a
        beat.resync's downbeat when its beat comes."""
        o = self.overrides
        if not o.source:
            pass
        elif state.source != o.source:
            self.overrides = Overrides()
        elif o.rate == 1.0:
            self.overrides = replace(o, tempo=state.bpm)  # the tempo a multiplier will start from
        elif abs(state.bpm / o.rate / o.tempo - 1.0) > NEW_SONG:
            self._set_rate(o, 1.0)
        self._downbeat_tap = max(0.0, self._downbeat_tap - dt)
        if self._downbeat_at is not None and state.source != "audio":
            self._downbeat_at = None  # the tracker went before its beat came
        elif self._downbeat_at is not None and state.beats >= self._downbeat_at:
            self._restart_bar(self._downbeat_at)
            self._downbeat_at = None
        return self._state

    def _settle_glide(self, moved: float) -> float:
        """The glide left once the beat has moved `moved` beats this frame: it runs off at most
        STEER times that, so the phase never jumps nor runs backwards."""
        limit = STEER * max(moved, 0.0)
        self._glide -= max(-limit, min(limit, self._glide))
        return self._glide

    def _advance(self, dt: float, bpm: float, mode: str, now: float) -> ClockState:
        # Messages drained this frame arrived during this dt: they count as now, so a long
        # frame does not read as the clock having gone away.
        midi = self.midi
        midi.quiet = 0.0 if midi.heard else midi.quiet + dt
        midi.heard = False
        self.mode = mode
        s = self._state
        if s.source == "midi" and (midi.quiet > MIDI_TIMEOUT or mode not in ("auto", "midi")):
            # The clock went away (cable pulled, DAW closed): run on freely from here.
            midi.origin, midi.running = None, True
            s = replace(s, source="manual", running=True)
        if s.source != "midi" and self.link is not None and self.link.leads(mode):
            self.listening.age(dt)
            self.listening.offset = None
            raw = s.beats - self._glide
            state = self.link.follow(replace(s, beats=raw), bpm, now, self._overrides_for("link").rate)
            self._state = replace(state, beats=state.beats + self._settle_glide(state.beats - raw))
            return self._state
        if s.source != "midi":
            return self._advance_free(dt, bpm, s)
        rate = self._overrides_for("midi").rate
        bpm = midi.tempo.bpm * rate if midi.tempo.bpm else bpm
        before = s.beats - self._glide
        beats = midi.advance(before, dt * bpm / 60.0, rate)
        self._state = ClockState(bpm, beats + self._settle_glide(beats - before), "midi", midi.running)
        return self._state

    def _advance_free(self, dt: float, bpm: float, s: ClockState) -> ClockState:
        """No MIDI clock or Link: follow a confident audio beat if allowed, else the manual tempo."""
        self.listening.age(dt)
        beat = self.listening.beat if self.mode in ("auto", "audio") else None
        if beat is None:
            self.listening.offset = None
            source = "manual" if s.source in ("audio", "link") else s.source
            step = dt * bpm / 60.0
            self._state = ClockState(bpm, s.beats - self._glide + step + self._settle_glide(step), source)
            return self._state
        self._glide = 0.0  # the steer glides by itself
        o = self._overrides_for("audio")
        tempo = beat.bpm * o.rate
        step, late = dt * tempo / 60.0, o.nudge * tempo / 60.0  # the nudge, in beats
        if self.listening.offset is None:  # take over at the nearest beat of the tracker's: no jump
            self.listening.offset = round(s.beats + late - o.rate * beat.beats)
        error = o.rate * beat.beats + self.listening.offset - late - (s.beats + step)
        if abs(error) > 2.0:  # far out (a re-lock after a break): count on from where we are
            self.listening.offset += round(-error)
            error = o.rate * beat.beats + self.listening.offset - late - (s.beats + step)
        steer = max(-AUDIO_STEER * step, min(AUDIO_STEER * step, error))
        self._state = ClockState(tempo, s.beats + step + steer, "audio")
        return self._state
