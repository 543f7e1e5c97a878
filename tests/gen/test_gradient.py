import numpy as np

from vj.config.preset import Preset
from vj.gen.backends import chain
from vj.gen.base import GenRequest, Prompt
from vj.gen.gradient import GradientGenerator


def request(t: float, text: str) -> GenRequest:
    return GenRequest(time=t, size=(160, 90), prompts=(Prompt(text, 1.0),), seed=0, seed_walk=0.0,
                      strength=0.5, feedback=0.5)


def test_gradient_is_a_moving_picture_in_the_prompts_colours():
    gen = GradientGenerator()
    fire = gen.generate(request(0.0, "fire and lava")).astype(float)
    ocean = gen.generate(request(0.0, "deep ocean water")).astype(float)
    later = gen.generate(request(5.0, "fire and lava")).astype(float)
    assert fire.shape == (90, 160, 3) and fire.std() > 10
    assert fire[..., 0].mean() - fire[..., 2].mean() > ocean[..., 0].mean() - ocean[..., 2].mean()
    assert np.abs(fire - later).mean() > 5


def test_every_preset_falls_back_down_to_the_gradient():
    assert [b.kind for b in chain(Preset(name="p", path="p.yaml"))] == ["procedural", "gradient"]
    diffusion = chain(Preset(name="d", path="d.yaml", generator="diffusion", model="x", size=(64, 128)))
    assert [b.kind for b in diffusion] == ["diffusion", "procedural", "gradient"]
    assert diffusion[0].model == "x" and diffusion[0].size == (64, 128) and diffusion[0].slow_start
