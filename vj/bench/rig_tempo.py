"""Tempo shared with the rig, measured against real peers in other processes (`vj bench rig`'s
`link` and `midi_clock_out` figures).

- `bench_link()`: vj's Link session and beat clock (source "link", advanced 60 times a second as
  the render thread does) against a separate Link peer process that sets 128 bpm. Everything runs
  inside a private network namespace that holds only loopback (Link multicasts discovery on every
  interface: nothing may leave this machine), made with `unshare -n`. `tempo_error_bpm` and
  `phase_error_ms` (the beat clock's bar phase against the peer's, at the same instants, worst of
  `samples`) are read 2 s after the peers found each other (`discovery_s`).
- `bench_midi_clock_out(bpm)`: vj's MIDI clock out, following a beat clock at `bpm`, read by a
  MIDI input in another process that stamps what arrives (JACK, a private server when none runs).
  `bpm_measured_by_peer` is the least-squares line through the ticks' arrival times over
  `seconds`; `jitter_p99_ms` the 99th percentile of the arrivals' distance from that line (JACK
  delivers at its period's start: 5.3 ms at 256 frames, 48 kHz, so about half of that is JACK's).

The peers, each its own process, are also what the tests use:

    python -m vj.bench.rig_tempo link-peer BPM     a Link peer; stdin: tempo X | play 0|1 | state | quit
    python -m vj.bench.rig_tempo midi-reader NAME  a virtual MIDI input NAME:in; stdin: dump | quit
    python -m vj.bench.rig_tempo link-bench        the Link measurement (inside a namespace)
    python -m vj.bench.rig_tempo                   both figures as one JSON object
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from vj.bench.netns import isolated
from vj.clock import QUANTUM, TICKS_PER_BEAT, BeatClock
from vj.slot import LatestSlot
from vj.vocabulary import ClockState

ROOT = Path(__file__).resolve().parents[2]  # the folder vj is imported from
LINK_TEMPO = 128.0
FPS = 60.0
READER = "vjbench-clock"


# -- a private network namespace -----------------------------------------------------------------


def in_namespace(argv: list[str], timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run `argv` inside a fresh network namespace holding only loopback (vj.bench.netns), vj
    importable as it is here; never runs it outside one."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    return isolated(argv, env=env, timeout=timeout, cwd=ROOT)


def require_loopback_only(what: str) -> None:
    """Refuse to go on where this process can reach any network interface but loopback."""
    import socket

    others = [name for _, name in socket.if_nameindex() if name != "lo"]
    if others:
        raise RuntimeError(f"{what} multicasts on every interface: run it inside a loopback-only network "
                           f"namespace (bench_link does), not here (interfaces: {', '.join(others)})")


def last_json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"exit {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return dict(json.loads(lines[-1]))


# -- the render thread's part, without a window ------------------------------------------------


class ClockDriver:
    """Advances a BeatClock `fps` times a second with the real dt, as the live loop does, the `bpm`
    parameter following the clock while an external source drives it (Show._advance_clock).
    `set_bpm` is the VJ turning the bpm knob (applied at the next frame, as an event would be);
    `mode` is clock.source; `last` is the newest state and the time it belongs to."""

    def __init__(self, clock: BeatClock, bpm: float = 120.0, mode: str = "auto", fps: float = FPS) -> None:
        self.clock, self.bpm, self.mode, self.fps = clock, bpm, mode, fps
        self.last: tuple[ClockState, float] | None = None
        self._knob: LatestSlot[float] = LatestSlot()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-clock", daemon=True)

    def start(self) -> ClockDriver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def set_bpm(self, bpm: float) -> None:
        self._knob.put(bpm)

    def _run(self) -> None:
        before = time.perf_counter()
        while not self._stop.wait(1.0 / self.fps):
            if (knob := self._knob.take()) is not None:
                self.bpm = knob
            now = time.perf_counter()
            state = self.clock.advance(now - before, self.bpm, self.mode)
            before = now
            self.last = (state, self.clock.now())
            if state.source in ("midi", "audio", "link"):
                self.bpm = round(state.bpm, 2)


def wait_until(check: Any, timeout: float, what: str, every: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"no {what} within {timeout} s")


# -- a Link peer ---------------------------------------------------------------------------------


def link_peer_main(bpm: float) -> None:
    from vj.rig.link import load_link

    require_loopback_only("the Link peer")
    link = load_link()
    session = link.Link(bpm)
    session.startStopSyncEnabled = True
    session.enabled = True
    clock = session.clock()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        state = session.captureAppSessionState()
        if words[0] == "tempo":
            state.setTempo(float(words[1]), clock.micros())
            session.commitAppSessionState(state)
        elif words[0] == "play":
            state.setIsPlayingAndRequestBeatAtTime(words[1] == "1", clock.micros(), 0.0, QUANTUM)
            session.commitAppSessionState(state)
        before = time.monotonic()
        micros = clock.micros()
        mono = (before + time.monotonic()) / 2
        print(json.dumps({"bpm": state.tempo(), "beats": state.beatAtTime(micros, QUANTUM), "time": mono,
                          "peers": session.numPeers(), "playing": state.isPlaying()}), flush=True)
    session.enabled = False


class _LinePeer:
    """A helper process of this module that talks one JSON line per command over its stdin/stdout."""

    what = "helper"

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "vj.bench.rig_tempo", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, cwd=ROOT)

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.what} exited ({self.proc.wait()})")
        return dict(json.loads(line))

    def command(self, text: str) -> dict[str, Any]:
        """Send a command; the process's answer."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


