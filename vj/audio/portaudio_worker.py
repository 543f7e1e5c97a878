"""The process that owns PortAudio for vj.audio.capture: child mains run by vj.proc's supervisor.

    run(link, config_json)     an "opened" message (and `ready`), then ("block", samples, time,
                               overflows, dropped) messages until vj stops it; a "lost" message
                               and an exit when the device stops delivering
    list_devices(link)         answers ("inventory", dict): the inputs, the default one, the host APIs
    check(link, config_json)   answers ("device", dict): the input the config opens, channels and
                               rate checked

A problem is an ("error", message) message (and, for `run`, an exit). Every exit is os._exit
after PortAudio is terminated (its JACK client closed), except after a lost device: with the
JACK server gone, closing the stream or terminating PortAudio waits 10 s and then aborts.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import queue
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from types import ModuleType
from typing import Any, NoReturn

import numpy as np

from vj.audio.capture import AudioInputError, InputConfig, InputDevice, InputInventory, channel_plan
from vj.proc.child import ChildLink, Stopped

JACK_CLIENT = b"vj-audio"  # our JACK client's name: ports vj-audio:in_0, in_1...
STALL = 2.0  # seconds without a block while the stream says it runs: the device is gone
WATCH = 0.1  # seconds between looks at the stream (and for a stop from vj)
SEND_BLOCKS = 256  # blocks waiting to be sent (beyond that the callback drops them)
CLOCK_WINDOW = 2.0  # seconds over which BlockClock takes its least-late callback

# exit codes (they show in the supervisor's log)
EXIT_STOPPED = 0
EXIT_CONFIG = 2  # no such device, channels or sample rate it cannot do
EXIT_LOST = 3  # the stream stopped or stalled: the device went away
EXIT_PORTAUDIO = 4  # PortAudio is missing or failed to open the stream

_client_name = ctypes.create_string_buffer(JACK_CLIENT)  # PortAudio keeps the pointer


class Writer:
    """Sends audio blocks to vj from a thread of its own: the audio callback never waits for the socket."""

    def __init__(self, link: ChildLink) -> None:
        self.link = link
        self.broken = False  # vj has gone
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue(maxsize=SEND_BLOCKS)
        self._thread = threading.Thread(target=self._run, name="vj-audio-send", daemon=True)
        self._thread.start()

    def audio(self, message: tuple[Any, ...]) -> bool:
        """Queues a block; False if the queue is full (the block is dropped)."""
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            return False
        return True

    def close(self) -> None:
        """Sends what is queued, then ends the thread."""
        try:
            self._queue.put(None, timeout=5.0)
        except queue.Full:
            return
        self._thread.join(5.0)

    def _run(self) -> None:
        while (message := self._queue.get()) is not None:
            try:
                self.link.send(message)
            except OSError:
                self.broken = True
                while self._queue.get() is not None:  # let close() finish
                    pass
                return


class BlockClock:
    """The time.perf_counter() time of each block's first sample.

    A callback comes after its block's last sample arrived, late by a varying amount, so
    `now - frames so far / rate` is the stream's start plus that lateness. The least late value
    of the last CLOCK_WINDOW seconds is taken as the start: jitter goes, and clock drift or a
    skipped cycle is followed within the window.
    """

    def __init__(self, rate: int, window: float = CLOCK_WINDOW) -> None:
        self.rate = rate
        self.window = window
        self._candidates: deque[tuple[float, float]] = deque()  # (when, start), starts increasing
        self._last = -float("inf")

    def stamp(self, now: float, first: int, frames: int) -> float:
        start = now - (first + frames) / self.rate
        while self._candidates and self._candidates[-1][1] >= start:
            self._candidates.pop()
        self._candidates.append((now, start))
        while self._candidates[0][0] < now - self.window:
            self._candidates.popleft()
        at = max(self._candidates[0][1] + first / self.rate, self._last)
        self._last = at
        return at


class Capture:
    """The stream callback's side: mono mix, gain, time stamp, onto the writer."""

    def __init__(self, config: InputConfig, picks: tuple[int, ...], opened: int, writer: Writer) -> None:
        self.picks = list(picks)
        self.every = picks == tuple(range(opened))  # mix every channel the stream has
        self.gain = np.float32(config.gain)
        self.writer = writer
        self.clock = BlockClock(config.sample_rate)
        self.frames = 0
        self.blocks = 0
        self.overflows = 0
        self.dropped = 0

    def callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        now = time.perf_counter()
        if status.input_overflow:
            self.overflows += 1
        if len(self.picks) == 1:
            mono = indata[:, self.picks[0]].copy()
        else:
            mono = (indata if self.every else indata[:, self.picks]).mean(axis=1, dtype=np.float32)
        if self.gain != 1:
            mono *= self.gain
        at = self.clock.stamp(now, self.frames, frames)
        self.frames += frames
        self.blocks += 1
        if not self.writer.audio(("block", mono, at, self.overflows, self.dropped)):
            self.dropped += 1


