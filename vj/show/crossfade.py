"""The picture's layers: the frame fading out, the frame fading in, and the one waiting its turn.

A crossfade always completes (no pops); meanwhile only the newest arrival waits (latest wins),
moving with the camera from the moment it arrived so the picture stays continuous. Each layer
keeps its own accumulated camera, so motion goes on between generated frames.

Why it waits instead of restarting the fade: the first version captured the on-screen blend into
an extra layer on every arrival, a render pass per frame (3.5 ms at 512x512 on llvmpipe) that
broke the display's p99 target. So `crossfade` is also the fastest the picture can change. Each
frame is uploaded when it arrives (three textures: the fade's two and one waiting), because a
generator's ring slot is lent only until the next take; a replaced waiting frame costs an upload
it did not need, 0.05 ms at 512x512 RGBA.
"""

from __future__ import annotations

from dataclasses import dataclass

import moderngl

from vj.gen.worker import GenFrame
from vj.motion import ViewTransform
from vj.params import ParamState
from vj.render.compositor import LayerView, crossfade_amount
from vj.render.textures import FrameTexture
from vj.vocabulary import MotionRates


@dataclass
class Layer:
    """A frame on screen (or waiting for its crossfade): its texture, its own accumulated
    camera and the frame's aspect."""

    texture: moderngl.Texture
    camera: ViewTransform
    aspect: float
    source: FrameTexture  # the upload slot it lives in

    def view(self) -> LayerView:
        return LayerView(self.texture, self.camera, self.aspect)


class Crossfader:
    """Three upload slots: the crossfade's two frames and one waiting its turn. A frame is
    uploaded when it arrives: a generator's shared-memory slot is lent only until then.
    The fade's length and curve are the `crossfade` parameters' current values."""

    def __init__(self, ctx: moderngl.Context, state: ParamState) -> None:
        self._state = state
        self._uploads = [FrameTexture(ctx), FrameTexture(ctx), FrameTexture(ctx)]
        self.prev: Layer | None = None
        self.new: Layer | None = None
        self.pending: Layer | None = None  # the newest frame that arrived during a crossfade
        self.fade_elapsed = 0.0
        self.frames_shown = 0  # generated frames picked up
        self.frames_skipped = 0  # arrivals replaced by a newer one while waiting

    def layers(self) -> list[Layer]:
        return [layer for layer in (self.prev, self.new, self.pending) if layer]

    def accept_frame(self, frame: GenFrame) -> None:
        """A finished frame: it starts a crossfade at once, or, if one is running, waits its turn."""
        waits = self.new is not None and self.mix() < 1.0
        if self.pending is not None:
            # the waiting frame is replaced by this newer one, its slot free: also when the fade
            # finished before the waiting frame's turn came (a shorter `crossfade` set meanwhile),
            # where all three slots are taken
            self.frames_skipped += 1
            upload, self.pending = self.pending.source, None
        else:
            upload = next(u for u in self._uploads if all(u is not layer.source for layer in self.layers()))
        h, w = frame.image.shape[:2]
        upload.upload(frame.image)
        layer = Layer(upload.texture, ViewTransform(), w / h, upload)
        if waits:
            self.pending = layer
        else:
            self._start_fade(layer)

    def _start_fade(self, layer: Layer) -> None:
        self.prev = self.new
        self.new = layer
        self.fade_elapsed = 0.0
        self.frames_shown += 1

    def mix(self) -> float:
        """How far the running crossfade is, 0 (all `prev`) to 1 (all `new`), after its curve."""
        values = self._state.current
        duration = float(values["crossfade"])
        progress = 1.0 if duration <= 0 else self.fade_elapsed / duration
        return crossfade_amount(str(values["crossfade.curve"]), progress)

    def advance(self, rates: MotionRates, dt: float) -> None:
        """A frame's time passes (not while frozen): every layer's camera moves, the fade goes
        on, and a waiting frame starts its fade once the running one is complete."""
        for layer in self.layers():
            layer.camera = layer.camera.advanced(rates, dt)
        self.fade_elapsed += dt
        if self.pending is not None and self.mix() >= 1.0:
            pending, self.pending = self.pending, None
            self._start_fade(pending)

    def reset_cameras(self) -> None:
        """The view goes home (motion.reset): every layer's accumulated camera is dropped."""
        for layer in self.layers():
            layer.camera = ViewTransform()

    def views(self) -> tuple[LayerView | None, LayerView | None]:
        """(fading out, fading in) for the compositor."""
        return (self.prev.view() if self.prev else None, self.new.view() if self.new else None)
