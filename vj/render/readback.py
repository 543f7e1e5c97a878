"""The finished picture off the GPU for the video outputs (vj.rig.sink), costing the render thread
as little as the driver allows.

Two ways to read a framebuffer back, both giving a read-only RGBA uint8 array (h, w, 4), row 0
at the top (a flipped view of what GL returns: no copy), that no later frame overwrites while
anything refers to it, with the time it was drawn:

- `PboRing`: asynchronous, through pixel buffer objects. Frame k is read into the next of `depth`
  buffers (`Framebuffer.read_into`, which on a GPU only queues the copy) and the buffer read
  `depth - 1` frames earlier is fetched: by then its copy is done, so nothing waits for the GPU.
  The outputs get each frame `depth - 1` display frames late.
- `DirectRead`: synchronous, `Framebuffer.read`, what `auto` picks on a software renderer (Mesa's
  llvmpipe): there is no GPU to overlap with, a PBO read is a copy on the calling thread too and
  fetching the buffer a second one. Before it, `settle` has the frame rasterised by a glFinish
  called through ctypes, which releases the GIL: moderngl holds the GIL in every call, and a read
  that has to wait for llvmpipe's rasterising holds it for the whole frame's drawing (otherwise
  done in the buffer swap, where the GIL is free), starving every other thread (a recording's
  encoder got a quarter of the GIL time it gets this way; a PBO read on llvmpipe is that case:
  13 ms a 1280x720 frame with the GIL held). Measured at 1280x720 on llvmpipe, the read itself
  costs 0.3 ms from an RGBA framebuffer, 0.75 ms from an RGB one and about 1 ms from an X
  window's back buffer (a format conversion each).

`PictureTap` is the render thread's side: where to draw the picture (the window itself when it
has the output's size, so that nothing is copied, else an offscreen framebuffer at the output
size, which is then drawn into the window: one full-screen pass more, nothing on a GPU but about
9 ms at 1280x720 on llvmpipe), and the read-back once it is drawn, before the HUD.
"""

from __future__ import annotations

import ctypes
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Literal, Protocol

import moderngl
import numpy as np

ReadMode = Literal["auto", "pbo", "direct"]
READ_MODES: tuple[str, ...] = ("auto", "pbo", "direct")
SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swrast", "swiftshader", "software")
POOL = 8  # arrays a synchronous reader keeps for reuse (each output holds up to two: waiting and sending)


@dataclass(frozen=True, eq=False)
class Picture:
    """A frame read back: RGBA uint8 (h, w, 4), row 0 at the top, read-only; and when it was
    drawn (time.perf_counter(), the clock the audio input stamps its blocks with). Its memory is
    read into again once no Python object refers to it: an output that hands it to a library
    reading it later (an asynchronous sender) copies it first."""

    pixels: np.ndarray
    time: float


def _picture(data: bytes, size: tuple[int, int], drawn: float) -> Picture:
    width, height = size
    pixels = np.frombuffer(data, np.uint8).reshape(height, width, 4)[::-1]  # bytes: read-only already
    return Picture(pixels, drawn)


class Reader(Protocol):
    def settle(self) -> None: ...
    def push(self, fbo: moderngl.Framebuffer, drawn: float) -> Picture | None: ...
    def drain(self) -> list[Picture]: ...
    def release(self) -> None: ...


class PboRing:
    """Asynchronous read-back through `depth` pixel buffers (see the module doc). `fbo` must be
    `size`; `push` returns the frame pushed `depth - 1` calls earlier (None until there is one)."""

    def __init__(self, ctx: moderngl.Context, size: tuple[int, int], depth: int = 3) -> None:
        if depth < 2:
            raise ValueError(f"a PBO ring needs at least 2 buffers, got depth={depth}")
        self.size = size
        self._buffers = [ctx.buffer(reserve=size[0] * size[1] * 4, dynamic=True) for _ in range(depth)]
        self._times: list[float | None] = [None] * depth
        self._next = 0  # the buffer the next frame goes into

    def settle(self) -> None:
        pass  # nothing waits: the GPU copies while the next frames are drawn

    def push(self, fbo: moderngl.Framebuffer, drawn: float) -> Picture | None:
        depth = len(self._buffers)
        fbo.read_into(self._buffers[self._next], components=4, alignment=1)
        self._times[self._next] = drawn
        self._next = (self._next + 1) % depth
        return self._fetch(self._next)  # the oldest: read depth - 1 frames ago, overwritten next

    def _fetch(self, index: int) -> Picture | None:
        drawn = self._times[index]
        if drawn is None:
            return None
        self._times[index] = None
        return _picture(self._buffers[index].read(), self.size, drawn)

    def drain(self) -> list[Picture]:
        """The frames still in flight, oldest first (at the end of a show, or in tests)."""
        depth = len(self._buffers)
        found = (self._fetch((self._next + i) % depth) for i in range(depth))
        return [p for p in found if p is not None]

    def release(self) -> None:
        for buffer in self._buffers:
            buffer.release()


