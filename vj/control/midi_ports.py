"""MIDI ports: opening controllers by name pattern, hot-plug, and sending LED feedback.

One manager thread owns every port. rtmidi queues incoming messages in C (no Python callback:
with JACK a callback runs on JACK's real-time thread and must take the GIL, so a busy render
thread made vj's JACK client miss cycles, and messages were lost and duplicated); the manager
drains those queues every millisecond (half that while a control is moving), decodes
(vj.control.midi_decode) and puts the events on the show's event queue. Nothing here touches
parameters. Output messages come from the render thread through a queue and are sent here.
Every `POLL` seconds the port list is compared with what is open: a controller that vanished is
reported (DeviceStatus) and reopened as soon as its port is back.

Arrival times come from rtmidi's own timestamps (taken by the MIDI system when the message
arrived, as deltas), anchored to time.perf_counter, so clock ticks keep their real spacing
however late the thread drains them.

The MIDI system is rtmidi's: ALSA on Linux when the sequencer exists, else JACK (a machine
without a sound card, or a JACK studio), CoreMIDI on macOS, WinMM on Windows; VJ_MIDI_API
(alsa, jack, coremidi, winmm) overrides.

Measured with `vj bench midi` when rtmidi still called back into Python under JACK: up to 9% of
messages lost at 10,000 a second, 45% while the show rendered. Polled, event-to-parameter p99
stayed under 2 ms.
"""

from __future__ import annotations

import ctypes
import logging
import os
import queue
import socket
import struct
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import rtmidi

from vj.config.midi import MidiDevice
from vj.control.midi_decode import DecodeCounts, MidiDecoder
from vj.vocabulary import DeviceStatus, EventQueue

log = logging.getLogger(__name__)

CLIENT = "vj-midi"  # our client name: ports of our own are never opened as controllers
POLL = 0.5  # seconds between port scans (a returning controller is back within 2 s)
READ_PERIOD = 0.001  # seconds between drains of the input queues when nothing moves
ACTIVE_PERIOD = 0.0005  # ... while messages are arriving: a turned knob reaches its parameter sooner
ACTIVE_FOR = 0.25  # seconds after the latest message that count as "moving"
QUEUE_LIMIT = 65536  # messages rtmidi holds per input between drains (a stalled second at 60k/s)
_APIS = {
    "alsa": rtmidi.API_LINUX_ALSA,
    "jack": rtmidi.API_UNIX_JACK,
    "coremidi": rtmidi.API_MACOSX_CORE,
    "winmm": rtmidi.API_WINDOWS_MM,
}


class MidiUnavailable(RuntimeError):
    """No MIDI system to talk to (no ALSA sequencer, no JACK server...)."""


def midi_api() -> int:
    """The rtmidi API to use here (see the module docstring)."""
    name = os.environ.get("VJ_MIDI_API", "").strip().lower()
    if name:
        if name not in _APIS:
            raise MidiUnavailable(f"VJ_MIDI_API={name!r}: expected one of {', '.join(_APIS)}")
        return _APIS[name]
    compiled = rtmidi.get_compiled_api()
    if sys.platform.startswith("linux"):
        if os.path.exists("/dev/snd/seq") and rtmidi.API_LINUX_ALSA in compiled:
            return rtmidi.API_LINUX_ALSA
        if rtmidi.API_UNIX_JACK in compiled:
            return rtmidi.API_UNIX_JACK
        raise MidiUnavailable("no ALSA sequencer (/dev/snd/seq) and no JACK support in python-rtmidi")
    return rtmidi.API_UNSPECIFIED


def api_name(api: int) -> str:
    return rtmidi.get_api_display_name(api)


def _probe(kind: type, api: int) -> rtmidi.MidiIn | rtmidi.MidiOut:
    # libjack prints several lines to stderr when no server runs: look for the server first
    if api == rtmidi.API_UNIX_JACK and not jack_running():
        server = os.environ.get("JACK_DEFAULT_SERVER") or "default"
        raise MidiUnavailable(f"the JACK server {server!r} is not running (start jackd; ALSA is used instead "
                              "where /dev/snd/seq exists; VJ_MIDI_API=alsa|jack|coremidi|winmm picks one)")
    if api == rtmidi.API_UNIX_JACK and not jack_answers():
        raise MidiUnavailable(f"the JACK server does not answer within {JACK_ANSWER_S:g} s (still starting?)")
    try:
        return kind(rtapi=api, name=f"{CLIENT}-list")
    except (rtmidi.SystemError, rtmidi.InvalidUseError, RuntimeError) as exc:
        raise MidiUnavailable(f"cannot reach the {api_name(api)} MIDI system: {exc}") from exc