class LinkPeerProcess(_LinePeer):
    """A Link peer in another process (the same network namespace as the caller)."""

    what = "Link peer"

    def __init__(self, bpm: float = 120.0) -> None:
        super().__init__("link-peer", str(bpm))
        self._read()

    def state(self) -> dict[str, Any]:
        return self.command("state")


def phase_error_ms(last: tuple[ClockState, float], peer: dict[str, Any]) -> float:
    """The beat clock's bar phase minus the peer's at the peer's instant, in ms."""
    state, at = last
    beats = state.beats + ((peer["time"] - at) * state.bpm / 60.0 if state.running else 0.0)
    diff = (beats - peer["beats"] + QUANTUM / 2) % QUANTUM - QUANTUM / 2
    return diff * 60.0 / state.bpm * 1000.0


def link_bench_inside(settle: float = 2.0, samples: int = 20) -> dict[str, Any]:
    """The Link measurement; must run inside a loopback-only namespace (see bench_link)."""
    from vj.rig.link import LinkSession

    require_loopback_only("the Link benchmark")
    peer = LinkPeerProcess(120.0)
    session = LinkSession(120.0).start()
    clock = BeatClock(120.0)
    clock.attach_link(session)
    driver = ClockDriver(clock, 120.0, "link").start()
    try:
        started = time.monotonic()
        wait_until(lambda: (r := session.reading()) is not None and r.peers > 0, 30, "Link peer found")
        discovery = time.monotonic() - started
        peer.command(f"tempo {LINK_TEMPO}")
        time.sleep(settle)
        errors, tempo = [], []
        for _ in range(samples):
            now = peer.state()
            assert driver.last is not None
            errors.append(abs(phase_error_ms(driver.last, now)))
            tempo.append(abs(driver.last[0].bpm - now["bpm"]))
            time.sleep(0.05)
        reading = session.reading()
        assert reading is not None
        return {"peers": reading.peers, "tempo_error_bpm": round(max(tempo), 6),
                "phase_error_ms": round(max(errors), 3), "phase_error_ms_p50": round(statistics.median(errors), 3),
                "discovery_s": round(discovery, 3), "samples": samples, "bpm": LINK_TEMPO}
    finally:
        driver.stop()
        session.stop()
        peer.close()


def bench_link() -> dict[str, Any]:
    """`link`: {peers, tempo_error_bpm, phase_error_ms, ...} against a Link peer process, in a namespace."""
    return last_json(in_namespace([sys.executable, "-m", "vj.bench.rig_tempo", "link-bench"]))


# -- MIDI clock out, read by a peer ---------------------------------------------------------------


def midi_reader_main(name: str) -> None:
    import rtmidi

    from vj.control.midi_ports import midi_api

    received: list[tuple[float, str]] = []
    lock = threading.Lock()
    done = threading.Event()
    # rtmidi queues in C and stamps with the MIDI system's clock (deltas); a Python callback would
    # make JACK's thread wait for the GIL, and JACK then loses and duplicates messages
    port = rtmidi.MidiIn(rtapi=midi_api(), name=name, queue_size_limit=65536)
    port.ignore_types(sysex=True, timing=False, active_sense=True)
    port.open_virtual_port("in")

    def drain() -> None:
        clock: list[float] = []  # the MIDI system's time, anchored at the first arrival's perf_counter
        while not done.wait(0.001):
            while (item := port.get_message()) is not None:
                data, delta = item
                clock[:] = [clock[0] + delta] if clock else [time.perf_counter()]
                with lock:
                    received.append((clock[0], bytes(data).hex()))

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        with lock:
            out, received[:] = list(received), []
        print(json.dumps({"messages": out}), flush=True)
    done.set()
    drainer.join()
    port.delete()