class DirectRead:
    """Synchronous read-back: each frame as it is pushed, into an array no output holds any more
    (reused: fresh memory costs page faults, a millisecond now and then at 720p)."""

    def __init__(self, ctx: moderngl.Context, size: tuple[int, int]) -> None:
        self.size = size
        self._finish = gil_free_finish() or ctx.finish
        self._pool: list[np.ndarray] = []

    def settle(self) -> None:
        """The frame drawn so far rasterised now, without holding the GIL (see the module doc)."""
        self._finish()

    def push(self, fbo: moderngl.Framebuffer, drawn: float) -> Picture | None:
        pixels = self._free()
        fbo.read_into(pixels, components=4, alignment=1)
        view = pixels[::-1]  # row 0 at the top
        view.flags.writeable = False
        return Picture(view, drawn)

    def _free(self) -> np.ndarray:
        """An array of the pool that nobody else refers to (a picture's view holds its array), or a new one."""
        for pixels in self._pool:
            if sys.getrefcount(pixels) <= 3:  # the pool, this loop, getrefcount's argument
                return pixels
        pixels = np.empty((self.size[1], self.size[0], 4), np.uint8)
        if len(self._pool) < POOL:
            self._pool.append(pixels)
        return pixels

    def drain(self) -> list[Picture]:
        return []

    def release(self) -> None:
        pass


@cache
def gil_free_finish() -> Callable[[], None] | None:
    """glFinish through ctypes (which releases the GIL during the call) for the context current on
    the calling thread; None where the GL library cannot be loaded."""
    names = {"darwin": ("/System/Library/Frameworks/OpenGL.framework/OpenGL",),
             "win32": ("opengl32",)}.get(sys.platform, ("libGL.so.1", "libOpenGL.so.0"))
    for name in names:
        try:
            library = ctypes.WinDLL(name) if sys.platform == "win32" else ctypes.CDLL(name)  # type: ignore[attr-defined]
            finish: Callable[[], None] = library.glFinish
        except (OSError, AttributeError):
            continue
        return finish
    return None


def software_renderer(ctx: moderngl.Context) -> bool:
    renderer = str(ctx.info.get("GL_RENDERER", "")).lower()
    return any(name in renderer for name in SOFTWARE_RENDERERS)


def make_reader(ctx: moderngl.Context, size: tuple[int, int], mode: ReadMode = "auto") -> Reader:
    """`auto`: a synchronous read on a software renderer, a PBO ring on a GPU."""
    if mode not in READ_MODES:
        raise ValueError(f"unknown read-back mode {mode!r}: expected one of {', '.join(READ_MODES)}")
    if mode == "direct" or (mode == "auto" and software_renderer(ctx)):
        return DirectRead(ctx, size)
    return PboRing(ctx, size)


class Presenter(Protocol):
    """Draws an offscreen picture into the window (vj.render.compositor.Compositor.present)."""

    def present(self, target: moderngl.Framebuffer, texture: moderngl.Texture) -> None: ...


class PictureTap:
    """The render thread's side of the video outputs (see the module doc). Per frame: draw the
    picture into `target(window)`, then `take(window)`, then draw the HUD into the window."""

    def __init__(self, ctx: moderngl.Context, size: tuple[int, int], presenter: Presenter,
                 mode: ReadMode = "auto") -> None:
        self.ctx, self.size, self.presenter = ctx, size, presenter
        self.reader = make_reader(ctx, size, mode)
        self._texture: moderngl.Texture | None = None
        self._offscreen: moderngl.Framebuffer | None = None
        self._drawn_into: moderngl.Framebuffer | None = None

    def target(self, window: moderngl.Framebuffer) -> moderngl.Framebuffer:
        """Where this frame's picture goes: the window when it has the output's size, else the
        offscreen framebuffer."""
        if window.size == self.size:
            self._drawn_into = window
        else:
            if self._offscreen is None:
                # RGBA: llvmpipe reads it back 2.5 times faster than RGB (0.3 ms against 0.75 at 720p);
                # the compositor's passes write alpha 1, so every output gets an opaque picture.
                self._texture = self.ctx.texture(self.size, 4)
                self._texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
                self._texture.repeat_x = self._texture.repeat_y = False  # no bleeding across the edges when scaled
                self._offscreen = self.ctx.framebuffer(color_attachments=[self._texture])
            self._drawn_into = self._offscreen
        return self._drawn_into

    def settle(self) -> None:
        """The picture is drawn: a synchronous reader has it rasterised now, the GIL released."""
        self.reader.settle()

    def take(self, window: moderngl.Framebuffer) -> Picture | None:
        """The picture is drawn (and settled): read it back and show it in the window (if it was
        drawn offscreen); returns a finished frame (this one, or an earlier one with a PBO ring)."""
        drawn = time.perf_counter()
        picture_fbo = self._drawn_into
        if picture_fbo is None:
            return None
        self._drawn_into = None
        picture = self.reader.push(picture_fbo, drawn)
        if picture_fbo is not window and window.size[0] and window.size[1]:
            assert self._texture is not None
            self.presenter.present(window, self._texture)
        return picture

    def drain(self) -> list[Picture]:
        return self.reader.drain()

    def release(self) -> None:
        self.reader.release()
        if self._offscreen is not None:
            self._offscreen.release()
        if self._texture is not None:
            self._texture.release()
        self._offscreen = self._texture = None
