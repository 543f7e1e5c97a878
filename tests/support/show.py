"""Building a headless show for tests: a preset, a show on a real EGL context, pressing keys, running frames.

The `egl`, `ctx` and `target` fixtures (tests/conftest.py) give the context and a SIZE framebuffer.
"""

from __future__ import annotations

import numpy as np

from tests.support.generators import Solid
from vj.config.mapping import parse_mapping
from vj.config.preset import Preset, PromptSpec
from vj.gen.worker import GeneratorWorker
from vj.paths import MAPPING_DIR
from vj.render.textures import read_rgb
from vj.show import Show, ShowLinks, ShowOptions
from vj.vocabulary import key_event

SIZE = (160, 90)  # the `target` fixture's framebuffer


def preset(name: str = "test", **params) -> Preset:
    params.setdefault("seed", 120)  # the Solid test generator paints the seed as a grey level
    return Preset(name=name, path=f"{name}.yaml", size=(64, 64), max_fps=0.0,
                  prompts=(PromptSpec("glowing nebula over a neon city", 1.0),), params=params)


def solid_worker(p: Preset) -> GeneratorWorker:
    return GeneratorWorker(Solid).start()


def make_show(ctx, presets=None, worker=solid_worker, mapping=None, events=None, hud=False, learn_file=None,
              **links) -> Show:
    """A lockstep show (each generated frame waited for); `links` are ShowLinks' fields (midi=, audio=...)."""
    mapping = mapping or parse_mapping(MAPPING_DIR / "default.yaml")
    options = ShowOptions(worker_factory=worker, lockstep=True, hud=hud, learn_file=learn_file)
    return Show(ctx, presets or [preset()], mapping, links=ShowLinks(**links), options=options, events=events)


def press(show: Show, key: str) -> None:
    show.events.put(key_event(key, True))
    show.events.put(key_event(key, False))


def run(show: Show, target, frames: int, dt: float = 1 / 30) -> np.ndarray:
    for _ in range(frames):
        show.frame(dt, target)
    return read_rgb(target)
