import numpy as np

from vj.config.preset import Preset
from vj.gen.backends import factories, gradient, procedural
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
    primary, fallbacks = factories(Preset(name="p", path="p.yaml"))
    assert primary is procedural and fallbacks == (gradient,)
    primary, fallbacks = factories(Preset(name="d", path="d.yaml", generator="diffusion", model="x"))
    assert fallbacks == (procedural, gradient)
