"""The show window's pixels as the X server holds them, copied by the server into shared memory
(MIT-SHM; libxcb through ctypes). On software GL (Mesa's llvmpipe) the buffer swap already puts
every frame into the X server; reading it back from there costs the render thread one short
request: the server's process does the copy (0.4-0.5 ms at 1280x720 under Xvfb) while the
render thread draws the next frame, and another thread waits for the reply, the GIL released
(vj.render.readback.ServerRead).

The requests go over the window's own X connection (GLFW's, which Mesa's swap puts the frames
through), so the X server takes them in the order they were made: a request made after frame k's
swap and before frame k+1's is answered with frame k, however late it is sent or served. (Over a
second connection the server may serve the next swap first: frames came labelled one early.)

Only where the window's pixels are its own: an X server answers a window's GetImage with what is
on screen there, so a window partly covered by another gives the other's pixels, unless a
compositing manager keeps every window's pixels apart. `WindowGrab.own_pixels` says whether that
holds: a compositing manager runs, or no window manager does (a virtual display such as Xvfb, a
kiosk), where nothing stacks windows over the show's.

xcb, not Xlib: xcb answers an error as a value of the request that caused it, where Xlib calls a
process-wide error handler whose default ends the process.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

log = logging.getLogger(__name__)

SEGMENTS = 8  # shared-memory images (each picture an output holds keeps one busy, as does one asked for)
Z_PIXMAP = 2
ALL_PLANES = 0xFFFFFFFF
IPC_PRIVATE, IPC_CREAT, IPC_RMID = 0, 0o1000, 0
ANY_PROPERTY_TYPE = 0


class GrabError(RuntimeError):
    """The window's pixels could not be had from the X server (the message says why)."""


class _Cookie(ctypes.Structure):
    _fields_ = [("sequence", ctypes.c_uint)]


class _Error(ctypes.Structure):
    error_code: int
    _fields_ = [("response_type", ctypes.c_uint8), ("error_code", ctypes.c_uint8), ("sequence", ctypes.c_uint16),
                ("resource_id", ctypes.c_uint32), ("minor_code", ctypes.c_uint16), ("major_code", ctypes.c_uint8)]


class _Geometry(ctypes.Structure):
    depth: int
    root: int
    width: int
    height: int
    _fields_ = [("response_type", ctypes.c_uint8), ("depth", ctypes.c_uint8), ("sequence", ctypes.c_uint16),
                ("length", ctypes.c_uint32), ("root", ctypes.c_uint32), ("x", ctypes.c_int16), ("y", ctypes.c_int16),
                ("width", ctypes.c_uint16), ("height", ctypes.c_uint16), ("border_width", ctypes.c_uint16)]


class _Atom(ctypes.Structure):  # the reply to InternAtom and to GetSelectionOwner: one 32-bit value
    value: int
    _fields_ = [("response_type", ctypes.c_uint8), ("pad", ctypes.c_uint8), ("sequence", ctypes.c_uint16),
                ("length", ctypes.c_uint32), ("value", ctypes.c_uint32)]


class _Property(ctypes.Structure):
    type: int
    _fields_ = [("response_type", ctypes.c_uint8), ("format", ctypes.c_uint8), ("sequence", ctypes.c_uint16),
                ("length", ctypes.c_uint32), ("type", ctypes.c_uint32), ("bytes_after", ctypes.c_uint32),
                ("value_len", ctypes.c_uint32)]


class _ShmImage(ctypes.Structure):
    size: int
    _fields_ = [("response_type", ctypes.c_uint8), ("depth", ctypes.c_uint8), ("sequence", ctypes.c_uint16),
                ("length", ctypes.c_uint32), ("visual", ctypes.c_uint32), ("size", ctypes.c_uint32)]


_Reply = TypeVar("_Reply", bound=ctypes.Structure)
_ERR = ctypes.POINTER(ctypes.POINTER(_Error))
_C, _U8, _U16, _U32, _I16 = ctypes.c_void_p, ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_int16


