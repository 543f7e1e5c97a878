"""Live audio input: a sound device (by name or index) as mono float32 blocks with capture times.

PortAudio (through sounddevice) never runs in the show's process. A worker process
(vj.audio.portaudio_worker) opens the device, mixes the chosen channels to mono, applies the
gain and streams the blocks back over a pipe; a supervisor thread here reads them into a bounded
queue and starts a new worker (after 1 s, then up to 4 s apart) whenever the device is missing
or goes away. Why a process:

- PortAudio's JACK host API cannot survive its server: after jackd goes away, closing the
  stream or terminating PortAudio waits 10 s and then fails an assertion (abort), which would
  take the whole show down. A worker that lost its device just exits (os._exit) instead.
- PortAudio reads the device list once, when it starts: a fresh worker sees devices plugged in
  (or a JACK server started) since the last one.
- The stream callback runs on the audio system's real-time thread and needs the GIL; in its own
  process it never waits for the render thread, so JACK does not see missed cycles.

With JACK the worker is the client `vj-audio`: its ports vj-audio:in_0, in_1... (InputStatus.ports)
are connected to the device's (system:capture_1...) when the stream starts, and the sample rate
is the server's. `list_inputs`, `find_input` and `check_input` ask a short-lived worker too
(about 0.3 s).
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import queue
import struct
import subprocess
import sys
import threading
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Callable

import numpy as np

log = logging.getLogger(__name__)

WORKER = "vj.audio.portaudio_worker"
RETRY = 1.0  # seconds before the first new attempt after a failure or a loss
RETRY_MAX = 4.0  # ... doubling while it keeps failing, up to this
QUEUE_SECONDS = 0.5  # audio held for a slow reader; older blocks are dropped beyond that
ASK_TIMEOUT = 20.0  # seconds a listing or a check may take
STOP_WAIT = 2.0  # seconds a worker gets to close its stream before it is killed
OPEN_TIMEOUT = 15.0  # seconds a worker gets to open the device (or say why not) before it is killed

# the worker's messages: a header (payload length, kind) and the payload
HEADER = struct.Struct("<IB")
AUDIO = ord("A")  # payload: BLOCK_HEADER, then the mono float32 samples (little-endian)
EVENT = ord("J")  # payload: one JSON object with an "event" key
BLOCK_HEADER = struct.Struct("<qdII")  # first frame index, capture time, overflows, drops (the worker's totals)

# worker exit codes
EXIT_STOPPED = 0
EXIT_CONFIG = 2  # no such device, channels or sample rate it cannot do
EXIT_LOST = 3  # the stream stopped or stalled: the device went away
EXIT_PORTAUDIO = 4  # PortAudio is missing or failed to open the stream


class AudioInputError(Exception):
    """An input that cannot be used as asked: the message says why and what exists."""


@dataclass(frozen=True)
class InputConfig:
    """Which input and how to read it; every field is checked on creation."""

    device: str | int | None = None  # a case-insensitive part of the name, or an index (also as digits);
    #                                  None: the system's default input
    channels: tuple[int, ...] = ()  # 1-based input channels to mix to mono; (): all of the device's, mixed
    sample_rate: int = 48000
    gain_db: float = 0.0  # input gain applied before analysis
    block: int = 256  # frames per callback (<= 512)

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        problems = []
        if isinstance(self.device, bool) or not isinstance(self.device, (str, int, type(None))):
            problems.append(f"device must be a name, an index or None, got {self.device!r}")
        elif isinstance(self.device, int) and self.device < 0:
            problems.append(f"device index must be >= 0, got {self.device}")
        if not all(isinstance(c, int) and not isinstance(c, bool) and 1 <= c <= 256 for c in self.channels):
            problems.append(f"channels must be numbers in 1..256 (1 is the first input), got {list(self.channels)}")
        elif len(set(self.channels)) != len(self.channels):
            problems.append(f"channels must not repeat, got {list(self.channels)}")
        if not (isinstance(self.sample_rate, int) and 8000 <= self.sample_rate <= 192000):
            problems.append(f"sample_rate must be in 8000..192000 Hz, got {self.sample_rate}")
        if not (math.isfinite(self.gain_db) and -60 <= self.gain_db <= 60):
            problems.append(f"gain_db must be in -60..60 dB, got {self.gain_db}")
        if not (isinstance(self.block, int) and 16 <= self.block <= 512):
            problems.append(f"block must be in 16..512 frames, got {self.block}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def gain(self) -> float:
        """The gain as a factor."""
        return float(10 ** (self.gain_db / 20))

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> InputConfig:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class InputDevice:
    """An input as PortAudio lists it (for `vj devices` and error messages)."""

    index: int
    name: str
    host_api: str
    channels: int  # input channels
    default_rate: float

    def describe(self) -> str:
        return f"[{self.index}] {self.name} ({self.host_api}, {self.channels} ch, {self.default_rate:g} Hz)"


@dataclass(frozen=True)
class InputInventory:
    """What PortAudio offers right now: the inputs, the default one, and its host APIs."""

    inputs: tuple[InputDevice, ...]
    default: int | None  # index of the system's default input
    host_apis: tuple[str, ...]

    def describe(self) -> str:
        if self.inputs:
            return "; ".join(d.describe() for d in self.inputs)
        return (f"none (PortAudio host APIs: {', '.join(self.host_apis) or 'none'}; "
                "is a JACK server or PulseAudio running?)")

    def find(self, device: str | int | None) -> InputDevice:
        """The input `device` names (see InputConfig.device); raises AudioInputError listing the inputs."""
        if isinstance(device, str) and device.strip().isdigit():
            device = int(device)
        elif isinstance(device, str) and not device.strip():
            device = None
        if device is None:
            found = [d for d in self.inputs if d.index == self.default]
            if not found:
                raise AudioInputError(f"no default audio input; inputs: {self.describe()}")
            return found[0]
        if isinstance(device, int):
            found = [d for d in self.inputs if d.index == device]
            if not found:
                raise AudioInputError(f"no audio input has index {device}; inputs: {self.describe()}")
            return found[0]
        wanted = device.strip().lower()
        exact = [d for d in self.inputs if d.name.lower() == wanted]
        if len(exact) == 1:
            return exact[0]
        found = exact or [d for d in self.inputs if wanted in d.name.lower()]
        if not found:
            raise AudioInputError(f"no audio input matches {device!r}; inputs: {self.describe()}")
        if len(found) > 1:
            raise AudioInputError(f"audio input {device!r} is ambiguous, it matches "
                                  f"{'; '.join(d.describe() for d in found)}: give more of the name, or the index")
        return found[0]

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": [asdict(d) for d in self.inputs], "default": self.default,
                "host_apis": list(self.host_apis)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputInventory:
        return cls(tuple(InputDevice(**d) for d in data["inputs"]), data["default"], tuple(data["host_apis"]))


def channel_plan(config: InputConfig, device: InputDevice) -> tuple[int, tuple[int, ...]]:
    """(channels to open, 0-based channels to mix): a stream opens the first N channels of a
    device. Raises AudioInputError when the device has fewer channels than asked."""
    if not config.channels:
        return device.channels, tuple(range(device.channels))
    if max(config.channels) > device.channels:
        plural = "" if device.channels == 1 else "s"
        raise AudioInputError(f"device {device.name!r} has {device.channels} input channel{plural}; "
                              f"channels: {list(config.channels)} asked")
    return max(config.channels), tuple(c - 1 for c in config.channels)


# -- asking a worker ---------------------------------------------------------------------------


def _worker_command(mode: str, *args: str) -> list[str]:
    return [sys.executable, "-m", WORKER, mode, *args]


def _worker_env() -> dict[str, str]:
    """The environment, with this vj importable in the worker wherever it was imported from."""
    root = str(Path(__file__).resolve().parent.parent.parent)
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONPATH=root + (os.pathsep + path if path else ""))


def _read_message(stream: IO[bytes]) -> tuple[int, bytes] | None:
    """The next (kind, payload) from a worker, or None at the end."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    size, kind = HEADER.unpack(head)
    payload = stream.read(size)
    if len(payload) < size:
        return None
    return kind, payload


