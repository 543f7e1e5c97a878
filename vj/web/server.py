"""One asyncio web server for vj: one event loop on one daemon thread (`vj-web`) hosting aiohttp
applications, each on its own host:port (OSCQuery now; a browser control surface can join it on
another port), under one set of limits, so that no client blocks another or slows the show:

- connections: at most `connections` open at once, `per_client` of them from one IP address. A
  connection beyond that first closes the oldest one from the same address that has not sent a
  request yet (idle, most likely abandoned); with none such it is refused: it gets
  `503 Service Unavailable` with `Retry-After: 1`, then is closed.
- time: a connection has `request_timeout` seconds to send its first complete request head, then
  `keepalive_timeout` seconds of quiet between requests; an idle or slowloris one is closed.
- size: the request line, each header line and the number of headers (aiohttp's `max_line_size`,
  `max_field_size`, `max_headers`: 400 beyond), the request body (`max_body`: 413 beyond).
- quiet: no access log; a client that hangs up, times out or sends garbage is a DEBUG line in vj's
  log, never a traceback (a bug in a vj handler still logs an ERROR, with its traceback).

    server = WebServer()
    port = server.add(server.application(), "127.0.0.1", 9000)  # binds now: a taken port fails here
    server.start()                  # the loop thread; add() works after start() too
    server.call_soon(callback)      # from any thread (the render thread): never blocks
    server.stop()                   # within a second, no thread left behind
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, fields
from typing import Any, TypeVar, cast

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger(__name__)

T = TypeVar("T")

_TOO_MANY = b"vj: too many connections, try again in a moment\n"
REFUSED = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 1\r\n"
           b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_TOO_MANY), _TOO_MANY))
REFUSED_LINGER = 1.0  # seconds a refused connection stays open, reading, so the client reads the 503


@dataclass(frozen=True)
class Limits:
    connections: int = 64  # open at once, all clients together
    per_client: int = 16  # open at once from one IP address
    request_timeout: float = 5.0  # seconds from connecting to a complete first request head
    keepalive_timeout: float = 5.0  # seconds of quiet allowed between two requests
    max_line_size: int = 4096  # the request line (method, path and query, version), bytes
    max_field_size: int = 8190  # one header line, bytes
    max_headers: int = 64  # header lines in one request
    max_body: int = 64 * 1024  # a request's body, bytes
    stop_timeout: float = 0.5  # seconds stop() gives requests and websockets to finish

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not value > 0:
                raise ValueError(f"web limit {field.name} must be > 0, got {value!r}")


def client_fault(exc: BaseException | None) -> bool:
    """Whether an exception is a client's doing (hung up, timed out, sent garbage), not vj's."""
    return isinstance(exc, ConnectionError | asyncio.CancelledError | TimeoutError | HttpProcessingError)


class _QuietLog(logging.Logger):
    """aiohttp's server logger: what a client caused is a DEBUG line in vj's log, without a
    traceback; anything else (a bug in a vj handler: a 500) goes on to vj's log as it is."""

    def handle(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if record.levelno < logging.WARNING or exc is None or client_fault(exc):
            log.debug("web: %s%s", record.getMessage(), f" ({exc!r})" if exc is not None else "")
        else:
            log.handle(record)


_AIOHTTP_LOG = _QuietLog("vj.web.aiohttp")  # not registered: aiohttp's own loggers stay untouched


def _quiet_exceptions(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The loop's exception handler: a client's hang-up is a DEBUG line, the rest as asyncio logs it."""
    if client_fault(context.get("exception")):
        log.debug("web: %s (%r)", context.get("message"), context.get("exception"))
    else:
        loop.default_exception_handler(context)


def unmapped(address: str) -> str:
    """An IPv4 address as itself, not as the IPv6 dual-stack socket shows it (::ffff:1.2.3.4)."""
    return address.removeprefix("::ffff:") if address.startswith("::ffff:") and "." in address else address


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: a free one); "" or "0.0.0.0" is every IPv4
    interface, "::" every interface."""
    family, _, _, _, address = socket.getaddrinfo(host or "0.0.0.0", port, type=socket.SOCK_STREAM,
                                                  flags=socket.AI_PASSIVE)[0]
    return socket.create_server(address, family=family, backlog=128)


class _Connection(asyncio.Protocol):
    """One TCP connection: let in or refused under the limits, then served by aiohttp's protocol,
    to which it hands every event. It also holds the deadline for the first request head."""

    def __init__(self, gate: _Gate, serve: Callable[[], asyncio.Protocol]) -> None:
        self.gate, self._serve = gate, serve
        self.transport: asyncio.Transport | None = None
        self.client = ""
        self.handler: asyncio.Protocol | None = None  # None: refused
        self.deadline: asyncio.TimerHandle | None = None  # pending until the first request head is in
        self._tail = b""

    @property
    def waiting(self) -> bool:
        """Connected, but no complete request yet: idle, or sending very slowly."""
        return self.deadline is not None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.client = unmapped(str(peer[0])) if peer else "?"
        if not self.gate.admit(self):
            self.gate.turn_away(self)
            return
        loop = asyncio.get_running_loop()
        self.deadline = loop.call_later(self.gate.limits.request_timeout, self._expire)
        self.handler = self._serve()
        self.handler.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.handler is None:
            return  # refused: what it sends is read and dropped
        if self.deadline is not None:
            seen = self._tail + data
            if b"\r\n\r\n" in seen or b"\n\n" in seen:  # a request head is complete
                self.deadline.cancel()
                self.deadline, self._tail = None, b""
            else:
                self._tail = seen[-3:]
        self.handler.data_received(data)

    def eof_received(self) -> bool | None:
        return self.handler.eof_received() if self.handler is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        self.gate.release(self)
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        if self.handler is not None:
            self.handler.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.handler is not None:
            self.handler.pause_writing()

    def resume_writing(self) -> None:
        if self.handler is not None:
            self.handler.resume_writing()

    def _expire(self) -> None:
        self.deadline = None
        log.debug("web: closed a connection from %s: no complete request within %.1f s", self.client,
                  self.gate.limits.request_timeout)
        self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class _Gate:
    """The open connections, by client address; who may come in."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.open: dict[str, list[_Connection]] = {}
        self.total = 0
        self.refused = 0  # connections turned away so far
        self.turned_away: set[_Connection] = set()  # refused, still reading until they close
        self._warned: set[str] = set()

    def admit(self, conn: _Connection) -> bool:
        mine = self.open.get(conn.client, [])
        if len(mine) >= self.limits.per_client or self.total >= self.limits.connections:
            idle = next((c for c in mine if c.waiting), None)
            if idle is None:
                return False
            log.debug("web: closed an idle connection from %s to let a new one in", conn.client)
            self.release(idle)
            idle.close()
        self.open.setdefault(conn.client, []).append(conn)
        self.total += 1
        return True

    def release(self, conn: _Connection) -> None:
        self.turned_away.discard(conn)
        mine = self.open.get(conn.client)
        if mine is not None and conn in mine:
            mine.remove(conn)
            self.total -= 1
            if not mine:
                del self.open[conn.client]

    def turn_away(self, conn: _Connection) -> None:
        self.refused += 1
        if conn.client not in self._warned and len(self._warned) < 256:
            self._warned.add(conn.client)
            log.warning("web: refusing connections from %s: %d open from it, %d in all (limits %d and %d)",
                        conn.client, len(self.open.get(conn.client, [])), self.total, self.limits.per_client,
                        self.limits.connections)
        transport = conn.transport
        assert transport is not None
        self.turned_away.add(conn)
        transport.write(REFUSED)
        if transport.can_write_eof():
            transport.write_eof()
        asyncio.get_running_loop().call_later(REFUSED_LINGER, transport.close)

    def connections(self) -> list[_Connection]:
        return [c for mine in self.open.values() for c in mine] + list(self.turned_away)


@dataclass
class _Site:
    app: web.Application
    sock: socket.socket
    runner: web.AppRunner | None = None
    server: asyncio.Server | None = None


class WebServer:
    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._gate = _Gate(self.limits)
        self._sites: list[_Site] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="vj-web", daemon=True)
        self._started = self._stopped = False

    @property
    def refused(self) -> int:
        """Connections refused so far (over the limits)."""
        return self._gate.refused

    @property
    def open_connections(self) -> int:
        return self._gate.total

    def application(self) -> web.Application:
        """A new aiohttp application under this server's body limit, to `add`."""
        return web.Application(client_max_size=self.limits.max_body)

    def add(self, app: web.Application, host: str, port: int) -> int:
        """Serve `app` on host:port (port 0: a free one); the port it got. It binds at once, so a
        taken port raises OSError here; served from start() on (at once when already started)."""
        if self._stopped:
            raise RuntimeError("the web server has stopped")
        site = _Site(app, listen(host, port))
        self._sites.append(site)
        if self._started:
            self.run(self._open(site))
        return int(site.sock.getsockname()[1])

    def start(self) -> WebServer:
        if self._started:
            return self
        self._started = True
        self._thread.start()
        for site in self._sites:
            self.run(self._open(site))
        return self

    @property
    def running(self) -> bool:
        return self._started and not self._stopped

    def call_soon(self, callback: Callable[[], object]) -> bool:
        """Run `callback` on the server's loop; from any thread, never blocking. False when the
        server is not running (the callback is dropped)."""
        if not self.running:
            return False
        try:
            self._loop.call_soon_threadsafe(callback)
        except RuntimeError:  # the loop closed meanwhile
            return False
        return True

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run a coroutine on the server's loop, from another thread."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 5.0) -> T:
        """Run a coroutine on the server's loop and wait for its result (not from the loop itself)."""
        return self.submit(coro).result(timeout)

    def stop(self) -> None:
        """Close every site and connection (websockets get a close frame) and end the thread;
        within about `stop_timeout` + 0.5 s whatever the clients do."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread.is_alive():
            try:
                self.run(self._close(), timeout=self.limits.stop_timeout + 0.3)
            except Exception as exc:  # noqa: BLE001 (stopping: whatever is left is aborted below)
                log.debug("web: stopping: %r", exc)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=1.0)
        elif not self._started:
            self._loop.close()
        for site in self._sites:
            site.sock.close()

    async def _open(self, site: _Site) -> None:
        limits = self.limits
        site.runner = web.AppRunner(
            site.app, handle_signals=False, access_log=None, logger=_AIOHTTP_LOG,
            keepalive_timeout=limits.keepalive_timeout, max_line_size=limits.max_line_size,
            max_field_size=limits.max_field_size, max_headers=limits.max_headers,
            shutdown_timeout=limits.stop_timeout,
        )
        await site.runner.setup()
        serve = site.runner.server
        assert serve is not None
        site.server = await asyncio.get_running_loop().create_server(
            lambda: _Connection(self._gate, serve), sock=site.sock, backlog=128)

    async def _close(self) -> None:
        for site in self._sites:
            if site.server is not None:
                site.server.close()  # no new connections
        for conn in list(self._gate.turned_away):
            conn.abort()
        runners = [site.runner for site in self._sites if site.runner is not None]
        try:
            # idle connections close, the apps' on_shutdown runs (websockets say goodbye), requests finish
            await asyncio.wait_for(asyncio.gather(*(r.cleanup() for r in runners), return_exceptions=True),
                                   self.limits.stop_timeout)
        finally:
            for conn in self._gate.connections():
                conn.abort()

    def _run(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(_quiet_exceptions)
        try:
            loop.run_forever()
        finally:
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.wait(tasks, timeout=0.2))
            loop.close()
