"""The real-time diffusion engine on the tiny pipelines (64x64): real diffusers components, no mocks.

Where a test needs to see or disturb the UNet it uses forward hooks on the real module.
"""

import gc
import logging
from dataclasses import replace

import numpy as np
import pytest
import torch
from diffusers import EulerDiscreteScheduler, LCMScheduler

from vj.gen.base import GenRequest, Prompt
from vj.gen.diffusion import (
    DiffusionEngine,
    DiffusionGenerator,
    EngineConfig,
    cover_crop,
    motion_theta,
    warp,
)
from vj.gen.noise import seed_noise
from vj.gen.tiny import tiny_sd
from vj.vocabulary import MotionRates

SIZE = (64, 64)
# diffusers' scheduler constructors trip a numpy 2 deprecation inside diffusers itself.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):
    """Every test here runs torch on one thread (see conftest)."""


def req(**kw) -> GenRequest:
    fields = dict(
        time=0.0, size=SIZE, prompts=(Prompt("a neon cat", 1.0), Prompt("a glass forest", 0.0)), seed=4,
        seed_walk=0.0, strength=0.5, feedback=1.0, params={"steps": 1, "guidance": 0.0},
    )
    fields.update(kw)
    return GenRequest(**fields)


def pattern(seed: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[0:64, 0:64]
    rgb = np.stack([xx * 4, yy * 4, (xx + yy) * 2], axis=-1) + seed * 97
    return (rgb % 256).astype(np.uint8)


class UNetSpy:
    """Records every UNet call's timestep, batch and added conditioning (a forward pre-hook)."""

    def __init__(self, unet):
        self.calls = []
        self._handle = unet.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        sample = args[0]
        t = args[1] if len(args) > 1 else kwargs["timestep"]
        self.calls.append((int(float(t.flatten()[0])), sample.shape[0], kwargs.get("added_cond_kwargs")))

    @property
    def timesteps(self):
        return [c[0] for c in self.calls]

    def remove(self):
        self._handle.remove()


def test_txt2img_matches_the_diffusers_pipeline(sd, sdxl):
    # Same noise, same model, full VAE: the hand-written loop must give the pipeline's image.
    for pipe in (sd, sdxl):
        for steps, guidance in ((1, 0.0), (2, 3.0)):
            engine = DiffusionEngine(pipe, EngineConfig(vae="full", mode="txt2img"))
            frame = engine.generate(req(params={"steps": steps, "guidance": guidance}))
            ref = pipe(
                prompt="a neon cat", num_inference_steps=steps, guidance_scale=guidance, height=64, width=64,
                latents=seed_noise(4, (1, 4, 8, 8)), output_type="np",
            ).images[0]
            assert frame.shape == (64, 64, 4) and frame.dtype == np.uint8 and (frame[..., 3] == 255).all()
            assert np.abs(frame[..., :3] / 255.0 - ref).max() <= 1.01 / 255.0


def test_timesteps_follow_diffusers(sd):
    spy = UNetSpy(sd.unet)
    try:
        engine = DiffusionEngine(sd, EngineConfig())
        for steps in (1, 2, 3, 4):
            spy.calls.clear()
            engine.reset()
            engine.generate(req(params={"steps": steps}))  # first frame: from noise, full schedule
            trailing = EulerDiscreteScheduler.from_config(sd.scheduler.config, timestep_spacing="trailing")
            trailing.set_timesteps(steps)
            assert spy.timesteps == [int(t) for t in trailing.timesteps]
        # One UNet call at strength 0.5 is diffusers img2img's 2 steps at strength 0.5: t = 499.
        spy.calls.clear()
        engine.generate(req(time=0.1, strength=0.5, params={"steps": 1}))
        assert spy.timesteps == [499]
        lcm = DiffusionEngine(sd, EngineConfig(scheduler="lcm"))
        for steps, strength in ((4, 1.0), (2, 0.5), (3, 0.3)):
            spy.calls.clear()
            lcm.generate(req(init_image=pattern(), strength=strength, params={"steps": steps}))
            ref = LCMScheduler.from_config(sd.scheduler.config)
            ref.set_timesteps(steps, strength=strength)
            assert spy.timesteps == [int(t) for t in ref.timesteps]
    finally:
        spy.remove()


def taesd_roundtrip(pipe, image: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        y = pipe.taesd.decode(pipe.taesd.encode(x).latents).sample
        return ((y[0].permute(1, 2, 0) + 1.0) * 127.5).clamp(0, 255).round().numpy()


def test_strength_near_zero_returns_the_init_image(sd):
    engine = DiffusionEngine(sd, EngineConfig())
    init = pattern()
    ref = taesd_roundtrip(sd, init)  # the tiny random autoencoder is lossy: compare with its round trip
    spy = UNetSpy(sd.unet)
    try:
        zero = engine.generate(req(init_image=init, strength=0.0))[..., :3].astype(float)
        assert spy.calls == []  # nothing to denoise
    finally:
        spy.remove()
    assert np.abs(zero - ref).max() <= 1.0
    near = np.abs(engine.generate(req(init_image=init, strength=0.01))[..., :3].astype(float) - ref).mean()
    far = np.abs(engine.generate(req(init_image=init, strength=1.0))[..., :3].astype(float) - ref).mean()
    assert near < 0.1 * far


def test_strength_one_ignores_the_init_image(sd):
    engine = DiffusionEngine(sd, EngineConfig(vae="full"))
    a, b = pattern(0), 255 - pattern(3)
    assert np.array_equal(
        engine.generate(req(init_image=a, strength=1.0)), engine.generate(req(init_image=b, strength=1.0))
    )
    assert not np.array_equal(
        engine.generate(req(init_image=a, strength=0.5)), engine.generate(req(init_image=b, strength=0.5))
    )


def test_fixed_seed_is_deterministic(sd):
    def run(seed: int) -> list[np.ndarray]:
        engine = DiffusionEngine(sd, EngineConfig(scheduler="euler-a", vae="full"))
        return [
            engine.generate(
                req(time=k * 0.1, seed=seed, seed_walk=k * 0.3, motion=MotionRates(zoom=0.3),
                    params={"steps": 2})
            )
            for k in range(3)
        ]

    a, b, c = run(11), run(11), run(12)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_feedback_loop_changes_frames_and_motion_moves_the_init(sd):
    engine = DiffusionEngine(sd, EngineConfig(vae="full"))
    frames = [engine.generate(req(time=k * 0.1, strength=0.4)) for k in range(4)]
    assert all(not np.array_equal(frames[k], frames[k + 1]) for k in range(3))
    # The same history, then one frame with a zoom: the init was moved, so the frame differs.
    still, moving = (DiffusionEngine(sd, EngineConfig(vae="full")) for _ in range(2))
    for e in (still, moving):
        e.generate(req(init_image=pattern(), strength=0.0))
    a = still.generate(req(time=0.5, strength=0.2))
    b = moving.generate(req(time=0.5, strength=0.2, motion=MotionRates(zoom=0.5)))
    assert np.abs(a.astype(float) - b).mean() > 0.5


def test_warp_moves_content_the_way_the_camera_moves():
    def dot_after(motion: MotionRates, dt: float) -> tuple[float, float]:
        image = torch.zeros(1, 1, 64, 64)
        image[0, 0, 30:34, 42:46] = 1.0  # right of the centre
        out = warp(image, torch.from_numpy(motion_theta(motion, dt, 1.0)).unsqueeze(0))[0, 0]
        rows, cols = torch.nonzero(out > 0.5, as_tuple=True)
        return float(rows.float().mean()), float(cols.float().mean())

    row, col = dot_after(MotionRates(), 1.0)
    assert (row, col) == (31.5, 43.5)
    row, col = dot_after(MotionRates(zoom=0.5), 0.5)  # zooming in pushes content outwards
    assert abs(row - 31.5) < 1 and col > 46
    row, col = dot_after(MotionRates(pan_x=0.25), 1.0)  # the camera moves right: content moves left 16 px
    assert abs(col - 27.5) < 1 and abs(row - 31.5) < 1
    row, col = dot_after(MotionRates(pan_y=0.25), 1.0)  # the camera moves up: content moves down
    assert abs(row - 47.5) < 1
    # The camera turns clockwise: content turns counter-clockwise, from the right to the top.
    row, col = dot_after(MotionRates(rotate=90.0), 1.0)
    assert abs(col - 31.5) < 1 and abs(row - 19.5) < 1
    # Zooming out shows no black border: reflection padding.
    ones = torch.rand(1, 3, 64, 64) + 0.5
    out = warp(ones, torch.from_numpy(motion_theta(MotionRates(zoom=-1.0), 1.0, 1.0)).unsqueeze(0))
    assert float(out.min()) >= 0.5


def test_txt2img_mode_and_the_first_img2img_frame(sd):
    txt = DiffusionEngine(sd, EngineConfig(mode="txt2img"))
    a = txt.generate(req(time=0.0))
    b = txt.generate(req(time=0.1, init_image=pattern(), strength=0.2))  # no feedback, no init in txt2img
    assert np.array_equal(a, b)
    img = DiffusionEngine(sd, EngineConfig())
    assert np.array_equal(img.generate(req(time=0.0)), a)  # the first img2img frame has no init: from noise


def test_sdxl_img2img_with_guidance_batches_one_unet_call(sdxl):
    engine = DiffusionEngine(sdxl, EngineConfig(vae="full"))
    spy = UNetSpy(sdxl.unet)
    try:
        first = engine.generate(req(size=(128, 64)))
        spy.calls.clear()
        frame = engine.generate(
            req(size=(128, 64), time=0.1, negative="blurry", strength=0.6,
                params={"steps": 2, "guidance": 2.5})
        )
    finally:
        spy.remove()
    assert first.shape == frame.shape == (64, 128, 4)
    assert len(spy.calls) == 2 and all(batch == 2 for _, batch, _ in spy.calls)
    added = spy.calls[0][2]
    assert added["text_embeds"].shape == (2, 32)
    assert added["time_ids"].tolist() == [[64, 128, 0, 0, 64, 128]] * 2  # (h, w), crop (0, 0), (h, w)
    assert not np.array_equal(first, frame)


def test_nan_frame_raises_and_the_loop_resumes_from_the_last_good_frame(sd):
    clean, faulty = (DiffusionEngine(sd, EngineConfig(vae="full")) for _ in range(2))
    a1 = clean.generate(req(time=0.0))
    b1 = faulty.generate(req(time=0.0))
    handle = sd.unet.register_forward_hook(lambda module, args, out: (out[0] * float("nan"),))
    try:
        with pytest.raises(FloatingPointError):
            faulty.generate(req(time=0.1, strength=0.5))
    finally:
        handle.remove()
    a2 = clean.generate(req(time=0.2, strength=0.5))
    b2 = faulty.generate(req(time=0.2, strength=0.5))
    assert np.array_equal(a1, b1) and np.array_equal(a2, b2)


@pytest.mark.parametrize("scheduler", ["euler", "euler-a", "lcm"])
def test_all_schedulers_and_steps_run(sd, scheduler):
    spy = UNetSpy(sd.unet)
    try:
        for steps in (1, 2, 3, 4):
            engine = DiffusionEngine(sd, EngineConfig(scheduler=scheduler))
            spy.calls.clear()
            first = engine.generate(req(params={"steps": steps}))
            second = engine.generate(req(time=0.1, strength=0.8, params={"steps": steps}))
            assert len(spy.calls) == 2 * steps
            assert first.shape == second.shape == (64, 64, 4)
            assert set(engine.timings) >= {"text", "encode", "unet", "decode", "copy", "overhead"}
            assert all(v >= 0.0 for v in engine.timings.values())
    finally:
        spy.remove()


def test_a_parameter_change_shows_in_the_next_frame(sd):
    changes = [
        {"strength": 0.6},
        {"prompts": (Prompt("a neon cat", 0.8), Prompt("a glass forest", 0.2))},
        {"seed_walk": 0.1},
        {"params": {"steps": 1, "guidance": 2.0}},
        {"feedback": 0.7},
    ]
    for change in changes:
        base, changed = (DiffusionEngine(sd, EngineConfig(vae="full")) for _ in range(2))
        for k in range(2):
            assert np.array_equal(base.generate(req(time=k * 0.1)), changed.generate(req(time=k * 0.1)))
        a = base.generate(req(time=0.2))
        b = changed.generate(req(time=0.2, **change))
        assert np.abs(a.astype(float) - b).mean() > 0.2, change


def test_memory_is_steady_over_hundreds_of_frames(sd):
    engine = DiffusionEngine(sd, EngineConfig(scheduler="euler-a"))

    def frame(k: int) -> None:
        engine.generate(
            req(
                time=k * 0.1, seed_walk=k * 0.05, strength=0.3 + 0.05 * (k % 8), feedback=0.8,
                motion=MotionRates(zoom=0.2, rotate=5.0),
                prompts=(Prompt("a neon cat", 0.5 + 0.5 * np.sin(k)), Prompt("a glass forest", 0.5)),
                params={"steps": 1 + (k % 4 == 0), "guidance": 2.0 if k % 6 == 0 else 0.0},
            )
        )

    def rss_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    for k in range(24):  # fills every plan and cache entry the loop below uses
        frame(k)
    gc.collect()
    objects, rss = len(gc.get_objects()), rss_mb()
    for k in range(24, 200):
        frame(k)
    gc.collect()
    assert len(gc.get_objects()) - objects < 100
    assert rss_mb() - rss < 16.0


def test_bad_input(sd, caplog):
    engine = DiffusionEngine(sd, EngineConfig())
    with pytest.raises(ValueError, match="60x64"):
        engine.generate(req(size=(60, 64)))
    spy = UNetSpy(sd.unet)
    try:
        with caplog.at_level(logging.WARNING, logger="vj.gen.diffusion"):
            for _ in range(2):
                spy.calls.clear()
                engine.generate(req(params={"steps": 9}))
        assert len(spy.calls) == 4
        assert len([r for r in caplog.records if "steps" in r.getMessage()]) == 1
    finally:
        spy.remove()
    # A size change starts again at the new size; an init image of another size is resized.
    assert engine.generate(req(size=(96, 64))).shape == (64, 96, 4)
    assert engine.generate(req(size=(96, 64), init_image=pattern()[:40, :50])).shape == (64, 96, 4)
    with pytest.raises(ValueError, match="init_image"):
        engine.generate(req(init_image=np.zeros((8, 8, 3), dtype=np.float32)))
    with pytest.raises(ValueError, match="scheduler"):
        EngineConfig(scheduler="ddim")


def test_out_of_memory_names_the_size(sd):
    engine = DiffusionEngine(sd, EngineConfig())

    def oom(module, args, out):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    handle = sd.unet.register_forward_hook(oom)
    try:
        with pytest.raises(RuntimeError, match="64x64") as info:
            engine.generate(req())
        assert not isinstance(info.value, torch.OutOfMemoryError)
    finally:
        handle.remove()
    assert engine.generate(req()).shape == (64, 64, 4)  # and it recovers


def test_generator_loads_lazily_on_first_frame_and_closes():
    loads = []

    def load():
        loads.append(1)
        return tiny_sd()

    gen = DiffusionGenerator(load, EngineConfig())
    assert gen.name == "diffusion" and loads == [] and gen.engine is None
    gen.generate(req())
    gen.generate(req(time=0.1))
    assert len(loads) == 1 and gen.timings["unet"] >= 0.0
    gen.close()
    assert gen.engine is None
    assert gen.generate(req()).shape == (64, 64, 4) and len(loads) == 2
    gen.close()


def test_the_scheduler_parameter_switches_live_and_auto_means_the_presets(sd):
    auto = DiffusionEngine(sd, EngineConfig(scheduler="euler-a"))
    named = DiffusionEngine(sd, EngineConfig(scheduler="euler"))
    a = auto.generate(req(params={"steps": 2, "scheduler": "auto"}))
    b = named.generate(req(params={"steps": 2, "scheduler": "euler-a"}))
    c = DiffusionEngine(sd, EngineConfig(scheduler="euler")).generate(req(params={"steps": 2}))
    assert np.array_equal(a, b)  # auto -> the config's euler-a; a live "euler-a" overrides euler
    assert not np.array_equal(b, c)  # and the two samplers really differ (both first frames)


# -- the live camera (request.init_image, init_mix) ----------------------------------------------


def test_camera_mix_zero_is_exactly_the_frame_without_a_camera(sd):
    camera = 255 - pattern(5)
    history = [req(time=0.1 * k, strength=0.6, feedback=0.8, motion=MotionRates(zoom=0.4)) for k in range(3)]
    plain, zero = DiffusionEngine(sd, EngineConfig()), DiffusionEngine(sd, EngineConfig())
    for r in history:  # the first frame has no previous one: mix 0 must not make the camera the init
        assert np.array_equal(plain.generate(r), zero.generate(replace(r, init_image=camera, init_mix=0.0)))


def test_camera_mix_one_is_the_camera_alone_and_between_is_between(sd):
    camera = 255 - pattern(5)
    first = req(time=0.0, strength=0.6)
    after = req(time=0.1, strength=0.6, feedback=0.5, motion=MotionRates(zoom=0.4))
    only_camera = DiffusionEngine(sd, EngineConfig()).generate(replace(after, init_image=camera))
    frames = {}
    for mix in (0.0, 0.5, 1.0):
        engine = DiffusionEngine(sd, EngineConfig())
        engine.generate(first)
        frames[mix] = engine.generate(replace(after, init_image=camera, init_mix=mix))
    # At mix 1 the previous frame no longer matters: the frame of an engine with no history.
    assert np.array_equal(frames[1.0], only_camera)
    assert not np.array_equal(frames[0.0], frames[1.0])
    assert not np.array_equal(frames[0.5], frames[0.0]) and not np.array_equal(frames[0.5], frames[1.0])


def test_camera_mix_out_of_range_or_nan_does_not_crash(sd):
    engine = DiffusionEngine(sd, EngineConfig())
    engine.generate(req())
    camera = pattern(2)
    one = engine.generate(req(time=0.1, init_image=camera, init_mix=1.0))
    for mix in (float("nan"), float("inf"), 7.0):  # nan and inf: the default (1); 7: clamped to 1
        assert np.array_equal(engine.generate(req(time=0.1, init_image=camera, init_mix=mix)), one)
    assert engine.generate(req(time=0.2, init_image=camera, init_mix=-1.0)).shape == (64, 64, 4)


def test_camera_is_cover_fit_not_stretched(sd):
    # Strength 0 runs no UNet: the frame is the init through the autoencoder. A wide or tall
    # camera whose centre square is the pattern must give the pattern's frame: the rest cropped.
    white, black = np.full((64, 24, 3), 255, np.uint8), np.zeros((64, 24, 3), np.uint8)
    wide = np.concatenate([white, pattern(), black], axis=1)
    tall = np.concatenate([white.transpose(1, 0, 2), pattern(), black.transpose(1, 0, 2)], axis=0)
    engine = DiffusionEngine(sd, EngineConfig())
    expected = engine.generate(req(init_image=pattern(), strength=0.0))
    assert np.array_equal(engine.generate(req(init_image=wide, strength=0.0)), expected)
    assert np.array_equal(engine.generate(req(init_image=tall, strength=0.0)), expected)
    assert cover_crop(np.zeros((360, 640, 3)), 1.0).shape == (360, 360, 3)
    assert cover_crop(np.zeros((360, 640, 3)), 4.0).shape == (160, 640, 3)
