"""A sound source for tests: a separate JACK client process that plays a file sample for sample.

    python -m tests.support.audio_player FILE [--name NAME] [--to PORT]... [--exclusive]

FILE is a WAV (at the JACK server's rate: nothing is resampled) or a .npy float32 array of
shape (frames,) or (frames, channels). The player registers one output port per channel
(NAME:out_1, NAME:out_2...) and connects port i to the i-th --to port; with --exclusive it
first disconnects everything else from those ports (PortAudio connects system:capture_* to
its inputs). Then it prints `ready PORT...` and waits for a line on stdin:

    play   wait until every port is connected, play the whole file from the next JACK cycle
           (silence before and after), print `played N frames X xruns` (X: cycles JACK
           reported lost while playing) and exit
    quit   exit without playing

`Player` drives one from a test (it needs a JACK server, e.g. the jack_server fixture).
"""

from __future__ import annotations

import argparse
import queue
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
TAIL_CYCLES = 8  # silent cycles after the file, so the last samples reach the other end before we go


def load(path: Path) -> tuple[np.ndarray, int | None]:
    """(frames x channels float32, sample rate or None for .npy)."""
    if path.suffix == ".npy":
        data = np.load(path).astype(np.float32)
        rate = None
    else:
        import soundfile

        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    if data.ndim == 1:
        data = data[:, None]
    return np.ascontiguousarray(data), rate


def main(argv: list[str]) -> int:
    import jack

    parser = argparse.ArgumentParser(prog="python -m tests.support.audio_player")
    parser.add_argument("file", type=Path)
    parser.add_argument("--name", default="vj-test-player")
    parser.add_argument("--to", action="append", default=[], help="connect the next output port to this port")
    parser.add_argument("--exclusive", action="store_true", help="disconnect every other source from --to ports")
    args = parser.parse_args(argv)
    data, rate = load(args.file)
    client = jack.Client(args.name, no_start_server=True)
    if rate is not None and rate != client.samplerate:
        print(f"error: {args.file} is at {rate} Hz, the JACK server at {client.samplerate} Hz", flush=True)
        return 2
    ports = [client.outports.register(f"out_{i + 1}") for i in range(data.shape[1])]
    total = len(data)
    state = {"go": False, "at": 0, "tail": 0}
    done = threading.Event()
    xruns = [0]

    @client.set_xrun_callback
    def xrun(delay: float) -> None:
        if state["go"]:
            xruns[0] += 1

    @client.set_process_callback
    def process(frames: int) -> None:
        buffers = [p.get_array() for p in ports]
        at = state["at"]
        n = min(frames, total - at) if state["go"] else 0
        for channel, buffer in enumerate(buffers):
            buffer[:n] = data[at:at + n, channel]
            buffer[n:] = 0.0
        state["at"] = at + n
        if state["go"] and state["at"] >= total:
            state["tail"] += 1
            if state["tail"] > TAIL_CYCLES:
                done.set()

    client.activate()
    for port, target in zip(ports, args.to):
        if args.exclusive:
            for source in client.get_all_connections(target):
                client.disconnect(source, target)
        client.connect(port, target)
    print("ready " + " ".join(p.name for p in ports), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            break
        if command == "play":
            try:
                wait_for(lambda: all(p.connections for p in ports), 10, what="the player's ports to be connected")
            except AssertionError as error:
                print(f"error: {error}", flush=True)
                return 1
            state["go"] = True
            if not done.wait(60 + total / client.samplerate):
                print("error: playing did not finish", flush=True)
                return 1
            print(f"played {total} frames {xruns[0]} xruns", flush=True)
            break
    client.deactivate()
    client.close()
    return 0


class Player:
    """`with Player(path, to=status.ports) as p: p.play()` from a test; needs a JACK server."""

    def __init__(self, path: Path, name: str = "vj-test-player", to: tuple[str, ...] = (),
                 exclusive: bool = True) -> None:
        command = [sys.executable, "-m", "tests.support.audio_player", str(path), "--name", name]
        command += [arg for port in to for arg in ("--to", port)] + (["--exclusive"] if exclusive else [])
        self.proc = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.xruns = 0  # JACK xruns while playing, known once played
        self._lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        threading.Thread(target=self._read, daemon=True).start()
        words = self._expect("ready", 20).split()
        self.ports = tuple(words[1:])

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.strip())

    def _expect(self, word: str, timeout: float) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"audio player: no {word!r} within {timeout} s "
                                 f"(exit code {self.proc.poll()})") from None
        assert line.startswith(word), f"audio player: expected {word!r}, got {line!r}"
        return line

    def start(self) -> None:
        """Starts playing; `wait()` for the end."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("play\n")
        self.proc.stdin.flush()

    def wait(self, timeout: float = 30.0) -> int:
        """Frames played."""
        words = self._expect("played", timeout).split()
        frames = int(words[1])
        self.xruns = int(words[3])
        self.proc.wait(timeout=10)
        return frames

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Player:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
