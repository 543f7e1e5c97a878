"""How frames run (vj.gen.runners, vj.gen.frame): compile modes and their fallbacks, knob moves that
never recompile, compiled frames equal to eager ones, latent feedback, stage times and the host copy.

Real tiny pipelines and real torch.compile (inductor, on the CPU). What only a GPU can verify (CUDA
graph capture and replay, pinned double buffers, CUDA-event stage times) is checked by
benchmarks/gpu_check.sh on a GPU machine; here the same code paths run on CPU tensors.
"""

import logging
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch._dynamo
from torch._dynamo.utils import counters

from vj.gen.base import GenRequest, Prompt
from vj.gen.diffusion import DiffusionEngine, EngineConfig
from vj.gen.frame import FrameInputs
from vj.gen.runners import StaticInputs, resolve_mode
from vj.gen.samplers import SCALARS
from vj.gen.tiny import tiny_sd
from vj.gen.transfers import Transfers
from vj.vocabulary import MotionRates

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
CPU = torch.device("cpu")


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):
    """Every test here runs torch on one thread (see conftest)."""


def req(**kw) -> GenRequest:
    fields = dict(
        time=0.0, size=(64, 64), prompts=(Prompt("a neon cat", 1.0), Prompt("a glass forest", 0.0)), seed=4,
        seed_walk=0.0, strength=0.5, feedback=1.0, params={"steps": 2, "guidance": 0.0},
    )
    fields.update(kw)
    return GenRequest(**fields)


def camera() -> np.ndarray:
    yy, xx = np.mgrid[0:64, 0:64]
    return (np.stack([xx * 4, yy * 4, (xx + yy) * 2], axis=-1) % 256).astype(np.uint8)


def test_compile_modes_resolve_to_what_the_device_can_run(caplog):
    assert resolve_mode("auto", CPU) == "off"
    assert resolve_mode("auto", torch.device("cuda")) == "graphs"
    assert resolve_mode(True, CPU) == "default" and resolve_mode(False, CPU) == "off"
    assert resolve_mode("default", CPU) == "default" and resolve_mode("max-autotune", CPU) == "max-autotune"
    with caplog.at_level(logging.WARNING, logger="vj.gen.runners"):
        assert resolve_mode("graphs", CPU) == "off"
        assert resolve_mode("compiled-graphs", CPU) == "default"
        assert resolve_mode("reduce-overhead", CPU) == "default"
    assert [r.getMessage() for r in caplog.records] == [
        "compile: graphs needs a CUDA GPU and this is cpu: running off",
        "compile: compiled-graphs needs a CUDA GPU and this is cpu: running default",
        "compile: reduce-overhead needs a CUDA GPU and this is cpu: running default",
    ]
    with pytest.raises(ValueError, match="unknown compile mode 'fast'"):
        resolve_mode("fast", CPU)
    assert EngineConfig(compile=True).compile == "default" and EngineConfig(compile=False).compile == "off"
    with pytest.raises(ValueError, match="unknown compile 'fast'"):
        EngineConfig(compile="fast")
    with pytest.raises(ValueError, match="unknown feedback_space 'voxels'"):
        EngineConfig(feedback_space="voxels")


def test_a_graph_mode_asked_for_on_the_cpu_runs_eagerly_and_gives_the_eager_frames(sd):
    graphs = DiffusionEngine(sd, EngineConfig(compile="graphs"))
    eager = DiffusionEngine(sd, EngineConfig())
    assert graphs.compile_mode == "off" and graphs.degraded is None
    for k in range(3):
        r = req(time=k * 0.1, motion=MotionRates(zoom=0.3))
        assert np.array_equal(graphs.generate(r), eager.generate(r))


def test_knob_moves_never_recompile_and_compiled_frames_equal_eager_ones():
    # One layout (the camera as the init: strength counts, every frame the same structure), compiled
    # once; then strength, seed, seed walk, prompt weights, guidance and the camera image all move.
    compiled = DiffusionEngine(tiny_sd(), EngineConfig(compile="default"))
    eager = DiffusionEngine(tiny_sd(), EngineConfig())
    base = req(init_image=camera(), init_mix=1.0)
    moves = [
        base,
        replace(base, time=0.1, strength=0.7),
        replace(base, time=0.2, seed=9, seed_walk=0.3),
        replace(base, time=0.3, prompts=(Prompt("a neon cat", 0.4), Prompt("a glass forest", 0.6))),
        replace(base, time=0.4, strength=0.35, params={"steps": 2, "guidance": 0.8}),
        replace(base, time=0.5, init_image=camera()[::-1].copy()),
    ]
    torch._dynamo.reset()
    counters.clear()
    first = compiled.generate(moves[0])
    graphs = counters["stats"]["unique_graphs"]
    assert graphs >= 1  # it did compile
    previous = torch._dynamo.config.error_on_recompile
    torch._dynamo.config.error_on_recompile = True  # a recompile raises instead of passing quietly
    try:
        frames = [first] + [compiled.generate(r) for r in moves[1:]]
    finally:
        torch._dynamo.config.error_on_recompile = previous
    assert counters["stats"]["unique_graphs"] == graphs
    assert len({f.tobytes() for f in frames}) == len(frames)  # every move changed the picture
    for r, frame in zip(moves, frames):
        assert np.abs(frame.astype(int) - eager.generate(r).astype(int)).max() <= 1


