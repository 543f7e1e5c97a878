"""The faults `vj bench soak` injects, in turn, and how each one's recovery is seen.

Recovery is what the show itself reports, in its log (each line stamped here as it arrives):

- `generator`: its child process is killed (SIGKILL); recovered at the supervisor's
  `NAME: ready` for the new process;
- `audio`: the audio worker ("audio in") is killed; recovered at `audio input: ... JACK ports`
  (the new worker has its device open and its ports on the server);
- `jack`: the JACK server is stopped and started again (the peers leave it first and come
  back after, as a studio's would); recovered when the show has both its audio input and its
  MIDI controller back, the later of the two, timed from the new server answering a client;
- `midi`: the controller is unplugged (its port closed) for `UNPLUGGED` seconds and plugged in
  again; recovered at the show's `MIDI in: vjsoak-midi...`, timed from the replug;
- `camera`: the video file is removed until the show says the camera is lost (or
  `CAMERA_GONE` seconds pass), then put back; recovered at `camera: playing`, timed from the
  put-back.

Seconds to recovery are timed from the fault (the replug, the put-back or the new JACK server
where stated). The
MIDI controller stops sending for the MIDI and JACK faults and starts again once the show has
its port back: those windows are not counted as lost messages.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vj.bench.soak_peers import MIDI_CLIENT, Peer
from vj.bench.soak_show import ShowProcess, child_named

KINDS = ("generator", "audio", "jack", "midi", "camera")
SLOW_RESTART = 2.0  # seconds: a JACK restart slower than this has its server's last words in the detail
RECOVERY_TIMEOUT = 30.0  # seconds: a fault not recovered by then counts as never recovered
UNPLUGGED = 1.5  # seconds the controller stays unplugged (the show scans its ports every 0.5 s)
CAMERA_GONE = 8.0  # seconds the camera file stays away at most (the show notices at its next loop)
DRAIN = 0.2  # seconds between the controller's last message and its port closing: the last ones arrive

AUDIO_BACK = r"INFO vj\.audio\.capture: audio input: .*JACK ports"
MIDI_BACK = rf"MIDI in: {re.escape(MIDI_CLIENT)}"
CAMERA_BACK = r"INFO vj\.camera: camera: playing"
CAMERA_LOST = r"WARNING vj\.camera: camera: "


@dataclass(frozen=True)
class FaultResult:
    kind: str
    at: float  # time.monotonic() of the fault
    recovered: bool
    seconds: float | None  # to the show's report of recovery (None: never)
    detail: str = ""


REALTIME_PRIORITY = 10  # jackd's; its clients' threads get just under it


def can_realtime() -> bool:
    """Whether this process may use real-time scheduling (root, or an rtprio limit)."""
    try:
        return os.sched_get_priority_min(os.SCHED_FIFO) >= 0 and (
            os.geteuid() == 0 or resource.getrlimit(resource.RLIMIT_RTPRIO)[0] >= REALTIME_PRIORITY)
    except (AttributeError, OSError):
        return False


class JackServer:
    """A JACK server of the benchmark's own (dummy driver), which it can restart."""

    def __init__(self, name: str, rate: int = 48000, period: int = 256, realtime: bool = True) -> None:
        exe = shutil.which("jackd")
        if exe is None:
            raise RuntimeError("vj bench soak needs jackd (Debian: apt-get install jackd2)")
        self.name = name
        self.env = {**os.environ, "JACK_DEFAULT_SERVER": name, "JACK_NO_AUDIO_RESERVATION": "1"}
        # realtime as a studio runs it (JACK's default): its clients' process threads then run
        # before the show's drawing; without it a starved client's cycle is skipped and its MIDI lost
        self.realtime = realtime and can_realtime()
        mode = ["-R", "-P", str(REALTIME_PRIORITY)] if self.realtime else ["--no-realtime"]
        self.command = [exe, "-n", name, *mode, "-d", "dummy", "-r", str(rate), "-p", str(period)]
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()
        self.stop_said = ""  # the server's last lines when it last stopped

    def start(self, timeout: float = 15.0) -> None:
        try:
            self._start(timeout)
        except RuntimeError as exc:
            stale = stale_servers()
            if "Too many servers" not in str(exc) or not stale:
                raise
            # JACK's registry holds 8 servers and a killed jackd keeps its slot until a server of
            # the same name starts: take such a slot over
            self.name = stale[0]
            self.env["JACK_DEFAULT_SERVER"] = self.name
            self.command[2] = self.name
            self._start(timeout)

    def _start(self, timeout: float) -> None:
        self._log.seek(0)
        self._log.truncate()
        self.proc = subprocess.Popen(self.command, env=self.env, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.seek(0)
                raise RuntimeError(f"jackd exited: {self._log.read().decode(errors='replace')[-1500:]}")
            if "system:capture_1" in self.ports():
                return
            time.sleep(0.05)
        raise RuntimeError(f"jackd {self.name} did not come up within {timeout:.0f} s")

    def ports(self) -> list[str]:
        try:
            done = subprocess.run(["jack_lsp"], env=self.env, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return []
        return done.stdout.split() if done.returncode == 0 else []

    def said(self, lines: int = 4) -> str:
        """The server's last lines of output (why a stop or a start took long)."""
        self._log.seek(0)
        text = self._log.read().decode(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:  # a client that never let go: the server is killed
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self.stop_said = self.said()  # before a start writes over it

    def close(self) -> None:
        self.stop()
        self._log.close()


REGISTRY = Path("/dev/shm/jack-shm-registry")


def stale_servers() -> list[str]:
    """Names in JACK's server registry whose server process is gone (jack2 on Linux: each entry is
    the server's pid, then its name as `jack-UID:NAME:`)."""
    try:
        data = REGISTRY.read_bytes()
    except OSError:
        return []
    names = []
    for match in re.finditer(rb"jack-\d+:([A-Za-z0-9_.-]+):", data):
        pid = int.from_bytes(data[match.start() - 4:match.start()], "little")
        if pid and not Path(f"/proc/{pid}").exists():
            names.append(match.group(1).decode())
    return names


@dataclass
class Rig:
    """What the faults act on."""

    show: ShowProcess
    jack: JackServer
    midi: Peer
    audio: Peer
    camera: Path
    generator: str  # the generator child's name ("procedural", "diffusion (tiny)")


def _waited(show: ShowProcess, kind: str, since: float, pattern: str, detail: str = "") -> FaultResult:
    line = show.wait_for(pattern, after=since, timeout=RECOVERY_TIMEOUT)
    if line is None:
        return FaultResult(kind, since, False, None, detail or f"no {pattern!r} within {RECOVERY_TIMEOUT:.0f} s")
    return FaultResult(kind, since, True, round(line.at - since, 3), detail)


def kill_child(rig: Rig, kind: str, name: str, back: str) -> FaultResult:
    pid = child_named(rig.show.pid, name)
    at = time.monotonic()
    if pid is None:
        return FaultResult(kind, at, False, None, f"no child process {name!r} to kill")
    os.kill(pid, signal.SIGKILL)
    return _waited(rig.show, kind, at, back, f"killed pid {pid}")


def generator_fault(rig: Rig) -> FaultResult:
    return kill_child(rig, "generator", rig.generator, rf"vj\.proc\.supervisor: {re.escape(rig.generator)}: ready")


def audio_fault(rig: Rig) -> FaultResult:
    return kill_child(rig, "audio", "audio in", AUDIO_BACK)


def jack_fault(rig: Rig) -> FaultResult:
    rig.midi.command("pause")
    time.sleep(DRAIN)
    rig.midi.command("close")
    rig.audio.command("close")
    at = time.monotonic()
    rig.jack.stop()
    rig.jack.start()
    restarted = time.monotonic() - at
    rig.midi.command("open")
    rig.audio.command("open")
    audio = _waited(rig.show, "jack", at, AUDIO_BACK)
    midi = _waited(rig.show, "jack", at, MIDI_BACK)
    rig.midi.command("send")
    detail = (f"server down and up again in {restarted:.2f} s; from the fault, audio back: {audio.seconds}, "
              f"MIDI back: {midi.seconds}")
    if restarted > SLOW_RESTART:  # what jackd said: which client it waited for, if one
        detail += f"; jackd said stopping: {rig.jack.stop_said}; starting: {rig.jack.said()}"
    if not (audio.recovered and midi.recovered):
        return FaultResult("jack", at, False, None, detail)
    # timed from the new server answering (as MIDI from the replug): jackd's own start (0.2 s, and
    # once 5.3 s) is not the show's recovery
    back = max(audio.seconds or 0.0, midi.seconds or 0.0)
    return FaultResult("jack", at, True, round(max(0.0, back - restarted), 3), detail)


def midi_fault(rig: Rig) -> FaultResult:
    rig.midi.command("pause")
    time.sleep(DRAIN)
    rig.midi.command("close")
    time.sleep(UNPLUGGED)
    at = time.monotonic()
    rig.midi.command("open")
    result = _waited(rig.show, "midi", at, MIDI_BACK, f"unplugged {UNPLUGGED:g} s; timed from the replug")
    rig.midi.command("send")
    return result


def camera_fault(rig: Rig) -> FaultResult:
    away = rig.camera.with_name(rig.camera.name + ".away")
    os.replace(rig.camera, away)
    gone_at = time.monotonic()
    lost = rig.show.wait_for(CAMERA_LOST, after=gone_at, timeout=CAMERA_GONE)
    at = time.monotonic()
    os.replace(away, rig.camera)
    noticed = f"the show said the camera was lost after {lost.at - gone_at:.2f} s" if lost else \
        f"the show did not notice in {CAMERA_GONE:g} s"
    return _waited(rig.show, "camera", at, CAMERA_BACK, f"{noticed}; timed from the put-back")


FAULTS: dict[str, Callable[[Rig], FaultResult]] = {
    "generator": generator_fault,
    "audio": audio_fault,
    "jack": jack_fault,
    "midi": midi_fault,
    "camera": camera_fault,
}
