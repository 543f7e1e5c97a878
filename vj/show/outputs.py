"""What leaves the show each frame, in one place: OSC out, the values OSCQuery serves, MIDI LED
feedback (`Outputs`), and the picture itself for the video outputs (`PictureOutputs`: NDI, a
virtual camera, Syphon, Spout, a recording; vj.rig)."""

from __future__ import annotations

import logging
import statistics
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence

import moderngl

from vj.config.mapping import MappingConfig
from vj.control.feedback import Feedback
from vj.control.osc_out import OscOut
from vj.control.oscquery import OscQuery
from vj.render.compositor import Compositor, LayerView, PostSettings
from vj.render.hud import Hud
from vj.render.readback import PictureTap, ReadMode, SharedGL, WindowPixels
from vj.rig.sink import SinkStatus
from vj.show.links import MidiLink, VideoLink
from vj.vocabulary import ClockState

log = logging.getLogger(__name__)

QUERY_PERIOD = 0.2  # seconds between the values OSCQuery serves
COSTS_KEPT = 36_000  # render-thread hand-off times kept for the figures at the end (10 minutes at 60 fps)


class Outputs:
    def __init__(self, midi: MidiLink | None = None, osc_out: OscOut | None = None,
                 oscquery: OscQuery | None = None) -> None:
        self.midi = midi
        self.osc_out = osc_out
        self.oscquery = oscquery
        self._next_query = 0.0
        self.set_mapping(MappingConfig(""))  # no LEDs until the show's mappings are compiled

    def set_mapping(self, mapping: MappingConfig) -> None:
        """The mappings changed: the LEDs they light, the controllers they greet."""
        self.mapping = mapping
        self.feedback = Feedback(mapping)

    def greet(self, device: str) -> None:
        """An output (re)connected: its init messages, then every LED again at the next frame
        (a controller back from a power cycle has its LEDs off and its modes reset)."""
        if self.midi is not None:
            for d in self.mapping.midi:
                for message in d.init if d.name == device else ():
                    self.midi.send(device, message)
        self.feedback.forget(device)

    def frame(self, time: float, values: Mapping[str, object], clock: ClockState, texts: Sequence[str],
              audio: Mapping[str, float]) -> None:
        """Once a display frame, after the parameters settled: `values` are their base values,
        `texts` the playing preset's prompts, `audio` the newest analysis."""
        if self.osc_out is not None:
            features = {f"audio/{name}": value for name, value in audio.items()}
            self.osc_out.frame(time, values, clock, texts, features)
        if self.oscquery is not None and time >= self._next_query:
            self._next_query = time + QUERY_PERIOD
            prompts = {f"prompt.{i}.text": text for i, text in enumerate(texts, 1)}
            self.oscquery.publish({**values, **prompts})
        if self.midi is not None and not self.feedback.empty:
            for device, data in self.feedback.messages(values, clock):
                self.midi.send(device, data)


class PictureOutputs:
    """The picture's way out of the show. With no video output the compositor draws into the
    window, HUD and all, as it always did (nothing more runs). With outputs, the picture is drawn
    without the HUD (outputs get the clean picture) at the output size, read back
    (vj.render.readback) and offered to the outputs, which take it on threads of their own; the
    HUD then goes over the window's copy. `size`: the outputs' picture (None: the window's at the
    first frame, made even for the video encoders)."""

    def __init__(self, ctx: moderngl.Context, compositor: Compositor, video: VideoLink | None,
                 size: tuple[int, int] | None = None, mode: ReadMode = "auto",
                 share: Callable[[], SharedGL] | None = None,
                 pixels: Callable[[tuple[int, int]], WindowPixels] | None = None) -> None:
        self.ctx, self.compositor = ctx, compositor
        self.video = video if video is not None and video.wanted else None
        self.size, self.mode, self.share, self.pixels = size, mode, share, pixels
        self.frames = 0  # display frames handed over
        self.costs: deque[float] = deque(maxlen=COSTS_KEPT)  # seconds the hand-off took the render thread
        self.cpu: deque[float] = deque(maxlen=COSTS_KEPT)  # of which it ran (not waiting for the GIL or a core)
        self.reads: deque[float] = deque(maxlen=COSTS_KEPT)  # of which the read-back (PictureTap.take)
        self.offers: deque[float] = deque(maxlen=COSTS_KEPT)  # of which the offer to the outputs
        self._tap: PictureTap | None = None

    def draw(self, target: moderngl.Framebuffer, prev: LayerView | None, new: LayerView | None, mix: float,
             post: PostSettings, hud: Hud | None) -> None:
        if self.video is None:
            self.compositor.render(target, prev, new, mix, post, hud)
            return
        if self._tap is None:
            width, height = self.size or target.size
            self.size = (max(2, width - width % 2), max(2, height - height % 2))
            self._tap = PictureTap(self.ctx, self.size, self.compositor, self.mode, self.share, self.pixels)
            log.info("video outputs: the picture at %dx%d, read back %s", *self.size, type(self._tap.reader).__name__)
        self.compositor.render(self._tap.target(target), prev, new, mix, post)
        self._tap.settle()  # software GL rasterises the picture here (else in the swap), the GIL released
        began, ran = time.perf_counter(), time.thread_time()
        pictures = self._tap.take(target, covered=hud is not None)
        read = time.perf_counter()
        for picture in pictures:
            self.video.offer(picture.pixels, picture.time, picture.order)
        ended = time.perf_counter()
        self.costs.append(ended - began)
        self.cpu.append(time.thread_time() - ran)
        self.reads.append(read - began)
        self.offers.append(ended - read)
        self.frames += 1
        if hud is not None:
            self.compositor.draw_hud(target, hud)

    def statuses(self) -> tuple[SinkStatus, ...] | None:
        """Each output's status for the HUD; None when there are none."""
        return self.video.statuses() if self.video is not None else None

    def figures(self) -> dict[str, float | int]:
        """Display frames handed over and what each hand-off cost the render thread (ms): in all
        (`handoff_ms`), and running (`handoff_cpu_ms`; the rest is waiting for the GIL or a core);
        split into the read-back (`readback_ms`: PictureTap.take, with the picture's copy into the
        window when it is drawn offscreen) and the offer to the outputs (`offer_ms`)."""
        out: dict[str, float | int] = {"display_frames": self.frames}
        for name, seconds in (("handoff_ms", self.costs), ("handoff_cpu_ms", self.cpu),
                              ("readback_ms", self.reads), ("offer_ms", self.offers)):
            if seconds:
                ordered = sorted(seconds)
                out[f"{name}_p50"] = round(statistics.median(ordered) * 1000, 3)
                out[f"{name}_p99"] = round(ordered[round(0.99 * (len(ordered) - 1))] * 1000, 3)
        return out

    def close(self) -> None:
        if self.video is not None:
            log.info("video outputs: %s", " ".join(f"{k}={v}" for k, v in self.figures().items()))
        if self._tap is not None:
            if self.video is not None:
                for picture in self._tap.drain():  # the last frames still being read: a recording ends with them
                    self.video.offer(picture.pixels, picture.time, picture.order, final=True)
            self._tap.release()
            self._tap = None
