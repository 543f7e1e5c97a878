"""One connected page, on the web server's loop: what it is sent and how fast it may send.

Out: JSON text and preview frames go through a bounded queue that one sender task empties; a page
whose queue fills (it stopped reading, or its network is too slow) is dropped by the site, so no
page can hold up another or the show. Preview frames are latest-wins: at most one waits per page,
a newer one replaces it.

In: parameter sets are limited to SET_RATE a second (a burst of SET_BURST at once); beyond that
they wait, coalesced per parameter (latest wins), and go on as the rate allows, so the last value
of a burst is always applied, never dropped. Everything else (actions, prompts, presets) is
limited to OTHER_RATE a second and dropped and counted beyond it: nobody taps faster than that.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from vj.params import Value
from vj.surface.protocol import SetParam

log = logging.getLogger(__name__)

SEND_QUEUE = 256  # messages waiting for a page; one more drops it
SET_RATE, SET_BURST = 120.0, 60  # parameter sets a second from one page, and at once
OTHER_RATE, OTHER_BURST = 20.0, 20  # other messages a second from one page, and at once
_FRAME = object()  # in the send queue: "send the waiting preview frame here"


@dataclass
class Bucket:
    """A token bucket: `rate` tokens a second, at most `burst` saved up."""

    rate: float
    burst: int
    tokens: float = -1.0
    stamp: float = 0.0

    def take(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.stamp = float(self.burst), now
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait(self) -> float:
        """Seconds until the next token."""
        return max(0.0, (1.0 - self.tokens) / self.rate)


@dataclass(eq=False)
class Client:
    ws: web.WebSocketResponse
    request: web.Request
    apply: Callable[[SetParam], None]  # a set's way to the show (the event queue)
    preview: bool = False  # wants preview frames
    queue: asyncio.Queue[str | object] = field(default_factory=lambda: asyncio.Queue(SEND_QUEUE))
    sets: Bucket = field(default_factory=lambda: Bucket(SET_RATE, SET_BURST))
    others: Bucket = field(default_factory=lambda: Bucket(OTHER_RATE, OTHER_BURST))
    pending: dict[str, Value] = field(default_factory=dict)  # sets waiting for the rate, latest per parameter
    coalesced: int = 0  # sets replaced by a later one for the same parameter before they went on
    limited: int = 0  # other messages dropped over the rate
    sender: asyncio.Task[None] | None = None
    _frame: bytes | None = None
    _flush: asyncio.TimerHandle | None = None

    @property
    def remote(self) -> str:
        return str(self.request.remote)

    def abort(self) -> None:
        """Cut the connection (a page that stopped reading gets no close handshake)."""
        if self.request.transport is not None:
            self.request.transport.abort()

    # -- out -----------------------------------------------------------------------------------

    def send(self, text: str) -> bool:
        """Queue a JSON text; False when the queue is full (the page is not keeping up)."""
        return self._put(text)

    def _put(self, item: str | object) -> bool:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            return False
        return True

    def offer_frame(self, jpeg: bytes) -> bool:
        """A preview frame, replacing one still waiting; False when the queue is full."""
        waiting = self._frame is not None
        self._frame = jpeg
        return waiting or self._put(_FRAME)

    async def run_sender(self) -> None:
        try:
            while True:
                item = await self.queue.get()
                if item is _FRAME:
                    frame, self._frame = self._frame, None
                    if frame is not None:
                        await self.ws.send_bytes(frame)
                else:
                    await self.ws.send_str(str(item))
        except (ConnectionError, RuntimeError):  # closed under it: its handler ends too
            return

    # -- in ------------------------------------------------------------------------------------

    def admit(self, now: float | None = None) -> bool:
        """Whether a message other than a set is within the rate (counted when not)."""
        ok = self.others.take(time.monotonic() if now is None else now)
        self.limited += not ok
        return ok

    def set(self, command: SetParam) -> None:
        """A parameter set: on at once within the rate, else held (latest wins) until it allows."""
        if not self.pending and self.sets.take(time.monotonic()):
            self.apply(command)
            return
        if command.param in self.pending:
            self.coalesced += 1
            del self.pending[command.param]  # to the back: the parameters go on in the order last moved
        self.pending[command.param] = command.value
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(self.sets.wait(), self._release)

    def _release(self) -> None:
        self._flush = None
        now = time.monotonic()
        while self.pending and self.sets.take(now):
            name = next(iter(self.pending))
            self.apply(SetParam(name, self.pending.pop(name)))
        if self.pending:
            self._flush = asyncio.get_running_loop().call_later(max(0.001, self.sets.wait()), self._release)

    def close(self) -> None:
        """Gone: what it still held is applied (its last values count), its sender stops."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        for name, value in self.pending.items():
            self.apply(SetParam(name, value))
        self.pending.clear()
        if self.sender is not None:
            self.sender.cancel()
