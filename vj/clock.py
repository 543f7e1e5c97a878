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

While something else drives the clock, vj shares it with its Link session: its tempo whenever
it changes, its phase while it is alone in the session or bridges a MIDI clock (as Link asks of
a bridge to an external clock), and MIDI Start and Stop as the session's start and stop.
Followers (MIDI clock out) get every state with the real time it belongs to.

The beat clock's own time is the sum of the `dt` passed to `BeatClock.advance`, so tests can
simulate it; only the tempo filter reads the events' arrival times.
"""

from __future__ import annotations

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

    def follow(self, s: ClockState, bpm: float, now: float) -> ClockState:
        """The clock's state from the session's; `bpm` is the manual tempo (the `bpm` parameter)."""
        r = self.reading
        assert r is not None
        self._pushed = None
        # The show copies the session's tempo into `bpm`; any other change is the VJ's: propose it
        if self._bpm_seen is not None and abs(bpm - self._bpm_seen) > 1e-6 and abs(bpm - round(s.bpm, 2)) > 1e-6:
            self.peer.set_tempo(bpm)
        self._bpm_seen = bpm
        beats = r.beats_at(now)
        if r.playing and not self._playing:
            self._offset = 0.0  # the session started: the song starts over with it
        elif self._offset is None:  # taking over: the session's bar phase, our bar count
            self._offset = QUANTUM * round((s.beats - beats) / QUANTUM)
        self._playing = r.playing
        running = r.playing or not r.transport
        return ClockState(r.bpm, beats + self._offset if running else s.beats, "link", running)

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


class BeatClock:
    """The one clock: manual bpm, tap tempo, MIDI clock, Link or the audio, whichever drives it now.

    Call `handle` for each `ClockEvent` drained this frame, then `advance` once.
    """

    def __init__(self, bpm: float = 120.0) -> None:
        self._state = ClockState(bpm, 0.0, "manual")
        self.tapper = TapTempo()
        self.tempo = TempoFilter()
        self._quiet = 0.0  # clock time (the sum of dt passed to advance) since the last MIDI message
        self._heard = False  # a MIDI message was handled since the last advance
        # The beat position the next MIDI tick plays is _origin + _pulses / 24. _origin is None
        # until Start / Song Position set it, or a tick takes over from the free-running phase.
        self._origin: float | None = None
        self._pulses = 0
        self._running = True  # MIDI transport: ticks move the phase only while running
        self.mode = "auto"  # clock.source: auto | manual | midi | link | audio
        self._audio: AudioBeat | None = None  # the newest confident reading, while fresh
        self._audio_quiet = 0.0  # clock time since the last confident reading
        self._audio_offset: float | None = None  # our beats minus the tracker's, once locked
        self.link: LinkLock | None = None  # an Ableton Link session, once attached
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
        # A tap also marks the downbeat: the phase snaps to the nearest whole beat.
        self._state = ClockState(self._state.bpm, round(self._state.beats), "tap")
        return bpm

    def audio(self, beat: AudioBeat) -> None:
        """The beat tracker's newest reading (render thread, once per display frame)."""
        if beat.confidence >= AUDIO_CONFIDENCE and beat.bpm > 0:
            self._audio = beat
            self._audio_quiet = 0.0

    def handle(self, event: ClockEvent) -> None:
        """A MIDI clock message (drained on the render thread): MIDI becomes the source."""
        if self.mode not in ("auto", "midi"):
            return  # the VJ chose another source: MIDI clock is ignored
        s = self._state
        beats = s.beats
        if event.kind == "tick":
            missed = self.tempo.missed
            self.tempo.add(event.time)
            if self._origin is None:  # take over from where the phase is: no jump
                self._origin, self._pulses = beats, 0
            if self._running:  # a stopped DAW keeps ticking: the tempo follows, the phase holds
                self._pulses += self.tempo.missed - missed  # ticks lost on the way still count
                beats = self._origin + self._pulses / TICKS_PER_BEAT
                self._pulses += 1
        elif event.kind == "start":
            # The song starts over; the first tick after Start plays beat 0.
            self._origin, self._pulses, self._running = 0.0, 0, True
            beats = 0.0
        elif event.kind in ("stop", "continue"):
            self._running = event.kind == "continue"
        elif event.kind == "position":
            self._origin, self._pulses = 0.0, event.value * (TICKS_PER_BEAT // 4)  # value: sixteenths
            beats = event.value / 4.0
        else:
            return
        self._heard = True
        if self.link is not None and event.kind in ("start", "stop", "continue"):
            self.link.transport = event.kind != "stop"  # the Link session starts and stops with it
        self._state = ClockState(self.tempo.bpm or s.bpm, beats, "midi", self._running)

    def advance(self, dt: float, bpm: float, mode: str = "auto") -> ClockState:
        """Move on by `dt` seconds; `bpm` is the manual tempo (the `bpm` parameter), `mode` the
        `clock.source` parameter. The Link session and the followers hear of the new state."""
        link, now = self.link, self.now()
        if link is not None:
            link.read()
        state = self._advance(dt, bpm, mode, now)
        if link is not None and state.source != "link":
            link.share(state, now)
        for follower in self.followers:
            follower.follow(state, now)
        return state

    def _advance(self, dt: float, bpm: float, mode: str, now: float) -> ClockState:
        # Messages drained this frame arrived during this dt: they count as now, so a long
        # frame does not read as the clock having gone away.
        self._quiet = 0.0 if self._heard else self._quiet + dt
        self._heard = False
        self.mode = mode
        s = self._state
        if s.source == "midi" and (self._quiet > MIDI_TIMEOUT or mode not in ("auto", "midi")):
            # The clock went away (cable pulled, DAW closed): run on freely from here.
            self._origin, self._running = None, True
            s = replace(s, source="manual", running=True)
        if s.source != "midi" and self.link is not None and self.link.leads(mode):
            self._age_audio(dt)
            self._audio_offset = None
            self._state = self.link.follow(s, bpm, now)
            return self._state
        if s.source != "midi":
            return self._advance_free(dt, bpm, s)
        bpm = self.tempo.bpm or bpm
        beats = s.beats
        if self._running and self._origin is not None:
            # Between ticks extrapolate, but never past where the next tick will put the phase,
            # so a late tick holds the phase instead of making it step back.
            upcoming = self._origin + self._pulses / TICKS_PER_BEAT
            beats = min(beats + dt * bpm / 60.0, max(upcoming, beats))
        self._state = ClockState(bpm, beats, "midi", self._running)
        return self._state

    def _advance_free(self, dt: float, bpm: float, s: ClockState) -> ClockState:
        """No MIDI clock or Link: follow a confident audio beat if allowed, else the manual tempo."""
        self._age_audio(dt)
        beat = self._audio if self.mode in ("auto", "audio") else None
        if beat is None:
            self._audio_offset = None
            source = "manual" if s.source in ("audio", "link") else s.source
            self._state = ClockState(bpm, s.beats + dt * bpm / 60.0, source)
            return self._state
        step = dt * beat.bpm / 60.0
        if self._audio_offset is None:  # take over at the nearest beat of the tracker's: no jump
            self._audio_offset = round(s.beats - beat.beats)
        error = beat.beats + self._audio_offset - (s.beats + step)
        if abs(error) > 2.0:  # far out (a re-lock after a break): count on from where we are
            self._audio_offset += round(-error)
            error = beat.beats + self._audio_offset - (s.beats + step)
        steer = max(-AUDIO_STEER * step, min(AUDIO_STEER * step, error))
        self._state = ClockState(beat.bpm, s.beats + step + steer, "audio")
        return self._state

    def _age_audio(self, dt: float) -> None:
        self._audio_quiet += dt
        if self._audio_quiet > AUDIO_TIMEOUT:
            self._audio = None
