"""What window managers and compositing managers announce on an X server (EWMH), set and cleared
by the tests that check what vj does where other windows could cover the show's
(tests/render/test_readback_server.py, tests/surface/test_window_preview.py)."""

from __future__ import annotations

import ctypes

import glfw

from vj.render.window import Window


class RootProperties:
    """What window managers and compositing managers announce on the X server (EWMH), set through
    the show window's own Xlib connection: a window manager's check window on the root, a
    compositor's ownership of _NET_WM_CM_S0."""

    def __init__(self, window: Window) -> None:
        self.x = ctypes.CDLL("libX11.so.6")
        self.x.XInternAtom.restype = ctypes.c_ulong
        self.x.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self.x.XDefaultRootWindow.restype = ctypes.c_ulong
        self.x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        self.x.XChangeProperty.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                                           ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
        self.x.XDeleteProperty.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
        self.x.XSetSelectionOwner.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        self.x.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self.display = glfw.get_x11_display()
        self.own = glfw.get_x11_window(window._handle)
        self.root = self.x.XDefaultRootWindow(self.display)

    def atom(self, name: str) -> int:
        return int(self.x.XInternAtom(self.display, name.encode(), 0))

    def window_manager(self, running: bool) -> None:
        check = self.atom("_NET_SUPPORTING_WM_CHECK")
        if running:
            value = ctypes.c_ulong(self.own)
            self.x.XChangeProperty(self.display, self.root, check, 33, 32, 0, ctypes.byref(value), 1)  # XA_WINDOW
        else:
            self.x.XDeleteProperty(self.display, self.root, check)
        self.x.XSync(self.display, 0)

    def compositor(self, running: bool) -> None:
        self.x.XSetSelectionOwner(self.display, self.atom("_NET_WM_CM_S0"), self.own if running else 0, 0)
        self.x.XSync(self.display, 0)
