"""Samplers rebuilt from a pipeline scheduler's config, with every per-frame number as a device tensor.

Why tensors: a whole frame runs as one compiled function or one captured CUDA graph, and a
Python float inside it is a constant of that compilation: a strength move would recompile or
re-capture. So a plan's numbers (timesteps, input scales, sampler constants) are packed into one
float vector (`Plan.scalars`), copied to the device once per frame, and the sampler reads its
constants from slices of it. Only the structure (the number of steps, the sampler, the
prediction type) shapes the compiled code.

Scalar layout: INIT_SCALE, NOISE_SCALE, PURE_NOISE_SCALE, CAMERA_MIX, GUIDANCE, then per step i, at
HEAD + i * STRIDE: the UNet timestep, the UNet input scale, and the sampler's own constants.
"""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

SCHEDULERS = ("euler", "euler-a", "lcm")
PLAN_ENTRIES = 256  # cached plans (one per distinct timestep tuple)

INIT_SCALE, NOISE_SCALE, PURE_NOISE_SCALE, CAMERA_MIX, GUIDANCE = range(5)
HEAD = 5
STRIDE = 9  # timestep, c_in, then up to 7 sampler constants
MAX_STEPS = 4
SCALARS = HEAD + MAX_STEPS * STRIDE


@dataclass(frozen=True)
class Plan:
    """One (sampler, timesteps) pair, precomputed: its numbers as host floats (`scalars`, see the
    module doc); a frame writes its camera mix and guidance into a copy."""

    timesteps: tuple[int, ...]
    scalars: np.ndarray  # float32, SCALARS long; read-only

    @property
    def steps(self) -> int:
        return len(self.timesteps)


def step_slice(scalars: torch.Tensor, i: int) -> torch.Tensor:
    """Step i's numbers: [timestep, c_in, constants...] (a view)."""
    return scalars[HEAD + i * STRIDE : HEAD + (i + 1) * STRIDE]


class Sampler:
    """The plan cache and the per-step update; subclasses give the timesteps and constants."""

    name = ""
    stochastic = False  # draws fresh noise between steps

    def __init__(self, scheduler: Any) -> None:
        self.config = scheduler.config
        self.train_steps = int(self.config.num_train_timesteps)
        self.alphas = [float(a) for a in scheduler.alphas_cumprod]
        self.prediction = str(self.config.prediction_type)
        if self.prediction not in ("epsilon", "v_prediction", "sample"):
            raise ValueError(f"unsupported prediction_type {self.prediction!r}")
        self._plans: OrderedDict[tuple[int, ...], Plan] = OrderedDict()

    def timesteps(self, steps: int, strength: float) -> tuple[int, ...]:
        span = strength * self.train_steps
        out: list[int] = []
        for i in range(steps):
            t = round(span * (steps - i) / steps) - 1
            if t >= 0 and (not out or t < out[-1]):
                out.append(min(t, self.train_steps - 1))
        return tuple(out)

    def plan(self, steps: int, strength: float) -> Plan:
        ts = self.timesteps(steps, strength)
        hit = self._plans.get(ts)
        if hit is not None:
            self._plans.move_to_end(ts)
            return hit
        head, per_step = self._constants(ts)
        scalars = np.zeros(SCALARS, np.float32)
        scalars[:3] = head
        for i, (c_in, consts) in enumerate(per_step):
            at = HEAD + i * STRIDE
            scalars[at : at + 2 + len(consts)] = (ts[i], c_in, *consts)
        scalars.flags.writeable = False
        plan = Plan(ts, scalars)
        self._plans[ts] = plan
        while len(self._plans) > PLAN_ENTRIES:
            self._plans.popitem(last=False)
        return plan

    def _constants(
        self, ts: tuple[int, ...]
    ) -> tuple[tuple[float, float, float], list[tuple[float, tuple[float, ...]]]]:
        """((init_scale, noise_scale, pure_noise_scale), [(c_in, constants) per step])."""
        raise NotImplementedError

    def step(self, x: torch.Tensor, out: torch.Tensor, c: torch.Tensor, last: bool, noise: torch.Tensor | None
             ) -> torch.Tensor:
        """One update; `c` is the step's slice (step_slice), `noise` this step's fresh noise when stochastic."""
        raise NotImplementedError


