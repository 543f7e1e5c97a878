"""The surface on vj's web server (vj.web.server, shared with OSCQuery: one server, one set of
limits): the page (`/`, `/static/...`), the websocket (`/ws`), the pairing token.

From the pages: each websocket message is checked (vj.surface.protocol) and becomes a ControlEvent
on the show's EventQueue (vj.surface.space), under the page's rate (vj.surface.clients). To the
pages: the render thread publishes a reading of the show a few tens of times a second (`publish`:
a latest-value slot, and the web loop woken when a page is connected), and the loop sends each
page the values that changed, the prompts or preset when they changed, and the meters; preview
JPEGs come from the encoder thread (`offer_frame`) to the pages that asked for them.

Safety: on loopback (the default) no token is needed, but a request must name a loopback host
(so a web page in the VJ's own browser cannot reach it by DNS rebinding) and a websocket from a
browser must come from the surface's own page (its Origin: no other site may drive the show).
Beyond loopback every request needs the pairing token (`?token=`, or the cookie the page sets):
403 without it. A message over MAX_MESSAGE bytes closes its page (1008, policy violation);
garbage and unknown messages are ignored and counted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, WSMsgType, web

from vj.params import REGISTRY, Registry, Value
from vj.slot import LatestSlot
from vj.surface import protocol
from vj.surface.clients import Client
from vj.surface.pairing import loopback, new_token, surface_url, token_matches
from vj.surface.protocol import Command, FireAction, PreviewWanted, PromptText, Reading, Refused, SelectPreset, SetParam
from vj.surface.space import action_event, prompt_event, set_event
from vj.vocabulary import ControlEvent, EventQueue
from vj.web.server import WebServer

log = logging.getLogger(__name__)

DEFAULT_PORT = 8080
MAX_CLIENTS = 16  # pages connected at once; one more gets 503
HEARTBEAT = 10.0  # seconds between websocket pings; a page that stops answering is closed
SEND_BUFFER = 512 * 1024  # bytes the kernel holds for a page: a page stalled longer than that is dropped
METER_PERIOD = 0.05  # seconds between meter messages (20 a second)
STATIC = Path(__file__).resolve().parent / "static"
FILES = {"surface.js": "text/javascript", "surface.css": "text/css"}
COOKIE = "vj_surface"
POLICY_VIOLATION = 1008
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class SurfaceError(OSError):
    """The surface cannot listen (port taken, bad address)."""


class Surface:
    def __init__(self, server: WebServer, events: EventQueue, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 token: str | None = None, registry: Registry = REGISTRY) -> None:
        """Binds at once (a taken port raises SurfaceError); served while `server` runs. Beyond
        loopback a token is required: `token`, or a new one."""
        self.server, self.events, self.registry = server, events, registry
        self.host = host
        self.local = loopback(host)
        self.token = None if self.local else (token or new_token())
        self._slot: LatestSlot[Reading] = LatestSlot()
        self._latest = protocol.idle_reading(registry)
        self._sent: dict[str, Value] = dict(protocol.wire_values(self._latest.values))
        self._sent_prompts = self._latest.prompts
        self._sent_preset = (self._latest.preset, self._latest.presets)
        self._meters_at = 0.0
        self._clients: set[Client] = set()
        self._wake_pending = False
        self.wants_preview = False  # read by the render thread: any page wants preview frames
        self.ignored = 0  # messages refused (garbage, unknown, out of rate)
        self.oversized = 0  # pages closed for a message over MAX_MESSAGE
        self.dropped = 0  # pages dropped for not reading
        self.forbidden = 0  # requests without the token, from another origin or for another host
        app = server.application()
        app.middlewares.append(self._guard)
        app.router.add_get("/", self._page)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/ws", self._socket)
        app.on_shutdown.append(self._close_clients)
        try:
            self.port = server.add(app, host, port)
        except OSError as exc:
            raise SurfaceError(f"cannot serve the control surface on {host}:{port}/tcp: {exc.strerror or exc}") from exc

    @property
    def url(self) -> str:
        return surface_url(self.host, self.port, self.token)

    @property
    def clients(self) -> int:
        return len(self._clients)

    def stop(self) -> None:
        """Close the pages (the web server's owner stops the server)."""
        if self.server.running:
            self.server.run(self._close_clients())

    # -- from other threads ------------------------------------------------------------------

    def publish(self, reading: Reading) -> None:
        """Render thread: the show now. Never blocks; the web loop is woken only for pages."""
        self._slot.put(reading)
        if self._clients and not self._wake_pending:
            self._wake_pending = True
            if not self.server.call_soon(self._stream):
                self._wake_pending = False

    def offer_frame(self, jpeg: bytes) -> None:
        """Encoder thread: a preview frame for the pages that want it."""
        self.server.call_soon(lambda: self._send_frame(jpeg))

    # -- requests ----------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        why = self._forbidden(request)
        if why is not None:
            self.forbidden += 1
            log.debug("surface: 403 for %s %s from %s: %s", request.method, request.path, request.remote, why)
            raise web.HTTPForbidden(text=f"vj: {why}\n")
        return await handler(request)

    def _forbidden(self, request: web.Request) -> str | None:
        host = urlsplit(f"//{request.host}").hostname or ""
        if self.local and not loopback(host):
            return f"the surface answers for this machine only, not for host {host!r:.60}"
        origin = request.headers.get("Origin")
        if origin is not None and request.path == "/ws" and urlsplit(origin).netloc != request.host:
            return "a websocket from another site's page"
        if self.token is not None and not (token_matches(request.query.get("token"), self.token)
                                           or token_matches(request.cookies.get(COOKIE), self.token)):
            return "the pairing token is missing or wrong (open the URL vj printed, or scan the HUD's QR code)"
        return None

    async def _page(self, request: web.Request) -> web.StreamResponse:
        response = web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})
        if self.token is not None:
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict")
        return response

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in FILES:
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache", "Content-Type": FILES[name]})

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if len(self._clients) >= MAX_CLIENTS:
            raise web.HTTPServiceUnavailable(text=f"vj: {MAX_CLIENTS} surfaces connected already\n",
                                             headers={"Retry-After": "5"})
        # aiohttp itself closes (1009) beyond 16x the limit; between, vj closes with 1008 below
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=16 * protocol.MAX_MESSAGE)
        await ws.prepare(request)
        sock = request.transport.get_extra_info("socket") if request.transport is not None else None
        if sock is not None:  # bounded, not autotuned up to megabytes: a stalled page shows in seconds
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        client = Client(ws, request, lambda c: self.events.put(set_event(c.param, c.value)))
        self._stream()  # the pages already here catch up first, so the new one starts from the same values
        client.send(json.dumps(protocol.hello(self._latest, self.registry)))
        client.sender = asyncio.get_running_loop().create_task(client.run_sender())
        self._clients.add(client)
        log.info("surface: a page connected from %s (%d connected)", client.remote, len(self._clients))
        try:
            async for message in ws:
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                if len(message.data) > protocol.MAX_MESSAGE:
                    self.oversized += 1
                    log.warning("surface: closed the page at %s: a message of %d bytes (at most %d)",
                                client.remote, len(message.data), protocol.MAX_MESSAGE)
                    await ws.close(code=POLICY_VIOLATION, message=b"message too big")
                    break
                self._receive(client, message.data)
        finally:
            self._forget(client)
        return ws

    def _receive(self, client: Client, data: str | bytes) -> None:
        try:
            command = protocol.parse(data, self.registry)
        except Refused as exc:
            self.ignored += 1
            if self.ignored == 1 or log.isEnabledFor(logging.DEBUG):
                log.info("surface: ignored a message from %s (%s); more are only counted", client.remote, exc)
            return
        if isinstance(command, SetParam):
            client.set(command)
        elif isinstance(command, PreviewWanted):
            client.preview = command.on
            self.wants_preview = any(c.preview for c in self._clients)
        elif client.admit():
            self.events.put(_event(command))
        else:
            self.ignored += 1

    def _forget(self, client: Client) -> None:
        if client in self._clients:
            self._clients.discard(client)
            log.info("surface: a page at %s left (%d connected)", client.remote, len(self._clients))
        client.close()
        self.wants_preview = any(c.preview for c in self._clients)

    # -- to the pages ------------------------------------------------------------------------

    def _stream(self) -> None:
        """After a publish: what changed, to every page."""
        self._wake_pending = False
        fresh = self._slot.take()
        if fresh is None:
            return
        self._latest = fresh
        messages: list[dict[str, object]] = []
        values = protocol.wire_values(fresh.values)
        changed = {name: value for name, value in values.items() if self._sent.get(name) != value}
        self._sent = values
        if changed:
            messages.append({"type": "values", "values": changed})
        if fresh.prompts != self._sent_prompts:
            self._sent_prompts = fresh.prompts
            messages.append({"type": "prompts", "prompts": protocol.prompt_list(fresh)})
        if (fresh.preset, fresh.presets) != self._sent_preset:
            self._sent_preset = (fresh.preset, fresh.presets)
            messages.append({"type": "preset", "preset": protocol.preset_name(fresh), "index": fresh.preset,
                             "presets": list(fresh.presets)})
        now = time.monotonic()
        if now - self._meters_at >= METER_PERIOD:
            self._meters_at = now
            messages.append(protocol.meters(fresh.meters))
        for text in [json.dumps(m) for m in messages]:
            for client in list(self._clients):
                if not client.send(text):
                    self._drop(client)

    def _send_frame(self, jpeg: bytes) -> None:
        for client in list(self._clients):
            if client.preview and not client.offer_frame(jpeg):
                self._drop(client)

    def _drop(self, client: Client) -> None:
        self.dropped += 1
        log.warning("surface: dropped the page at %s: it stopped reading", client.remote)
        self._forget(client)
        client.abort()

    async def _close_clients(self, _app: web.Application | None = None) -> None:
        """Stopping: each page gets a close frame (going away), or is cut off if it does not answer."""
        clients, self._clients = list(self._clients), set()
        for client in clients:
            client.close()
        closing = [asyncio.wait_for(c.ws.close(code=WSCloseCode.GOING_AWAY, message=b"vj stopped"), 0.2)
                   for c in clients]
        await asyncio.gather(*closing, return_exceptions=True)


def _event(command: Command) -> ControlEvent:
    """An action, a prompt or a preset switch as the event the surface's bindings take."""
    if isinstance(command, FireAction):
        return action_event(command.name, command.value)
    if isinstance(command, PromptText):
        return prompt_event(command.index, command.text)
    assert isinstance(command, SelectPreset)
    return action_event("preset.select", command.index)
