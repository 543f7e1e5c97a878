"""Ableton Link: vj as a peer in a Link session, sharing tempo, beat phase and start/stop.

The session runs on a thread of its own (`LinkSession`); the Link library (LinkPython-extern,
imported as `link`, only when a show asks for Link) runs its discovery and measurement on threads
of its own too. The render thread never calls into the library: every `POLL` seconds, and at once
after a change vj asked for, the session thread publishes a `LinkBeat` (tempo, beat, peers,
playing, stamped with time.monotonic()) into a latest-value slot, which the beat clock reads and
extrapolates to the frame's moment. vj's wishes (a tempo, a phase, start/stop) go the other way
through latest-value slots of their own and are committed by the session thread.

Time: Link's clock on Linux is CLOCK_MONOTONIC_RAW, not Python's time.monotonic(); each reading
samples both, so beats are handed over on the monotonic clock the rest of vj uses.

Start/stop sync is on. When the session starts playing (a peer pressed play, or vj bridged a
MIDI Start), vj maps beat 0 to the moment it started, as Link's own apps do, so bar counts agree
with the peer that started it. The beat clock decides what to follow and what to share
(vj.clock.LinkLock); this module only talks to the library.
"""

from __future__ import annotations

import logging
import threading
import time
from types import ModuleType
from typing import Any

from vj.clock import QUANTUM, LinkBeat
from vj.extras import MissingExtra
from vj.slot import LatestSlot

log = logging.getLogger(__name__)

POLL = 0.01  # seconds between readings: a peer's tempo change reaches the render thread this soon
PACKAGE = "LinkPython-extern"


class LinkUnavailable(RuntimeError):
    """Ableton Link cannot run here; the message says what to install."""


def load_link() -> ModuleType:
    """The Link library, or LinkUnavailable naming the package that brings it."""
    try:
        import link
    except ImportError as exc:
        missing = MissingExtra("Ableton Link", "rig", ("link",))
        raise LinkUnavailable(f"{missing}; the package is {PACKAGE} (pip install {PACKAGE})") from exc
    return link


class LinkSession:
    """vj's peer in a Link session (vj.clock.LinkPeer): `start`, then read and wish from any thread."""

    def __init__(self, bpm: float = 120.0, quantum: float = QUANTUM, poll: float = POLL) -> None:
        self.bpm = bpm
        self.quantum = quantum
        self.poll = poll
        self._readings: LatestSlot[LinkBeat] = LatestSlot()
        self._tempo: LatestSlot[float] = LatestSlot()
        self._beats: LatestSlot[tuple[float, float]] = LatestSlot()  # (beats, at time.monotonic())
        self._playing: LatestSlot[bool] = LatestSlot()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._was_playing = False
        self._transport = False  # the session has been started since vj joined

    # -- any thread ---------------------------------------------------------------------------

    def start(self) -> LinkSession:
        """Joins the session (on its own thread); raises LinkUnavailable without the library."""
        module = load_link()
        self._thread = threading.Thread(target=self._run, args=(module,), name="vj-link", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def reading(self) -> LinkBeat | None:
        """The newest reading (None until the session is up). Never blocks."""
        return self._readings.peek()

    def set_tempo(self, bpm: float) -> None:
        """Propose a tempo to the session: every peer follows it."""
        self._tempo.put(float(bpm))
        self._wake.set()

    def set_beats(self, beats: float, at: float) -> None:
        """Move the session's phase so that `beats` falls at `at` (time.monotonic()): for a peer
        that leads, alone or bridging an external clock."""
        self._beats.put((float(beats), float(at)))
        self._wake.set()

    def set_playing(self, playing: bool) -> None:
        """Start or stop the session's transport (every peer with start/stop sync follows)."""
        self._playing.put(bool(playing))
        self._wake.set()

    # -- the session thread -------------------------------------------------------------------

    def _run(self, module: ModuleType) -> None:
        session = module.Link(self.bpm)
        session.startStopSyncEnabled = True
        session.enabled = True
        log.info("Ableton Link: joined (%.2f bpm, quantum %g)", self.bpm, self.quantum)
        try:
            while not self._stop.is_set():
                self._wake.clear()
                self._apply(session)
                self._publish(session)
                self._wake.wait(self.poll)
        except Exception:  # noqa: BLE001 - the show goes on without Link; say why once
            log.exception("Ableton Link failed; the beat clock goes on without it")
        finally:
            session.enabled = False

    def _now(self, session: Any) -> tuple[int, float]:
        """(Link's clock in microseconds, time.monotonic()) at the same moment."""
        before = time.monotonic()
        micros = session.clock().micros()
        return micros, (before + time.monotonic()) / 2

    def _apply(self, session: Any) -> None:
        tempo, beats, playing = self._tempo.take(), self._beats.take(), self._playing.take()
        if tempo is None and beats is None and playing is None:
            return
        state = session.captureAppSessionState()
        micros, mono = self._now(session)
        if tempo is not None:
            state.setTempo(tempo, micros)
        if beats is not None:
            state.forceBeatAtTime(beats[0], micros + round((beats[1] - mono) * 1e6), self.quantum)
        if playing is not None:
            state.setIsPlaying(playing, micros)
        session.commitAppSessionState(state)

    def _publish(self, session: Any) -> None:
        state = session.captureAppSessionState()
        playing = bool(state.isPlaying())
        if playing and not self._was_playing:
            # Started: beat 0 where it started (quantised to the session's phase by Link)
            state.requestBeatAtStartPlayingTime(0.0, self.quantum)
            session.commitAppSessionState(state)
            state = session.captureAppSessionState()
            self._transport = True
        self._was_playing = playing
        micros, mono = self._now(session)
        self._readings.put(LinkBeat(bpm=float(state.tempo()), beats=float(state.beatAtTime(micros, self.quantum)),
                                    time=mono, peers=int(session.numPeers()), playing=playing,
                                    transport=self._transport))
