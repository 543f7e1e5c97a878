"""Seeded noise and the seed walk: endpoints are the seeds' own noises, the slerp keeps the norm, cached."""

import math

import torch

from vj.gen.noise import NoiseWalk, seed_noise, walk_noise

SHAPE = (1, 4, 8, 8)


def test_seed_noise_is_deterministic_and_seed_specific():
    a, b = seed_noise(7, SHAPE), seed_noise(7, SHAPE)
    assert a.shape == SHAPE and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.allclose(a, seed_noise(8, SHAPE))
    assert not torch.allclose(a, seed_noise(7, SHAPE, stream=1))  # streams are independent noises
    assert seed_noise(7, SHAPE, dtype=torch.float16).dtype == torch.float16
    assert torch.equal(seed_noise(-3, SHAPE), seed_noise(-3, SHAPE))  # negative seeds wrap, never fail
    assert not torch.allclose(seed_noise(7, SHAPE, stream=1), seed_noise(7, SHAPE, stream=2))


def test_walk_endpoints_are_the_seeds_noises():
    assert torch.equal(walk_noise(5, 0.0, SHAPE), seed_noise(5, SHAPE))
    assert torch.equal(walk_noise(5, 2.0, SHAPE), seed_noise(7, SHAPE))
    assert torch.equal(walk_noise(5, 3.0, SHAPE, stream=2), seed_noise(8, SHAPE, stream=2))
    # Continuous into the next integer position.
    near = walk_noise(5, 2.9999, SHAPE)
    assert torch.allclose(near, seed_noise(8, SHAPE), atol=1e-3)


def test_walk_slerp_keeps_the_noise_norm():
    a, b = seed_noise(1, (1, 4, 32, 32)), seed_noise(2, (1, 4, 32, 32))
    mid = walk_noise(1, 0.5, (1, 4, 32, 32))
    target = 0.5 * (a.norm() + b.norm())
    assert abs(float(mid.norm()) / float(target) - 1.0) < 0.01
    # A plain lerp would shrink it by about 1/sqrt(2) half way.
    assert float(torch.lerp(a, b, 0.5).norm()) < 0.8 * float(target)
    assert abs(float(mid.std()) - 1.0) < 0.05
    # Half way means equally close to both endpoints.
    assert math.isclose(float((mid - a).norm()), float((mid - b).norm()), rel_tol=0.02)


def test_a_steady_walk_does_not_redraw_noise():
    walk = NoiseWalk()
    for k in range(10):
        walk.noise(3, 0.05 + k * 0.09, SHAPE)  # positions 0.05 .. 0.86: between seeds 3 and 4
    assert walk.draws == 2
    first = walk.noise(3, 0.5, SHAPE)
    assert walk.noise(3, 0.5, SHAPE) is first  # an unchanged position costs nothing at all
    walk.noise(3, 1.2, SHAPE)  # crossing into seeds 4..5 draws only seed 5
    assert walk.draws == 3
