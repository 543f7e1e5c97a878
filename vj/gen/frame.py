"""One diffusion frame as a pure function of device tensors: what is compiled or captured whole.

`FrameCore.run(layout, inputs)` goes init → encode → noise → UNet steps → decode → uint8 RGBA
with no host sync, no Python number that changes from frame to frame (strength, seed-walk
position, prompt blend, camera mix and motion all arrive as tensors), and no in-place change to
its inputs. So the same function runs eagerly, under torch.compile (one compilation per
layout) or captured as one CUDA graph per layout (vj.gen.runners), and gives the same frame.

A `Layout` is everything that shapes the computation: the frame size, the number of UNet calls,
where the init comes from, whether the previous frame moves, classifier-free guidance, the
sampler and the feedback space. Knob moves never change it; a new size, step count or init
source does (a few of them, each captured once).

Feedback space: "pixels" feeds the decoded frame back (warped in image space, then encoded
again, as img2img pipelines do); "latents" feeds the denoised latents back (warped in latent
space, 8x smaller), which skips the encoder every frame. Pixels keep the finest detail under
motion; latents are faster and drift more (docs/benchmarks.md shows both).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from vj.gen.conditioning import Autoencoder
from vj.gen.samplers import (
    CAMERA_MIX,
    GUIDANCE,
    INIT_SCALE,
    NOISE_SCALE,
    PURE_NOISE_SCALE,
    Sampler,
    step_slice,
)

INITS = ("noise", "prev", "camera", "mix")  # pure noise; the (moved) previous frame; the camera; a mix


@dataclass(frozen=True)
class Layout:
    """What shapes one frame's computation (see the module doc)."""

    width: int
    height: int
    steps: int  # UNet calls; 0 runs the init through the autoencoder
    init: str  # one of INITS
    warp: bool  # the previous frame moves (camera motion since the last frame)
    cfg: bool  # classifier-free guidance: the UNet runs a batch of two
    sampler: str
    latents: bool  # latent feedback


@dataclass(frozen=True)
class FrameInputs:
    """A frame's device tensors. `noises`: the start noise, then one fresh noise per step after the
    first for stochastic samplers. `prev`: the last frame (an image in [-1, 1], or latents)."""

    scalars: torch.Tensor  # float32 (vj.gen.samplers.SCALARS,)
    noises: tuple[torch.Tensor, ...]
    prompt: torch.Tensor
    pooled: torch.Tensor | None = None  # SDXL
    time_ids: torch.Tensor | None = None  # SDXL
    guidance_embedding: torch.Tensor | None = None  # LCM-distilled UNets
    prev: torch.Tensor | None = None
    theta: torch.Tensor | None = None  # (1, 2, 3) warp matrix
    camera: torch.Tensor | None = None  # NCHW in [-1, 1] at the frame size

    def tensors(self) -> tuple[torch.Tensor | None, ...]:
        """Every field in order, the noises spread out (for static buffers)."""
        return (self.scalars, *self.noises, self.prompt, self.pooled, self.time_ids, self.guidance_embedding,
                self.prev, self.theta, self.camera)


@dataclass(frozen=True)
class FrameOutputs:
    rgba: torch.Tensor  # (h, w, 4) uint8, row 0 at the top
    finite: torch.Tensor  # 0-d bool: the decoded image had no NaN/inf
    feedback: torch.Tensor  # what the next frame's init starts from (pixels clamped to [-1, 1], or latents)


def warp(image: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Resample an NCHW image through an affine map (reflection at the borders: no black edges)."""
    theta = theta.to(image.dtype).expand(image.shape[0], 2, 3)
    grid = F.affine_grid(theta, list(image.shape), align_corners=False)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def to_rgba(image: torch.Tensor) -> torch.Tensor:
    """NCHW [-1, 1] -> (h, w, 4) uint8, rounded, opaque: what GL uploads (4-byte pixels, no host work)."""
    hwc = image[0].permute(1, 2, 0)  # free with channels_last: already HWC in memory
    u8 = (hwc * 127.5 + 128.0).clamp(0.0, 255.0).to(torch.uint8)
    return F.pad(u8, (0, 1), value=255)


Mark = Callable[[str], None]


class FrameCore:
    """The modules a frame runs through; `run` is the frame (see the module doc)."""

    def __init__(self, unet: Callable[..., Any], autoencoder: Autoencoder, samplers: Callable[[str], Sampler],
                 dtype: torch.dtype, memory: torch.memory_format) -> None:
        self.unet = unet
        self.ae = autoencoder
        self.samplers = samplers
        self.dtype = dtype
        self.memory = memory

    def run(self, layout: Layout, x: FrameInputs, mark: Mark | None = None) -> FrameOutputs:
        s = x.scalars
        latents = self._init_latents(layout, x)
        if mark:
            mark("encode")
        noise = x.noises[0]
        if latents is None:
            z = noise * s[PURE_NOISE_SCALE]
        elif layout.steps:
            z = latents * s[INIT_SCALE] + noise * s[NOISE_SCALE]
        else:
            z = latents  # strength 0: nothing to denoise
        z = self._denoise(layout, z, x)
        if mark:
            mark("unet")
        image = self.ae.decode(z)
        if mark:
            mark("decode")
        finite = torch.isfinite(image).all()
        feedback = z if layout.latents else image.clamp(-1.0, 1.0)
        return FrameOutputs(to_rgba(image), finite, feedback)

    def _init_latents(self, layout: Layout, x: FrameInputs) -> torch.Tensor | None:
        if layout.init == "noise":
            return None
        camera = x.camera
        if layout.init == "camera":
            assert camera is not None
            return self.ae.encode(camera)
        assert x.prev is not None
        prev = x.prev
        if layout.warp:
            assert x.theta is not None
            prev = warp(prev, x.theta)
        if layout.latents:
            if layout.init == "mix":
                assert camera is not None
                prev = torch.lerp(prev, self.ae.encode(camera), x.scalars[CAMERA_MIX])
            return prev
        if layout.init == "mix":
            assert camera is not None
            prev = torch.lerp(prev, camera.to(prev.dtype), x.scalars[CAMERA_MIX].to(prev.dtype))
        return self.ae.encode(prev)

    def _denoise(self, layout: Layout, z: torch.Tensor, x: FrameInputs) -> torch.Tensor:
        """One UNet call per step, each followed by its sampler step."""
        sampler = self.samplers(layout.sampler)
        added = None
        if x.time_ids is not None:
            assert x.pooled is not None
            ids = x.time_ids.expand(2, -1) if layout.cfg else x.time_ids
            added = {"text_embeds": x.pooled, "time_ids": ids}
        for i in range(layout.steps):
            c = step_slice(x.scalars, i)
            x_in = (z * c[1]).to(self.dtype).contiguous(memory_format=self.memory)
            if layout.cfg:
                x_in = torch.cat([x_in, x_in])
            out = self.unet(
                x_in, c[0:1], encoder_hidden_states=x.prompt, timestep_cond=x.guidance_embedding,
                added_cond_kwargs=added, return_dict=False,
            )[0]
            if layout.cfg:
                uncond, text = out.chunk(2)
                out = torch.lerp(uncond.float(), text.float(), x.scalars[GUIDANCE])
            else:
                out = out.float()
            last = i + 1 == layout.steps
            noise = x.noises[i + 1] if sampler.stochastic and not last else None
            z = sampler.step(z, out, c, last, noise)
        return z
