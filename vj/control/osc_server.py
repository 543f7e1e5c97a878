"""The OSC server: UDP datagrams from TouchDesigner, Ableton or a tablet -> control events.

One thread owns the socket. It reads datagrams as fast as they come (a large receive buffer
rides out a burst while the thread waits for the GIL), parses them (vj.control.osc_codec), holds bundle messages whose time tag lies in the future until they are due, and puts
one ControlEvent per message on the show's event queue: source ("osc", address), `raw` the
first argument (in the target parameter's own units for vj's address space), `value` that
argument clamped to 0..1 (for `units: normalised` bindings), `one_shot` (each message is a
complete press). Nothing here touches parameters.

Listening beyond loopback is an explicit choice (`--osc-host 0.0.0.0`): anyone on a venue's
network could otherwise change the show. `allow` limits senders to a list of IP addresses.
Malformed datagrams and senders not allowed are counted and ignored, never fatal.
"""

from __future__ import annotations

import heapq
import logging
import math
import socket
import threading
import time
from dataclasses import dataclass
from typing import Sequence

from vj.control.events import ControlEvent, EventQueue
from vj.control.osc_codec import OscFormatError, OscMessage, parse_packet

log = logging.getLogger(__name__)

DEFAULT_PORT = 9000
RECEIVE_BUFFER = 8 * 1024 * 1024  # asked for; the kernel may grant less (net.core.rmem_max)
_PATTERN_CHARS = frozenset("*?[]{}")


class OscError(RuntimeError):
    """The server cannot listen (port taken, bad address)."""


@dataclass(frozen=True)
class OscStatus:
    host: str
    port: int
    datagrams: int = 0
    messages: int = 0
    invalid: int = 0  # datagrams that are not OSC
    refused: int = 0  # datagrams from senders not on the allowlist
    scheduled: int = 0  # bundle messages waiting for their time tag


def message_event(message: OscMessage, now: float) -> ControlEvent:
    """One OSC message as a control event (see the module docstring)."""
    args = message.args
    raw: int | float | str | None
    first = args[0] if args else None
    if first is None:
        raw, value = None, 1.0  # no argument: a trigger
    elif isinstance(first, bool):
        raw = value = 1.0 if first else 0.0
    elif isinstance(first, (int, float)):
        raw = first
        value = 0.0 if math.isnan(first) else min(1.0, max(0.0, float(first)))
    elif isinstance(first, str):
        try:
            number = float(first)
        except ValueError:
            raw, value = first, 0.0  # a word: a choice's name, a preset's name
        else:
            raw, value = number, (0.0 if math.isnan(number) else min(1.0, max(0.0, number)))
    else:
        raw, value = None, 0.0  # blobs, MIDI messages, colours: nothing a parameter takes
    address = message.address
    return ControlEvent(
        ("osc", address), value, None, raw, now, one_shot=True, pattern=not _PATTERN_CHARS.isdisjoint(address)
    )


class OscServer:
    def __init__(self, events: EventQueue, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 allow: Sequence[str] = ()) -> None:
        self.events = events
        self.host = host
        self.allow = frozenset(allow)
        try:
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise OscError(f"cannot listen for OSC on {host}:{port}: {exc.strerror or exc}") from exc
        self.port = self._sock.getsockname()[1]  # port 0 picks a free one (tests)
        self._sock.settimeout(0.1)
        self._status = OscStatus(host, self.port)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vj-osc", daemon=True)

    def start(self) -> OscServer:
        self._thread.start()
        log.info("OSC: listening on %s:%d%s", self.host, self.port,
                 f" (from {', '.join(sorted(self.allow))} only)" if self.allow else "")
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self._sock.close()

    def status(self) -> OscStatus:
        return self._status

    def _run(self) -> None:
        datagrams = messages = invalid = refused = 0
        due: list[tuple[float, int, OscMessage]] = []  # (unix time, order, message) for future time tags
        order = 0
        while not self._stop.is_set():
            self._sock.settimeout(min(0.1, max(0.0005, due[0][0] - time.time())) if due else 0.1)
            try:
                data, (sender, _) = self._sock.recvfrom(65536)
            except TimeoutError:
                data = b""
            except OSError:
                if self._stop.is_set():
                    return
                raise
            if data:
                datagrams += 1
                if self.allow and sender not in self.allow:
                    refused += 1
                    if refused == 1:
                        log.warning("OSC: ignoring %s (not in the allowlist %s)", sender, ", ".join(sorted(self.allow)))
                else:
                    try:
                        parsed = parse_packet(data)
                    except OscFormatError as exc:
                        invalid += 1
                        if invalid == 1:
                            log.warning("OSC: ignoring a malformed datagram from %s (%s); more are only counted",
                                        sender, exc)
                        parsed = []
                    wall, now = time.time(), time.perf_counter()
                    for message in parsed:
                        messages += 1
                        if message.time > wall + 0.001:
                            order += 1
                            heapq.heappush(due, (message.time, order, message))
                        else:
                            self.events.put(message_event(message, now))
            wall = time.time()
            while due and due[0][0] <= wall:
                self.events.put(message_event(heapq.heappop(due)[2], time.perf_counter()))
            self._status = OscStatus(self.host, self.port, datagrams, messages, invalid, refused, len(due))