def import_sounddevice() -> ModuleType:
    """sounddevice, its JACK client named JACK_CLIENT (set before PortAudio starts, at import)."""
    library = ctypes.util.find_library("portaudio")
    if library is not None:
        try:
            portaudio = ctypes.CDLL(library)
            if hasattr(portaudio, "PaJack_SetClientName"):
                portaudio.PaJack_SetClientName(_client_name)
        except OSError:
            pass
    try:
        import sounddevice
    except (ImportError, OSError) as exc:
        raise RuntimeError(f"PortAudio is unavailable ({exc}); pip install sounddevice, and on Debian "
                           "apt-get install libportaudio2") from exc
    return sounddevice


def take_inventory(sd: ModuleType) -> InputInventory:
    apis = sd.query_hostapis()
    inputs = tuple(
        InputDevice(i, str(d["name"]), str(apis[d["hostapi"]]["name"]), int(d["max_input_channels"]),
                    float(d["default_samplerate"]))
        for i, d in enumerate(sd.query_devices())
        if d["max_input_channels"] > 0
    )
    try:
        default: int | None = int(sd.query_devices(kind="input")["index"])
    except (sd.PortAudioError, ValueError, KeyError):
        default = None
    return InputInventory(inputs, default, tuple(str(a["name"]) for a in apis))


def check_settings(sd: ModuleType, device: InputDevice, channels: int, rate: int) -> None:
    try:
        sd.check_input_settings(device=device.index, channels=channels, samplerate=rate, dtype="float32")
    except sd.PortAudioError as exc:
        code = exc.args[1] if len(exc.args) > 1 else None
        if code == -9997:  # paInvalidSampleRate
            hint = "; a JACK device runs at the JACK server's rate" if "JACK" in device.host_api else ""
            raise AudioInputError(f"device {device.name!r} ({device.host_api}) cannot capture at {rate} Hz "
                                  f"(its default rate is {device.default_rate:g} Hz{hint})") from exc
        raise AudioInputError(f"device {device.name!r} ({device.host_api}) cannot capture {channels} "
                              f"channel(s) at {rate} Hz: {exc}") from exc


def jack_ports(device: InputDevice, channels: int) -> list[str]:
    """Our capture ports, when the device is JACK's (the first stream of a process gets in_0...)."""
    if "JACK" not in device.host_api:
        return []
    name = JACK_CLIENT.decode()
    library = ctypes.util.find_library("portaudio")
    if library is not None:
        actual = ctypes.c_char_p()
        getter = getattr(ctypes.CDLL(library), "PaJack_GetClientName", None)
        if getter is not None and getter(ctypes.byref(actual)) == 0 and actual.value:
            name = actual.value.decode(errors="replace")  # JACK renames a second vj-audio to vj-audio-01
    return [f"{name}:in_{i}" for i in range(channels)]


def prepare(sd: ModuleType, config: InputConfig) -> tuple[InputDevice, int, tuple[int, ...]]:
    """(device, channels to open, channels to mix) for `config`; raises AudioInputError."""
    device = take_inventory(sd).find(config.device)
    opened, picks = channel_plan(config, device)
    check_settings(sd, device, opened, config.sample_rate)
    return device, opened, picks