def _ask(mode: str, *args: str) -> dict[str, Any]:
    """Runs a worker that answers with one event; raises AudioInputError on an "error" event."""
    try:
        done = subprocess.run(_worker_command(mode, *args), env=_worker_env(), stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=ASK_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AudioInputError(f"PortAudio did not answer within {ASK_TIMEOUT:g} s") from None
    events = []
    reader = io.BytesIO(done.stdout)
    while (message := _read_message(reader)) is not None:
        if message[0] == EVENT:
            events.append(json.loads(message[1]))
    if not events:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise AudioInputError(f"the audio worker failed (exit code {done.returncode}): "
                              f"{' / '.join(tail) or 'no output'}")
    answer: dict[str, Any] = events[-1]
    if answer["event"] == "error":
        raise AudioInputError(answer["message"])
    return answer


def inventory() -> InputInventory:
    """The inputs PortAudio finds now (each call looks afresh: devices plugged in since are there)."""
    return InputInventory.from_dict(_ask("list")["inventory"])


def list_inputs() -> list[InputDevice]:
    """Every device with input channels; raises AudioInputError when PortAudio is unavailable."""
    return list(inventory().inputs)


def find_input(device: str | int | None) -> InputDevice:
    """The input `device` names (see InputConfig.device); raises AudioInputError listing what exists."""
    return inventory().find(device)


def check_input(config: InputConfig) -> InputDevice:
    """The input `config` would open, after checking that it has the channels and can run at the
    sample rate; raises AudioInputError saying what is wrong (at startup, before the show)."""
    return InputDevice(**_ask("check", config.to_json())["device"])


# -- the live input ----------------------------------------------------------------------------


@dataclass(frozen=True)
class InputStatus:
    """A snapshot for the HUD, the log and tests. Counts are totals over every connection."""

    device: str  # the device's name once opened, else what the config asked for
    connected: bool
    message: str
    blocks: int  # blocks received
    overflows: int  # blocks the audio system flagged as having lost input (xruns)
    dropped: int  # blocks thrown away because the reader was too slow
    rate: int  # samples per second
    ports: tuple[str, ...] = ()  # with JACK: our capture ports (e.g. vj-audio:in_0), for wiring


@dataclass
class _Counts:
    blocks: int = 0
    overflows: int = 0  # of workers that ended
    dropped: int = 0  # by this process, and of workers that ended
    worker_overflows: int = 0  # the running worker's totals
    worker_dropped: int = 0


@dataclass
class _Worker:
    proc: subprocess.Popen[bytes]
    stderr: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    opened: bool = False
    answered: bool = False  # it opened the device or said why not
    error: str | None = None  # its last "error" or "lost" message


def _describe_device(device: str | int | None) -> str:
    return "default input" if device is None else f"input {device}" if isinstance(device, int) else device


class AudioInput:
    """The live input: `start()`, then `read()` blocks from one thread (the analysis).

    `on_status` is called from the supervisor thread whenever the connection changes (it must
    not block). A missing or vanished device never raises: `status()` says why, and the input
    keeps trying until `stop()`.
    """

    def __init__(self, config: InputConfig, on_status: Callable[[InputStatus], None] | None = None) -> None:
        self.config = config
        self.on_status = on_status
        blocks = max(2, math.ceil(QUEUE_SECONDS * config.sample_rate / config.block))
        self._blocks: queue.Queue[tuple[np.ndarray, float]] = queue.Queue(maxsize=blocks)
        self._lock = threading.Lock()
        self._counts = _Counts()
        self._state = InputStatus(_describe_device(config.device), False, "starting", 0, 0, 0,
                                  config.sample_rate)
        self._worker: _Worker | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="vj-audio-input", daemon=True)

    # -- any thread ---------------------------------------------------------------------------

    def start(self) -> AudioInput:
        """Starts the supervisor (once per AudioInput); never raises for a device problem."""
        self._thread.start()
        return self

    def stop(self, timeout: float = STOP_WAIT + 1.0) -> None:
        self._stop.set()
        with self._lock:
            self._state = replace(self._state, connected=False, message="stopped", ports=())
            worker = self._worker
        if worker is not None:
            _ask_to_stop(worker.proc)
        if self._thread.is_alive():
            self._thread.join(timeout)
        if worker is not None and worker.proc.poll() is None:
            worker.proc.kill()
            worker.proc.wait()

    def read(self, timeout: float) -> tuple[np.ndarray, float] | None:
        """The next block (mono float32, gain applied) and the time.perf_counter() time its first
        sample was captured; None if nothing came within `timeout` seconds."""
        try:
            return self._blocks.get(timeout=timeout)
        except queue.Empty:
            return None

    def status(self) -> InputStatus:
        with self._lock:
            c = self._counts
            return replace(self._state, blocks=c.blocks, overflows=c.overflows + c.worker_overflows,
                           dropped=c.dropped + c.worker_dropped)

    def __enter__(self) -> AudioInput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the supervisor thread ----------------------------------------------------------------

    def _supervise(self) -> None:
        delay = RETRY
        while not self._stop.is_set():
            opened = self._run_worker()
            if self._stop.is_set():
                break
            if opened:
                delay = RETRY
            self._stop.wait(delay)
            if not opened:
                delay = min(delay * 2, RETRY_MAX)

    def _run_worker(self) -> bool:
        """One worker, from its start to its end; returns whether it opened the device."""
        try:
            proc = subprocess.Popen(_worker_command("run", self.config.to_json()), env=_worker_env(),
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            self._set_state(connected=False, message=f"cannot start the audio worker: {exc}")
            return False
        worker = _Worker(proc)
        with self._lock:
            self._worker = worker
        if self._stop.is_set():  # stop() came between the check and now
            _ask_to_stop(proc)
        drain = threading.Thread(target=_drain_stderr, args=(proc, worker.stderr), name="vj-audio-worker-log",
                                 daemon=True)
        drain.start()
        watchdog = threading.Timer(OPEN_TIMEOUT, _give_up_opening, args=(worker,))
        watchdog.daemon = True
        watchdog.start()
        assert proc.stdout is not None
        try:
            while (message := _read_message(proc.stdout)) is not None:
                kind, payload = message
                if kind == AUDIO:
                    self._put_block(payload)
                elif kind == EVENT:
                    self._on_event(worker, json.loads(payload))
        finally:
            watchdog.cancel()
            proc.stdout.close()
            try:
                proc.wait(STOP_WAIT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            drain.join(1.0)
            with self._lock:
                self._worker = None
                c = self._counts
                c.overflows += c.worker_overflows
                c.dropped += c.worker_dropped
                c.worker_overflows = c.worker_dropped = 0
        if not self._stop.is_set():
            why = worker.error
            if why is None:
                tail = " / ".join(list(worker.stderr)[-3:]) or "no message"
                why = f"the audio worker exited (code {proc.returncode}): {tail}"
            self._set_state(connected=False, message=f"{why}; retrying", ports=())
        return worker.opened

    def _put_block(self, payload: bytes) -> None:
        _, at, overflows, dropped = BLOCK_HEADER.unpack_from(payload)
        samples = np.frombuffer(payload, dtype="<f4", offset=BLOCK_HEADER.size).copy()
        lost = 0
        try:
            self._blocks.put_nowait((samples, at))
        except queue.Full:  # the reader is behind: the oldest block goes, the newest matters
            try:
                self._blocks.get_nowait()
            except queue.Empty:
                pass
            lost = 1
            self._blocks.put_nowait((samples, at))
        with self._lock:
            c = self._counts
            c.blocks += 1
            c.dropped += lost
            c.worker_overflows, c.worker_dropped = overflows, dropped

    def _on_event(self, worker: _Worker, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "opened":
            worker.opened = worker.answered = True
            device = InputDevice(**event["device"])
            ports = tuple(event.get("ports", ()))
            channels = list(self.config.channels) or "all"
            where = f"; JACK ports {', '.join(ports)}" if ports else ""
            message = (f"{device.name} ({device.host_api}), channels {channels} of {device.channels}, "
                       f"{event['rate']} Hz, {self.config.block}-frame blocks{where}")
            self._set_state(device=device.name, connected=True, message=message, rate=int(event["rate"]),
                            ports=ports)
        elif kind in ("error", "lost"):
            worker.error = str(event["message"])
            worker.answered = True

    def _set_state(self, **changes: Any) -> None:
        with self._lock:
            old = self._state
            self._state = replace(old, **changes)
            new = self._state
        if (new.connected, new.message) == (old.connected, old.message):
            return
        log.log(logging.INFO if new.connected else logging.WARNING, "audio input: %s", new.message)
        if self.on_status is not None:
            try:
                self.on_status(self.status())
            except Exception:  # noqa: BLE001 (a broken listener must not stop the reconnecting)
                log.exception("audio input: the status listener failed")


def _ask_to_stop(proc: subprocess.Popen[bytes]) -> None:
    """A worker stops when its stdin closes (it also does when this process dies)."""
    try:
        if proc.stdin is not None and not proc.stdin.closed:
            proc.stdin.close()
    except OSError:
        pass


def _give_up_opening(worker: _Worker) -> None:
    """The watchdog: a worker stuck opening (an audio system that does not answer) is killed."""
    if not worker.answered and worker.proc.poll() is None:
        worker.error = f"the audio system did not answer within {OPEN_TIMEOUT:g} s"
        worker.proc.kill()


def _drain_stderr(proc: subprocess.Popen[bytes], tail: deque[str]) -> None:
    """The worker's stderr (libjack and ALSA chatter, tracebacks) into the debug log and `tail`."""
    assert proc.stderr is not None
    for raw in proc.stderr:
        line = raw.decode(errors="replace").rstrip()
        if line:
            tail.append(line)
            log.debug("audio worker: %s", line)
    proc.stderr.close()