def _jack_socket() -> str:
    server = os.environ.get("JACK_DEFAULT_SERVER") or "default"
    return f"/dev/shm/jack_{server}_{os.getuid()}_0"


JACK_ANSWER_S = 5.0  # the longest a caller waits for a JACK server to answer a client (the GIL is free meanwhile)


@dataclass
class _JackProbe:
    thread: threading.Thread
    answered: threading.Event


_jack_probe: _JackProbe | None = None  # the newest probe: callers while it runs wait for its answer
_jack_probe_lock = threading.Lock()


def jack_answers(timeout: float = JACK_ANSWER_S) -> bool:
    """Whether the JACK server answers a client within `timeout` seconds. python-rtmidi holds the
    GIL while libjack opens its client, and a server still starting (its socket there, not yet
    answering) kept that open waiting for seconds: every thread of the show stood still, the render
    thread too (the soak's OSC server lost 5 s of datagrams then). This asks through ctypes, which
    releases the GIL, on a thread of its own; callers while one asks (the MIDI manager and the
    clock output start together) wait for that one's answer. True where libjack cannot be loaded:
    rtmidi then says what is wrong itself."""
    global _jack_probe
    try:
        libjack = ctypes.CDLL("libjack.so.0" if sys.platform.startswith("linux") else "libjack.dylib")
    except OSError:
        return True
    with _jack_probe_lock:
        probe = _jack_probe
        if probe is None or not probe.thread.is_alive():
            probe = _jack_probe = _start_probe(libjack)
    probe.thread.join(timeout)
    return probe.answered.is_set()


def _start_probe(libjack: ctypes.CDLL) -> _JackProbe:
    libjack.jack_client_open.restype = ctypes.c_void_p
    libjack.jack_client_close.argtypes = [ctypes.c_void_p]
    answered = threading.Event()

    def ask() -> None:
        status = ctypes.c_int(0)
        client = libjack.jack_client_open(f"{CLIENT}-probe".encode(), ctypes.c_int(0x01),  # JackNoStartServer
                                          ctypes.byref(status))
        if client:
            libjack.jack_client_close(client)
            answered.set()

    thread = threading.Thread(target=ask, name="vj-jack-probe", daemon=True)
    thread.start()
    return _JackProbe(thread, answered)


def jack_running() -> bool:
    """Whether a JACK server (jackd2) listens on its socket, without libjack's stderr chatter."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(_jack_socket())
        except OSError:
            return False
    return True


def jack_server_pid() -> int | None:
    """The pid of the JACK server listening on the socket (Linux: SO_PEERCRED), None if none does
    or the system cannot say."""
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.settimeout(1.0)
            probe.connect(_jack_socket())
            creds = probe.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        except OSError:
            return None
    pid: int = struct.unpack("3i", creds)[0]
    return pid or None


def process_gone(pid: int) -> bool:
    """Whether process `pid` has exited (a zombie has: its descriptors are closed)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[-1].split()[0] in (b"Z", b"X")
    except OSError:
        return True


def bury(dead: list[object], server: int | None) -> None:
    """Close the clients of a JACK server that went away: at once where it has exited, else on a
    thread once it has. Closing a client talks to its server with the GIL held (python-rtmidi):
    while the old server still shuts down (or hangs) that waited, and every thread of vj with it
    (`vj bench soak`: 5 s frozen while jackd took its time); and once a new server of the same name
    has started it crashed (libjack). Between the two is the moment the old process exits, before
    a new one can take the name: the thread looks every 10 ms."""
    if not dead:
        return
    ports, dead[:] = list(dead), []

    def close() -> None:
        while server is not None and not process_gone(server):
            time.sleep(0.01)
        for port in ports:
            port.delete()  # type: ignore[attr-defined]

    if server is None or process_gone(server):
        close()
    else:
        threading.Thread(target=close, name="vj-midi-bury", daemon=True).start()