class EncoderCalls:
    """Counts the real TAESD encoder's forward calls (a forward hook)."""

    def __init__(self, module):
        self.calls = 0
        self._handle = module.register_forward_hook(self._hook)

    def _hook(self, *args):
        self.calls += 1

    def remove(self):
        self._handle.remove()


def test_latent_feedback_skips_the_encoder_and_still_moves_and_mixes_the_camera(sd):
    pixels = DiffusionEngine(sd, EngineConfig())
    latents = DiffusionEngine(sd, EngineConfig(feedback_space="latents"))
    encoder = EncoderCalls(sd.taesd.encoder)
    try:
        frames = [latents.generate(req(time=k * 0.1, motion=MotionRates(zoom=0.5))) for k in range(4)]
        assert encoder.calls == 0  # the first frame starts from noise, the rest from the latents
        mixed = latents.generate(req(time=0.5, init_image=camera(), init_mix=0.5))
        assert encoder.calls == 1  # the camera alone is encoded
        pixel_frames = [pixels.generate(req(time=k * 0.1, motion=MotionRates(zoom=0.5))) for k in range(4)]
        assert encoder.calls == 1 + 3  # pixel feedback encodes every frame after the first
    finally:
        encoder.remove()
    assert np.array_equal(frames[0], pixel_frames[0])  # the same first frame: from the same noise
    assert not np.array_equal(frames[2], pixel_frames[2])  # then a different loop
    assert all((f[..., 3] == 255).all() for f in frames)
    assert len({f.tobytes() for f in frames + [mixed]}) == 5
    # The motion moves the latents: a zooming loop differs from a still one.
    still = DiffusionEngine(sd, EngineConfig(feedback_space="latents"))
    still_frames = [still.generate(req(time=k * 0.1)) for k in range(3)]
    assert np.array_equal(still_frames[0], frames[0]) and not np.array_equal(still_frames[2], frames[2])


def test_stage_times_name_the_stages_each_mode_has(sd):
    eager = DiffusionEngine(sd, EngineConfig(), profile=True)
    eager.generate(req())
    assert {"text", "encode", "unet", "decode", "copy", "overhead", "total"} <= set(eager.timings)
    assert "frame" not in eager.timings
    assert eager.timings["total"] >= eager.timings["unet"] > 0.0


def test_warm_up_runs_the_starting_layouts_then_forgets_its_frames(sd):
    engine = DiffusionEngine(sd, EngineConfig())
    cold = DiffusionEngine(sd, EngineConfig())
    seconds = engine.warm_up((64, 64), {"steps": 2, "guidance": 0.0})
    assert seconds > 0.0 and engine.warmup_seconds == seconds
    # Forgotten: the next frame starts from noise, exactly like a cold engine's first frame.
    assert np.array_equal(engine.generate(req()), cold.generate(req()))


def test_the_host_copy_gives_rgba_from_device_tensors_without_host_conversion():
    # The non-CUDA path (the CPU here, Apple's MPS elsewhere): tensors leave through .cpu(), never .numpy()
    # on a device tensor; the warp matrix and scalars go to the engine's device.
    io = Transfers(CPU, 16, 8)
    rgba = torch.arange(8 * 16 * 4, dtype=torch.int32).remainder(256).to(torch.uint8).reshape(8, 16, 4)
    first = io.start(rgba, torch.tensor(True))
    second = io.start(rgba.flip(0), torch.tensor(False))  # two in flight, waited for in order
    frame, finite = io.wait(first)
    assert frame.shape == (8, 16, 4) and frame.dtype == np.uint8 and finite
    assert np.array_equal(frame, rgba.numpy())
    frame, finite = io.wait(second)
    assert np.array_equal(frame, rgba.flip(0).numpy()) and not finite
    up = io.upload("theta", np.eye(2, 3, dtype=np.float32)[None])
    assert up.device == CPU and up.shape == (1, 2, 3) and up.dtype == torch.float32
    image = io.image(camera(), 16, 8, torch.float32)
    assert image.shape == (1, 3, 8, 16) and float(image.min()) >= -1.0 and float(image.max()) <= 1.0


def test_static_inputs_copy_what_changed_and_skip_cached_tensors_already_in():
    # The buffers a captured CUDA graph reads; on the CPU the same copies run on CPU tensors.
    noise_a, noise_b, prompt = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8), torch.randn(1, 77, 32)
    first = FrameInputs(torch.zeros(SCALARS), (noise_a,), prompt, prev=torch.zeros(1, 3, 64, 64),
                        theta=torch.eye(2, 3)[None])
    static = StaticInputs(first)
    buffers = static.inputs
    assert buffers.scalars is not first.scalars and torch.equal(buffers.scalars, first.scalars)
    assert static.update(first) == 5  # everything, the first time
    assert static.update(first) == 3  # scalars, prev and theta every frame; the noise and prompt are in
    moved = replace(first, scalars=torch.full((SCALARS,), 0.5), noises=(noise_b,), prev=torch.ones(1, 3, 64, 64))
    assert static.update(moved) == 4  # a new seed's noise is a new tensor: copied
    assert static.inputs is buffers  # the same buffers, new contents
    assert torch.equal(buffers.noises[0], noise_b) and torch.equal(buffers.prompt, prompt)
    assert float(buffers.scalars[0]) == 0.5 and float(buffers.prev.min()) == 1.0
