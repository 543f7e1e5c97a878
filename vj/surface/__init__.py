"""The control surface: every parameter, prompt, preset and action of the show on a web page that
any browser on the network can play (`vj run --surface`), with the show's tempo, audio levels and
a small live preview coming back.

    space     the surface's bindings, generated from the registry and the actions (as OSC's are)
    protocol  the websocket messages: what a client may send (checked) and what it is sent
    clients   one connected page: its send queue, its incoming rate, its preview
    site      the routes on vj's web server: the page, the websocket, the pairing token
    feed      the render thread's side: values, meters and the preview, published a few tens of
              times a second, never waiting
    preview   the picture without the HUD, small, read back and JPEG-encoded off the render thread
    jpeg      the preview's size and its JPEG encoding
    window_preview  the preview made by a process of its own from the X server's copy of the
              window (software GL under X): the show's side; preview_process is the process
    pairing   the pairing token, the URL to open and its QR code for the HUD

See docs/surface.md for the protocol.
"""

from vj.surface.feed import SurfaceFeed
from vj.surface.site import Surface, SurfaceError
from vj.surface.space import surface_space

__all__ = ["Surface", "SurfaceError", "SurfaceFeed", "surface_space"]