def jack_server() -> tuple[int, int] | None:
    """Which JACK server runs (its socket's inode and change time: a restarted server has a new
    one), None when none does. Ports opened on a server that has gone stay dead under the same
    names on its successor, so the MIDI manager reopens them when this changes. (A stat, not a
    connection: the manager asks at every scan, and jackd logs every client that connects.)"""
    try:
        info = os.stat(_jack_socket())
    except OSError:
        return None
    return info.st_ino, info.st_ctime_ns


class _NoPorts:
    """A port lister while there is no MIDI system to list."""

    def get_ports(self) -> list[str]:
        return []

    def delete(self) -> None:
        pass


def own_port(name: str) -> bool:
    return name.startswith(CLIENT)


def list_ports(api: int | None = None) -> tuple[list[str], list[str]]:
    """(input ports, output ports) other programs and devices offer; raises MidiUnavailable."""
    api = midi_api() if api is None else api
    lister_in, lister_out = _probe(rtmidi.MidiIn, api), _probe(rtmidi.MidiOut, api)
    try:
        return (
            [p for p in lister_in.get_ports() if not own_port(p)],
            [p for p in lister_out.get_ports() if not own_port(p)],
        )
    finally:
        lister_in.delete()
        lister_out.delete()


@dataclass(frozen=True)
class MidiStatus:
    """What the manager has open, for the HUD, `vj devices` and tests (a snapshot)."""

    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # patterns that match no port right now
    messages: int = 0
    ignored: int = 0  # sysex and other message types no binding can use
    invalid: int = 0
    error: str | None = None


@dataclass
class _OpenInput:
    port: rtmidi.MidiIn
    decoder: MidiDecoder
    drained: float  # when this port's queue was last emptied (perf_counter seconds)
    last: float | None = None  # arrival time of the previous message


@dataclass
class _Manager:
    """The manager thread's own state (no other thread touches it)."""

    inputs: dict[str, _OpenInput] = field(default_factory=dict)
    outputs: dict[str, rtmidi.MidiOut] = field(default_factory=dict)  # port name -> port
    routes: dict[str, str] = field(default_factory=dict)  # device name -> output port name
    present: dict[str, bool] = field(default_factory=dict)  # "MIDI input 'pattern'" -> last reported state
    counts: DecodeCounts = field(default_factory=DecodeCounts)  # of ports that closed

    def close_input(self, name: str, dead: list[object] | None = None) -> None:
        opened = self.inputs.pop(name)
        if dead is None:
            opened.port.delete()
        else:
            dead.append(opened.port)
        c = opened.decoder.counts
        self.counts.messages += c.messages
        self.counts.invalid += c.invalid
        for kind, n in c.ignored.items():
            self.counts.ignored[kind] = self.counts.ignored.get(kind, 0) + n

    def close_all(self, dead: list[object] | None = None) -> None:
        """Every port closed; with `dead`, the ports of a JACK server that went away are put there
        instead, for `bury`."""
        for name in list(self.inputs):
            self.close_input(name, dead)
        for port in self.outputs.values():
            if dead is None:
                port.delete()
            else:
                dead.append(port)
        self.outputs.clear()
        self.routes.clear()


