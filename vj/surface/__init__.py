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

See docs/surface.md for the protocol. Nothing is imported here: the preview process imports
this package, and the show's modules (vj.surface.feed) would cost it some 35 MB.
"""
