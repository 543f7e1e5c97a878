"""Real-time diffusion: a hand-written img2img feedback loop over a diffusers SD / SDXL pipeline.

The pipeline object only lends its components (UNet, VAE or TAESD, text encoders,
scheduler config); `pipe.__call__` is never used, because its per-call work (tokenising,
text encoding, PIL pre/post-processing, scheduler set-up, host syncs) costs more than a
whole frame of a fast model. One frame:

1. text: blend the cached prompt embeddings (`PromptBank`; no encoder call unless a new text).
2. encode: the init image is the previous output, kept on the device and moved by the
   camera motion accumulated since the previous request (affine grid sample, reflection
   padding so no black edges), mixed with `request.init_image` (the live camera) by
   `request.init_mix`. It is encoded by TAESD (or the full VAE) and noised to the timestep
   `strength` picks.
3. unet: 1-4 denoising steps (one UNet call each; with classifier-free guidance the
   unconditional and conditional halves share that call as a batch of two).
4. decode, then a uint8 HWC frame copied to the host: on CUDA into a pinned buffer with a
   non-blocking copy and the frame's only host sync.

Strength and steps: `steps` is the number of UNet calls. Timesteps are the trailing
schedule scaled by strength, t_i = round(strength * T * (steps - i) / steps) - 1 (T = 1000),
which is exactly diffusers' img2img `get_timesteps` with trailing spacing whenever
steps / strength is a whole number (steps 1 at strength 0.5 runs t = 499, like the
pipeline with 2 inference steps at strength 0.5), and moves smoothly with the strength knob
otherwise. Strength 0 runs no UNet call (the init image through the autoencoder); strength
1 ignores the init image entirely (the frame starts from pure noise, as txt2img). LCM keeps
its timesteps on its distillation grid (19, 39, ... 999), exactly as diffusers'
`LCMScheduler.set_timesteps(steps, strength=...)` picks them.

Feedback: with the previous output as init, `feedback` scales how much of it survives:
the effective strength is 1 - feedback * (1 - strength). Feedback 1 uses `strength` as is;
feedback 0 starts every frame from noise (txt2img); in between, more noise.

Camera: `request.init_image` is cover-fit to the frame (scaled to cover it, cropped at the
centre, never stretched) and uploaded; the init is lerp(moved previous frame, camera,
init_mix) on the device, and the effective strength is lerp(the feedback strength above,
`strength`, init_mix): at init_mix 1 the camera alone with `strength` as is, at 0 exactly the
frame without a camera. Before there is a previous frame the camera is the init as it is
(with `strength`), unless init_mix is 0.

Parameters read from `request.params`: "steps" (1-4, clamped with one warning), "guidance"
(classifier-free guidance with `request.negative` when > 1; an LCM-distilled UNet with a
guidance embedding gets it as that embedding instead) and, optionally, "scheduler" (one of
SCHEDULERS, overriding the config's for that frame).
"""

from __future__ import annotations

import gc
import logging
import math
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vj.gen.base import GenRequest, finite_number
from vj.gen.noise import NoiseWalk
from vj.gen.prompts import BLEND_MODES, Embeds, PromptBank
from vj.motion import flow_matrix
from vj.vocabulary import MotionRates

log = logging.getLogger(__name__)

SCHEDULERS = ("euler", "euler-a", "lcm")
VAES = ("taesd", "full")
MODES = ("img2img", "txt2img")
MAX_STEPS = 4
MAX_STEP_S = 1.0  # longest camera step between two frames; a longer gap is a pause, not motion
PLAN_ENTRIES = 256  # cached timestep plans (one per distinct (scheduler, steps, strength) timesteps)
STAGES = ("text", "encode", "unet", "decode", "copy", "overhead")
SIZE_MULTIPLE = 8

_OOM: type[BaseException] = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


@dataclass(frozen=True)
class EngineConfig:
    """How the engine runs a pipeline. `compile`: False, True (a default mode) or a torch.compile mode."""

    device: str = "cpu"
    dtype: torch.dtype = torch.float32
    scheduler: str = "euler"  # "euler" (sd-turbo's, trailing), "euler-a" (ancestral), "lcm"
    blend: str = "lerp"  # prompt blend: "lerp" or "slerp" (see vj.gen.prompts)
    vae: str = "taesd"  # "taesd" (pipe.taesd when present) or "full"
    mode: str = "img2img"  # "img2img" (feedback loop) or "txt2img" (every frame from noise)
    channels_last: bool = True
    compile: bool | str = False

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("scheduler", self.scheduler, SCHEDULERS),
            ("blend", self.blend, BLEND_MODES),
            ("vae", self.vae, VAES),
            ("mode", self.mode, MODES),
        ):
            if value not in allowed:
                raise ValueError(f"unknown {name} {value!r}: expected one of {', '.join(allowed)}")
        torch.device(self.device)  # raises on a malformed device string

    @property
    def compile_mode(self) -> str | None:
        """The torch.compile mode, or None when compiling is off."""
        if self.compile is False or self.compile is None:
            return None
        if isinstance(self.compile, str):
            return self.compile
        return "max-autotune-no-cudagraphs" if torch.device(self.device).type == "cuda" else "default"