class MidiPorts:
    """Opens the inputs and outputs the mapping's devices name, keeps them open, sends feedback.

    `send(device, bytes)` may be called from any thread. Connections and losses are posted as
    DeviceStatus events (role "midi in" / "midi out"): the show resends every LED when an
    output comes back.
    """

    def __init__(
        self,
        events: EventQueue,
        devices: Sequence[MidiDevice],
        api: int | None = None,
        poll: float = POLL,
    ) -> None:
        self.events = events
        self.poll = poll
        self._api = api
        self._devices: tuple[MidiDevice, ...] = tuple(devices)
        self._new_devices: queue.SimpleQueue[tuple[MidiDevice, ...]] = queue.SimpleQueue()
        self._out: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()
        self._status = MidiStatus()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vj-midi", daemon=True)

    # -- any thread ---------------------------------------------------------------------------

    def start(self) -> MidiPorts:
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def set_devices(self, devices: Sequence[MidiDevice]) -> None:
        """A reloaded mapping: open and close ports to match (at once)."""
        self._new_devices.put(tuple(devices))

    def send(self, device: str, message: bytes) -> None:
        self._out.put((device, message))

    def status(self) -> MidiStatus:
        return self._status

    # -- the manager thread -------------------------------------------------------------------

    def _run(self) -> None:
        state = _Manager()
        try:
            api = midi_api() if self._api is None else self._api
            lister_in, lister_out = _probe(rtmidi.MidiIn, api), _probe(rtmidi.MidiOut, api)
        except MidiUnavailable as exc:
            # a keyboard-only show does not need to hear about it as a problem
            log.log(logging.WARNING if self._devices else logging.INFO, "MIDI: %s; MIDI controllers are off", exc)
            self._status = MidiStatus(error=str(exc))
            self.events.put(DeviceStatus("midi", False, f"MIDI: {exc}", "midi"))
            return
        log.info("MIDI: %s", api_name(api))
        next_scan = 0.0
        active_until = 0.0
        server = jack_server() if api == rtmidi.API_UNIX_JACK else None
        server_pid = jack_server_pid() if server is not None else None  # whose clients `bury` waits for
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                # time.sleep: cheaper than Event.wait's timed lock at a thousand wakes a second
                time.sleep(ACTIVE_PERIOD if now < active_until else READ_PERIOD)
                now = time.monotonic()
                if not self._new_devices.empty():
                    old = self._devices
                    while not self._new_devices.empty():
                        self._devices = self._new_devices.get()
                    if self._devices != old:
                        self._retarget(state, old)
                        next_scan = 0.0
                if now >= next_scan:
                    next_scan = now + self.poll
                    if api == rtmidi.API_UNIX_JACK and (running := jack_server()) != server:
                        server = running  # restarted or gone: every port of the old one is dead
                        log.warning("MIDI: the JACK server %s: reopening the ports",
                                    "stopped" if running is None else "restarted")
                        dead: list[object] = [lister_in, lister_out]
                        state.close_all(dead)
                        bury(dead, server_pid)
                        lister_in, lister_out = _NoPorts(), _NoPorts()
                        if running is None:
                            continue
                        try:
                            lister_in, lister_out = _probe(rtmidi.MidiIn, api), _probe(rtmidi.MidiOut, api)
                        except MidiUnavailable as exc:
                            log.warning("MIDI: %s", exc)
                            server = None  # try again at the next scan
                            continue
                        server_pid = jack_server_pid()
                    self._scan(state, api, lister_in.get_ports(), lister_out.get_ports())
                if self._read(state):
                    active_until = now + ACTIVE_FOR
                while not self._out.empty():
                    self._send(state, *self._out.get())
        finally:
            state.close_all()
            lister_in.delete()
            lister_out.delete()

    def _scan(self, state: _Manager, api: int, in_names: list[str], out_names: list[str]) -> None:
        in_names = [n for n in in_names if not own_port(n)]
        out_names = [n for n in out_names if not own_port(n)]
        for name in [n for n in state.inputs if n not in in_names]:
            state.close_input(name)
        for name in [n for n in state.outputs if n not in out_names]:
            state.outputs.pop(name).delete()
            state.routes = {d: p for d, p in state.routes.items() if p != name}
        for index, name in enumerate(in_names):
            devices = tuple(d.name for d in self._devices if d.matches_input(name))
            if devices and name not in state.inputs:
                self._open_input(state, api, index, name, devices)
        for device in self._devices:
            if device.output is None or device.name in state.routes:
                continue
            match = next((n for n in out_names if device.matches_output(n)), None)
            if match is not None:
                if match not in state.outputs and not self._open_output(state, api, out_names.index(match), match):
                    continue
                state.routes[device.name] = match
        for name in [n for n in state.outputs if n not in state.routes.values()]:
            state.outputs.pop(name).delete()  # no device sends there any more
        self._report(state, in_names, out_names)

    def _retarget(self, state: _Manager, old: tuple[MidiDevice, ...]) -> None:
        """A reloaded mapping names other devices: the ports it still uses stay open (closing and
        reopening them lost what came meanwhile, 50 ms of a busy controller at every reload), each
        input feeds the devices that match it now, and a device whose definition changed is routed
        (and greeted) afresh by the next scan."""
        for name in list(state.inputs):
            devices = tuple(d.name for d in self._devices if d.matches_input(name))
            if devices:
                state.inputs[name].decoder.devices = devices
            else:
                state.close_input(name)
        before = {d.name: d for d in old}
        for device in self._devices:
            if before.get(device.name) != device:
                state.routes.pop(device.name, None)
                if device.output is not None:
                    state.present.pop(f"MIDI output {device.output!r}", None)
        names = {d.name for d in self._devices}
        state.routes = {d: port for d, port in state.routes.items() if d in names}

    def _open_input(self, state: _Manager, api: int, index: int, name: str, devices: tuple[str, ...]) -> None:
        port = rtmidi.MidiIn(rtapi=api, name=CLIENT, queue_size_limit=QUEUE_LIMIT)
        try:
            port.open_port(index, name=_port_label(name))
        except (rtmidi.SystemError, rtmidi.InvalidPortError, RuntimeError) as exc:
            log.warning("MIDI: cannot open input %r: %s", name, exc)
            port.delete()
            return
        port.ignore_types(sysex=False, timing=False, active_sense=True)  # sysex is counted; clock is used
        state.inputs[name] = _OpenInput(port, MidiDecoder(devices), time.perf_counter())
        log.info("MIDI in: %s (for %s)", name, ", ".join(devices))

    def _open_output(self, state: _Manager, api: int, index: int, name: str) -> bool:
        port = rtmidi.MidiOut(rtapi=api, name=CLIENT)
        try:
            port.open_port(index, name=_port_label(name))
        except (rtmidi.SystemError, rtmidi.InvalidPortError, RuntimeError) as exc:
            log.warning("MIDI: cannot open output %r: %s", name, exc)
            port.delete()
            return False
        state.outputs[name] = port
        log.info("MIDI out: %s", name)
        return True

    def _read(self, state: _Manager) -> int:
        """Everything the inputs queued since the last drain, decoded, onto the event queue;
        returns how many messages there were."""
        put = self.events.put
        count = 0
        for opened in state.inputs.values():
            now = time.perf_counter()
            while (item := opened.port.get_message()) is not None:
                data, delta = item
                # rtmidi's delta is the gap since the previous message, by the MIDI system's own
                # clock (JACK's frame clock can drift from wall time under load); a message read
                # now arrived after the previous drain, so it is clamped into that window
                guess = now if opened.last is None else opened.last + delta
                at = min(max(guess, opened.drained), now)
                opened.last = at
                count += 1
                for event in opened.decoder.decode(data, at):
                    put(event)
            opened.drained = now
        return count

    def _send(self, state: _Manager, device: str, message: bytes) -> None:
        port_name = state.routes.get(device)
        if port_name is None:
            return  # not connected: feedback resends everything when it is
        try:
            state.outputs[port_name].send_message(message)
        except (rtmidi.SystemError, RuntimeError, ValueError) as exc:
            log.debug("MIDI out %s: %s", port_name, exc)

    def _report(self, state: _Manager, in_names: list[str], out_names: list[str]) -> None:
        missing = []
        for device in self._devices:
            for role, pattern, names in (("in", device.input, in_names), ("out", device.output, out_names)):
                if pattern is None or (role == "in" and not pattern):
                    continue
                if role == "out":
                    present = device.name in state.routes
                else:
                    present = any(device.matches_input(n) for n in names)
                key = f"MIDI {role}put {pattern!r}"
                if not present:
                    missing.append(key)
                if state.present.get(key) == present:
                    continue
                state.present[key] = present
                if present:
                    self.events.put(DeviceStatus(device.name, True, f"{key} ({device.name}) connected", f"midi {role}"))
                else:
                    available = ", ".join(names) or "none"
                    message = f"{key} ({device.name}) is not connected; ports: {available}"
                    self.events.put(DeviceStatus(device.name, False, message, f"midi {role}"))
        decoders = [o.decoder.counts for o in state.inputs.values()] + [state.counts]
        self._status = MidiStatus(
            inputs=tuple(state.inputs),
            outputs=tuple(state.routes.values()),
            missing=tuple(missing),
            messages=sum(c.messages for c in decoders),
            ignored=sum(sum(c.ignored.values()) for c in decoders),
            invalid=sum(c.invalid for c in decoders),
        )


def _port_label(name: str) -> str:
    """Our own port's name, after the controller's (JACK port names must be short and plain)."""
    client = name.split(":")[0]
    return "".join(c if c.isalnum() else "-" for c in client)[:40] or "port"