def stream(sd: ModuleType, config: InputConfig, link: ChildLink, writer: Writer) -> int:
    """Runs the input until vj stops it (EXIT_STOPPED) or the device goes (EXIT_LOST)."""
    device, opened, picks = prepare(sd, config)
    capture = Capture(config, picks, opened, writer)
    try:
        input_stream = sd.InputStream(device=device.index, channels=opened, samplerate=config.sample_rate,
                                      blocksize=config.block, dtype="float32", latency="low",
                                      callback=capture.callback)
        input_stream.start()
    except sd.PortAudioError as exc:
        raise RuntimeError(f"cannot open {device.name!r} ({device.host_api}): {exc}") from exc
    link.send(("opened", {"device": asdict(device), "rate": int(input_stream.samplerate), "channels": opened,
                          "latency": float(input_stream.latency), "ports": jack_ports(device, opened)}))
    link.ready(device.name)  # the supervisor's back-off starts from its shortest again
    seen, since = 0, time.monotonic()
    try:
        while not writer.broken:
            link.recv(WATCH)  # raises Stopped when vj stops us
            if not input_stream.active:
                link.send(("lost", f"{device.name} ({device.host_api}) stopped: the device went away"))
                return EXIT_LOST  # no stop() or close(): with JACK gone they hang, then abort
            now = time.monotonic()
            if capture.blocks != seen:
                seen, since = capture.blocks, now
            elif now - since > STALL:
                link.send(("lost", (f"{device.name} ({device.host_api}) sent no audio for {STALL:g} s: "
                                    "the device stalled or went away")))
                return EXIT_LOST
    except (Stopped, EOFError):
        pass  # asked to stop, or vj has gone
    input_stream.abort()
    input_stream.close()
    return EXIT_STOPPED


def run(link: ChildLink, config_json: str) -> NoReturn:
    """The live input (a supervised child of vj.audio.capture.AudioInput)."""
    sd: ModuleType | None = None
    writer = Writer(link)
    try:
        config = InputConfig.from_json(config_json)
        sd = import_sounddevice()
        code = stream(sd, config, link, writer)
    except Exception as exc:  # noqa: BLE001 (say what happened, and still skip PortAudio's exit handler)
        code = _report(link, exc)
    writer.close()
    _exit(sd, code)


def list_devices(link: ChildLink) -> NoReturn:
    """Answers ("inventory", InputInventory.to_dict()) or ("error", message)."""
    _answer(link, lambda sd: ("inventory", take_inventory(sd).to_dict()))


def check(link: ChildLink, config_json: str) -> NoReturn:
    """Answers ("device", the InputDevice as a dict) or ("error", message)."""
    _answer(link, lambda sd: ("device", asdict(prepare(sd, InputConfig.from_json(config_json))[0])))


def _answer(link: ChildLink, question: Callable[[ModuleType], tuple[Any, ...]]) -> NoReturn:
    sd: ModuleType | None = None
    try:
        sd = import_sounddevice()
        link.send(question(sd))
    except Exception as exc:  # noqa: BLE001 (an answer too)
        _report(link, exc)
    try:
        link.recv()  # until vj stops us: a child that ended first would count as a failure
    except (Stopped, EOFError, OSError):
        pass
    _exit(sd, EXIT_STOPPED)


def _report(link: ChildLink, exc: Exception) -> int:
    """Sends ("error", why) and returns the exit code for `exc`."""
    if isinstance(exc, AudioInputError):
        message, code = str(exc), EXIT_CONFIG
    elif isinstance(exc, (RuntimeError, ValueError)):
        message, code = str(exc), EXIT_PORTAUDIO
    else:
        traceback.print_exc()
        message, code = f"the audio worker failed: {type(exc).__name__}: {exc}", EXIT_PORTAUDIO
    print(message, file=sys.stderr)  # the last stderr line: the supervisor's log names it too
    try:
        link.send(("error", message))
    except OSError:
        pass
    return code


def _exit(sd: ModuleType | None, code: int) -> NoReturn:
    if sd is not None and code != EXIT_LOST:
        # leave JACK as a client should: a server asked to stop while it still holds a client
        # that vanished without closing waits for it (seconds), and one killed meanwhile
        # keeps its slot in JACK's registry of servers (8 in all) for good
        try:
            sd._terminate()
        except sd.PortAudioError:
            pass
    sys.stderr.flush()
    os._exit(code)