class Euler(Sampler):
    """Euler (or Euler ancestral) on sigmas, x = x0 + sigma * noise: sd-turbo's sampler.
    Constants per step: sigma, sigma_down / sigma, sigma_up."""

    def __init__(self, scheduler: Any, ancestral: bool) -> None:
        super().__init__(scheduler)
        self.name = "euler-a" if ancestral else "euler"
        self.stochastic = ancestral
        self.sigmas = [math.sqrt((1.0 - a) / a) for a in self.alphas]

    def _constants(self, ts: tuple[int, ...]) -> tuple[tuple[float, float, float], list]:
        sig = [self.sigmas[v] for v in ts] + [0.0]
        per_step = []
        for i in range(len(ts)):
            s, nxt = sig[i], sig[i + 1]
            if self.stochastic:
                up = math.sqrt(max(0.0, nxt**2 * (s**2 - nxt**2) / s**2))
                down = math.sqrt(max(0.0, nxt**2 - up**2))
            else:
                up, down = 0.0, nxt
            per_step.append((1.0 / math.sqrt(s * s + 1.0), (s, down / s, up)))
        s0 = sig[0] if ts else 0.0
        pure = self.sigmas[self.train_steps - 1] if not ts else s0
        return (1.0, s0, pure), per_step

    def step(self, x: torch.Tensor, out: torch.Tensor, c: torch.Tensor, last: bool, noise: torch.Tensor | None
             ) -> torch.Tensor:
        sigma, ratio, up = c[2], c[3], c[4]
        if self.prediction == "epsilon":
            x0 = x - out * sigma
        elif self.prediction == "v_prediction":
            var = sigma * sigma + 1.0
            x0 = x / var - out * (sigma / var.sqrt())
        else:
            x0 = out.float()
        # x0 + (sigma_next / sigma) * (x - x0): the Euler step; exactly x0 on the last step.
        x = torch.lerp(x0, x, ratio)
        if noise is not None and not last:
            x = x + noise * up
        return x


class LCM(Sampler):
    """Latent consistency sampling: predict x0 with boundary-condition scalings, re-noise between steps.
    Constants per step: sqrt(a), sqrt(1 - a), c_skip, c_out, sqrt(a_prev), sqrt(1 - a_prev)."""

    name = "lcm"
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

    def _constants(self, ts: tuple[int, ...]) -> tuple[tuple[float, float, float], list]:
        scaling = float(getattr(self.config, "timestep_scaling", 10.0))
        final_alpha = 1.0 if getattr(self.config, "set_alpha_to_one", True) else self.alphas[0]
        per_step = []
        for i, v in enumerate(ts):
            a = self.alphas[v]
            a_prev = self.alphas[ts[i + 1]] if i + 1 < len(ts) else final_alpha
            scaled = v * scaling
            c_skip = 0.25 / (scaled * scaled + 0.25)  # sigma_data = 0.5
            c_out = scaled / math.sqrt(scaled * scaled + 0.25)
            per_step.append((1.0, (math.sqrt(a), math.sqrt(1.0 - a), c_skip, c_out, math.sqrt(a_prev),
                                   math.sqrt(1.0 - a_prev))))
        a0 = self.alphas[ts[0]] if ts else 1.0
        return (math.sqrt(a0), math.sqrt(1.0 - a0), 1.0), per_step

    def step(self, x: torch.Tensor, out: torch.Tensor, c: torch.Tensor, last: bool, noise: torch.Tensor | None
             ) -> torch.Tensor:
        sa, sb, c_skip, c_out, sa_prev, sb_prev = c[2], c[3], c[4], c[5], c[6], c[7]
        if self.prediction == "epsilon":
            x0 = (x - out * sb) / sa
        elif self.prediction == "v_prediction":
            x0 = x * sa - out * sb
        else:
            x0 = out.float()
        if getattr(self.config, "clip_sample", False):
            limit = float(self.config.clip_sample_range)
            x0 = x0.clamp(-limit, limit)
        denoised = x * c_skip + x0 * c_out
        if last or noise is None:
            return denoised
        return denoised * sa_prev + noise * sb_prev


def make_sampler(name: str, pipe_scheduler: Any) -> Sampler:
    from diffusers import EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, LCMScheduler

    config = pipe_scheduler.config
    with warnings.catch_warnings():
        # numpy 2 deprecation raised inside diffusers' scheduler constructors; nothing of ours.
        warnings.filterwarnings("ignore", message="__array__ implementation", category=DeprecationWarning)
        if name == "euler":
            return Euler(EulerDiscreteScheduler.from_config(config, timestep_spacing="trailing"), ancestral=False)
        if name == "euler-a":
            scheduler = EulerAncestralDiscreteScheduler.from_config(config, timestep_spacing="trailing")
            return Euler(scheduler, ancestral=True)
        if name == "lcm":
            return LCM(LCMScheduler.from_config(config))
    raise ValueError(f"unknown scheduler {name!r}: expected one of {', '.join(SCHEDULERS)}")
