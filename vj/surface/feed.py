"""The render thread's side of the surface, called once a display frame after the show's frame:
every PUBLISH_PERIOD the show's reading (base values, prompts, preset, tempo, audio levels) goes
to the surface (a slot; the web loop diffs and sends), and while a page wants the preview the
picture goes to the JPEG encoder every PREVIEW_PERIOD, or (software GL under X, no HUD) a process
of its own makes the preview from the X server's copy of the window (vj.surface.window_preview).
Nothing here waits for the network.
"""

from __future__ import annotations

import time

import moderngl

from vj.params import Snapshot
from vj.show import Show
from vj.surface.jpeg import PREVIEW_PERIOD, PREVIEW_WIDTH
from vj.surface.preview import JpegEncoder, PreviewPass
from vj.surface.protocol import Meters, Reading
from vj.surface.site import Surface
from vj.surface.window_preview import WindowPreview
from vj.vocabulary import MAX_PROMPTS

PUBLISH_PERIOD = 1 / 40  # seconds between readings (values changed go out at most this often)


def reading(show: Show) -> Reading:
    """The show now, as plain data for the pages."""
    clock = show.clock.state
    audio = show.audio_features
    texts = show.prompts.texts()
    meters = Meters(bpm=clock.bpm, beat_phase=clock.phase, bar_phase=clock.bar / 4.0, clock=clock.source,
                    level=audio.get("level", 0.0), bass=audio.get("bass", 0.0), mid=audio.get("mid", 0.0),
                    high=audio.get("high", 0.0))
    return Reading(dict(show.state.base), texts + ("",) * (MAX_PROMPTS - len(texts)), show.prompts.index,
                   tuple(p.name for p in show.prompts.presets), meters)


class SurfaceFeed:
    """`window`: the show window's X id, where the preview may come from the X server's copy of it
    (vj.surface.window_preview: software GL under X; None: the show always draws it)."""

    def __init__(self, surface: Surface, show: Show, preview_width: int | None = None,
                 window: int | None = None) -> None:
        self.surface, self.show = surface, show
        width = PREVIEW_WIDTH if preview_width is None else preview_width
        self.preview = PreviewPass(show.ctx, show.options.shaders, width)
        self.encoder = JpegEncoder(surface.offer_frame, width=width).start()
        self.window_preview = WindowPreview(window, surface.offer_frame, width) if window is not None else None
        self._next_publish = self._next_preview = 0.0

    def frame(self, snap: Snapshot, drawn: moderngl.Framebuffer) -> None:
        """After the show's frame: `snap` its snapshot, `drawn` the framebuffer it drew into."""
        now = time.monotonic()
        if now >= self._next_publish:
            self._next_publish = now + PUBLISH_PERIOD
            self.surface.publish(reading(self.show))
        wanted = self.surface.wants_preview
        if self.window_preview is not None:  # it starts its process on the first want (vj.surface.window_preview)
            self.window_preview.active(wanted and not snap["hud"])
        elsewhere = self.window_preview is not None and self.window_preview.usable and not snap["hud"]
        if wanted and not elsewhere and now >= self._next_preview:
            self._next_preview = now + PREVIEW_PERIOD
            shot = self.preview.capture(self.show, snap, drawn)
            if shot is not None:
                self.encoder.offer(shot)

    def stop(self) -> None:
        if self.window_preview is not None:
            self.window_preview.stop()
        self.encoder.stop()
        self.preview.release()
