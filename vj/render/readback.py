"""The finished picture off the GPU for the video outputs (vj.rig.sink), costing the render thread
as little as the driver allows.

Four ways to read a framebuffer back, each giving a read-only uint8 array (h, w, 4), RGBA or
(the window, read directly or from the X server) BGRA, row 0 at the top (of what GL returns a
flipped view: no copy), that no later frame overwrites while anything refers to it, with the time
it was drawn:

- `PboRing`: asynchronous, through pixel buffer objects. Frame k is read into the next of `depth`
  buffers (`Framebuffer.read_into`, which on a GPU only queues the copy) and the buffer read
  `depth - 1` frames earlier is fetched: by then its copy is done, so nothing waits for the GPU.
  The outputs get each frame `depth - 1` display frames late.
- `DirectRead`: synchronous, `Framebuffer.read`: what `auto` picks on a software renderer (Mesa's
  llvmpipe) when no second context can be had: there is no GPU to overlap with, a PBO read is a
  copy on the calling thread too and fetching the buffer a second one. Before it, `settle` has the
  frame rasterised by a glFinish called through ctypes, which releases the GIL: moderngl holds the
  GIL in every call, and a read that has to wait for llvmpipe's rasterising holds it for the whole
  frame's drawing (otherwise done in the buffer swap, where the GIL is free), starving every other
  thread (a recording's encoder got a quarter of the GIL time it gets this way; a PBO read on
  llvmpipe is that case: 13 ms a 1280x720 frame with the GIL held). Measured at 1280x720 on
  llvmpipe, the read itself costs 0.3 ms from an RGBA framebuffer, 0.75 ms from an RGB one and
  1.4 ms from an X window's back buffer as RGBA (a format conversion each), 0.7 ms from the window
  as BGRA, its own order: so the window is read as BGRA, and the outputs take either order.
- `ThreadRead`: what `auto` picks on a software renderer with a window. The render thread only
  blits the picture into one of three textures (queued: llvmpipe's rasteriser threads copy it),
  sets a fence and hands the texture over; a reader thread with a second context sharing the
  window's objects (vj.render.window.Window.share) waits for the fence and reads the texture with
  glReadPixels through ctypes, the GIL released (vj.render.glcalls). Measured at 1280x720 on
  llvmpipe under Xvfb: the render thread's part 0.10 ms at p50 and 0.35 ms at p99 of its CPU time,
  against the direct read's 1.05 and 1.35 ms; a picture is ready 2.7 ms after its hand-off, so
  outputs get each frame at the next display frame.

- `ServerRead`: what `auto` picks on a software renderer whose window is on an X server that
  keeps the window's pixels its own (vj.render.xgrab: no window manager, or a compositing one).
  The buffer swap has put the frame into the X server already: at the next frame's hand-off the
  render thread sends one request for a copy into shared memory (a short write), the server's
  process copies (0.4-0.5 ms at 1280x720 under Xvfb) while the render thread draws on, and a
  reader thread waits for the reply. Frames with the HUD over the window, or drawn offscreen, are
  read directly. Outputs get each frame at the next display frame.

`PictureTap` is the render thread's side: where to draw the picture (the window itself when it
has the output's size, so that nothing is copied, else an offscreen framebuffer at the output
size, which is then drawn into the window: one full-screen pass more, nothing on a GPU but about
9 ms at 1280x720 on llvmpipe), and the read-back once it is drawn, before the HUD.
"""

from __future__ import annotations

import ctypes
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import moderngl
import numpy as np

from vj.config.outputs import READ_MODES, ReadMode
from vj.render import glcalls
from vj.render.glcalls import GlCalls, gil_free_finish
from vj.vocabulary import PixelOrder

if TYPE_CHECKING:
    from vj.render.xgrab import Requested

log = logging.getLogger(__name__)

SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swrast", "swiftshader", "software")
POOL = 8  # arrays a synchronous reader keeps for reuse (each output holds up to two: waiting and sending)
SLOTS = 3  # textures a threaded reader hands over in turn (one being read, one waiting, one being drawn)
FENCE_WAIT_NS = 1_000_000_000  # the longest a reader thread waits for a picture's copy


@dataclass(frozen=True, eq=False)
class Picture:
    """A frame read back: uint8 (h, w, 4) in `order` (RGBA, or BGRA when read from the window),
    row 0 at the top, read-only; and when it was drawn (time.perf_counter(), the clock the audio
    input stamps its blocks with). Its memory is read into again once no Python object refers to
    it: an output that hands it to a library reading it later (an asynchronous sender) copies it
    first."""

    pixels: np.ndarray
    time: float
    order: PixelOrder = "rgba"


def _picture(data: bytes, size: tuple[int, int], drawn: float) -> Picture:
    width, height = size
    pixels = np.frombuffer(data, np.uint8).reshape(height, width, 4)[::-1]  # bytes: read-only already
    return Picture(pixels, drawn)


class Reader(Protocol):
    """`push` hands a drawn frame over and returns the frames finished since the last push, oldest
    first; `covered`: something (the HUD) is drawn over the window before it is shown."""

    def settle(self) -> None: ...
    def push(self, fbo: moderngl.Framebuffer, drawn: float, covered: bool = False) -> list[Picture]: ...
    def drain(self) -> list[Picture]: ...
    def release(self) -> None: ...


class PboRing:
    """Asynchronous read-back through `depth` pixel buffers (see the module doc). `fbo` must be
    `size`; `push` returns the frame pushed `depth - 1` calls earlier (none until there is one)."""

    def __init__(self, ctx: moderngl.Context, size: tuple[int, int], depth: int = 3) -> None:
        if depth < 2:
            raise ValueError(f"a PBO ring needs at least 2 buffers, got depth={depth}")
        self.size = size
        self._buffers = [ctx.buffer(reserve=size[0] * size[1] * 4, dynamic=True) for _ in range(depth)]
        self._times: list[float | None] = [None] * depth
        self._next = 0  # the buffer the next frame goes into

    def settle(self) -> None:
        pass  # nothing waits: the GPU copies while the next frames are drawn

    def push(self, fbo: moderngl.Framebuffer, drawn: float, covered: bool = False) -> list[Picture]:
        depth = len(self._buffers)
        fbo.read_into(self._buffers[self._next], components=4, alignment=1)
        self._times[self._next] = drawn
        self._next = (self._next + 1) % depth
        oldest = self._fetch(self._next)  # read depth - 1 frames ago, overwritten next
        return [] if oldest is None else [oldest]

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


def _emptied(done: queue.SimpleQueue[Picture]) -> list[Picture]:
    """What a reader thread has finished, oldest first, taken without waiting."""
    out = []
    while True:
        try:
            out.append(done.get_nowait())
        except queue.Empty:
            return out