# -- camera warp ---------------------------------------------------------------------------


def motion_theta(rates: MotionRates, dt: float, aspect: float) -> np.ndarray:
    """The (2, 3) `affine_grid` matrix that moves the previous frame by `dt` seconds of camera motion.

    `flow_matrix` maps view points to content points (which content a screen point shows
    after the step); affine_grid maps output to input coordinates in normalised image
    space (x right, y down, -1..1 across the frame), so conjugate by that change of basis.
    """
    to_view = np.diag([0.5 * aspect, -0.5, 1.0])  # normalised (y down) -> view (y up, units of height)
    m = np.linalg.inv(to_view) @ flow_matrix(rates, dt) @ to_view
    return m[:2].astype(np.float32)


def warp(image: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Resample an NCHW image through an affine map (reflection at the borders: no black edges)."""
    theta = theta.to(image.dtype).expand(image.shape[0], 2, 3)
    grid = F.affine_grid(theta, list(image.shape), align_corners=False)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


# -- samplers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """Everything one (scheduler, timesteps) pair needs, precomputed: no per-frame scheduler work."""

    timesteps: tuple[int, ...]
    t: tuple[torch.Tensor, ...]  # UNet timestep per step, already on the device
    init_scale: float  # img2img start: x = init * init_scale + noise * noise_scale
    noise_scale: float
    pure_noise_scale: float  # txt2img start: x = noise * pure_noise_scale
    c_in: tuple[float, ...]  # UNet input scale per step
    k: tuple[tuple[float, ...], ...]  # sampler constants per step


class _Sampler:
    """A sampler rebuilt from the pipeline scheduler's config; plans cached per timestep tuple."""

    stochastic = False  # draws fresh noise between steps

    def __init__(self, scheduler: Any, t_table: torch.Tensor) -> None:
        self.config = scheduler.config
        self.train_steps = int(self.config.num_train_timesteps)
        self.alphas = [float(a) for a in scheduler.alphas_cumprod]
        self.prediction = str(self.config.prediction_type)
        if self.prediction not in ("epsilon", "v_prediction", "sample"):
            raise ValueError(f"unsupported prediction_type {self.prediction!r}")
        self._t_table = t_table
        self._plans: OrderedDict[tuple[int, ...], _Plan] = OrderedDict()

    def timesteps(self, steps: int, strength: float) -> tuple[int, ...]:
        span = strength * self.train_steps
        out: list[int] = []
        for i in range(steps):
            t = round(span * (steps - i) / steps) - 1
            if t >= 0 and (not out or t < out[-1]):
                out.append(min(t, self.train_steps - 1))
        return tuple(out)

    def plan(self, steps: int, strength: float) -> _Plan:
        ts = self.timesteps(steps, strength)
        hit = self._plans.get(ts)
        if hit is not None:
            self._plans.move_to_end(ts)
            return hit
        # Index a device table instead of building tensors from Python numbers: no host-to-device copy.
        t = tuple(self._t_table[v : v + 1].clone() for v in ts)
        plan = self._build(ts, t)
        self._plans[ts] = plan
        while len(self._plans) > PLAN_ENTRIES:
            self._plans.popitem(last=False)
        return plan

    def _build(self, ts: tuple[int, ...], t: tuple[torch.Tensor, ...]) -> _Plan:
        raise NotImplementedError

    def step(
        self, x: torch.Tensor, out: torch.Tensor, plan: _Plan, i: int, noise: Callable[[], torch.Tensor]
    ) -> torch.Tensor:
        raise NotImplementedError


class _Euler(_Sampler):
    """Euler (or Euler ancestral) on sigmas: x = x0 + sigma * noise; sd-turbo's sampler."""

    def __init__(self, scheduler: Any, t_table: torch.Tensor, ancestral: bool) -> None:
        super().__init__(scheduler, t_table)
        self.ancestral = ancestral
        self.stochastic = ancestral
        self.sigmas = [math.sqrt((1.0 - a) / a) for a in self.alphas]

    def _build(self, ts: tuple[int, ...], t: tuple[torch.Tensor, ...]) -> _Plan:
        sig = [self.sigmas[v] for v in ts] + [0.0]
        k = []
        for i in range(len(ts)):
            s, nxt = sig[i], sig[i + 1]
            if self.ancestral:
                up = math.sqrt(max(0.0, nxt**2 * (s**2 - nxt**2) / s**2))
                down = math.sqrt(max(0.0, nxt**2 - up**2))
            else:
                up, down = 0.0, nxt
            k.append((s, down / s, up))
        s0 = sig[0] if ts else 0.0
        max_sigma = self.sigmas[self.train_steps - 1]
        return _Plan(
            timesteps=ts, t=t, init_scale=1.0, noise_scale=s0, pure_noise_scale=max_sigma if not ts else s0,
            c_in=tuple(1.0 / math.sqrt(s * s + 1.0) for s in sig[:-1]), k=tuple(k),
        )

    def step(
        self, x: torch.Tensor, out: torch.Tensor, plan: _Plan, i: int, noise: Callable[[], torch.Tensor]
    ) -> torch.Tensor:
        sigma, ratio, up = plan.k[i]
        if self.prediction == "epsilon":
            x0 = torch.add(x, out, alpha=-sigma)
        elif self.prediction == "v_prediction":
            var = sigma * sigma + 1.0
            x0 = torch.add(x * (1.0 / var), out, alpha=-sigma / math.sqrt(var))
        else:
            x0 = out.float()
        # x0 + (sigma_next / sigma) * (x - x0): the Euler step; exactly x0 on the last step.
        x = torch.lerp(x0, x, ratio)
        if up > 0.0:
            x = torch.add(x, noise(), alpha=up)
        return x


class _LCM(_Sampler):
    """Latent consistency sampling: predict x0 with boundary-condition scalings, re-noise between steps."""

    stochastic = True

    def timesteps(self, steps: int, strength: float) -> tuple[int, ...]:
        # The LCM distillation grid (as LCMScheduler.set_timesteps with `strength`).
        original = int(self.config.original_inference_steps)
        skip = self.train_steps // original
        count = int(original * strength)
        if count <= 0:
            return ()
        grid = [skip * m - 1 for m in range(count, 0, -1)]
        n = min(steps, count)
        return tuple(grid[int(math.floor(j * count / n))] for j in range(n))

    def _build(self, ts: tuple[int, ...], t: tuple[torch.Tensor, ...]) -> _Plan:
        scaling = float(getattr(self.config, "timestep_scaling", 10.0))
        final_alpha = 1.0 if getattr(self.config, "set_alpha_to_one", True) else self.alphas[0]
        k = []
        for i, v in enumerate(ts):
            a = self.alphas[v]
            a_prev = self.alphas[ts[i + 1]] if i + 1 < len(ts) else final_alpha
            scaled = v * scaling
            c_skip = 0.25 / (scaled * scaled + 0.25)  # sigma_data = 0.5
            c_out = scaled / math.sqrt(scaled * scaled + 0.25)
            last = 1.0 if i + 1 == len(ts) else 0.0
            sa, sb = math.sqrt(a), math.sqrt(1.0 - a)
            k.append((sa, sb, c_skip, c_out, math.sqrt(a_prev), math.sqrt(1.0 - a_prev), last))
        a0 = self.alphas[ts[0]] if ts else 1.0
        return _Plan(
            timesteps=ts, t=t, init_scale=math.sqrt(a0), noise_scale=math.sqrt(1.0 - a0),
            pure_noise_scale=1.0,
            c_in=tuple(1.0 for _ in ts), k=tuple(k),
        )

    def step(
        self, x: torch.Tensor, out: torch.Tensor, plan: _Plan, i: int, noise: Callable[[], torch.Tensor]
    ) -> torch.Tensor:
        sa, sb, c_skip, c_out, sa_prev, sb_prev, last = plan.k[i]
        if self.prediction == "epsilon":
            x0 = torch.add(x, out, alpha=-sb) * (1.0 / sa)
        elif self.prediction == "v_prediction":
            x0 = torch.add(x * sa, out, alpha=-sb)
        else:
            x0 = out.float()
        if getattr(self.config, "clip_sample", False):
            limit = float(self.config.clip_sample_range)
            x0 = x0.clamp(-limit, limit)
        denoised = torch.add(x * c_skip, x0, alpha=c_out)
        if last:
            return denoised
        return torch.add(denoised * sa_prev, noise(), alpha=sb_prev)


def _make_sampler(name: str, pipe_scheduler: Any, t_table: torch.Tensor) -> _Sampler:
    from diffusers import EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, LCMScheduler

    config = pipe_scheduler.config
    with warnings.catch_warnings():
        # numpy 2 deprecation raised inside diffusers' scheduler constructors; nothing of ours.
        warnings.filterwarnings("ignore", message="__array__ implementation", category=DeprecationWarning)
        if name == "euler":
            euler = EulerDiscreteScheduler.from_config(config, timestep_spacing="trailing")
            return _Euler(euler, t_table, ancestral=False)
        if name == "euler-a":
            ancestral = EulerAncestralDiscreteScheduler.from_config(config, timestep_spacing="trailing")
            return _Euler(ancestral, t_table, ancestral=True)
        return _LCM(LCMScheduler.from_config(config), t_table)


def _place(module: Any, device: torch.device, dtype: torch.dtype, memory: torch.memory_format | None) -> None:
    """Move a module only as far as needed (a no-op `.to(dtype)` still makes diffusers warn)."""
    param = next(module.parameters(), None)
    if param is not None and param.device != device:
        module.to(device=device)
    if param is not None and param.dtype != dtype:
        module.to(dtype=dtype)
    if memory is not None:
        module.to(memory_format=memory)


# -- request parsing -----------------------------------------------------------------------




def cover_crop(image: np.ndarray, aspect: float) -> np.ndarray:
    """The centred crop of an HWC image with the given width / height (a view, no copy).

    Resizing it to the frame then covers the frame without stretching (as vj.camera.cover_crop,
    to the nearest whole source pixel).
    """
    ih, iw = image.shape[:2]
    if iw > ih * aspect:
        cw = min(iw, max(1, round(ih * aspect)))
        left = (iw - cw) // 2
        return image[:, left : left + cw]
    ch = min(ih, max(1, round(iw / aspect)))
    top = (ih - ch) // 2
    return image[top : top + ch]


def check_size(size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) as ints; ValueError unless both are positive multiples of 8."""
    w, h = int(size[0]), int(size[1])
    if w <= 0 or h <= 0 or w % SIZE_MULTIPLE or h % SIZE_MULTIPLE:
        raise ValueError(
            f"frame size {w}x{h} is not supported: "
            f"width and height must be positive multiples of {SIZE_MULTIPLE}"
        )
    return w, h


@dataclass(frozen=True)
class _Settings:
    steps: int
    guidance: float
    scheduler: str
    strength: float
    feedback: float


# -- the engine's parts --------------------------------------------------------------------


class _Autoencoder:
    """TAESD (`pipe.taesd`, when the config asks for it and the pipeline has one) or the full VAE:
    images in [-1, 1] to scaled latents and back, in the dtype the autoencoder needs."""

    def __init__(self, pipe: Any, config: EngineConfig, memory: torch.memory_format) -> None:
        taesd = getattr(pipe, "taesd", None)
        self.module = taesd if config.vae == "taesd" and taesd is not None else pipe.vae
        self.tiny = self.module is taesd
        # SDXL's full VAE overflows in fp16: keep it in float32 when it says so, as diffusers does.
        force_upcast = bool(getattr(self.module.config, "force_upcast", False))
        upcast = not self.tiny and config.dtype == torch.float16 and force_upcast
        self.dtype = torch.float32 if upcast else config.dtype
        _place(self.module, torch.device(config.device), self.dtype, memory)
        cfg = self.module.config
        self._scale = float(getattr(cfg, "scaling_factor", 1.0) or 1.0)
        self._shift = float(getattr(cfg, "shift_factor", 0.0) or 0.0)
        self._memory = memory

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        image = image.contiguous(memory_format=self._memory)
        if self.tiny:
            latents = self.module.encode(image, return_dict=False)[0]
        else:
            # The posterior's mean, not a sample: the noise is ours (seeded, walked).
            latents = self.module.encode(image, return_dict=False)[0].mode()
        return (latents.float() - self._shift) * self._scale

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        z = (latents * (1.0 / self._scale) + self._shift).to(self.dtype)
        return self.module.decode(z.contiguous(memory_format=self._memory), return_dict=False)[0]


class _Conditioning:
    """What the UNet is conditioned on besides the latents: the blended prompt embeddings (batched
    with the negative prompt's for classifier-free guidance), SDXL's added embeddings, and the
    guidance embedding of an LCM-distilled UNet. Caches what repeats from frame to frame."""

    def __init__(self, pipe: Any, device: torch.device, dtype: torch.dtype, blend: str) -> None:
        unet_config = pipe.unet.config
        self.bank = PromptBank(pipe, device, dtype)
        self.sdxl = getattr(unet_config, "addition_embed_type", None) == "text_time"
        self.time_cond_dim: int | None = getattr(unet_config, "time_cond_proj_dim", None)
        self.device = device
        self.dtype = dtype
        self.blend = blend
        self._guidance_emb: tuple[float, torch.Tensor] | None = None
        self._cfg_embeds: tuple[Embeds, Embeds, torch.Tensor, torch.Tensor | None] | None = None
        self._time_ids: torch.Tensor | None = None

    def resize(self, w: int, h: int) -> None:
        if self.sdxl:
            # SDXL micro-conditioning: original size, crop top-left (0, 0), target size, as (h, w) pairs.
            self._time_ids = torch.tensor([[h, w, 0, 0, h, w]], dtype=self.dtype, device=self.device)

    def forget(self) -> None:
        """Drop the per-size and per-prompt device tensors (a new size, or out of memory)."""
        self._time_ids = None
        self._cfg_embeds = None

    def clear(self) -> None:
        self.forget()
        self.bank.clear()
        self._guidance_emb = None

    def cfg(self, guidance: float) -> bool:
        """Classifier-free guidance: above 1, unless the UNet takes guidance as an embedding."""
        return guidance > 1.0 and self.time_cond_dim is None

    def text(self, request: GenRequest, cfg: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The prompt embeddings and, for SDXL, the pooled ones (with cfg: negative, then prompt)."""
        cond = self.bank.blend(request.prompts, self.blend)
        if not cfg:
            return cond.prompt, cond.pooled
        neg = self.bank.negative(request.negative)
        cached = self._cfg_embeds
        if cached is None or cached[0] is not cond or cached[1] is not neg:
            prompt = torch.cat([neg.prompt, cond.prompt])
            pooled = None
            if cond.pooled is not None and neg.pooled is not None:
                pooled = torch.cat([neg.pooled, cond.pooled])
            cached = (cond, neg, prompt, pooled)
            self._cfg_embeds = cached
        return cached[2], cached[3]

    def added(self, pooled: torch.Tensor | None, cfg: bool) -> dict[str, torch.Tensor] | None:
        """SDXL's added conditioning (the pooled text embedding and the size); None for SD."""
        if not self.sdxl:
            return None
        assert self._time_ids is not None and pooled is not None
        ids = self._time_ids if not cfg else self._time_ids.expand(2, -1)
        return {"text_embeds": pooled, "time_ids": ids}

    def guidance_embedding(self, guidance: float) -> torch.Tensor | None:
        """LCM-distilled UNets take the guidance scale as an embedding (w = guidance - 1), not as CFG;
        None for other UNets."""
        if not self.time_cond_dim:
            return None
        if self._guidance_emb is not None and self._guidance_emb[0] == guidance:
            return self._guidance_emb[1]
        dim = int(self.time_cond_dim)
        half = dim // 2
        w = (max(guidance, 1.0) - 1.0) * 1000.0
        freqs = torch.exp(
            torch.arange(half, device=self.device, dtype=torch.float32) * (-math.log(10000.0) / (half - 1))
        )
        emb = torch.cat([torch.sin(freqs * w), torch.cos(freqs * w)]).unsqueeze(0)
        if dim % 2:
            emb = F.pad(emb, (0, 1))
        emb = emb.to(self.dtype)
        self._guidance_emb = (guidance, emb)
        return emb


class _Transfers:
    """Host <-> device copies for one frame size: on CUDA through pinned buffers and non-blocking
    copies (the frame's copy back is its only host sync), elsewhere plain tensors."""

    def __init__(self, device: torch.device, w: int, h: int) -> None:
        self.device = device
        self._frame: torch.Tensor | None = None  # pinned frame buffer (CUDA)
        self._finite: torch.Tensor | None = None
        self._theta: torch.Tensor | None = None
        self._camera: torch.Tensor | None = None  # pinned camera image, allocated at its first shape
        if device.type == "cuda":
            self._frame = torch.empty((h, w, 3), dtype=torch.uint8, pin_memory=True)
            self._finite = torch.empty((), dtype=torch.bool, pin_memory=True)
            self._theta = torch.empty((1, 2, 3), dtype=torch.float32, pin_memory=True)

    def image(self, image: np.ndarray, w: int, h: int, dtype: torch.dtype) -> torch.Tensor:
        """An RGB uint8 HWC host image -> NCHW [-1, 1] on the device at (h, w), cover-fit."""
        arr = np.asarray(image)
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.dtype != np.uint8 or 0 in arr.shape:
            raise ValueError(
                f"init_image must be RGB(A) uint8 (height, width, 3|4), got {arr.dtype} {arr.shape}"
            )
        arr = cover_crop(arr[:, :, :3], w / h)  # crop on the host: less to copy, then one resize
        if self.device.type == "cuda":
            if self._camera is None or tuple(self._camera.shape) != arr.shape:
                self._camera = torch.empty(arr.shape, dtype=torch.uint8, pin_memory=True)
            self._camera.numpy()[...] = arr
            dev = self._camera.to(self.device, non_blocking=True)
        else:
            arr = np.ascontiguousarray(arr)
            dev = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
        img = dev.permute(2, 0, 1).unsqueeze(0).to(torch.float32).mul_(2.0 / 255.0).sub_(1.0)
        if img.shape[-2:] != (h, w):
            img = F.interpolate(img, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        return img.to(dtype)

    def theta(self, theta: np.ndarray) -> torch.Tensor:
        """A (2, 3) warp matrix -> (1, 2, 3) on the device."""
        if self._theta is not None:
            self._theta.numpy()[...] = theta
            return self._theta.to(self.device, non_blocking=True)
        return torch.from_numpy(theta).unsqueeze(0)

    def frame(self, image: torch.Tensor) -> tuple[np.ndarray, bool]:
        """An NCHW [-1, 1] image -> a host HWC uint8 frame, rounded, and whether it was all finite."""
        finite = torch.isfinite(image).all()
        # With channels_last the decoder output is already HWC in memory, so the permute is free.
        hwc = image[0].permute(1, 2, 0)
        u8 = (hwc * 127.5 + 128.0).clamp_(0.0, 255.0).to(torch.uint8)
        if self._frame is not None and self._finite is not None:
            self._frame.copy_(u8, non_blocking=True)
            self._finite.copy_(finite, non_blocking=True)
            torch.cuda.current_stream(self.device).synchronize()  # the frame's only host sync
            return self._frame.numpy().copy(), bool(self._finite)
        return u8.contiguous().numpy(), bool(finite)


class _StageClock:
    """One frame's stage times in ms (STAGES, then "total"). Given a CUDA device to `sync`, it waits
    for the device at each mark, so the times are device times rather than the host's queueing."""

    def __init__(self, sync: torch.device | None) -> None:
        self._sync = sync
        self.times: dict[str, float] = {}
        self._start = self._last = time.perf_counter()

    def mark(self, stage: str) -> None:
        if self._sync is not None:
            torch.cuda.synchronize(self._sync)
        now = time.perf_counter()
        self.times[stage] = (now - self._last) * 1000.0
        self._last = now

    def finish(self) -> dict[str, float]:
        times = self.times
        total = (time.perf_counter() - self._start) * 1000.0
        times["overhead"] = max(0.0, total - sum(times[k] for k in STAGES if k in times))
        times["total"] = total
        return times


# -- the engine ----------------------------------------------------------------------------


class DiffusionEngine:
    """Turns GenRequests into frames with a diffusers SD/SDXL pipeline's components (see module doc).

    `profile=True` synchronises CUDA around every stage so `timings` are true per-stage
    device times (slower); without it, CUDA stage times only measure the host's queueing.
    The engine moves the pipeline's modules to the configured device, dtype and memory
    format in place.
    """

    def __init__(self, pipe: Any, config: EngineConfig | None = None, *, profile: bool = False) -> None:
        self.config = config or EngineConfig()
        self.profile = profile
        self.device = torch.device(self.config.device)
        self.dtype = self.config.dtype
        self.pipe = pipe
        unet = pipe.unet
        self._scale = int(getattr(pipe, "vae_scale_factor", 8))
        self._latent_channels = int(unet.config.in_channels)
        memory = torch.channels_last if self.config.channels_last else torch.contiguous_format
        self._memory = memory

        _place(unet, self.device, self.dtype, memory)
        self._ae = _Autoencoder(pipe, self.config, memory)
        for name in ("text_encoder", "text_encoder_2"):
            encoder = getattr(pipe, name, None)
            if encoder is not None:
                _place(encoder, self.device, self.dtype, None)
        self._cond = _Conditioning(pipe, self.device, self.dtype, self.config.blend)
        self.sdxl = self._cond.sdxl
        if self.sdxl:
            self._check_sdxl_dims(pipe)
        mode = self.config.compile_mode
        self._cudagraphs = mode in ("reduce-overhead", "max-autotune")  # the modes that capture CUDA graphs
        self._unet: Callable[..., Any] = unet
        if mode is not None:
            # Static shapes (dynamic=False): one graph per size and batch, no shape guards to re-check.
            self._unet = torch.compile(unet, mode=None if mode == "default" else mode, dynamic=False)

        train_steps = int(pipe.scheduler.config.num_train_timesteps)
        self._t_table = torch.arange(train_steps, device=self.device, dtype=torch.float32)
        self._samplers: dict[str, _Sampler] = {}
        self._walk = NoiseWalk()
        self._warned: set[str] = set()
        self._size: tuple[int, int] | None = None
        self._io: _Transfers | None = None  # for the current size
        self._prev: torch.Tensor | None = None  # last good output, NCHW in [-1, 1], on the device
        self._prev_time: float | None = None
        self.timings: dict[str, float] = {}

    # -- setup ---------------------------------------------------------------------------

    def _check_sdxl_dims(self, pipe: Any) -> None:
        te2 = getattr(pipe, "text_encoder_2", None)
        add = getattr(pipe.unet, "add_embedding", None)
        if te2 is None or add is None:
            return
        passed = int(pipe.unet.config.addition_time_embed_dim) * 6 + int(te2.config.projection_dim)
        expected = int(add.linear_1.in_features)
        if passed != expected:
            raise ValueError(
                f"SDXL UNet expects an added embedding of {expected} values but the pipeline gives {passed}: "
                "the UNet and text_encoder_2 configs do not match"
            )

    def _sampler(self, name: str) -> _Sampler:
        sampler = self._samplers.get(name)
        if sampler is None:
            sampler = _make_sampler(name, self.pipe.scheduler, self._t_table)
            self._samplers[name] = sampler
        return sampler

    def _ensure_size(self, w: int, h: int) -> _Transfers:
        io = self._io
        if self._size != (w, h) or io is None:
            self._drop_buffers()
            self._cond.resize(w, h)
            io = self._io = _Transfers(self.device, w, h)
            self._size = (w, h)
        return io

    def _drop_buffers(self) -> None:
        # A new size starts a new dream: the previous frame no longer fits.
        self._size = None
        self._prev = None
        self._prev_time = None
        self._io = None
        self._cond.forget()

    def reset(self) -> None:
        """Forget the previous frame: the next frame starts from noise."""
        self._prev = None
        self._prev_time = None

    def close(self) -> None:
        """Drop every device tensor and cache this engine holds (the pipeline itself stays with its owner)."""
        self._drop_buffers()
        self._cond.clear()
        self._walk.clear()
        self._samplers.clear()
        self._unet = None  # type: ignore[assignment]
        self.pipe = None

    # -- per-request settings ------------------------------------------------------------

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)

    def _settings(self, request: GenRequest) -> _Settings:
        params = request.params
        raw_steps = finite_number(params.get("steps", 1), 1.0)
        steps = int(round(raw_steps))
        if not 1 <= steps <= MAX_STEPS:
            self._warn_once("steps", "steps %s is outside 1-%d: clamped", params.get("steps"), MAX_STEPS)
            steps = min(MAX_STEPS, max(1, steps))
        guidance = max(0.0, finite_number(params.get("guidance", 0.0), 0.0))
        scheduler = params.get("scheduler", self.config.scheduler)
        if scheduler == "auto":  # the registry's default: whatever the preset's model chose
            scheduler = self.config.scheduler
        if scheduler not in SCHEDULERS:
            self._warn_once("scheduler", "unknown scheduler %r: using %s", scheduler, self.config.scheduler)
            scheduler = self.config.scheduler
        strength = min(1.0, max(0.0, finite_number(request.strength, 0.5)))
        feedback = min(1.0, max(0.0, finite_number(request.feedback, 1.0)))
        return _Settings(steps, guidance, str(scheduler), strength, feedback)

    # -- one frame -----------------------------------------------------------------------

    def generate(self, request: GenRequest) -> np.ndarray:
        """One RGB uint8 frame (h, w, 3), row 0 at the top. FloatingPointError on a NaN/inf frame."""
        w, h = check_size(request.size)
        try:
            with torch.inference_mode():
                return self._frame(request, w, h)
        except _OOM as exc:
            self._drop_buffers()
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            raise RuntimeError(
                f"out of GPU memory generating a {w}x{h} frame on {self.device}: "
                "try a smaller size, fewer steps, guidance <= 1 or vae: taesd"
            ) from exc

    def _frame(self, request: GenRequest, w: int, h: int) -> np.ndarray:
        clock = _StageClock(self.device if self.profile and self.device.type == "cuda" else None)
        io = self._ensure_size(w, h)
        s = self._settings(request)
        sampler = self._sampler(s.scheduler)
        cfg = self._cond.cfg(s.guidance)
        prompt_embeds, pooled = self._cond.text(request, cfg)
        clock.mark("text")

        init, strength = self._init(request, s, io, w, h)
        plan = sampler.plan(s.steps, strength)
        latents = self._ae.encode(init) if init is not None else None
        clock.mark("encode")

        shape = (1, self._latent_channels, h // self._scale, w // self._scale)
        seed, walk = int(request.seed), finite_number(request.seed_walk, 0.0)
        noise = self._walk.noise(seed, walk, shape, self.device, torch.float32)
        if latents is None:
            x = noise * plan.pure_noise_scale
        elif plan.timesteps:
            x = torch.add(latents * plan.init_scale, noise, alpha=plan.noise_scale)
        else:
            x = latents  # strength 0: nothing to denoise

        def step_noise(stream: int) -> torch.Tensor:
            return self._walk.noise(seed, walk, shape, self.device, torch.float32, stream=stream)

        x = self._denoise(x, plan, sampler, s.guidance, cfg, prompt_embeds, pooled, step_noise)
        clock.mark("unet")

        image = self._ae.decode(x)
        clock.mark("decode")

        frame, finite = io.frame(image)
        clock.mark("copy")
        if not finite:
            # Keep the last good frame as the next init: a NaN frame would poison the loop.
            raise FloatingPointError(f"the diffusion frame at t={request.time:.3f}s has NaN/inf values")
        self._prev = image.clamp(-1.0, 1.0)
        self._prev_time = finite_number(request.time, 0.0)
        self.timings = clock.finish()
        return frame

    def _init(
        self, request: GenRequest, s: _Settings, io: _Transfers, w: int, h: int
    ) -> tuple[torch.Tensor | None, float]:
        """The init image and the effective strength (module doc: feedback, strength and camera);
        (None, 1.0) when the frame starts from pure noise."""
        init: torch.Tensor | None = None
        strength = 1.0
        if self.config.mode == "img2img":
            mix = min(1.0, max(0.0, finite_number(request.init_mix, 1.0)))
            camera = request.init_image if mix > 0.0 else None  # mix 0: exactly the frame without it
            if camera is not None and (self._prev is None or mix >= 1.0):
                init, strength = io.image(camera, w, h, self._ae.dtype), s.strength
            elif self._prev is not None:
                init, strength = self._moved_prev(request, io, w, h), 1.0 - s.feedback * (1.0 - s.strength)
                if camera is not None:  # 0 < mix < 1: both on the device, no host round trip
                    init = torch.lerp(init, io.image(camera, w, h, self._ae.dtype), mix)
                    strength += (s.strength - strength) * mix
        if init is None or strength >= 1.0:
            return None, 1.0  # strength 1 ignores the init: pure noise, like txt2img
        return init, strength

    def _moved_prev(self, request: GenRequest, io: _Transfers, w: int, h: int) -> torch.Tensor:
        assert self._prev is not None and self._prev_time is not None
        dt = min(max(finite_number(request.time, 0.0) - self._prev_time, 0.0), MAX_STEP_S)
        if request.motion.still or dt == 0.0:
            return self._prev
        return warp(self._prev, io.theta(motion_theta(request.motion, dt, w / h)))

    def _denoise(
        self, x: torch.Tensor, plan: _Plan, sampler: _Sampler, guidance: float, cfg: bool,
        prompt_embeds: torch.Tensor, pooled: torch.Tensor | None, noise: Callable[[int], torch.Tensor],
    ) -> torch.Tensor:
        """One UNet call per planned timestep, each followed by its sampler step (`noise(k)`: the
        fresh noise of step k - 1, for stochastic samplers)."""
        added = self._cond.added(pooled, cfg)
        timestep_cond = self._cond.guidance_embedding(guidance)
        for i in range(len(plan.timesteps)):
            x_in = (x * plan.c_in[i]).to(self.dtype).contiguous(memory_format=self._memory)
            if cfg:
                x_in = torch.cat([x_in, x_in])
            if self._cudagraphs:
                torch.compiler.cudagraph_mark_step_begin()
            out = self._unet(
                x_in, plan.t[i], encoder_hidden_states=prompt_embeds, timestep_cond=timestep_cond,
                added_cond_kwargs=added, return_dict=False,
            )[0]
            if cfg:
                uncond, text = out.chunk(2)
                out = torch.lerp(uncond.float(), text.float(), guidance)
            x = sampler.step(x, out, plan, i, partial(noise, i + 1))
        return x


class DiffusionGenerator:
    """The Generator-protocol face of the engine: loads the pipeline lazily on the worker thread."""

    name = "diffusion"

    def __init__(
        self, load: Callable[[], Any], config: EngineConfig | None = None, *, profile: bool = False
    ) -> None:
        self._load = load
        self.config = config or EngineConfig()
        self._profile = profile
        self._pipe: Any = None
        self.engine: DiffusionEngine | None = None

    @property
    def timings(self) -> dict[str, float]:
        return {} if self.engine is None else self.engine.timings

    def generate(self, request: GenRequest) -> np.ndarray:
        if self.engine is None:
            self._pipe = self._load()
            self.engine = DiffusionEngine(self._pipe, self.config, profile=self._profile)
        return self.engine.generate(request)

    def warm_up(self, size: tuple[int, int], progress: Callable[[str], None] = lambda text: None) -> None:
        """Load the model and run one frame at `size` (a compile happens there), then forget that
        frame: before the first live frame, so the show never waits on either."""
        progress(f"loading on {self.config.device}")
        if self.engine is None:
            self._pipe = self._load()
            self.engine = DiffusionEngine(self._pipe, self.config, profile=self._profile)
        w, h = size
        progress(f"warming up at {w}x{h}" + (" (compiling)" if self.config.compile_mode else ""))
        self.engine.generate(GenRequest(time=0.0, size=size, prompts=(), seed=0, seed_walk=0.0, strength=0.5,
                                        feedback=1.0, params={"steps": 1}))
        self.engine.reset()

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
        self.engine = None
        self._pipe = None
        gc.collect()
        if torch.device(self.config.device).type == "cuda" and torch.cuda.is_available():
            torch.cuda.empty_cache()
