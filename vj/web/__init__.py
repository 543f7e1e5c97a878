"""vj's web server: one asyncio loop on one thread, hosting vj's HTTP and websocket services
(OSCQuery now) behind one set of limits, so that no client can block another or the show."""

from vj.web.server import Limits, WebServer

__all__ = ["Limits", "WebServer"]
