"""The few OpenGL calls vj makes through ctypes instead of moderngl, because ctypes releases the GIL
for the length of a foreign call and moderngl holds it in every call: a call that waits for a
software rasteriser (glFinish, a fence) or copies a picture (glReadPixels) then leaves the other
threads (an encoder, the OSC server, the audio feed) free to run.

Loaded from the system's GL library, which on Linux (GLVND's libGL.so.1 / libOpenGL.so.0) and
macOS (the OpenGL framework) exports every core entry point and dispatches to the context current
on the calling thread. Windows' opengl32 exports only GL 1.1: there `gl_calls()` gives None and
the callers keep their moderngl path.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

_LIBRARIES = {"darwin": ("/System/Library/Frameworks/OpenGL.framework/OpenGL",),
              "win32": ("opengl32",)}.get(sys.platform, ("libGL.so.1", "libOpenGL.so.0"))

# GL enums (from the OpenGL registry's gl.xml)
READ_FRAMEBUFFER = 0x8CA8
DRAW_FRAMEBUFFER = 0x8CA9
COLOR_BUFFER_BIT = 0x4000
LINEAR = 0x2601
COLOR_ATTACHMENT0 = 0x8CE0
TEXTURE_2D = 0x0DE1
PACK_ALIGNMENT = 0x0D05
RGBA = 0x1908
BGRA = 0x80E1
UNSIGNED_BYTE = 0x1401
SYNC_GPU_COMMANDS_COMPLETE = 0x9117
SYNC_FLUSH_COMMANDS_BIT = 0x1
TIMEOUT_EXPIRED = 0x911B
WAIT_FAILED = 0x911D


def _library(hold_gil: bool = False) -> ctypes.CDLL | None:
    """The GL library; `hold_gil`: its calls keep the GIL (ctypes.PyDLL), for calls that never wait."""
    for name in _LIBRARIES:
        try:
            if hold_gil:
                return ctypes.PyDLL(name)
            return ctypes.WinDLL(name) if sys.platform == "win32" else ctypes.CDLL(name)  # type: ignore[attr-defined]
        except OSError:
            continue
    return None


@cache
def gil_free_finish() -> Callable[[], None] | None:
    """glFinish for the context current on the calling thread; None where the GL library cannot be loaded."""
    library = _library()
    finish: Callable[[], None] | None = getattr(library, "glFinish", None) if library is not None else None
    return finish


@dataclass(frozen=True)
class GlCalls:
    """Fences, a read framebuffer and glReadPixels: what a thread with a shared context needs to
    read a texture another thread drew into (vj.render.readback.ThreadRead); and a scaling blit
    (moderngl's copies never scale), for the surface's preview. Only the two that wait
    or copy (`WAITING`) release the GIL; the rest are quick and keep it, since every release is a
    chance for another thread to take the GIL and the caller then waits to have it back."""

    fence_sync: Callable[[int, int], int]
    client_wait_sync: Callable[[int, int, int], int]
    delete_sync: Callable[[int], None]
    flush: Callable[[], None]
    gen_framebuffers: Callable[[int, object], None]
    delete_framebuffers: Callable[[int, object], None]
    bind_framebuffer: Callable[[int, int], None]
    framebuffer_texture_2d: Callable[[int, int, int, int, int], None]
    pixel_store_i: Callable[[int, int], None]
    read_pixels: Callable[[int, int, int, int, int, int, int], None]
    blit_framebuffer: Callable[[int, int, int, int, int, int, int, int, int, int], None]


WAITING = ("glClientWaitSync", "glReadPixels")  # the calls that wait or copy: the GIL released


@cache
def gl_calls() -> GlCalls | None:
    """The calls, typed; None where the library or one of them is missing (Windows: see the module doc)."""
    library, holding = _library(), _library(hold_gil=True)
    if library is None or holding is None:
        return None
    u, i, p = ctypes.c_uint, ctypes.c_int, ctypes.c_void_p
    signatures: dict[str, tuple[object, list[object]]] = {
        "glFenceSync": (p, [u, u]),
        "glClientWaitSync": (u, [p, u, ctypes.c_uint64]),
        "glDeleteSync": (None, [p]),
        "glFlush": (None, []),
        "glGenFramebuffers": (None, [i, p]),
        "glDeleteFramebuffers": (None, [i, p]),
        "glBindFramebuffer": (None, [u, u]),
        "glFramebufferTexture2D": (None, [u, u, u, u, i]),
        "glPixelStorei": (None, [u, i]),
        "glReadPixels": (None, [i, i, i, i, u, u, p]),
        "glBlitFramebuffer": (None, [i, i, i, i, i, i, i, i, u, u]),
    }
    found = []
    for name, (restype, argtypes) in signatures.items():
        function = getattr(library if name in WAITING else holding, name, None)
        if function is None:
            return None
        function.restype, function.argtypes = restype, argtypes
        found.append(function)
    return GlCalls(*found)
