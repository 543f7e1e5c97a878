"""Which backend a preset asks for, as a `BackendSpec` a generator process builds (vj.gen.host).

A spec is plain, picklable data: it crosses into the child, which builds the backend there
(`build`), so torch, diffusers and GL are only ever imported in the child.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from vj.config.preset import Preset
from vj.gen.base import Generator, GeneratorUnavailable
from vj.gen.gradient import GradientGenerator

KINDS = ("diffusion", "procedural", "gradient", "custom")


@dataclass(frozen=True)
class BackendSpec:
    """One backend of a chain. `custom` builds `target` ("module:factory"): tests, benchmarks."""

    kind: str
    label: str  # what the HUD and the log call it: the model for diffusion
    size: tuple[int, int] = (512, 512)  # the preset's frame size: the warm-up frame's
    target: str = ""
    model: str = ""
    device: str = "auto"
    dtype: str = "auto"
    scheduler: str = "auto"
    blend: str = "lerp"
    vae: str = "taesd"
    mode: str = "img2img"
    compile: str = "auto"  # vj.catalogue.COMPILE_MODES
    feedback_space: str = "pixels"
    steps: int = 1  # the preset's steps and guidance: the warm-up runs the layouts the show will
    guidance: float = 0.0
    live: bool = False  # a live show: a new prompt is encoded off the frame's path (renders keep it on)
    where: str = ""  # the preset file, for messages

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown backend kind {self.kind!r}: expected one of {', '.join(KINDS)}")

    @property
    def slow_start(self) -> bool:
        """Loading takes seconds to minutes: the show keeps dreaming with something else meanwhile."""
        return self.kind == "diffusion"


PROCEDURAL = BackendSpec("procedural", "procedural")
GRADIENT = BackendSpec("gradient", "gradient")


def diffusion_spec(preset: Preset, *, live: bool = False, compile: str | None = None) -> BackendSpec:
    """`compile`: the command line's `--compile`, over the preset's."""
    return BackendSpec("diffusion", preset.model or "diffusion", preset.size, model=preset.model,
                       device=preset.device, dtype=preset.dtype, scheduler=preset.scheduler, blend=preset.blend,
                       vae=preset.vae, mode=preset.mode, compile=compile or preset.compile,
                       feedback_space=preset.feedback_space, steps=preset.steps, guidance=preset.guidance, live=live,
                       where=preset.path)


def chain(preset: Preset, *, live: bool = False, compile: str | None = None) -> tuple[BackendSpec, ...]:
    """The backend a preset asks for, then its fallbacks in order: never a black stage."""
    if preset.generator == "procedural":
        return (PROCEDURAL, GRADIENT)
    return (diffusion_spec(preset, live=live, compile=compile), PROCEDURAL, GRADIENT)


def default_threads() -> int:
    """Compute threads for a generator: every core but one, which the render process keeps."""
    return max(1, (os.cpu_count() or 2) - 1)


# -- in the child ----------------------------------------------------------------------------------


def build(spec: BackendSpec, progress: Callable[[str], None] = lambda text: None) -> Generator:
    """The backend, ready for its first frame (a diffusion model loaded and warmed up)."""
    if spec.kind == "gradient":
        return GradientGenerator()
    if spec.kind == "procedural":
        from vj.gen.procedural import ProceduralGenerator

        return ProceduralGenerator()
    if spec.kind == "custom":
        from vj.proc.child import resolve

        return resolve(spec.target)()
    return _diffusion(spec, progress)


def _diffusion(spec: BackendSpec, progress: Callable[[str], None]) -> Generator:
    from vj.extras import MissingExtra, require

    try:
        require("diffusion")  # `pip install vj` without the extra: the show falls back, and says why
    except MissingExtra as exc:
        raise GeneratorUnavailable(str(exc)) from None
    # Imported here: torch and diffusers are heavy, and only diffusion needs them.
    from vj.catalogue import resolve_model
    from vj.gen.device import pick_device, pick_dtype
    from vj.gen.diffusion import DiffusionGenerator, EngineConfig
    from vj.gen.models import load_pipeline

    try:
        model = resolve_model(spec.model)
        device = pick_device(spec.device)
    except (ValueError, RuntimeError) as exc:
        raise GeneratorUnavailable(f"{spec.where}: {exc}" if spec.where else str(exc)) from None
    dtype = pick_dtype(spec.dtype, device)
    scheduler = spec.scheduler if spec.scheduler != "auto" else ("lcm" if model.scheduler == "lcm" else "euler")
    config = EngineConfig(device=str(device), dtype=dtype, scheduler=scheduler, blend=spec.blend, vae=spec.vae,
                          mode=spec.mode, compile=spec.compile, feedback_space=spec.feedback_space,
                          text_thread=spec.live)
    generator = DiffusionGenerator(
        lambda: load_pipeline(model, device=str(device), dtype=dtype, vae=spec.vae), config)  # type: ignore[arg-type]
    generator.warm_up(spec.size, progress, {"steps": spec.steps, "guidance": spec.guidance})
    return generator
