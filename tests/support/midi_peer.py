"""A MIDI controller stand-in: a separate process with real JACK MIDI ports, driven over stdin,
and `MidiPeer`, which starts and drives one from a test.

    python -m tests.support.midi_peer NAME

opens a virtual output port and a virtual input port under the JACK client NAME and prints
`ready`. Commands, one per line:
    send HEX...              send these bytes now (e.g. `send b0 30 7f`)
    burst N HEX...           send the same message N times, as fast as JACK takes them
    paced N RATE HEX...      send it N times at RATE messages per second
    clock BPM SECONDS JITTER MS  24 ppqn clock ticks at BPM for SECONDS, each tick moved by a
                             uniform random offset of +-JITTER ms (seeded: reproducible)
    close / open             close the ports (the controller is unplugged) / reopen them
    quit
Each command prints `done` when finished. Messages arriving on the input port are printed
as `recv HEX...` (vj's LED feedback).
"""

from __future__ import annotations

import faulthandler
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import rtmidi

from tests.support.waiting import wait_for

API = rtmidi.API_UNIX_JACK
ROOT = Path(__file__).resolve().parents[2]


class Peer:
    def __init__(self, name: str) -> None:
        self.name = name
        self.out: rtmidi.MidiOut | None = None
        self.inp: rtmidi.MidiIn | None = None
        self.lock = threading.Lock()

    def open(self) -> None:
        self.out = rtmidi.MidiOut(rtapi=API, name=self.name)
        self.out.open_virtual_port("out")
        self.inp = rtmidi.MidiIn(rtapi=API, name=self.name)
        self.inp.open_virtual_port("in")
        self.inp.ignore_types(sysex=False, timing=False, active_sense=False)
        self.inp.set_callback(self._received)

    def close(self) -> None:
        for port in (self.out, self.inp):
            if port is not None:
                port.delete()
        self.out = self.inp = None

    def _received(self, message: tuple[list[int], float], _data: object) -> None:
        with self.lock:
            print("recv " + " ".join(f"{b:02x}" for b in message[0]), flush=True)

    def send(self, data: list[int]) -> None:
        assert self.out is not None
        self.out.send_message(data)


def main() -> None:
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # a command that hangs: where (MidiPeer._expect)
    peer = Peer(sys.argv[1])
    peer.open()
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        cmd, args = words[0], words[1:]
        if cmd == "send":
            peer.send([int(w, 16) for w in args])
        elif cmd == "burst":
            data = [int(w, 16) for w in args[1:]]
            for _ in range(int(args[0])):
                peer.send(data)
        elif cmd == "paced":
            n, rate, data = int(args[0]), float(args[1]), [int(w, 16) for w in args[2:]]
            start = time.perf_counter()
            for i in range(n):
                while time.perf_counter() < start + i / rate:
                    pass
                peer.send(data)
        elif cmd == "clock":
            bpm, seconds, jitter = float(args[0]), float(args[1]), float(args[2]) / 1000.0
            rng = random.Random(1)
            period = 60.0 / bpm / 24.0
            start = time.perf_counter() + 0.01
            for i in range(int(seconds / period)):
                due = start + i * period + rng.uniform(-jitter, jitter)
                while time.perf_counter() < due:
                    time.sleep(0.0005)  # until the tick is due
                peer.send([0xF8])
        elif cmd == "close":
            peer.close()
        elif cmd == "open":
            peer.open()
        elif cmd == "quit":
            print("done", flush=True)
            break
        with peer.lock:
            print("done", flush=True)
    peer.close()


class MidiPeer:
    """`with MidiPeer("apc-test") as peer: peer.send(0xB0, 48, 127)`; needs the jack_server fixture."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.midi_peer", name],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.received: list[bytes] = []  # what vj sent to the peer's input port
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._expect("ready", 20)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if line.startswith("recv "):
                self.received.append(bytes(int(w, 16) for w in line[5:].split()))
            else:
                self._lines.put(line)

    def _expect(self, word: str, timeout: float) -> None:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            if self.proc.poll() is None:  # its threads' stacks to stderr, which the test's report shows
                self.proc.send_signal(signal.SIGUSR1)
                time.sleep(1.0)
            raise AssertionError(f"midi peer {self.name}: no {word!r} within {timeout} s (stacks: stderr)") from None
        assert line == word, f"midi peer {self.name}: expected {word!r}, got {line!r}"

    def command(self, text: str, timeout: float = 60.0) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        self._expect("done", timeout)

    def send(self, *data: int) -> None:
        self.command("send " + " ".join(f"{b:02x}" for b in data))

    def burst(self, count: int, *data: int) -> None:
        self.command(f"burst {count} " + " ".join(f"{b:02x}" for b in data))

    def paced(self, count: int, rate: float, *data: int) -> None:
        self.command(f"paced {count} {rate} " + " ".join(f"{b:02x}" for b in data))

    def clock(self, bpm: float, seconds: float, jitter_ms: float = 0.0) -> None:
        self.command(f"clock {bpm} {seconds} {jitter_ms}", timeout=seconds + 30)

    def unplug(self) -> None:
        self.command("close")

    def plug(self) -> None:
        self.command("open")

    def wait_received(self, count: int, timeout: float = 5.0) -> list[bytes]:
        """Everything received, once it is at least `count` messages."""
        wait_for(lambda: len(self.received) >= count, timeout,
                 what=lambda: f"{count} messages at midi peer {self.name}; got {[m.hex() for m in self.received]}")
        return list(self.received)

    def wait_message(self, message: bytes, after: int = 0, timeout: float = 30.0) -> None:
        """Until `message` arrives, counting from the `after`-th message received."""
        wait_for(lambda: message in self.received[after:], timeout,
                 what=lambda: f"{message.hex()} at midi peer {self.name}; got {[m.hex() for m in self.received]}")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.command("quit", timeout=5)
            except (AssertionError, BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __enter__(self) -> MidiPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    main()
