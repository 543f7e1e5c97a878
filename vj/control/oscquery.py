"""OSCQuery: vj describes its OSC address space over HTTP + JSON, so TouchDesigner, Chataigne or
Vezér discover every parameter with its type, range, value and description, and stream the values
they LISTEN to over a websocket.

    GET /                       the whole tree (CONTENTS nested by address part)
    GET /vj/param/zoom          one node: FULL_PATH, TYPE, RANGE, VALUE, DESCRIPTION, ACCESS, UNIT
    GET /vj/param/zoom?VALUE    one attribute: {"VALUE": [0.3]}
    GET /?HOST_INFO             NAME, OSC_IP, OSC_PORT, OSC_TRANSPORT, EXTENSIONS
    websocket on any path       text {"COMMAND": "LISTEN", "DATA": "/vj/param/zoom"} (or "IGNORE");
                                each change of a listened value comes back as a binary message
                                holding one OSC message (/vj/param/zoom f 0.3)

It listens on TCP at the OSC server's port number, on the same host, on vj's web server
(vj.web.server: its limits keep any client from blocking the others or the show). Values come from
the render thread, which publishes the parameters' base values a few times a second: `publish`
puts them into a latest-value slot and, when someone listens, wakes the web loop, which compares
them with the last ones and queues the changed listened addresses for each listener. A listener
whose queue fills (it stopped reading) is dropped; nobody waits for it. Zeroconf advertisement is
vj.control.advertise.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from vj.config.mapping import Binding, MappingConfig
from vj.control.osc_codec import encode_message
from vj.control.transform import unshape
from vj.params import REGISTRY, Registry
from vj.slot import LatestSlot
from vj.vocabulary import ACTIONS, TEXT_ACTIONS
from vj.web.server import WebServer, unmapped

log = logging.getLogger(__name__)

READ, WRITE = 1, 2
_TYPES = {"float": "f", "int": "i", "bool": "T", "enum": "s"}


def _normalised_node(binding: Binding, registry: Registry, values: Mapping[str, object]) -> dict[str, Any]:
    """A parameter as 0..1 across the binding's range: a choice by position, a switch as 0 or 1."""
    assert binding.param is not None
    spec = registry[binding.param]
    value = spec.coerce(values.get(spec.name, spec.default))
    number = float(spec.choices.index(value)) if isinstance(value, str) else float(value)
    return {"TYPE": "f", "ACCESS": READ | WRITE, "DESCRIPTION": f"{spec.description} (0..1 across its range)",
            "RANGE": [{"MIN": 0.0, "MAX": 1.0}], "VALUE": [round(unshape(number, binding.lo, binding.hi), 6)]}


def build_tree(space: MappingConfig, registry: Registry, values: Mapping[str, object]) -> dict[str, Any]:
    """The OSCQuery tree of an address space: one node per address, containers for the parts."""
    root: dict[str, Any] = {"FULL_PATH": "/", "ACCESS": 0, "CONTENTS": {}}
    for binding in space.bindings:
        address = str(binding.source[1])
        node = root
        parts = address.strip("/").split("/")
        for depth, part in enumerate(parts):
            node = node.setdefault("CONTENTS", {}).setdefault(
                part, {"FULL_PATH": "/" + "/".join(parts[: depth + 1]), "ACCESS": 0}
            )
        if binding.param is not None and not binding.native:  # a 0..1 alias (/vj/norm/...)
            node.update(_normalised_node(binding, registry, values))
        elif binding.param is not None:
            spec = registry[binding.param]
            value = values.get(spec.name, spec.default)
            node.update(TYPE=_TYPES[spec.kind], ACCESS=READ | WRITE, DESCRIPTION=spec.description)
            if spec.kind == "enum":
                node.update(RANGE=[{"VALS": list(spec.choices)}], VALUE=[str(value)])
            elif spec.kind == "bool":
                node.update(VALUE=[bool(value)])
            else:
                node.update(RANGE=[{"MIN": spec.lo, "MAX": spec.hi}], VALUE=[value])
            if spec.unit:
                node["UNIT"] = [spec.unit]
        elif binding.action in TEXT_ACTIONS:
            node.update(TYPE="s", ACCESS=READ | WRITE, DESCRIPTION=TEXT_ACTIONS[binding.action],
                        VALUE=[str(values.get(binding.action, ""))])
        else:
            node.update(ACCESS=WRITE, DESCRIPTION=ACTIONS[str(binding.action)][0])
            if binding.action in ("preset.select", "prompt.select"):
                node["TYPE"] = "i"
            elif binding.action == "beat.nudge":
                node.update(TYPE="f", UNIT=["time.ms"])
    return root


