"""The OSC server: UDP datagrams from TouchDesigner, Ableton or a tablet -> control events.

One thread owns the socket. It empties the socket before anything else (reading a datagram costs
a few microseconds, parsing it and making its event several times that), stamps each datagram's
arrival and keeps it in a backlog; between reads it parses a small batch from the backlog
(vj.control.osc_codec), holds bundle messages whose time tag lies in the future until they are
due, and puts one ControlEvent per message on the show's event queue: source ("osc", address),
`raw` the first argument as sent (in the target parameter's own units for vj's address space),
`value` that argument clamped to 0..1 (for `units: normalised` bindings), `one_shot` (each
message is a complete press). Nothing here touches parameters.

Listening beyond loopback is an explicit choice (`--osc-host 0.0.0.0`): anyone on a venue's
network could otherwise change the show. `allow` limits senders to a list of IP addresses.
Malformed datagrams and senders not allowed are counted and ignored, never fatal.

What the kernel holds until the thread reads it is bounded by the socket's receive buffer: vj
asks for 8 MB (about 10,000 small datagrams), Linux grants at most twice net.core.rmem_max
(default 212992: about 500 datagrams). A burst larger than that, sent faster than the thread
gets to run, loses the overflow; the granted size is in `receive_buffer` and a small one is
logged at start.
"""

from __future__ import annotations

import heapq
import logging
import math
import selectors
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Sequence

from vj.control.events import ControlEvent, EventQueue
from vj.control.osc_codec import OscFormatError, OscMessage, parse_packet
from vj.control.transform import text_number

log = logging.getLogger(__name__)

DEFAULT_PORT = 9000
RECEIVE_BUFFER = 8 * 1024 * 1024  # asked for; the kernel may grant less (net.core.rmem_max)
SMALL_RECEIVE_BUFFER = 1024 * 1024  # granted less than this: a burst of a few thousand may overflow
BACKLOG = 65_536  # datagrams read but not yet parsed, at most (then the kernel's buffer fills)
BATCH = 16  # datagrams parsed between two reads of the socket (a few hundred microseconds)
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
        raw = first  # kept as sent: a prompt's text, a choice's or a preset's name, or a number in words
        number = text_number(first)
        value = 0.0 if number is None or math.isnan(number) else min(1.0, max(0.0, number))
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
        # What the kernel granted, in its own accounting (Linux doubles the request for overhead).
        self.receive_buffer = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        self._sock.setblocking(False)  # the thread waits in a selector, then reads until empty
        self._status = OscStatus(host, self.port)
        self._datagrams = self._messages = self._invalid = self._refused = 0
        self._due: list[tuple[float, int, OscMessage]] = []  # (unix time, order, message): future time tags
        self._order = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vj-osc", daemon=True)

    def start(self) -> OscServer:
        self._thread.start()
        log.info("OSC: listening on %s:%d%s (receive buffer %d KB)", self.host, self.port,
                 f" (from {', '.join(sorted(self.allow))} only)" if self.allow else "", self.receive_buffer // 1024)
        if self.receive_buffer < SMALL_RECEIVE_BUFFER:
            log.warning("OSC: the kernel granted a receive buffer of only %d KB: a burst of more than a few "
                        "hundred messages may lose some (Linux: sysctl -w net.core.rmem_max=%d)",
                        self.receive_buffer // 1024, RECEIVE_BUFFER)
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self._sock.close()

    def status(self) -> OscStatus:
        return self._status

    def _run(self) -> None:
        backlog: deque[tuple[bytes, str, float]] = deque()  # (datagram, sender, arrival)
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_READ)
            while not self._stop.is_set():
                if not backlog:
                    due = self._due
                    selector.select(min(0.1, max(0.0005, due[0][0] - time.time())) if due else 0.1)
                try:
                    self._read(backlog)
                except OSError:
                    if self._stop.is_set():
                        return  # the socket was closed under us
                    raise
                for _ in range(min(BATCH, len(backlog))):
                    self._handle(*backlog.popleft())
                wall = time.time()
                while self._due and self._due[0][0] <= wall:
                    self.events.put(message_event(heapq.heappop(self._due)[2], time.perf_counter()))
                self._status = OscStatus(self.host, self.port, self._datagrams, self._messages, self._invalid,
                                         self._refused, len(self._due))

    def _read(self, backlog: deque[tuple[bytes, str, float]]) -> None:
        """Every datagram the kernel holds now (up to BACKLOG in all), stamped with its arrival."""
        receive, clock, keep = self._sock.recvfrom, time.perf_counter, backlog.append
        while len(backlog) < BACKLOG:
            try:
                data, sender = receive(65536)
            except (BlockingIOError, InterruptedError):
                return
            keep((data, sender[0], clock()))

    def _handle(self, data: bytes, sender: str, arrived: float) -> None:
        self._datagrams += 1
        if self.allow and sender not in self.allow:
            self._refused += 1
            if self._refused == 1:
                log.warning("OSC: ignoring %s (not in the allowlist %s)", sender, ", ".join(sorted(self.allow)))
            return
        try:
            parsed = parse_packet(data)
        except OscFormatError as exc:
            self._invalid += 1
            if self._invalid == 1:
                log.warning("OSC: ignoring a malformed datagram from %s (%s); more are only counted", sender, exc)
            return
        for message in parsed:
            self._messages += 1
            if message.time and message.time > time.time() + 0.001:  # a bundle's time tag, still ahead
                self._order += 1
                heapq.heappush(self._due, (message.time, self._order, message))
            else:
                self.events.put(message_event(message, arrived))
