"""OSCQuery: vj describes its OSC address space over HTTP + JSON, so TouchDesigner, Chataigne or
Vezér discover every parameter with its type, range, value and description.

    GET /                       the whole tree (CONTENTS nested by address part)
    GET /vj/param/zoom          one node: FULL_PATH, TYPE, RANGE, VALUE, DESCRIPTION, ACCESS, UNIT
    GET /vj/param/zoom?VALUE    one attribute: {"VALUE": [0.3]}
    GET /?HOST_INFO             NAME, OSC_IP, OSC_PORT, OSC_TRANSPORT, EXTENSIONS

It listens on TCP at the OSC server's port number, on the same host. Values come from the render
thread, which publishes the parameters' base values into a latest-value slot a few times a
second; the HTTP thread keeps the newest it has taken. Zeroconf advertisement (`_oscjson._tcp`)
is not done yet: give the tool vj's address and port.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import urlsplit

from vj.config.mapping import Binding, MappingConfig
from vj.control.transform import unshape
from vj.params import REGISTRY, Registry
from vj.slot import LatestSlot
from vj.vocabulary import ACTIONS, TEXT_ACTIONS

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


class OscQuery:
    def __init__(self, space: MappingConfig, osc_host: str, osc_port: int, registry: Registry = REGISTRY,
                 http_port: int | None = None) -> None:
        self.space = space
        self.registry = registry
        self.osc_host, self.osc_port = osc_host, osc_port
        self._values: LatestSlot[dict[str, object]] = LatestSlot()
        query = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                query._serve(self)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                log.debug("OSCQuery: " + format, *args)

        try:
            self._http = HTTPServer((osc_host, osc_port if http_port is None else http_port), Handler)
        except OSError as exc:
            raise OSError(f"cannot serve OSCQuery on {osc_host}:{osc_port}/tcp: {exc.strerror or exc}") from exc
        self.port = self._http.server_address[1]
        self._latest: dict[str, object] = {}
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="vj-oscquery", daemon=True)

    def start(self) -> OscQuery:
        self._thread.start()
        log.info("OSCQuery: http://%s:%d/", self.osc_host, self.port)
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def publish(self, values: Mapping[str, object]) -> None:
        """Render thread: the parameters' current base values."""
        self._values.put(dict(values))

    def host_info(self) -> dict[str, Any]:
        return {
            "NAME": "vj",
            "OSC_IP": self.osc_host,
            "OSC_PORT": self.osc_port,
            "OSC_TRANSPORT": "UDP",
            "EXTENSIONS": {"ACCESS": True, "VALUE": True, "RANGE": True, "DESCRIPTION": True, "UNIT": True,
                           "TAGS": False, "CLIPMODE": False, "LISTEN": False, "PATH_CHANGED": False},
        }

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        fresh = self._values.take()
        if fresh is not None:
            self._latest = fresh
        url = urlsplit(request.path)
        if url.query == "HOST_INFO":
            return self._reply(request, 200, self.host_info())
        node: dict[str, Any] | None = build_tree(self.space, self.registry, self._latest)
        for part in [p for p in url.path.split("/") if p]:
            node = (node or {}).get("CONTENTS", {}).get(part)
        if node is None:
            return self._reply(request, 404, {"error": f"no OSC address {url.path}"})
        if url.query:
            if url.query not in node:
                return self._reply(request, 204, None)
            return self._reply(request, 200, {url.query: node[url.query]})
        self._reply(request, 200, node)

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, body: object) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
