"""The processes `vj bench soak` plays a show with, each driven over stdin, one answer per command.

    python -m vj.bench.soak_peers midi RATE       a controller: a JACK MIDI output port
                                                  (vjsoak-midi:out) sending control changes at RATE a
                                                  second while told to
    python -m vj.bench.soak_peers osc PORT RATE   an OSC sender: plain UDP datagrams to 127.0.0.1:PORT
    python -m vj.bench.soak_peers audio FILE      a sound source: a JACK client (vjsoak-audio) looping
                                                  FILE (.npy float32 mono at the server's rate) into
                                                  every vj-audio:in_* port it finds

Commands (each answered with one line, `ok ...`, or `error ...`):
    midi:  send / pause (sending stops: `ok SENT`) / close (the port goes, the controller is
           unplugged) / open / count (`ok SENT DROPPED`) / quit
    osc:   send / pause / preset (one /vj/preset/next) / count (`ok SENT`) / quit
    audio: close (the client leaves JACK) / open / count (`ok FRAMES CONNECTIONS MIDI`) / quit

The sound source also listens to the controller on a MIDI port of its own (vjsoak-audio:midi_in,
wired to vjsoak-midi:out) and counts what JACK delivered there (`MIDI`): a message the show
lost that JACK delivered here was lost in the show, not on the way.

Counts are totals since the start: a message counts as sent when the peer's library took it.
`Peer` drives one from the benchmark.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vj.bench.harness import Child

MIDI_CLIENT = "vjsoak-midi"
AUDIO_CLIENT = "vjsoak-audio"
MIDI_CCS = (64, 65, 66, 67, 68, 69, 70, 71)  # the controls the controller moves (bound in the soak's mapping)
OSC_PARAMS = ("zoom", "rotate", "hue", "saturation", "contrast", "brightness", "strength", "feedback")
OSC_RANGES = {"zoom": (-0.3, 0.3), "rotate": (-10.0, 10.0), "hue": (0.0, 0.5), "saturation": (0.5, 1.5),
              "contrast": (0.8, 1.2), "brightness": (-0.1, 0.1), "strength": (0.3, 0.7), "feedback": (0.7, 0.95)}


# -- pacing --------------------------------------------------------------------------------------


class Paced:
    """Calls `send(i)` at `rate` a second on a thread of its own while switched on (small bursts
    every millisecond, as a busy controller sends); `sent` counts the calls that did not raise."""

    def __init__(self, rate: float, send: Callable[[int], None]) -> None:
        self.rate, self.send = rate, send
        self.sent = 0
        self.errors = 0
        self._on = threading.Event()
        self._lock = threading.Lock()  # held while sending: `pause` returns once nothing is in flight
        threading.Thread(target=self._run, daemon=True).start()

    def start(self) -> None:
        self._on.set()

    def pause(self) -> None:
        self._on.clear()
        with self._lock:
            pass

    def _run(self) -> None:
        clock = time.perf_counter
        while True:
            self._on.wait()
            start, done = clock(), 0
            while self._on.is_set():
                with self._lock:
                    if not self._on.is_set():
                        break
                    due = int((clock() - start) * self.rate) + 1
                    while done < due:
                        try:
                            self.send(self.sent)
                            self.sent += 1
                        except Exception:  # noqa: BLE001 - a closed port mid-burst: counted, not sent
                            self.errors += 1
                        done += 1
                time.sleep(max(0.0005, start + done / self.rate - clock()))


def serve(commands: dict[str, Callable[[], str]]) -> None:
    """Answers each command line on stdin with `ok ...` (its handler's text) until `quit` or EOF."""
    print("ready", flush=True)
    for line in sys.stdin:
        word = line.strip()
        if not word:
            continue
        if word == "quit":
            break
        handler = commands.get(word)
        if handler is None:
            print(f"error unknown command {word!r}", flush=True)
            continue
        try:
            print(f"ok {handler()}".rstrip(), flush=True)
        except Exception as exc:  # noqa: BLE001 - say it; the benchmark decides
            print(f"error {type(exc).__name__}: {exc}".replace("\n", " "), flush=True)
    print("bye", flush=True)


# -- the controller ------------------------------------------------------------------------------


def midi_main(rate: float) -> None:
    import rtmidi

    port: list[Any] = [None]
    dropped = [0]
    payloads = [[0xB0, cc, v] for v in range(128) for cc in MIDI_CCS]

    def on_error(_kind: int, _text: str, _data: object) -> None:
        dropped[0] += 1  # rtmidi's JACK output: "ringbuffer full, dropping message"

    def open_port() -> str:
        out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name=MIDI_CLIENT)
        out.set_error_callback(on_error)
        out.open_virtual_port("out")
        port[0] = out
        return ""

    def send(i: int) -> None:
        if port[0] is None:
            raise RuntimeError("unplugged")
        port[0].send_message(payloads[i % len(payloads)])

    paced = Paced(rate, send)

    def close_port() -> str:
        paced.pause()
        if port[0] is not None:
            port[0].delete()
            port[0] = None
        return str(paced.sent)

    def pause() -> str:
        paced.pause()
        return str(paced.sent)

    def start() -> str:
        paced.start()
        return ""

    open_port()
    serve({"send": start, "pause": pause, "close": close_port, "open": open_port,
           "count": lambda: f"{paced.sent} {dropped[0] + paced.errors}"})
    close_port()


