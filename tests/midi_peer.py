"""A MIDI controller stand-in: a separate process with real JACK MIDI ports, driven over stdin.

    python -m tests.midi_peer NAME

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

import random
import sys
import threading
import time

import rtmidi

API = rtmidi.API_UNIX_JACK


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
                    time.sleep(0.0005)
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


if __name__ == "__main__":
    main()
