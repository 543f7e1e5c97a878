"""Driving a tests.midi_peer process from a test: a controller on the other end of JACK."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class MidiPeer:
    """`with MidiPeer("apc-test") as peer: peer.send(0xB0, 48, 127)`; needs the jack_server fixture."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.midi_peer", name],
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
            raise AssertionError(f"midi peer {self.name}: no {word!r} within {timeout} s") from None
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
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.received)

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
