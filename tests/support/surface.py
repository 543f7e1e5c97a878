"""The control surface's test stage: a real show (headless EGL, the Solid test generator) with the
surface on vj's web server on a free port, driven frame by frame from the test's own asyncio loop:
`Stage.until` runs display frames (the render thread's work, feed included) while the test's
websocket clients wait."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import aiohttp

from tests.support.show import make_show, preset, solid_worker
from vj.config.mapping import parse_mapping
from vj.paths import MAPPING_DIR
from vj.show import Show
from vj.surface.feed import SurfaceFeed
from vj.surface.site import Surface
from vj.surface.space import surface_space
from vj.vocabulary import Event, EventQueue
from vj.web.server import WebServer

PICTURE = (640, 360)  # the show's picture: the preview is 320x180


class CountingQueue(EventQueue):
    """The show's event queue, counting what the surface put on it."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def put(self, event: Event) -> None:
        self.count += 1
        super().put(event)


@dataclass
class Stage:
    show: Show
    surface: Surface
    feed: SurfaceFeed
    target: object
    events: CountingQueue

    def frame(self) -> None:
        snap = self.show.frame(1 / 30, self.target)
        self.feed.frame(snap, self.target)

    async def until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        """Display frames until `condition` holds (the web loop and the clients run in between)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            assert loop.time() < deadline, "timed out"
            self.frame()
            await asyncio.sleep(0.01)

    async def receive(self, ws: aiohttp.ClientWebSocketResponse, wanted: Callable[[dict], bool],
                      timeout: float = 5.0) -> dict:
        """The first JSON message `wanted` accepts, running frames while waiting."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            self.frame()
            try:
                message = await asyncio.wait_for(ws.receive(), 0.02)
            except TimeoutError:
                continue
            if message.type is aiohttp.WSMsgType.TEXT:
                data = json.loads(message.data)
                if wanted(data):
                    return data
            elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                raise AssertionError(f"closed: {message}")
        raise AssertionError("timed out waiting for a message")

    def url(self, path: str = "/ws", token: str | None = None) -> str:
        query = f"?token={token}" if token else ""
        return f"http://127.0.0.1:{self.surface.port}{path}{query}"


def open_stage(ctx, host: str = "127.0.0.1", worker=solid_worker) -> Iterator[Stage]:
    """`worker`: the show's generator (make_show's: the Solid test generator by default)."""
    events = CountingQueue()
    mapping = [parse_mapping(MAPPING_DIR / "default.yaml"), surface_space()]
    show = make_show(ctx, presets=[preset("one"), preset("two")], mapping=mapping, events=events, worker=worker)
    target = ctx.framebuffer(color_attachments=[ctx.texture(PICTURE, 3)])
    web = WebServer()
    surface = Surface(web, events, host, 0)
    web.start()
    feed = SurfaceFeed(surface, show)
    stage = Stage(show, surface, feed, target, events)
    stage.frame()
    try:
        yield stage
    finally:
        feed.stop()
        surface.stop()
        web.stop()
        show.close()
        target.release()