@dataclass(frozen=True)
class _Libraries:
    xcb: ctypes.CDLL
    shm: ctypes.CDLL
    libc: ctypes.CDLL
    hold: ctypes.CDLL  # libxcb-shm again, its calls keeping the GIL (WindowGrab.request)
    xlib: ctypes.CDLL
    x11_xcb: ctypes.CDLL


def _declare(lib: ctypes.CDLL, name: str, restype: object, *argtypes: object) -> None:
    function = getattr(lib, name)
    function.restype, function.argtypes = restype, list(argtypes)


def _libraries() -> _Libraries:
    if not sys.platform.startswith("linux"):
        raise GrabError("reading the window from the X server is for Linux")
    try:
        xcb, shm = ctypes.CDLL("libxcb.so.1"), ctypes.CDLL("libxcb-shm.so.0")
        xlib, x11_xcb = ctypes.CDLL("libX11.so.6"), ctypes.CDLL("libX11-xcb.so.1")
    except OSError as exc:
        raise GrabError(f"an X library is missing ({exc}); install libxcb1, libxcb-shm0 and libx11-xcb1") from exc
    libc = ctypes.CDLL(None, use_errno=True)
    hold = ctypes.PyDLL("libxcb-shm.so.0")  # its xcb_flush comes from libxcb, which it links
    _declare(xcb, "xcb_connect", _C, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int))
    _declare(xcb, "xcb_connection_has_error", ctypes.c_int, _C)
    _declare(xcb, "xcb_disconnect", None, _C)
    _declare(xcb, "xcb_generate_id", _U32, _C)
    _declare(xcb, "xcb_flush", ctypes.c_int, _C)
    _declare(xcb, "xcb_request_check", ctypes.POINTER(_Error), _C, _Cookie)
    _declare(xcb, "xcb_get_geometry", _Cookie, _C, _U32)
    _declare(xcb, "xcb_get_geometry_reply", ctypes.POINTER(_Geometry), _C, _Cookie, _ERR)
    _declare(xcb, "xcb_intern_atom", _Cookie, _C, _U8, _U16, ctypes.c_char_p)
    _declare(xcb, "xcb_intern_atom_reply", ctypes.POINTER(_Atom), _C, _Cookie, _ERR)
    _declare(xcb, "xcb_get_selection_owner", _Cookie, _C, _U32)
    _declare(xcb, "xcb_get_selection_owner_reply", ctypes.POINTER(_Atom), _C, _Cookie, _ERR)
    _declare(xcb, "xcb_get_property", _Cookie, _C, _U8, _U32, _U32, _U32, _U32, _U32)
    _declare(xcb, "xcb_get_property_reply", ctypes.POINTER(_Property), _C, _Cookie, _ERR)
    _declare(shm, "xcb_shm_attach_checked", _Cookie, _C, _U32, _U32, _U8)
    _declare(shm, "xcb_shm_detach", _Cookie, _C, _U32)
    _declare(shm, "xcb_shm_get_image", _Cookie, _C, _U32, _I16, _I16, _U16, _U16, _U32, _U8, _U32, _U32)
    _declare(shm, "xcb_shm_get_image_reply", ctypes.POINTER(_ShmImage), _C, _Cookie, _ERR)
    _declare(libc, "shmget", ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_int)
    _declare(libc, "shmat", _C, ctypes.c_int, _C, ctypes.c_int)
    _declare(libc, "shmdt", ctypes.c_int, _C)
    _declare(libc, "shmctl", ctypes.c_int, ctypes.c_int, ctypes.c_int, _C)
    _declare(libc, "free", None, _C)
    _declare(hold, "xcb_shm_get_image", _Cookie, _C, _U32, _I16, _I16, _U16, _U16, _U32, _U8, _U32, _U32)
    _declare(hold, "xcb_flush", ctypes.c_int, _C)
    _declare(x11_xcb, "XGetXCBConnection", _C, _C)
    _declare(xlib, "XDefaultScreen", ctypes.c_int, _C)
    return _Libraries(xcb, shm, libc, hold, xlib, x11_xcb)


@dataclass(frozen=True)
class Requested:
    """Pixels asked for (`WindowGrab.request`): the request's number, and the array they come into
    (held here so that no other request takes it meanwhile)."""

    sequence: int
    pixels: np.ndarray


