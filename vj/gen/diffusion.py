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
4. decode to uint8 RGBA on the device, copied to the host (vj.gen.transfers): on CUDA on a side
   stream into a pinned buffer, the frame's only host sync.

Steps 2-4 are one pure function of device tensors (vj.gen.frame), run eagerly, compiled or
replayed as a captured CUDA graph (vj.gen.runners, `compile:`); a knob move changes only the
tensors, never the compiled code. Warm-up (`warm_up`) compiles and captures the layouts a show
starts with before the first live frame.

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
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from vj.catalogue import COMPILE_MODES, FEEDBACK_SPACES
from vj.gen.base import GenRequest, finite_number
from vj.gen.conditioning import Autoencoder, Conditioning, place
from vj.gen.frame import FrameCore, FrameInputs, Layout, warp
from vj.gen.noise import NoiseWalk
from vj.gen.prompts import BLEND_MODES
from vj.gen.runners import GRAPH_MODES, FrameRunner
from vj.gen.samplers import CAMERA_MIX, GUIDANCE, MAX_STEPS, SCHEDULERS, Sampler, make_sampler
from vj.gen.transfers import Transfers, cover_crop
from vj.motion import flow_matrix
from vj.vocabulary import MotionRates

__all__ = ["DiffusionEngine", "DiffusionGenerator", "EngineConfig", "check_size", "cover_crop", "motion_theta",
           "warp"]

log = logging.getLogger(__name__)

VAES = ("taesd", "full")
MODES = ("img2img", "txt2img")
MAX_STEP_S = 1.0  # longest camera step between two frames; a longer gap is a pause, not motion
# Stage times: "encode", "unet", "decode" when the frame runs eagerly; "frame" (all three) when it
# is compiled or replayed as a graph, which has no stages inside.
STAGES = ("text", "encode", "unet", "decode", "frame", "copy", "overhead")
SIZE_MULTIPLE = 8

_OOM: type[BaseException] = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


@dataclass(frozen=True)
class EngineConfig:
    """How the engine runs a pipeline.

    `compile`: one of vj.gen.runners.COMPILE_MODES ("auto" picks the fastest that is correct on the
    device; True and False still mean "default" and "off"). `feedback_space`: "pixels" or "latents"
    (vj.gen.frame). `text_thread`: encode a new prompt on a thread and blend it in when ready,
    instead of inside the frame (live shows; renders want every prompt on its own frame).
    `fuse_qkv`: fuse the attention projections where diffusers offers it (one matmul, not three).
    """

    device: str = "cpu"
    dtype: torch.dtype = torch.float32
    scheduler: str = "euler"  # "euler" (sd-turbo's, trailing), "euler-a" (ancestral), "lcm"
    blend: str = "lerp"  # prompt blend: "lerp" or "slerp" (see vj.gen.prompts)
    vae: str = "taesd"  # "taesd" (pipe.taesd when present) or "full"
    mode: str = "img2img"  # "img2img" (feedback loop) or "txt2img" (every frame from noise)
    channels_last: bool = True
    compile: bool | str = "off"
    feedback_space: str = "pixels"
    text_thread: bool = False
    fuse_qkv: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.compile, bool):
            object.__setattr__(self, "compile", "default" if self.compile else "off")
        for name, value, allowed in (
            ("scheduler", self.scheduler, SCHEDULERS),
            ("blend", self.blend, BLEND_MODES),
            ("vae", self.vae, VAES),
            ("mode", self.mode, MODES),
            ("compile", self.compile, COMPILE_MODES),
            ("feedback_space", self.feedback_space, FEEDBACK_SPACES),
        ):
            if value not in allowed:
                raise ValueError(f"unknown {name} {value!r}: expected one of {', '.join(allowed)}")
        torch.device(self.device)  # raises on a malformed device string


def motion_theta(rates: MotionRates, dt: float, aspect: float) -> np.ndarray:
    """The (2, 3) `affine_grid` matrix that moves the previous frame by `dt` seconds of camera motion.

    `flow_matrix` maps view points to content points (which content a screen point shows
    after the step); affine_grid maps output to input coordinates in normalised image
    space (x right, y down, -1..1 across the frame), so conjugate by that change of basis.
    """
    to_view = np.diag([0.5 * aspect, -0.5, 1.0])  # normalised (y down) -> view (y up, units of height)
    m = np.linalg.inv(to_view) @ flow_matrix(rates, dt) @ to_view
    return m[:2].astype(np.float32)


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


