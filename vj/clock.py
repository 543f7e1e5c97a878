"""The beat clock: one tempo and phase that LFOs and beat triggers read.

Sources for now: manual bpm (the `bpm` parameter) and tap tempo, which sets it.
The beat position is integrated from the tempo each frame, so a tempo change
bends the phase smoothly instead of jumping it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClockState:
    bpm: float
    beats: float  # beats elapsed since the clock started
    source: str

    @property
    def phase(self) -> float:
        """Position within the current beat, 0..1."""
        return self.beats % 1.0

    @property
    def bar(self) -> float:
        """Position within a 4/4 bar, 0..4."""
        return self.beats % 4.0


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


class BeatClock:
    def __init__(self, bpm: float = 120.0) -> None:
        self._state = ClockState(bpm, 0.0, "manual")
        self.tapper = TapTempo()

    @property
    def state(self) -> ClockState:
        return self._state

    def tap(self, now: float) -> float | None:
        bpm = self.tapper.tap(now)
        # A tap also marks the downbeat: the phase snaps to the nearest whole beat.
        self._state = ClockState(self._state.bpm, round(self._state.beats), "tap")
        return bpm

    def advance(self, dt: float, bpm: float) -> ClockState:
        self._state = ClockState(bpm, self._state.beats + dt * bpm / 60.0, self._state.source)
        return self._state
