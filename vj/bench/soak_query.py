"""OSCQuery clients for `vj bench soak`: one polls over plain HTTP (GETs of nodes, values and
HOST_INFO, `rate` a second, each on a new connection, as a controller app's refresh does); one
LISTENs on a websocket to a few parameters and counts the values streamed back (only where the
show's web server is there to take it: `vj.web`)."""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any

from vj.bench.harness import percentile

PATHS = ("/?HOST_INFO", "/vj/param/zoom", "/vj/param/hue?VALUE", "/vj/preset", "/")
LISTENED = ("/vj/param/zoom", "/vj/param/hue", "/vj/param/rotate")


class QueryClients:
    def __init__(self, port: int, rate: float = 4.0, listen: bool = True) -> None:
        self.port, self.rate = port, rate
        self.ok = self.failed = 0
        self.failures: list[str] = []
        self.seconds: list[float] = []
        self.listen = listen and _websocket_available()
        self.streamed = 0  # values a LISTEN brought
        self.listen_sessions = 0
        self.listen_errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._poll, name="soak-oscquery", daemon=True)]
        if self.listen:
            self._threads.append(threading.Thread(target=self._listen, name="soak-oscquery-listen", daemon=True))

    def start(self) -> QueryClients:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10.0)

    def _poll(self) -> None:
        i = 0
        while not self._stop.wait(1.0 / self.rate):
            path = PATHS[i % len(PATHS)]
            i += 1
            began = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
                conn.close()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")
                json.loads(body)
                self.ok += 1
                self.seconds.append(time.perf_counter() - began)
            except (OSError, ValueError, RuntimeError, http.client.HTTPException) as exc:
                self.failed += 1
                if len(self.failures) < 10:
                    self.failures.append(f"{path}: {type(exc).__name__}: {exc}")

    def _listen(self) -> None:
        import asyncio

        asyncio.run(self._listen_async())

    async def _listen_async(self) -> None:
        import asyncio

        import aiohttp

        while not self._stop.is_set():
            try:
                async with aiohttp.ClientSession() as session, \
                        session.ws_connect(f"http://127.0.0.1:{self.port}/", timeout=aiohttp.ClientWSTimeout(10)) as ws:
                    self.listen_sessions += 1
                    for address in LISTENED:
                        await ws.send_str(json.dumps({"COMMAND": "LISTEN", "DATA": address}))
                    while not self._stop.is_set():
                        try:
                            message = await ws.receive(timeout=0.5)
                        except TimeoutError:
                            continue
                        if message.type == aiohttp.WSMsgType.BINARY:
                            self.streamed += 1
                        elif message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                            break
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                if len(self.listen_errors) < 10:
                    self.listen_errors.append(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(1.0)

    def figures(self) -> dict[str, Any]:
        ms = [s * 1000 for s in self.seconds]
        out: dict[str, Any] = {
            "oscquery_gets_ok": self.ok,
            "oscquery_gets_failed": self.failed,
            "oscquery_get_ms_p99": round(percentile(ms, 99), 2) if ms else None,
            "oscquery_listen": self.listen,
        }
        if self.listen:
            out.update(oscquery_listen_values=self.streamed, oscquery_listen_sessions=self.listen_sessions)
        if self.failures or self.listen_errors:
            out["oscquery_errors"] = self.failures + self.listen_errors
        return out


def _websocket_available() -> bool:
    try:
        import aiohttp  # noqa: F401

        import vj.web.server  # noqa: F401
    except ImportError:
        return False
    return True