@dataclass
class _Segment:
    seg: int  # the X server's name for it
    address: int
    pixels: np.ndarray  # (h, w, 4) over the shared memory


class WindowGrab:
    """One window of `size` (w, h) read into shared memory: `request` on the thread that swaps
    its buffers, `receive` on one other; `close` on the first once the other stopped. Made on the
    window's own connection (`WindowGrab(display, ...)`) or on one of its own (`connect`, for
    another process, where the order of frames does not matter)."""

    def __init__(self, display: int | None, window: int, size: tuple[int, int] | None = None,
                 segments: int = SEGMENTS) -> None:
        """`display`: the Xlib Display the window is on (glfw.get_x11_display()); None: a connection
        of its own to $DISPLAY. `size`: the part read from the top left (None: the whole window)."""
        self.window = window
        self._lib = _libraries()
        self._hold = self._lib.hold
        self._owned = display is None
        screen = ctypes.c_int(0)
        if display is None:
            self._conn: int | None = self._lib.xcb.xcb_connect(None, ctypes.byref(screen))
        else:
            self._conn = self._lib.x11_xcb.XGetXCBConnection(display)
            screen.value = self._lib.xlib.XDefaultScreen(display)
        self._segments: list[_Segment] = []
        try:
            if not self._conn or self._lib.xcb.xcb_connection_has_error(self._conn):
                raise GrabError("no connection to the X server (is DISPLAY set?)")
            geometry = self._reply("xcb_get_geometry", (self.window,), _Geometry, "the window's geometry")
            self.depth, root = geometry.depth, geometry.root
            self.size = size or (geometry.width, geometry.height)
            if self.depth not in (24, 32):
                raise GrabError(f"the window is {self.depth} bits deep; only 24 and 32 are read")
            self.own_pixels = self._composited(screen.value) or not self._managed(root)
            self.fill_alpha = False  # set once a grab came without opaque alpha (a depth-24 window's spare byte)
            for _ in range(segments):
                self._segments.append(self._segment())
        except BaseException:
            self.close()
            raise

    def window_size(self) -> tuple[int, int]:
        """The window's size now (a round trip to the server)."""
        geometry = self._reply("xcb_get_geometry", (self.window,), _Geometry, "the window's geometry")
        return geometry.width, geometry.height

    def _reply(self, request: str, args: tuple[object, ...], kind: type[_Reply], what: str) -> _Reply:
        return self._receive(request, getattr(self._lib.xcb, request)(self._conn, *args), kind, what, self._lib.xcb)

    def _receive(self, request: str, cookie: _Cookie, kind: type[_Reply], what: str, lib: ctypes.CDLL) -> _Reply:
        """A request's reply, copied out of xcb's memory (which is freed here)."""
        error = ctypes.POINTER(_Error)()
        reply = getattr(lib, f"{request}_reply")(self._conn, cookie, ctypes.byref(error))
        if not reply:
            code = error.contents.error_code if error else 0
            self._lib.libc.free(ctypes.cast(error, ctypes.c_void_p))
            raise GrabError(f"the X server refused {what} (X error {code})")
        copied = kind.from_buffer_copy(reply.contents)
        self._lib.libc.free(ctypes.cast(reply, ctypes.c_void_p))
        return copied

    def _atom(self, name: str) -> int:
        encoded = name.encode()
        reply = self._reply("xcb_intern_atom", (0, len(encoded), encoded), _Atom, f"the atom {name}")
        return int(reply.value)

    def _composited(self, screen: int) -> bool:
        """A compositing manager owns the screen's _NET_WM_CM_Sn selection (the EWMH convention)."""
        selection = self._atom(f"_NET_WM_CM_S{screen}")
        return bool(self._reply("xcb_get_selection_owner", (selection,), _Atom, "the compositor's selection").value)

    def _managed(self, root: int) -> bool:
        """A window manager runs: the root window carries _NET_SUPPORTING_WM_CHECK (EWMH)."""
        check = self._atom("_NET_SUPPORTING_WM_CHECK")
        reply = self._reply("xcb_get_property", (0, root, check, ANY_PROPERTY_TYPE, 0, 1), _Property,
                            "the root window's properties")
        return bool(reply.type)

    def _segment(self) -> _Segment:
        width, height = self.size
        libc, nbytes = self._lib.libc, width * height * 4
        shmid = libc.shmget(IPC_PRIVATE, nbytes, IPC_CREAT | 0o600)
        if shmid < 0:
            raise GrabError(f"no shared memory for a picture (shmget: errno {ctypes.get_errno()})")
        address = libc.shmat(shmid, None, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            libc.shmctl(shmid, IPC_RMID, None)
            raise GrabError(f"could not map shared memory (shmat: errno {ctypes.get_errno()})")
        seg = int(self._lib.xcb.xcb_generate_id(self._conn))
        attached = self._lib.shm.xcb_shm_attach_checked(self._conn, seg, shmid, 0)
        error = self._lib.xcb.xcb_request_check(self._conn, attached)
        libc.shmctl(shmid, IPC_RMID, None)  # gone once both sides detach, even if vj is killed
        if error:
            code = error.contents.error_code
            libc.free(ctypes.cast(error, ctypes.c_void_p))
            libc.shmdt(address)
            raise GrabError(f"the X server cannot share memory with vj (MIT-SHM attach: X error {code}; "
                            "a remote display or another IPC namespace)")
        # shaped by its ctypes type, not reshaped: a view's base is then this array, whose
        # references say whether a picture still holds the memory (`_take_free`)
        pixels = np.ctypeslib.as_array(((ctypes.c_uint8 * 4) * width * height).from_address(address))
        return _Segment(seg, address, pixels)

    def request(self) -> Requested | None:
        """Asks for the window's pixels as they are now, on the thread that swaps the window's
        buffers, between two swaps: the request is only queued in xcb (no write, the GIL kept),
        in order before the next swap's picture, and whichever goes out first (the reader's wait
        in `receive`, or the next swap) sends it first. A write here would wake the X server,
        which on two busy cores took the render thread's core for its copy: 0.64 ms at p50.
        None when every shared image is still held by a picture."""
        segment = self._take_free()
        if segment is None:
            return None
        width, height = self.size
        cookie = self._hold.xcb_shm_get_image(self._conn, self.window, 0, 0, width, height, ALL_PLANES, Z_PIXMAP,
                                              segment.seg, 0)
        return Requested(cookie.sequence, segment.pixels)

    def receive(self, requested: Requested) -> np.ndarray:
        """The pixels asked for: a read-only (h, w, 4) BGRA array, row 0 at the top, in shared
        memory that is read into again once nothing refers to the array. Waits for the server,
        the GIL released. Raises GrabError when the server refused (the window unmapped, resized,
        or partly off the screen)."""
        width, height = self.size
        reply = self._receive("xcb_shm_get_image", _Cookie(requested.sequence), _ShmImage, "the window's pixels",
                              self._lib.shm)
        if reply.size != width * height * 4:
            raise GrabError(f"the X server sent {reply.size} bytes for {width}x{height} (not 32 bits a pixel)")
        pixels = requested.pixels
        if not self.fill_alpha and not (pixels[::height - 1, ::width - 1, 3] == 255).all():
            self.fill_alpha = True  # the server keeps no alpha: every output wants an opaque picture
        if self.fill_alpha:
            pixels[..., 3] = 255
        view = pixels[:]
        view.flags.writeable = False
        return view

    def _take_free(self) -> _Segment | None:
        for segment in self._segments:
            if sys.getrefcount(segment.pixels) <= 2:  # the segment and getrefcount's argument: no picture's view
                return segment
        return None

    def close(self) -> None:
        if self._conn is None:
            return
        for segment in self._segments:
            self._lib.shm.xcb_shm_detach(self._conn, segment.seg)
        self._lib.xcb.xcb_flush(self._conn)
        if self._owned:
            self._lib.xcb.xcb_disconnect(self._conn)
        self._conn = None  # else the window's connection: GLFW closes it
        for segment in self._segments:
            if sys.getrefcount(segment.pixels) <= 2:  # a picture an output still sends keeps its memory mapped
                self._lib.libc.shmdt(segment.address)
        self._segments.clear()