class MidiReader(_LinePeer):
    """A MIDI input port NAME:in in another process; `messages()` are (arrival s, hex) since the last call,
    `collect()` everything so far."""

    what = "MIDI reader"

    def __init__(self, name: str = READER) -> None:
        super().__init__("midi-reader", name)
        self.name = name
        self.received: list[tuple[float, str]] = []
        self._read()

    def messages(self) -> list[tuple[float, str]]:
        return [(float(t), str(m)) for t, m in self.command("dump")["messages"]]

    def collect(self) -> list[tuple[float, str]]:
        self.received.extend(self.messages())
        return self.received


def _fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares (slope, intercept) of time over tick number."""
    n = len(points)
    mean_i, mean_t = sum(i for i, _ in points) / n, sum(t for _, t in points) / n
    slope = sum((i - mean_i) * (t - mean_t) for i, t in points) / sum((i - mean_i) ** 2 for i, _ in points)
    return slope, mean_t - slope * mean_i


def tick_tempo(times: list[float]) -> tuple[float, float]:
    """(bpm, p99 of the arrivals' distance from the line in ms) of 24 ppqn tick arrival times.

    The line is refitted without arrivals far off it (more than four times the median distance,
    and 3 ms): a receiver that was not scheduled for a while reads a run of ticks late at once,
    which says nothing about when they were sent. The p99 counts every arrival."""
    points = list(enumerate(times))
    kept = points
    for _ in range(3):
        slope, icpt = _fit(kept)
        off = sorted(abs(t - (slope * i + icpt)) for i, t in kept)
        limit = max(4 * off[len(off) // 2], 0.003)
        kept = [(i, t) for i, t in points if abs(t - (slope * i + icpt)) <= limit]
    slope, icpt = _fit(kept)
    residuals = sorted(abs(t - (slope * i + icpt)) for i, t in points)
    return 60.0 / (TICKS_PER_BEAT * slope), residuals[min(len(points) - 1, round(0.99 * (len(points) - 1)))] * 1000.0


def bench_midi_clock_out(bpm: float = 128.0, seconds: float = 4.0) -> dict[str, Any]:
    """`midi_clock_out`: {bpm_set, bpm_measured_by_peer, jitter_p99_ms, ...} through a MIDI peer."""
    from vj.bench.midi import open_midi_system
    from vj.rig.midi_clock_out import MidiClockOut

    system = open_midi_system()
    reader = MidiReader(READER)
    out = MidiClockOut([READER], api=system.api, poll=0.1).start()
    driver = None
    try:
        wait_until(lambda: out.status().ports, 10, "the reader's port opened")
        clock = BeatClock(bpm)
        clock.followers.append(out)
        driver = ClockDriver(clock, bpm, "manual").start()
        wait_until(lambda: any(m == "fa" for _, m in reader.collect()), 10, "Start at the reader")
        time.sleep(seconds)
        got = reader.collect()
        first = next(i for i, (_, m) in enumerate(got) if m == "fa")
        ticks = [t for t, m in got[first:] if m == "f8"]
        measured, jitter = tick_tempo(ticks[1:])  # the first tick follows Start at once: not on the grid
        return {"bpm_set": bpm, "bpm_measured_by_peer": round(measured, 4), "jitter_p99_ms": round(jitter, 3),
                "ticks": len(ticks), "seconds": seconds, "midi": system.note}
    finally:
        if driver is not None:
            driver.stop()
        out.stop()
        reader.close()
        system.close()


def main(argv: list[str]) -> int:
    if argv[:1] == ["link-peer"]:
        link_peer_main(float(argv[1]))
    elif argv[:1] == ["midi-reader"]:
        midi_reader_main(argv[1])
    elif argv[:1] == ["link-bench"]:
        print(json.dumps(link_bench_inside()), flush=True)
    else:
        print(json.dumps({"link": bench_link(), "midi_clock_out": bench_midi_clock_out()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
