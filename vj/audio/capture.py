"""Live audio input: a sound device (by name or index) as mono float32 blocks with capture times.

PortAudio (through sounddevice) never runs in the show's process. `AudioInput` runs
vj.audio.portaudio_worker:run as a child of vj.proc's supervisor ("audio in"): the worker opens
the device, mixes the chosen channels to mono, applies the gain and sends the blocks back with
their capture times; here they go into a bounded queue for `read`. When the device is missing or
goes away the worker exits and the supervisor starts a new one (after 1 s, doubling up to 4 s
while it keeps failing; a worker that ran with its device for 30 s starts the count again). Why a
process:

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
(vj.proc.supervisor.ask, about 0.3 s).
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from vj.proc.supervisor import (
    Child,
    ChildFailed,
    ChildHandler,
    ChildSpec,
    ChildStatus,
    Supervisor,
    ask,
    supervisor,
)

log = logging.getLogger(__name__)

WORKER = "vj.audio.portaudio_worker"
# seconds before a new worker after a failure or a loss: first (short: a killed worker is back within
# the second it takes to start one), doubling up to (a device still missing is retried quietly)
BACKOFF = (0.1, 4.0)
QUEUE_SECONDS = 0.5  # audio held for a slow reader; older blocks are dropped beyond that
ASK_TIMEOUT = 20.0  # seconds a listing or a check may take
STOP_WAIT = 2.0  # seconds a worker gets to close its stream before it is killed
OPEN_TIMEOUT = 15.0  # seconds a worker gets to open the device (or say why not) before it is killed
SILENCE = 5.0  # seconds without a block or a heartbeat from a running worker: it hangs, it is killed


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


def _ask(main: str, *args: str) -> tuple[Any, ...]:
    """Runs a worker that answers with one message; raises AudioInputError on an "error" answer."""
    spec = ChildSpec(name="audio devices", main=f"{WORKER}:{main}", args=args, start_timeout=ASK_TIMEOUT,
                     stop_timeout=STOP_WAIT)
    try:
        answer = ask(spec, ASK_TIMEOUT)
    except TimeoutError:
        raise AudioInputError(f"PortAudio did not answer within {ASK_TIMEOUT:g} s") from None
    except ChildFailed as exc:
        raise AudioInputError(f"the audio worker failed: {exc}") from None
    if answer[0] == "error":
        raise AudioInputError(str(answer[1]))
    return answer


def inventory() -> InputInventory:
    """The inputs PortAudio finds now (each call looks afresh: devices plugged in since are there)."""
    return InputInventory.from_dict(_ask("list_devices")[1])


def list_inputs() -> list[InputDevice]:
    """Every device with input channels; raises AudioInputError when PortAudio is unavailable."""
    return list(inventory().inputs)


def find_input(device: str | int | None) -> InputDevice:
    """The input `device` names (see InputConfig.device); raises AudioInputError listing what exists."""
    return inventory().find(device)


def check_input(config: InputConfig) -> InputDevice:
    """The input `config` would open, after checking that it has the channels and can run at the
    sample rate; raises AudioInputError saying what is wrong (at startup, before the show)."""
    return InputDevice(**_ask("check", config.to_json())[1])


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


def _describe_device(device: str | int | None) -> str:
    return "default input" if device is None else f"input {device}" if isinstance(device, int) else device


class _Handler(ChildHandler):
    """The worker's messages and states, on the supervisor thread."""

    def __init__(self, owner: AudioInput) -> None:
        self.owner = owner

    def message(self, message: tuple[Any, ...]) -> None:
        self.owner._on_message(message)

    def changed(self, status: ChildStatus) -> None:
        self.owner._on_changed(status)


class AudioInput:
    """The live input: `start()`, then `read()` blocks from one thread (the analysis).

    `on_status` is called from the supervisor thread whenever the connection changes (it must
    not block). A missing or vanished device never raises: `status()` says why, and the input
    keeps trying until `stop()`. The worker runs under `supervisor_` (default: the process's).
    """

    def __init__(self, config: InputConfig, on_status: Callable[[InputStatus], None] | None = None,
                 supervisor_: Supervisor | None = None) -> None:
        self.config = config
        self.on_status = on_status
        blocks = max(2, math.ceil(QUEUE_SECONDS * config.sample_rate / config.block))
        self._blocks: queue.Queue[tuple[np.ndarray, float]] = queue.Queue(maxsize=blocks)
        self._lock = threading.Lock()
        self._counts = _Counts()
        self._state = InputStatus(_describe_device(config.device), False, "starting", 0, 0, 0,
                                  config.sample_rate)
        self._supervisor = supervisor_
        self._child: Child | None = None
        self._stopping = False
        self._why: str | None = None  # supervisor thread: what the running worker said went wrong

    # -- any thread ---------------------------------------------------------------------------

    def start(self) -> AudioInput:
        """Starts the worker (once per AudioInput); never raises for a device problem."""
        if self._child is not None:
            raise RuntimeError("an AudioInput starts only once")
        spec = ChildSpec(name="audio in", main=f"{WORKER}:run", args=(self.config.to_json(),),
                         start_timeout=OPEN_TIMEOUT, silence=SILENCE, backoff=BACKOFF, give_up_after=None,
                         stop_timeout=STOP_WAIT)
        self._child = (self._supervisor or supervisor()).start(spec, _Handler(self))
        return self

    def stop(self, timeout: float = STOP_WAIT + 1.0) -> None:
        """Stops the worker (it closes the stream; killed after STOP_WAIT) and waits for its end."""
        self._stopping = True
        with self._lock:
            self._state = replace(self._state, connected=False, message="stopped", ports=())
        if self._child is not None:
            self._child.stop(timeout)

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

    def _on_message(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "block":
            _, samples, at, overflows, dropped = message
            self._put_block(samples, at, overflows, dropped)
        elif kind == "opened" and not self._stopping:
            info = message[1]
            device = InputDevice(**info["device"])
            ports = tuple(info["ports"])
            channels = list(self.config.channels) or "all"
            where = f"; JACK ports {', '.join(ports)}" if ports else ""
            text = (f"{device.name} ({device.host_api}), channels {channels} of {device.channels}, "
                    f"{info['rate']} Hz, {self.config.block}-frame blocks{where}")
            self._set_state(device=device.name, connected=True, message=text, rate=int(info["rate"]),
                            ports=ports)
        elif kind in ("error", "lost"):
            self._why = str(message[1])

    def _on_changed(self, status: ChildStatus) -> None:
        if status.state not in ("waiting", "failed"):
            return  # starting, ready (the "opened" message says more), stopped
        why, self._why = self._why or f"audio worker: {status.fault}", None
        with self._lock:  # that worker's totals are final
            c = self._counts
            c.overflows += c.worker_overflows
            c.dropped += c.worker_dropped
            c.worker_overflows = c.worker_dropped = 0
        if not self._stopping:
            self._set_state(connected=False, message=f"{why}; retrying", ports=())

    def _put_block(self, samples: np.ndarray, at: float, overflows: int, dropped: int) -> None:
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