MAX_LISTENERS = 16  # LISTEN websockets at once; one more gets 503
SEND_QUEUE = 32  # value updates (one per publish) waiting for a listener; one more drops it
HEARTBEAT = 15.0  # seconds between websocket pings; a listener that stops answering is closed
MAX_COMMAND = 16 * 1024  # bytes in one LISTEN / IGNORE message
_EVERYWHERE = ("", "0.0.0.0", "::")

Shown = dict[str, tuple[str, tuple[Any, ...]]]  # readable address -> its TYPE and VALUE


def readable_values(tree: Mapping[str, Any]) -> Shown:
    """Every node of a tree that has a value, by address: its OSC type and value."""
    out: Shown = {}
    stack = [tree]
    while stack:
        node = stack.pop()
        if "VALUE" in node:
            out[node["FULL_PATH"]] = (node["TYPE"], tuple(node["VALUE"]))
        stack.extend(node.get("CONTENTS", {}).values())
    return out


def value_message(address: str, tag: str, value: tuple[Any, ...]) -> bytes:
    """A value as the OSC message a LISTEN client gets, typed as the node's TYPE says."""
    first = value[0]
    arg = float(first) if tag == "f" else int(first) if tag == "i" else bool(first) if tag in ("T", "F") else str(first)
    return encode_message(address, arg)


@dataclass(eq=False)
class _Listener:
    ws: web.WebSocketResponse
    request: web.Request
    paths: set[str] = field(default_factory=set)
    queue: asyncio.Queue[list[bytes]] = field(default_factory=lambda: asyncio.Queue(SEND_QUEUE))
    sender: asyncio.Task[None] | None = None

    def abort(self) -> None:
        if self.sender is not None:
            self.sender.cancel()
        if self.request.transport is not None:
            self.request.transport.abort()


