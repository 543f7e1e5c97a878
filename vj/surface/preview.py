"""The live preview for the surface's pages: the picture without the HUD, small, as JPEG.

`PreviewPass` runs on the render thread, only while a page wants the preview and only every
PREVIEW_PERIOD seconds. What it reads:
- on a GPU, the picture the show drew scaled into a PREVIEW_WIDTH-wide framebuffer by one linear
  blit, read back asynchronously (vj.render.readback's PBO ring);
- on software GL, the window itself, whole, as it is read for the video outputs (a copy through
  ctypes, the GIL released); the encoder scales it. The blit cost the render thread more there: it
  is drawn by the rasteriser on the render thread, then read. Measured in a 640x360 window on
  llvmpipe (vj's own show, the procedural dream, a preview every sixth frame): a preview frame took
  1.0 ms more than the others with the blit, 0.14 ms more reading the window; at 1280x720 1.9 ms
  against 0.35-0.8 ms, at 1920x1080 1.7 against 1.4;
- while the HUD is over the window, the show's layers drawn once more by a compositor of its own
  into the small framebuffer (so the show's buffers keep their size), read back as above.
`JpegEncoder` scales (when the picture is larger) and encodes on a thread of its own, latest wins:
the render thread only hands over the array.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import moderngl

from vj.params import Snapshot
from vj.render import glcalls
from vj.render.compositor import Compositor
from vj.render.readback import DirectRead, Picture, Reader, make_reader, software_renderer
from vj.render.shaders import ShaderLibrary
from vj.show import Show
from vj.show.show import post_settings
from vj.slot import LatestSlot
from vj.surface.jpeg import JPEG_QUALITY, PREVIEW_WIDTH, encode_jpeg, preview_size

log = logging.getLogger(__name__)

class PreviewPass:
    def __init__(self, ctx: moderngl.Context, shaders: ShaderLibrary | None = None, width: int = PREVIEW_WIDTH) -> None:
        self.ctx, self.width = ctx, width
        self.compositor = Compositor(ctx, shaders or ShaderLibrary())
        self._fbo: moderngl.Framebuffer | None = None
        self._reader: Reader | None = None
        self._calls = glcalls.gl_calls()
        self._window: DirectRead | None = None  # software GL: the window read whole (module doc)
        self._software = software_renderer(ctx)
        self.frames = 0

    def capture(self, show: Show, snap: Snapshot, drawn: moderngl.Framebuffer) -> Picture | None:
        """The show's picture (as it is this frame, without the HUD) small, read back; `drawn`: what
        the show drew into this frame. None while an asynchronous read-back fills its ring. On
        software GL without the HUD, the picture at the window's size (the encoder scales it)."""
        if self._software and not snap["hud"] and drawn.glo == 0 and self._calls is not None:
            return self._read_window(drawn)
        size = preview_size(drawn.size, self.width)
        if self._fbo is None or self._fbo.size != size:
            self.release()
            self._fbo = self.ctx.framebuffer(color_attachments=[self.ctx.texture(size, 4)])
            self._reader = make_reader(self.ctx, size)
        assert self._reader is not None
        if snap["hud"] or self._calls is None:
            prev, new = show.crossfader.views()
            post = post_settings(snap, show.audio_features)
            self.compositor.render(self._fbo, prev, new, show.crossfader.mix(), post)
        else:
            self._scale(drawn, self._fbo)
        self._reader.settle()
        self.frames += 1
        pictures = self._reader.push(self._fbo, time.perf_counter())
        return pictures[-1] if pictures else None

    def _read_window(self, window: moderngl.Framebuffer) -> Picture:
        if self._window is None or self._window.size != window.size:
            self._window = DirectRead(self.ctx, window.size)
        self._window.settle()
        self.frames += 1
        return self._window.push(window, time.perf_counter())[-1]

    def _scale(self, source: moderngl.Framebuffer, target: moderngl.Framebuffer) -> None:
        assert self._calls is not None
        calls, bound = self._calls, self.ctx.fbo
        (sw, sh), (tw, th) = source.size, target.size
        calls.bind_framebuffer(glcalls.READ_FRAMEBUFFER, source.glo)
        calls.bind_framebuffer(glcalls.DRAW_FRAMEBUFFER, target.glo)
        calls.blit_framebuffer(0, 0, sw, sh, 0, 0, tw, th, glcalls.COLOR_BUFFER_BIT, glcalls.LINEAR)
        bound.use()  # moderngl's own binding back: it does not know of the blit's

    def release(self) -> None:
        if self._reader is not None:
            self._reader.release()
            self._reader = None
        if self._window is not None:
            self._window.release()
            self._window = None
        if self._fbo is not None:
            for texture in self._fbo.color_attachments:
                texture.release()
            self._fbo.release()
            self._fbo = None


class JpegEncoder:
    """A thread that encodes the newest picture offered, scaled to `width` if it is wider, and hands
    the JPEG to `deliver`."""

    def __init__(self, deliver: Callable[[bytes], None], quality: int = JPEG_QUALITY,
                 width: int = PREVIEW_WIDTH) -> None:
        self._deliver, self._quality, self._width = deliver, quality, width
        self._slot: LatestSlot[Picture] = LatestSlot()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vj-surface-jpeg", daemon=True)
        self.encoded = 0

    def start(self) -> JpegEncoder:
        self._thread.start()
        return self

    def offer(self, picture: Picture) -> None:
        """Render thread: never waits; an older picture not yet encoded is replaced."""
        self._slot.put(picture)

    @property
    def skipped(self) -> int:
        return self._slot.overwritten

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(1.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            picture = self._slot.wait_take(0.2)
            if picture is None:
                continue
            try:
                jpeg = encode_jpeg(picture.pixels, self._quality, self._width, picture.order)
            except (OSError, ValueError) as exc:  # a picture Pillow cannot take: skip it, say so once
                if self.encoded == 0:
                    log.warning("surface preview: cannot encode a frame: %s", exc)
                continue
            self.encoded += 1
            self._deliver(jpeg)