# -- the OSC sender ------------------------------------------------------------------------------


def _osc_string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return raw + b"\0" * (-len(raw) % 4)


def osc_message(address: str, *floats: float) -> bytes:
    return _osc_string(address) + _osc_string("," + "f" * len(floats)) + b"".join(struct.pack(">f", f) for f in floats)


def osc_payloads() -> list[bytes]:
    """Every parameter swept through its range in 64 steps, the parameters interleaved."""
    out = []
    for step in range(64):
        for name in OSC_PARAMS:
            lo, hi = OSC_RANGES[name]
            out.append(osc_message(f"/vj/param/{name}", lo + (hi - lo) * step / 63))
    return out


def osc_main(port: int, rate: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target = ("127.0.0.1", port)
    payloads = osc_payloads()
    lock = threading.Lock()
    extra = [0]

    def send(i: int) -> None:
        with lock:
            sock.sendto(payloads[i % len(payloads)], target)

    paced = Paced(rate, send)

    def preset() -> str:
        with lock:
            sock.sendto(osc_message("/vj/preset/next"), target)
            extra[0] += 1
        return ""

    def start() -> str:
        paced.start()
        return ""

    def pause() -> str:
        paced.pause()
        return str(paced.sent + extra[0])

    serve({"send": start, "pause": pause, "preset": preset,
           "count": lambda: f"{paced.sent + extra[0]} {paced.errors}"})
    paced.pause()
    sock.close()


# -- the sound source ----------------------------------------------------------------------------


def audio_main(path: Path) -> None:
    import jack

    tape = np.load(path).astype(np.float32)
    state: dict[str, Any] = {"client": None, "port": None, "midi": None, "at": 0, "frames": 0, "heard": 0}
    lock = threading.Lock()

    def process(frames: int) -> None:
        buffer = state["port"].get_array()
        at, n = state["at"], len(tape)
        first = min(frames, n - at)
        buffer[:first] = tape[at:at + first]
        if first < frames:
            buffer[first:] = tape[:frames - first]
        state["at"] = (at + frames) % n
        state["frames"] += frames
        state["heard"] += sum(1 for _ in state["midi"].incoming_midi_events())

    def open_client() -> str:
        with lock:
            client = jack.Client(AUDIO_CLIENT, no_start_server=True)
            state["port"] = client.outports.register("out_1")
            state["midi"] = client.midi_inports.register("midi_in")
            client.set_process_callback(process)
            client.activate()
            state["client"] = client
        return ""

    def close_client() -> str:
        with lock:
            client, state["client"] = state["client"], None
            if client is not None:
                client.deactivate()
                client.close()
        return str(state["frames"])

    def wire() -> None:
        """Every vj capture port gets the tape (vj's audio worker comes and goes: it is restarted)."""
        while True:
            time.sleep(0.1)
            with lock:
                client = state["client"]
                if client is None:
                    continue
                try:
                    mine = state["port"]
                    for target in client.get_ports("vj-audio:in_", is_input=True, is_audio=True):
                        if target.name not in {p.name for p in client.get_all_connections(mine)}:
                            client.connect(mine, target)
                    if not client.get_all_connections(state["midi"]):
                        for source in client.get_ports(MIDI_CLIENT + ":", is_output=True, is_midi=True):
                            client.connect(source, state["midi"])
                except jack.JackError:
                    pass  # the port went while we looked: next time

    def count() -> str:
        with lock:
            client = state["client"]
            connected = len(client.get_all_connections(state["port"])) if client is not None else 0
        return f"{state['frames']} {connected} {state['heard']}"

    open_client()
    threading.Thread(target=wire, daemon=True).start()
    serve({"close": close_client, "open": open_client, "count": count})
    close_client()


# -- driving one ---------------------------------------------------------------------------------


class Peer(Child):
    """A peer process (`Peer("midi", "10000")`), its commands answered in order."""

    def __init__(self, kind: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.kind = kind
        super().__init__([sys.executable, "-m", "vj.bench.soak_peers", kind, *args], f"soak's {kind} peer", env,
                         ready_timeout=30.0)

    def command(self, word: str, timeout: float = 20.0) -> list[str]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()
        return self._expect("ok", timeout)

    def counts(self) -> Sequence[int]:
        return [int(w) for w in self.command("count")]

    def close(self) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


def main(argv: list[str]) -> int:
    kind = argv[0] if argv else ""
    if kind == "midi":
        midi_main(float(argv[1]))
    elif kind == "osc":
        osc_main(int(argv[1]), float(argv[2]))
    elif kind == "audio":
        audio_main(Path(argv[1]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
