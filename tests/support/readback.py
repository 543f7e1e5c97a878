"""The read-back tests' helpers (tests/rig/test_readback.py, tests/render/test_readback_thread.py):
frames painted so that each is told apart and its top from its bottom, what a plain read gives,
and a video link that keeps what it is offered."""

from __future__ import annotations

import moderngl
import numpy as np

from tests.support.show import preset
from vj.config.mapping import parse_mapping
from vj.paths import MAPPING_DIR
from vj.render.readback import Reader
from vj.render.window import Window
from vj.rig.sink import SinkStatus
from vj.show import Show, ShowLinks, ShowOptions


def paint(fbo: moderngl.Framebuffer, i: int) -> None:
    """Frame i: a colour of its own, with a white band over the top quarter (GL's row 0 is the
    bottom, so the band is at GL rows h*3/4..h)."""
    w, h = fbo.size
    fbo.use()
    fbo.clear(i / 10, 0.5 - i / 20, 0.2, 1.0)
    fbo.scissor = (0, h * 3 // 4, w, h - h * 3 // 4)
    fbo.clear(1.0, 1.0, 1.0, 1.0)
    fbo.scissor = None


def synchronous(fbo: moderngl.Framebuffer) -> np.ndarray:
    """What a plain `read` gives, turned top row first."""
    w, h = fbo.size
    return np.frombuffer(fbo.read(components=4), np.uint8).reshape(h, w, 4)[::-1]


class Collect:
    """The show's video link as the outputs see it (vj.rig.sink.VideoOutputs): keeps every frame offered."""

    wanted = True

    def __init__(self) -> None:
        self.frames: list[tuple[np.ndarray, float]] = []
        self.orders: list[str] = []

    def offer(self, frame: np.ndarray, time_: float, order: str = "rgba", final: bool = False) -> None:
        self.frames.append((frame, time_))
        self.orders.append(order)

    def statuses(self) -> tuple[SinkStatus, ...]:
        return (SinkStatus("collect", len(self.frames), 0, 30.0, None, "test"),)


def show_frames(window: Window, options: ShowOptions, count: int = 6) -> tuple[Collect, Reader | None]:
    """`count` frames of a show (the default mapping, a preset of seed 200) drawn into `window`
    and swapped, then closed (which hands over the frames still being read): what its outputs were
    offered, and the reader its picture went through."""
    video = Collect()
    show = Show(window.ctx, [preset(seed=200)], parse_mapping(MAPPING_DIR / "default.yaml"),
                links=ShowLinks(video=video), options=options)
    try:
        for _ in range(count):
            show.frame(1 / 30, window.framebuffer)
            window.swap()
        reader = show.picture._tap.reader if show.picture._tap is not None else None
    finally:
        show.close()
    return video, reader