class ArrayPool:
    """Arrays to read frames into, reused once no picture refers to them (fresh memory costs page
    faults, a millisecond now and then at 720p). Used by one thread at a time."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size
        self._arrays: list[np.ndarray] = []

    def free(self) -> np.ndarray:
        """An array that nobody else refers to (a picture's view holds its array), or a new one."""
        for pixels in self._arrays:
            if sys.getrefcount(pixels) <= 3:  # the pool, this loop, getrefcount's argument
                return pixels
        pixels = np.empty((self.size[1], self.size[0], 4), np.uint8)
        if len(self._arrays) < POOL:
            self._arrays.append(pixels)
        return pixels


def _upright(pixels: np.ndarray, drawn: float, order: PixelOrder = "rgba") -> Picture:
    view = pixels[::-1]  # row 0 at the top
    view.flags.writeable = False
    return Picture(view, drawn, order)


class DirectRead:
    """Synchronous read-back: each frame as it is pushed, into an array no output holds any more.
    The window is read as BGRA, its own order, through ctypes (the GIL released): on llvmpipe a
    plain copy, 0.7 ms at 1280x720 against 1.4 ms for RGBA, which it converts pixel by pixel."""

    def __init__(self, ctx: moderngl.Context, size: tuple[int, int]) -> None:
        self.size = size
        self._finish = gil_free_finish() or ctx.finish
        self._pool = ArrayPool(size)
        self._calls = glcalls.gl_calls()

    def settle(self) -> None:
        """The frame drawn so far rasterised now, without holding the GIL (see the module doc)."""
        self._finish()

    def push(self, fbo: moderngl.Framebuffer, drawn: float, covered: bool = False) -> list[Picture]:
        pixels = self._pool.free()
        if fbo.glo == 0 and self._calls is not None and fbo.size == self.size:  # the window
            calls, (width, height) = self._calls, self.size
            calls.bind_framebuffer(glcalls.READ_FRAMEBUFFER, 0)
            calls.pixel_store_i(glcalls.PACK_ALIGNMENT, 1)
            calls.read_pixels(0, 0, width, height, glcalls.BGRA, glcalls.UNSIGNED_BYTE, pixels.ctypes.data)
            return [_upright(pixels, drawn, "bgra")]
        fbo.read_into(pixels, components=4, alignment=1)
        return [_upright(pixels, drawn)]

    def drain(self) -> list[Picture]:
        return []

    def release(self) -> None:
        pass


class SharedGL(Protocol):
    """A second context sharing the show's objects (vj.render.window.SharedWindowContext): current
    on the reader thread between `make_current` and `done_current`; `close` on the thread that made it."""

    def make_current(self) -> None: ...
    def done_current(self) -> None: ...
    def close(self) -> None: ...


class ThreadRead:
    """Read-back on a thread with a context of its own (see the module doc). `push` blits the frame
    into a free texture and hands it over, and returns the frames the thread has finished since the
    last push; with no texture free (the thread fell 3 frames behind) the frame is not read
    (`skipped`). Should the thread fail, pushes read directly, as `DirectRead` does."""

    def __init__(self, ctx: moderngl.Context, size: tuple[int, int], shared: SharedGL, calls: GlCalls) -> None:
        self.ctx, self.size, self._shared, self._calls = ctx, size, shared, calls
        self._finish = gil_free_finish() or ctx.finish
        self._textures = [ctx.texture(size, 4) for _ in range(SLOTS)]
        self._fbos = [ctx.framebuffer(color_attachments=[texture]) for texture in self._textures]
        self._free: queue.SimpleQueue[int] = queue.SimpleQueue()
        for slot in range(SLOTS):
            self._free.put(slot)
        self._pending: list[tuple[int, float]] = []  # copied, not yet handed to the reader: (slot, drawn)
        self._jobs: queue.SimpleQueue[tuple[int, int, float] | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[Picture] = queue.SimpleQueue()
        self._direct = DirectRead(ctx, size)  # the way back should the thread fail
        self.failed: str | None = None  # why the thread stopped reading (set by the thread)
        self.skipped = 0
        self._thread = threading.Thread(target=self._run, name="vj-readback", daemon=True)
        self._thread.start()

    def settle(self) -> None:
        """The frames handed over since the last settle go to the reader now, while this thread
        waits for the rasteriser without the GIL (as DirectRead). Here, not in the hand-off: a
        fence flushes, which wakes llvmpipe's rasteriser threads, and those (and the woken reader)
        took a core from the render thread in the hand-off: 1.8-2.6 ms at p50 in some runs, 2.6 ms
        at p99 in all, against 0.1 and 0.3 ms of its own work."""
        self._send()
        self._finish()

    def _send(self) -> None:
        for slot, drawn in self._pending:  # the fence also covers this frame, about to be settled
            self._jobs.put((slot, self._calls.fence_sync(glcalls.SYNC_GPU_COMMANDS_COMPLETE, 0), drawn))
        if self._pending:
            self._calls.flush()  # the reader's wait flushes only its own context
        self._pending.clear()

    def push(self, fbo: moderngl.Framebuffer, drawn: float, covered: bool = False) -> list[Picture]:
        if self.failed is not None:
            return self._finished() + self._direct.push(fbo, drawn)
        try:
            slot = self._free.get_nowait()
        except queue.Empty:
            self.skipped += 1
            return self._finished()
        self.ctx.copy_framebuffer(self._fbos[slot], fbo)  # queued: rasterised in the swap or the next settle
        self._pending.append((slot, drawn))
        return self._finished()

    def _finished(self) -> list[Picture]:
        return _emptied(self._done)

    def _run(self) -> None:
        calls, (width, height) = self._calls, self.size
        pool = ArrayPool(self.size)
        try:
            self._shared.make_current()
            framebuffer = ctypes.c_uint(0)
            calls.gen_framebuffers(1, ctypes.byref(framebuffer))
            calls.bind_framebuffer(glcalls.READ_FRAMEBUFFER, framebuffer.value)
            calls.pixel_store_i(glcalls.PACK_ALIGNMENT, 1)
        except Exception as exc:  # a driver that will not share: the render thread reads instead
            self._fail(f"the reader's context failed: {exc}")
            return
        try:
            while (job := self._jobs.get()) is not None:
                slot, fence, drawn = job
                waited = calls.client_wait_sync(fence, glcalls.SYNC_FLUSH_COMMANDS_BIT, FENCE_WAIT_NS)
                calls.delete_sync(fence)
                if waited in (glcalls.TIMEOUT_EXPIRED, glcalls.WAIT_FAILED):
                    self._fail(f"a picture's copy did not finish (glClientWaitSync answered {waited:#x})")
                    return
                calls.framebuffer_texture_2d(glcalls.READ_FRAMEBUFFER, glcalls.COLOR_ATTACHMENT0,
                                             glcalls.TEXTURE_2D, self._textures[slot].glo, 0)
                pixels = pool.free()
                calls.read_pixels(0, 0, width, height, glcalls.RGBA, glcalls.UNSIGNED_BYTE, pixels.ctypes.data)
                self._free.put(slot)
                self._done.put(_upright(pixels, drawn))
        except Exception as exc:
            self._fail(f"reading a picture failed: {exc}")
        finally:
            calls.delete_framebuffers(1, ctypes.byref(framebuffer))
            self._shared.done_current()

    def _fail(self, why: str) -> None:
        log.warning("read-back thread: %s; the render thread reads the pictures itself from now on", why)
        self.failed = why

    def drain(self) -> list[Picture]:
        """The frames still in flight, oldest first (at the end of a show, or in tests)."""
        self._send()
        deadline = time.monotonic() + 2.0
        while self._free.qsize() < SLOTS and self.failed is None and time.monotonic() < deadline:
            time.sleep(0.001)
        return self._finished()

    def release(self) -> None:
        self._jobs.put(None)
        self._thread.join(2.0)
        if self._thread.is_alive():  # stuck in the driver: leave its context alone rather than pull it away
            log.warning("read-back thread did not stop; its context is left open")
        else:
            self._shared.close()
        for fbo, texture in zip(self._fbos, self._textures, strict=True):
            fbo.release()
            texture.release()


class WindowPixels(Protocol):
    """The window's pixels from the window system (vj.render.xgrab.WindowGrab): `request` on the
    render thread, `receive` on one other, `close` once both stopped; `own_pixels`: no other
    window can show through them."""

    size: tuple[int, int]
    own_pixels: bool

    def request(self) -> Requested | None: ...
    def receive(self, requested: Requested) -> np.ndarray: ...
    def close(self) -> None: ...


class ServerRead:
    """Read-back by the window system (see the module doc). `push` notes a frame drawn into the
    window, and asks the X server for the frame noted at the last push: swapped since, it is in
    the server, and the request goes out before this frame's swap. A reader thread waits for the
    server's copy; the pictures come back from later pushes. A frame drawn offscreen or covered
    by the HUD is read directly; so is every frame once the server refused one (`failed` says why)."""

    def __init__(self, ctx: moderngl.Context, size: tuple[int, int], window: WindowPixels) -> None:
        self.size, self._window = size, window
        self._direct = DirectRead(ctx, size)
        self._pending: float | None = None  # the frame noted at the last push, swapped since
        # asked for, with its time; an event to set once the frames before it are done (drain); None: stop
        self._jobs: queue.SimpleQueue[tuple[Requested, float] | threading.Event | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[Picture] = queue.SimpleQueue()
        self._latest = float("-inf")  # the newest picture returned: a grab finished after a direct read is stale
        self.failed: str | None = None
        self.skipped = 0  # frames not read: every shared image still held by the outputs
        self._thread = threading.Thread(target=self._run, name="vj-readback", daemon=True)
        self._thread.start()

    def settle(self) -> None:
        self._direct.settle()  # for the frames read directly; else the swap rasterises, the GIL free all the same

    def push(self, fbo: moderngl.Framebuffer, drawn: float, covered: bool = False) -> list[Picture]:
        self._request()
        if self.failed is None and not covered and fbo.glo == 0 and fbo.size == self.size:
            self._pending = drawn
            return self._finished()
        return self._finished() + self._fresh(self._direct.push(fbo, drawn))

    def _request(self) -> None:
        drawn, self._pending = self._pending, None
        if drawn is None or self.failed is not None:
            return
        requested = self._window.request()
        if requested is None:
            self.skipped += 1
        else:
            self._jobs.put((requested, drawn))

    def _fresh(self, pictures: list[Picture]) -> list[Picture]:
        fresh = [p for p in pictures if p.time > self._latest]
        if fresh:
            self._latest = fresh[-1].time
        return fresh

    def _finished(self) -> list[Picture]:
        return self._fresh(_emptied(self._done))

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            if isinstance(job, threading.Event):
                job.set()
                continue
            self._receive(*job)
            del job  # its shared image is free for another request once the picture is let go

    def _receive(self, requested: Requested, drawn: float) -> None:
        try:
            pixels = self._window.receive(requested)
        except Exception as exc:  # unmapped, moved partly off the screen, the server gone
            if self.failed is None:
                log.warning("read-back from the window system failed (%s); the render thread reads the "
                            "pictures itself from now on", exc)
            self.failed = str(exc)  # the replies to the requests still queued are collected all the same
            return
        self._done.put(Picture(pixels, drawn, "bgra"))

    def drain(self) -> list[Picture]:
        """The frames still to be read (the last one swapped by now), oldest first."""
        self._request()
        done = threading.Event()
        self._jobs.put(done)
        done.wait(2.0)
        return self._finished()

    def release(self) -> None:
        self._jobs.put(None)
        self._thread.join(2.0)
        if self._thread.is_alive():
            log.warning("read-back thread did not stop; its X connection is left open")
        else:
            self._window.close()


def software_renderer(ctx: moderngl.Context) -> bool:
    renderer = str(ctx.info.get("GL_RENDERER", "")).lower()
    return any(name in renderer for name in SOFTWARE_RENDERERS)


def rasteriser_threads() -> bool:
    """Whether llvmpipe rasterises on threads of its own (vj.render.context.share_cores sets none
    on two cores). Without them the thread read's copy is drawn on the render thread: 5.5 ms a
    1280x720 frame in `vj run` on two cores, against the direct read's 1.2 ms."""
    return os.environ.get("LP_NUM_THREADS", "").strip() != "0"


def make_reader(ctx: moderngl.Context, size: tuple[int, int], mode: ReadMode = "auto",
                share: Callable[[], SharedGL] | None = None,
                pixels: Callable[[tuple[int, int]], WindowPixels] | None = None) -> Reader:
    """`auto`: a PBO ring on a GPU; on a software renderer the window system's copy where `pixels`
    gives one and the window's pixels are its own, else a reader thread where llvmpipe has
    rasteriser threads and `share` gives a second context, else a synchronous read. `thread` or
    `server` without what they need read synchronously."""
    if mode not in READ_MODES:
        raise ValueError(f"unknown read-back mode {mode!r}: expected one of {', '.join(READ_MODES)}")
    if mode == "pbo" or (mode == "auto" and not software_renderer(ctx)):
        return PboRing(ctx, size)
    if mode == "server" or (mode == "auto" and pixels is not None):
        server = _server_read(ctx, size, pixels, insist=mode == "server")
        if server is not None or mode == "server":
            return server or DirectRead(ctx, size)
    if mode == "direct" or (mode == "auto" and not rasteriser_threads()):
        return DirectRead(ctx, size)
    calls = glcalls.gl_calls()
    if share is None or calls is None:
        return DirectRead(ctx, size)
    try:
        shared = share()
    except Exception as exc:  # the window system would not share: read on the render thread
        log.warning("no second OpenGL context for the read-back (%s); the render thread reads the pictures", exc)
        return DirectRead(ctx, size)
    return ThreadRead(ctx, size, shared, calls)


def _server_read(ctx: moderngl.Context, size: tuple[int, int],
                 pixels: Callable[[tuple[int, int]], WindowPixels] | None, insist: bool) -> ServerRead | None:
    """The window system's copy, or None (said in the log: a warning when it was asked for)."""
    say = log.warning if insist else log.info
    if pixels is None:
        say("read-back: no window to read from the window system; the render thread reads the pictures")
        return None
    try:
        window = pixels(size)
    except Exception as exc:  # no X server, no MIT-SHM, a remote display
        say("read-back: the window system cannot copy the window (%s); the render thread reads the pictures", exc)
        return None
    if not insist and not window.own_pixels:
        say("read-back: a window manager without compositing may cover the show's window, so its pixels are "
            "read on the render thread (--read-back server reads them from the X server all the same)")
        window.close()
        return None
    return ServerRead(ctx, size, window)


class Presenter(Protocol):
    """Draws an offscreen picture into the window (vj.render.compositor.Compositor.present)."""

    def present(self, target: moderngl.Framebuffer, texture: moderngl.Texture) -> None: ...


class PictureTap:
    """The render thread's side of the video outputs (see the module doc). Per frame: draw the
    picture into `target(window)`, then `take(window)`, then draw the HUD into the window."""

    def __init__(self, ctx: moderngl.Context, size: tuple[int, int], presenter: Presenter,
                 mode: ReadMode = "auto", share: Callable[[], SharedGL] | None = None,
                 pixels: Callable[[tuple[int, int]], WindowPixels] | None = None) -> None:
        self.ctx, self.size, self.presenter = ctx, size, presenter
        self.reader = make_reader(ctx, size, mode, share, pixels)
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

    def take(self, window: moderngl.Framebuffer, covered: bool = False) -> list[Picture]:
        """The picture is drawn (and settled): read it back and show it in the window (if it was
        drawn offscreen); returns the frames finished since the last take, oldest first (this one,
        or earlier ones with a PBO ring or a reader thread). `covered`: the HUD goes over the
        window before it is shown."""
        drawn = time.perf_counter()
        picture_fbo = self._drawn_into
        if picture_fbo is None:
            return []
        self._drawn_into = None
        pictures = self.reader.push(picture_fbo, drawn, covered)
        if picture_fbo is not window and window.size[0] and window.size[1]:
            assert self._texture is not None
            self.presenter.present(window, self._texture)
        return pictures

    def drain(self) -> list[Picture]:
        return self.reader.drain()

    def release(self) -> None:
        self.reader.release()
        if self._offscreen is not None:
            self._offscreen.release()
        if self._texture is not None:
            self._texture.release()
        self._offscreen = self._texture = None
