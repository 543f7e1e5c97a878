"""The OSC server: UDP datagrams from TouchDesigner, Ableton or a tablet -> control events.

One thread owns the socket. It empties the socket before anything else (reading a datagram costs
a couple of microseconds, parsing it and making its event as much again) into a backlog of
chunks, each stamped when it was read; between reads it parses one chunk (vj.control.osc_codec:
a quick path for the plain one-number message nearly every controller sends, the strict parser
for everything else), holds bundle messages whose time tag lies in the future until they are
due, and puts the chunk's events on the show's event queue as one batch: one ControlEvent per
message, source ("osc", address), `raw` the first argument as sent (in the target parameter's
own units for vj's address space), `value` that argument clamped to 0..1 (for `units:
normalised` bindings), `one_shot` (each message is a complete press). Nothing here touches
parameters.

Latest wins: for an address whose every binding writes a parameter in value mode
(`set_latest_wins`, from vj.control.osc_space.latest_wins; the show keeps it current), a message
superseded by a later number (int or finite float, which every such binding takes) to the same
address in the same chunk is dropped and counted (`coalesced`); the latest stays at its own place
among the other messages, so nothing is delayed and the parameters end up holding what they
would have held. Every other message (actions, triggers, toggles,
steps, patterns, bundles) becomes an event. Under a flood (many datagrams between two waits)
the thread pauses a few milliseconds before reading again (`flood_pause`: less where the receive
buffer is small), so it wakes a few hundred times a second, not once per datagram or two.

Listening beyond loopback is an explicit choice (`--osc-host 0.0.0.0`): anyone on a venue's
network could otherwise change the show. `allow` limits senders to a list of IP addresses.
Malformed datagrams and senders not allowed are counted and ignored, never fatal.

What the kernel holds until the thread reads it is bounded by the socket's receive buffer: vj
asks for 8 MB (about 10,000 small datagrams), Linux grants at most twice net.core.rmem_max
(default 212992: about 500 datagrams). A burst larger than that, sent faster than the thread
gets to run, loses the overflow; the granted size is in `receive_buffer` and a small one is
logged at start.

Why latest-wins and the quick path: at 20,000 messages a second vj spent about 20 us of CPU per
message (datagram read, strict parse, event, then the engine on the render thread), 40% of a
core on a 2-core machine shared with llvmpipe, and the render p99 doubled (`vj bench osc`). A
fader sends far more values than a frame can show, and only the last before a frame is seen.
Text, no argument, NaN and infinity may be refused, so they replace nothing
(tests/control/test_osc_batches.py checks coalescing against no coalescing on random batches).
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vj.control.osc_codec import OscFormatError, OscMessage, parse_packet, parse_simple
from vj.control.transform import text_number
from vj.vocabulary import ControlEvent, EventQueue, SourceKey, control_event

log = logging.getLogger(__name__)

DEFAULT_PORT = 9000
RECEIVE_BUFFER = 8 * 1024 * 1024  # asked for; the kernel may grant less (net.core.rmem_max)
SMALL_RECEIVE_BUFFER = 1024 * 1024  # granted less than this: a burst of a few thousand may overflow
BACKLOG = 65_536  # datagrams read but not yet parsed, at most (then the kernel's buffer fills)
BATCH = 128  # datagrams parsed between two reads of the socket (about 100-300 microseconds)
FLOOD = 8  # datagrams read between two waits that make it a flood...
FLOOD_PAUSE = 0.004  # ...so the thread pauses up to this long (seconds) before reading again,
FAST_SENDER = 200_000  # ...but never longer than half its receive buffer holds at this many datagrams/s
DATAGRAM_COST = 1024  # bytes of receive buffer a small datagram takes (Linux's accounting: about 800)
MAX_ADDRESSES = 4096  # distinct addresses whose source keys are remembered
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
    coalesced: int = 0  # messages to a latest-wins address superseded by a later number (never applied)


def event_values(first: object) -> tuple[int | float | str | None, float]:
    """(raw, value) of a message whose first argument is `first` (None: no argument)."""
    if first is None:
        return None, 1.0  # no argument: a trigger
    if isinstance(first, bool):
        return (1.0, 1.0) if first else (0.0, 0.0)
    if isinstance(first, (int, float)):
        return first, 0.0 if math.isnan(first) else min(1.0, max(0.0, float(first)))
    if isinstance(first, str):
        # kept as sent: a prompt's text, a choice's or a preset's name, or a number in words
        number = text_number(first)
        return first, 0.0 if number is None or math.isnan(number) else min(1.0, max(0.0, number))
    return None, 0.0  # blobs, MIDI messages, colours: nothing a parameter takes


def message_event(message: OscMessage, now: float) -> ControlEvent:
    """One OSC message as a control event (see the module docstring)."""
    address = message.address
    raw, value = event_values(message.args[0] if message.args else None)
    return control_event(("osc", address), value, None, raw, now, True, not _PATTERN_CHARS.isdisjoint(address))


class OscServer:
    def __init__(self, events: EventQueue, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 allow: Sequence[str] = (), latest_wins: Iterable[str] = ()) -> None:
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
        # 4 ms with 8 MB; 1 ms with the 416 KB a default net.core.rmem_max grants
        self.flood_pause = min(FLOOD_PAUSE, self.receive_buffer / DATAGRAM_COST / 2 / FAST_SENDER)
        self._latest_wins = frozenset(latest_wins)
        self._datagrams = self._messages = self._invalid = self._refused = self._coalesced = 0
        self._backlogged = 0  # datagrams read, not yet handled
        self._due: list[tuple[float, int, str, object]] = []  # (unix time, order, address, first argument)
        self._order = 0
        self._sources: dict[str, tuple[SourceKey, bool]] = {}  # address -> (source key, is a pattern)
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
        if self._thread.ident is not None:  # started
            self._thread.join(timeout)
        self._sock.close()

    def set_latest_wins(self, addresses: Iterable[str]) -> None:
        """The addresses where only the latest value counts (vj.control.osc_space.latest_wins):
        replaced as a whole, from any thread; batches from then on use the new set."""
        self._latest_wins = frozenset(addresses)

    @property
    def latest_wins(self) -> frozenset[str]:
        return self._latest_wins

    def status(self) -> OscStatus:
        return OscStatus(self.host, self.port, self._datagrams, self._messages, self._invalid, self._refused,
                         len(self._due), self._coalesced)

    def _run(self) -> None:
        backlog: deque[tuple[list[bytes], float]] = deque()  # chunks of datagrams read, each with its stamp
        read = 0  # datagrams read since the thread last waited
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_READ)
            while not self._stop.is_set():
                if not backlog:
                    if read >= FLOOD:
                        time.sleep(self.flood_pause)  # a flood: let a batch gather, not wake per datagram
                    else:
                        due = self._due
                        selector.select(min(0.1, max(0.0005, due[0][0] - time.time())) if due else 0.1)
                    read = 0
                try:
                    read += self._read(backlog)
                except OSError:
                    if self._stop.is_set():
                        return  # the socket was closed under us
                    raise
                if backlog:
                    chunk, arrived = backlog.popleft()
                    self._backlogged -= len(chunk)
                    self._handle_batch(chunk, arrived)
                if self._due:
                    wall, now, ready = time.time(), time.perf_counter(), []
                    while self._due and self._due[0][0] <= wall:
                        _, _, address, first = heapq.heappop(self._due)
                        ready.append(self._event(address, first, now))
                    self.events.put_batch(ready)

    def _read(self, backlog: deque[tuple[list[bytes], float]]) -> int:
        """Every datagram the kernel holds now (up to BACKLOG in all), in chunks of up to BATCH;
        a chunk is stamped right after its last datagram was read (none of its datagrams arrived
        later). Without an allowlist the sender's address is not even asked for (recv, not
        recvfrom: a third cheaper); with one, datagrams from others are counted and dropped here.
        Returns how many datagrams it read."""
        clock, read = time.perf_counter, 0
        room = BACKLOG - self._backlogged
        while room > 0 and read < BACKLOG:  # (refused datagrams take no room: bound the reads too)
            want = min(BATCH, room)
            chunk, got = self._read_chunk(want)
            read += got
            room -= len(chunk)
            if chunk:
                backlog.append((chunk, clock()))
                self._backlogged += len(chunk)
            if got < want:
                break  # the socket is empty
        return read

    def _read_chunk(self, want: int) -> tuple[list[bytes], int]:
        """Up to `want` datagrams (fewer when the socket runs dry): (those kept, how many read)."""
        chunk: list[bytes] = []
        keep = chunk.append
        read = 0
        try:
            if not self.allow:
                recv = self._sock.recv
                for _ in range(want):  # the hot loop: nothing but the read
                    keep(recv(65536))
            else:
                recvfrom, allow = self._sock.recvfrom, self.allow
                for _ in range(want):
                    data, sender = recvfrom(65536)
                    read += 1
                    if sender[0] in allow:
                        keep(data)
                    else:
                        self._refuse(sender[0])
        except (BlockingIOError, InterruptedError):
            pass
        return chunk, read if self.allow else len(chunk)

    def _refuse(self, sender: str) -> None:
        self._refused += 1
        self._datagrams += 1
        if self._refused == 1:
            log.warning("OSC: ignoring %s (not in the allowlist %s)", sender, ", ".join(sorted(self.allow)))

    def _handle_batch(self, batch: list[bytes], arrived: float) -> None:
        """Datagrams -> events, put on the queue as one batch in the messages' order. A number sent
        to a latest-wins address replaces the messages before it to that address in this batch
        (dropped, counted in `coalesced`): it is applied at its own place. Anything that may be
        refused (text, no argument, NaN or infinity) replaces nothing. Plain messages with one
        number or none take the quick parser (osc_codec.parse_simple)."""
        latest_wins = self._latest_wins
        pending: list[tuple[str, object] | None] = []  # (address, first argument) per message, in order
        slot: dict[str, list[int]] = {}  # latest-wins address -> indices in pending of its messages
        keep = pending.append
        coalesced = invalid = messages = 0
        simple: tuple[str, object] | None
        for data in batch:
            simple = parse_simple(data)
            if simple is not None:
                address = simple[0]
            else:
                try:
                    parsed = parse_packet(data)
                except OscFormatError as exc:
                    invalid += 1
                    if self._invalid + invalid == 1:
                        log.warning("OSC: ignoring a malformed datagram (%s); more are only counted", exc)
                    continue
                if data[0] == 0x23:  # "#bundle": every message, each at its time, none coalesced
                    messages += len(parsed)
                    for message in parsed:
                        first = message.args[0] if message.args else None
                        if message.time and message.time > time.time() + 0.001:  # a time tag still ahead
                            self._order += 1
                            heapq.heappush(self._due, (message.time, self._order, message.address, first))
                        else:
                            keep((message.address, first))
                    continue
                address, args = parsed[0].address, parsed[0].args
                simple = address, args[0] if args else None
            messages += 1
            if address in latest_wins:
                first = simple[1]
                if type(first) is int or (isinstance(first, float) and math.isfinite(first)):
                    # A number: every binding takes it, so it overwrites all that came before it.
                    for before in slot.get(address, ()):
                        pending[before] = None
                        coalesced += 1
                    slot[address] = [len(pending)]
                else:  # text, nothing, NaN...: it may be refused, so what came before stays
                    slot.setdefault(address, []).append(len(pending))
            keep(simple)
        self._datagrams += len(batch)
        self._messages += messages
        self._invalid += invalid
        self._coalesced += coalesced
        event = self._event
        self.events.put_batch([event(p[0], p[1], arrived) for p in pending if p is not None])

    def _event(self, address: str, first: object, arrived: float) -> ControlEvent:
        """As message_event, with the source key and pattern check remembered per address."""
        known = self._sources.get(address)
        if known is None:
            if len(self._sources) >= MAX_ADDRESSES:
                self._sources.clear()  # addresses come from the network: keep this bounded
            known = self._sources[address] = (("osc", address), not _PATTERN_CHARS.isdisjoint(address))
        raw, value = event_values(first)
        return control_event(known[0], value, None, raw, arrived, True, known[1])