@dataclass(frozen=True)
class Launched:
    """A frame queued on the device (DiffusionEngine.launch), to `finish`."""

    request: GenRequest
    layout: Layout
    io: Transfers
    ticket: int
    feedback: torch.Tensor
    clock: _StageClock
    index: int  # launches so far, this one included


@dataclass(frozen=True)
class _Init:
    """Where a frame starts: `kind` (vj.gen.frame.INITS), the effective strength, the camera on the
    device and its mix."""

    kind: str
    strength: float
    camera: torch.Tensor | None = None
    mix: float = 0.0


def settings(request: GenRequest, default_scheduler: str, warn_once: Callable[..., None]) -> _Settings:
    """The request's steps, guidance, scheduler, strength and feedback, clamped (`warn_once(key, message,
    *args)` says what was wrong, once)."""
    params = request.params
    raw_steps = finite_number(params.get("steps", 1), 1.0)
    steps = int(round(raw_steps))
    if not 1 <= steps <= MAX_STEPS:
        warn_once("steps", "steps %s is outside 1-%d: clamped", params.get("steps"), MAX_STEPS)
        steps = min(MAX_STEPS, max(1, steps))
    guidance = max(0.0, finite_number(params.get("guidance", 0.0), 0.0))
    scheduler = params.get("scheduler", default_scheduler)
    if scheduler == "auto":  # the registry's default: whatever the preset's model chose
        scheduler = default_scheduler
    if scheduler not in SCHEDULERS:
        warn_once("scheduler", "unknown scheduler %r: using %s", scheduler, default_scheduler)
        scheduler = default_scheduler
    strength = min(1.0, max(0.0, finite_number(request.strength, 0.5)))
    feedback = min(1.0, max(0.0, finite_number(request.feedback, 1.0)))
    return _Settings(steps, guidance, str(scheduler), strength, feedback)


def _check_sdxl_dims(pipe: Any) -> None:
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


class _StageClock:
    """One frame's stage times in ms (STAGES, then "total"). With `events` (CUDA, profiling) each mark
    records a CUDA event, so a stage is device time rather than the host's queueing; elsewhere, host
    time (which on the CPU is the work itself)."""

    def __init__(self, events: bool) -> None:
        self._events = events
        self._start = time.perf_counter()
        self._marks: list[tuple[str, Any]] = [("", self._now())]

    def _now(self) -> Any:
        if self._events:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def mark(self, stage: str, at: Any = None) -> None:
        self._marks.append((stage, self._now() if at is None else at))

    def finish(self) -> dict[str, float]:
        total = (time.perf_counter() - self._start) * 1000.0
        times: dict[str, float] = {}
        for (_, a), (stage, b) in zip(self._marks, self._marks[1:]):
            times[stage] = a.elapsed_time(b) if self._events else (b - a) * 1000.0
        times["overhead"] = max(0.0, total - sum(times.values()))
        times["total"] = total
        return times


def _fuse_qkv(*modules: Any) -> None:
    for module in modules:
        fuse = getattr(module, "fuse_qkv_projections", None)
        if fuse is not None:
            fuse()