class OscQuery:
    def __init__(self, space: MappingConfig, osc_host: str, osc_port: int, registry: Registry = REGISTRY,
                 http_port: int | None = None, *, server: WebServer | None = None) -> None:
        """Binds at once (a taken port raises OSError here); `server`: share vj's web server
        (its owner starts and stops it), else OscQuery runs one of its own."""
        self.space = space
        self.registry = registry
        self.osc_host, self.osc_port = osc_host, osc_port
        self._values: LatestSlot[dict[str, object]] = LatestSlot()
        self._latest: dict[str, object] = {}
        self._readable = frozenset(readable_values(build_tree(space, registry, {})))
        self._shown: Shown | None = None  # the values as last compared, while anyone listens
        self._listeners: set[_Listener] = set()
        self._wake_pending = False
        self.dropped = 0  # listeners dropped for not reading
        self._own_server = server is None
        self.server = server or WebServer()
        app = self.server.application()
        app.router.add_get("/{path:.*}", self._get)
        app.on_shutdown.append(self._close_listeners)
        port = osc_port if http_port is None else http_port
        try:
            self.port = self.server.add(app, osc_host, port)
        except OSError as exc:
            if self._own_server:
                self.server.stop()
            raise OSError(f"cannot serve OSCQuery on {osc_host}:{port}/tcp: {exc.strerror or exc}") from exc

    def start(self) -> OscQuery:
        if self._own_server:
            self.server.start()
        log.info("OSCQuery: http://%s:%d/", self.osc_host, self.port)
        return self

    def stop(self) -> None:
        if self._own_server:
            self.server.stop()
        elif self.server.running:
            self.server.run(self._close_listeners())

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    def publish(self, values: Mapping[str, object]) -> None:
        """Render thread: the parameters' current base values. Never blocks: the newest values wait
        in a slot; the web loop is woken (once) only when someone listens."""
        self._values.put(dict(values))
        if self._listeners and not self._wake_pending:
            self._wake_pending = True  # before call_soon: the loop may run _stream (and clear it) at once
            if not self.server.call_soon(self._stream):
                self._wake_pending = False

    def host_info(self, local_ip: str | None = None) -> dict[str, Any]:
        """`local_ip`: vj's address on the interface a request came in on, which is the one to
        give when vj listens on all of them (0.0.0.0)."""
        return {
            "NAME": "vj",
            "OSC_IP": local_ip if local_ip and self.osc_host in _EVERYWHERE else self.osc_host,
            "OSC_PORT": self.osc_port,
            "OSC_TRANSPORT": "UDP",
            "EXTENSIONS": {"ACCESS": True, "VALUE": True, "RANGE": True, "DESCRIPTION": True, "UNIT": True,
                           "TAGS": False, "CLIPMODE": False, "LISTEN": True, "PATH_CHANGED": False},
        }

    # the web loop's side

    def _take(self) -> None:
        fresh = self._values.take()
        if fresh is not None:
            self._latest = fresh

    def _now_shown(self) -> Shown:
        return readable_values(build_tree(self.space, self.registry, self._latest))

    async def _get(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._listen(request)
        self._take()
        if request.query_string == "HOST_INFO":
            sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
            return _reply(200, self.host_info(unmapped(str(sockname[0])) if sockname else None))
        node: dict[str, Any] | None = build_tree(self.space, self.registry, self._latest)
        for part in [p for p in request.path.split("/") if p]:
            node = (node or {}).get("CONTENTS", {}).get(part)
        if node is None:
            return _reply(404, {"error": f"no OSC address {request.path}"})
        if request.query_string:
            if request.query_string not in node:
                return _reply(204, None)
            return _reply(200, {request.query_string: node[request.query_string]})
        return _reply(200, node)

    async def _listen(self, request: web.Request) -> web.StreamResponse:
        if len(self._listeners) >= MAX_LISTENERS:
            raise web.HTTPServiceUnavailable(text=f"vj: {MAX_LISTENERS} OSCQuery listeners already\n",
                                             headers={"Retry-After": "5"})
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=MAX_COMMAND)
        await ws.prepare(request)
        if self._shown is None:
            self._take()
            self._shown = self._now_shown()
        listener = _Listener(ws, request)
        listener.sender = asyncio.get_running_loop().create_task(self._send(listener))
        self._listeners.add(listener)
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    self._command(listener, message.data)
                else:
                    log.debug("OSCQuery: %s sent a %s websocket message; vj takes OSC over UDP", request.remote,
                              message.type.name)
        finally:
            self._listeners.discard(listener)
            if listener.sender is not None:
                listener.sender.cancel()
            if not self._listeners:
                self._shown = None
        return ws

    def _command(self, listener: _Listener, text: str) -> None:
        try:
            message = json.loads(text)
            command, path = message["COMMAND"], message["DATA"]
        except (ValueError, KeyError, TypeError):
            log.debug("OSCQuery: not a command: %.80r", text)
            return
        if command == "LISTEN" and isinstance(path, str) and path in self._readable:
            listener.paths.add(path)
        elif command == "IGNORE" and isinstance(path, str):
            listener.paths.discard(path)
        else:
            log.debug("OSCQuery: ignored %.80r (LISTEN takes an address that has a VALUE)", text)

    def _stream(self) -> None:
        """After a publish: the listened values that changed, queued for their listeners."""
        self._wake_pending = False
        self._take()
        if not self._listeners:
            self._shown = None
            return
        before, now = self._shown, self._now_shown()
        self._shown = now
        if before is None:
            return
        changed = {path: typed for path, typed in now.items() if before.get(path) != typed}
        messages: dict[str, bytes] = {}
        for listener in list(self._listeners):
            batch = [messages.setdefault(path, value_message(path, *changed[path]))
                     for path in sorted(listener.paths & changed.keys())]
            if not batch:
                continue
            try:
                listener.queue.put_nowait(batch)
            except asyncio.QueueFull:
                self._drop(listener)

    def _drop(self, listener: _Listener) -> None:
        self.dropped += 1
        self._listeners.discard(listener)
        log.warning("OSCQuery: dropped the LISTEN client at %s: it stopped reading (%d updates behind)",
                    listener.request.remote, SEND_QUEUE)
        listener.abort()

    async def _send(self, listener: _Listener) -> None:
        try:
            while True:
                for data in await listener.queue.get():
                    await listener.ws.send_bytes(data)
        except (ConnectionError, RuntimeError):  # closed under it: its handler ends too
            return

    async def _close_listeners(self, _app: web.Application | None = None) -> None:
        """Stopping: each listener gets a close frame (going away), or is cut off if it does not answer."""
        listeners, self._listeners = list(self._listeners), set()
        for listener in listeners:
            if listener.sender is not None:
                listener.sender.cancel()
        closing = [asyncio.wait_for(listener.ws.close(code=WSCloseCode.GOING_AWAY, message=b"vj stopped"), 0.2)
                   for listener in listeners]
        await asyncio.gather(*closing, return_exceptions=True)
        for listener in listeners:
            listener.abort()


def _reply(status: int, body: object) -> web.Response:
    if body is None:
        return web.Response(status=status, content_type="application/json")
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json")