class DiffusionEngine:
    """Turns GenRequests into frames with a diffusers SD/SDXL pipeline's components (see module doc).

    `profile=True` records per-stage times (`timings`) with CUDA events on a GPU; without it a GPU
    frame reports only its total. The engine moves the pipeline's modules to the configured
    device, dtype and memory format in place.
    """

    def __init__(self, pipe: Any, config: EngineConfig | None = None, *, profile: bool = False) -> None:
        self.config = config = config or EngineConfig()
        self.profile = profile
        self.device = torch.device(config.device)
        self.dtype = config.dtype
        self.pipe = pipe
        unet = pipe.unet
        self._scale = int(getattr(pipe, "vae_scale_factor", 8))
        self._latent_channels = int(unet.config.in_channels)
        memory = torch.channels_last if config.channels_last else torch.contiguous_format
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # static shapes: pick each convolution's fastest kernel once

        place(unet, self.device, self.dtype, memory)
        self._ae = Autoencoder(pipe, config.vae, self.device, self.dtype, memory)
        for name in ("text_encoder", "text_encoder_2"):
            encoder = getattr(pipe, name, None)
            if encoder is not None:
                place(encoder, self.device, self.dtype, None)
        if config.fuse_qkv:
            _fuse_qkv(unet, self._ae.module)
        self._cond = Conditioning(pipe, self.device, self.dtype, config.blend, background=config.text_thread)
        self.sdxl = self._cond.sdxl
        if self.sdxl:
            _check_sdxl_dims(pipe)
        self._samplers: dict[str, Sampler] = {}
        self._runner = FrameRunner(FrameCore(unet, self._ae, self._sampler, self.dtype, memory), config.compile,
                                   self.device)
        self._walk = NoiseWalk()
        self._warned: set[str] = set()
        self._size: tuple[int, int] | None = None
        self._io: Transfers | None = None  # for the current size
        self._prev: torch.Tensor | None = None  # the last good frame's feedback (image or latents), on the device
        self._prev_time: float | None = None
        self._good: torch.Tensor | None = None  # the last finished frame's feedback that was finite
        self._good_time: float | None = None
        self._launches = 0
        self._poisoned_upto = 0  # frames launched up to this one started from a NaN frame
        self.timings: dict[str, float] = {}
        self.warmup_seconds = 0.0

    @property
    def compile_mode(self) -> str:
        """The mode frames run in now (vj.gen.runners), after "auto" and any fallback."""
        return self._runner.mode

    @property
    def degraded(self) -> str | None:
        """Why the compile mode asked for was given up, if it was."""
        return self._runner.degraded

    # -- setup ---------------------------------------------------------------------------

    def _sampler(self, name: str) -> Sampler:
        sampler = self._samplers.get(name)
        if sampler is None:
            sampler = self._samplers[name] = make_sampler(name, self.pipe.scheduler)
        return sampler

    def _ensure_size(self, w: int, h: int) -> Transfers:
        io = self._io
        if self._size != (w, h) or io is None:
            self._drop_buffers()
            self._cond.resize(w, h)
            io = self._io = Transfers(self.device, w, h)
            self._size = (w, h)
        return io

    def _drop_buffers(self) -> None:
        # A new size starts a new dream: the previous frame no longer fits.
        self._size = None
        self._io = None
        self.reset()
        self._cond.forget()

    def reset(self) -> None:
        """Forget the previous frame: the next frame starts from noise."""
        self._prev = self._good = None
        self._prev_time = self._good_time = None

    def close(self) -> None:
        """Drop every device tensor and cache this engine holds (the pipeline itself stays with its owner)."""
        self._drop_buffers()
        self._runner.clear()
        self._cond.close()
        self._walk.clear()
        self._samplers.clear()
        self.pipe = None

    def warm_up(self, size: tuple[int, int], params: dict[str, Any] | None = None) -> float:
        """Run the layouts a show starts with at `size` (from noise, then the previous frame moving and
        still), so their compilation and graph capture happen now, not on a live frame; then forget
        those frames. `params`: the show's steps, guidance and scheduler. Returns the seconds taken."""
        started = time.perf_counter()
        base = GenRequest(time=0.0, size=size, prompts=(), seed=0, seed_walk=0.0, strength=0.5, feedback=1.0,
                          params=dict(params or {"steps": 1}))
        for request in (base, replace(base, time=0.1, motion=MotionRates(zoom=0.1)), replace(base, time=0.2)):
            self.generate(request)
        self.reset()
        self.warmup_seconds = time.perf_counter() - started
        return self.warmup_seconds

    # -- per-request settings ------------------------------------------------------------

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)

    def _settings(self, request: GenRequest) -> _Settings:
        return settings(request, self.config.scheduler, self._warn_once)

    # -- one frame -----------------------------------------------------------------------

    def generate(self, request: GenRequest, *, copy: bool = True) -> np.ndarray:
        """One RGBA uint8 frame (h, w, 4), opaque, row 0 at the top. FloatingPointError on a NaN/inf
        frame. `copy=False` may return a pinned buffer that the frame after next overwrites."""
        return self.finish(self.launch(request), copy=copy)

    def launch(self, request: GenRequest) -> Launched:
        """Queue one frame's work (on the CPU: do it) and start its copy to the host; `finish` it.
        Launching frame k+1 before finishing frame k lets k+1's work overlap k's copy and the
        host's hand-over (vj.gen.host). At most two frames may be launched and not finished."""
        w, h = check_size(request.size)
        with self._out_of_memory(w, h), torch.inference_mode():
            return self._launch(request, w, h)

    def finish(self, launched: Launched, *, copy: bool = True) -> np.ndarray:
        """The launched frame on the host (see `generate`)."""
        w, h = launched.layout.width, launched.layout.height
        with self._out_of_memory(w, h):
            frame, finite = launched.io.wait(launched.ticket)
        launched.clock.mark("copy", launched.io.done if self.profile and launched.io.cuda else None)
        if launched.index <= self._poisoned_upto:
            raise FloatingPointError(f"the diffusion frame at t={launched.request.time:.3f}s follows a NaN frame")
        if not finite:
            # The next frame must not start from this one: back to the last good frame (a captured
            # graph's feedback buffer holds the bad one: start from noise then), and frames already
            # launched from it are dropped too.
            self._poisoned_upto = self._launches
            self._prev = None if self._runner.mode in GRAPH_MODES else self._good
            self._prev_time = self._good_time if self._prev is not None else None
            raise FloatingPointError(f"the diffusion frame at t={launched.request.time:.3f}s has NaN/inf values")
        if self._runner.mode not in GRAPH_MODES:
            self._good, self._good_time = launched.feedback, finite_number(launched.request.time, 0.0)
        self.timings = launched.clock.finish()
        return frame.copy() if copy and self.device.type == "cuda" else frame

    @contextmanager
    def _out_of_memory(self, w: int, h: int) -> Iterator[None]:
        try:
            yield
        except _OOM as exc:
            self._drop_buffers()
            self._runner.clear()
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            raise RuntimeError(
                f"out of GPU memory generating a {w}x{h} frame on {self.device}: "
                "try a smaller size, fewer steps, guidance <= 1 or vae: taesd"
            ) from exc

    def _launch(self, request: GenRequest, w: int, h: int) -> Launched:
        clock = _StageClock(self.profile and self.device.type == "cuda")
        io = self._ensure_size(w, h)
        s = self._settings(request)
        sampler = self._sampler(s.scheduler)
        cfg = self._cond.cfg(s.guidance)
        prompt, pooled = self._cond.text(request, cfg)
        clock.mark("text")

        init = self._init(request, s, io, w, h)
        plan = sampler.plan(s.steps, init.strength)
        scalars = plan.scalars.copy()
        scalars[CAMERA_MIX], scalars[GUIDANCE] = init.mix, s.guidance
        theta = self._theta(request, init, io, w / h)
        layout = Layout(w, h, plan.steps, init.kind, theta is not None, cfg, sampler.name,
                        self.config.feedback_space == "latents")
        inputs = FrameInputs(
            io.upload("scalars", scalars), self._noises(request, sampler, plan.steps, w, h), prompt, pooled,
            self._cond.time_ids(), self._cond.guidance_embedding(s.guidance),
            self._prev if init.kind in ("prev", "mix") else None, theta, init.camera,
        )
        eager = self._runner.mode == "off"
        out = self._runner.run(layout, inputs, clock.mark if eager else None)
        if not eager:
            clock.mark("frame")
        ticket = io.start(out.rgba, out.finite)
        self._launches += 1
        self._prev = out.feedback
        self._prev_time = finite_number(request.time, 0.0)
        return Launched(request, layout, io, ticket, out.feedback, clock, self._launches)

    def _init(self, request: GenRequest, s: _Settings, io: Transfers, w: int, h: int) -> _Init:
        """Where the frame starts and its effective strength (module doc: feedback, strength and camera)."""
        kind, strength, mix = "noise", 1.0, 0.0
        camera = None
        if self.config.mode == "img2img":
            mix = min(1.0, max(0.0, finite_number(request.init_mix, 1.0)))
            camera = request.init_image if mix > 0.0 else None  # mix 0: exactly the frame without it
            if camera is not None and (self._prev is None or mix >= 1.0):
                kind, strength = "camera", s.strength
            elif self._prev is not None:
                kind, strength = "prev", 1.0 - s.feedback * (1.0 - s.strength)
                if camera is not None:  # 0 < mix < 1: both on the device, no host round trip
                    kind = "mix"
                    strength += (s.strength - strength) * mix
        if kind == "noise" or strength >= 1.0:
            return _Init("noise", 1.0)  # strength 1 ignores the init: pure noise, like txt2img
        on_device = io.image(camera, w, h, self._ae.dtype) if kind != "prev" and camera is not None else None
        return _Init(kind, strength, on_device, mix if kind == "mix" else 0.0)

    def _theta(self, request: GenRequest, init: _Init, io: Transfers, aspect: float) -> torch.Tensor | None:
        """The warp of the previous frame since it was made; None when it stays still."""
        if init.kind not in ("prev", "mix") or self._prev_time is None or request.motion.still:
            return None
        dt = min(max(finite_number(request.time, 0.0) - self._prev_time, 0.0), MAX_STEP_S)
        if dt == 0.0:
            return None
        return io.upload("theta", motion_theta(request.motion, dt, aspect)[None])

    def _noises(self, request: GenRequest, sampler: Sampler, steps: int, w: int, h: int) -> tuple[torch.Tensor, ...]:
        """The start noise at the seed-walk position, then a fresh one per later step if the sampler
        re-noises (stream k for step k)."""
        shape = (1, self._latent_channels, h // self._scale, w // self._scale)
        seed, walk = int(request.seed), finite_number(request.seed_walk, 0.0)
        streams = range(steps) if sampler.stochastic else range(1)
        return tuple(self._walk.noise(seed, walk, shape, self.device, torch.float32, stream=k) for k in streams)


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

    @property
    def summary(self) -> str:
        """How it runs, for the HUD: the compile mode and the warm-up's seconds."""
        if self.engine is None:
            return ""
        degraded = f" ({self.engine.degraded})" if self.engine.degraded else ""
        return f"compile {self.engine.compile_mode}{degraded}, warm-up {self.engine.warmup_seconds:.1f} s"

    def _engine(self) -> DiffusionEngine:
        if self.engine is None:
            self._pipe = self._load()
            self.engine = DiffusionEngine(self._pipe, self.config, profile=self._profile)
        return self.engine

    @property
    def pipelined(self) -> bool:
        """Whether `launch`/`finish` overlap anything: on a GPU the next frame's work runs while the
        host takes the last one (vj.gen.host); on the CPU `launch` does the whole frame."""
        return torch.device(self.config.device).type == "cuda"

    def generate(self, request: GenRequest) -> np.ndarray:
        # No copy: the generator's host writes the frame into its ring before asking for the next.
        return self._engine().generate(request, copy=False)

    def launch(self, request: GenRequest) -> Launched:
        return self._engine().launch(request)

    def finish(self, launched: Launched) -> np.ndarray:
        return self._engine().finish(launched, copy=False)

    def warm_up(self, size: tuple[int, int], progress: Callable[[str], None] = lambda text: None,
                params: dict[str, Any] | None = None) -> float:
        """Load the model and warm it up at `size` (DiffusionEngine.warm_up): before the first live
        frame, so the show never waits on either. Returns the warm-up seconds."""
        progress(f"loading on {self.config.device}")
        engine = self._engine()
        w, h = size
        progress(f"warming up at {w}x{h}, compile {engine.compile_mode}")
        seconds = engine.warm_up(size, params)
        progress(self.summary)
        return seconds

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
        self.engine = None
        self._pipe = None
        gc.collect()
        if torch.device(self.config.device).type == "cuda" and torch.cuda.is_available():
            torch.cuda.empty_cache()
