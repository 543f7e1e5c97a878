"""Which backend a preset asks for, as worker factories (the backend is built on the worker thread)."""

from __future__ import annotations

from vj.config.preset import Preset
from vj.gen.base import Generator, GeneratorUnavailable
from vj.gen.gradient import GradientGenerator
from vj.gen.isolated import ProcessGenerator
from vj.gen.worker import GeneratorFactory


def procedural() -> Generator:
    # In a child process: GL calls hold the GIL, and the render loop must never wait for them.
    return ProcessGenerator("vj.gen.procedural:ProceduralGenerator", "procedural")


def gradient() -> Generator:
    return GradientGenerator()


def diffusion_factory(preset: Preset) -> GeneratorFactory:
    """The diffusion backend for a preset: the model loads on the worker thread, on first use."""

    def diffusion() -> Generator:
        # Imported here: torch and diffusers are heavy, and only diffusion presets need them.
        from vj.gen.device import pick_device, pick_dtype
        from vj.gen.diffusion import DiffusionGenerator, EngineConfig
        from vj.gen.models import load_pipeline, resolve_model

        try:
            spec = resolve_model(preset.model)
            device = pick_device(preset.device)
        except (ValueError, RuntimeError) as exc:
            raise GeneratorUnavailable(f"{preset.path}: {exc}") from None
        dtype = pick_dtype(preset.dtype, device)
        scheduler = preset.scheduler if preset.scheduler != "auto" else ("lcm" if spec.scheduler == "lcm" else "euler")
        config = EngineConfig(device=str(device), dtype=dtype, scheduler=scheduler, blend=preset.blend,
                              vae=preset.vae, mode=preset.mode, compile=preset.compile)
        return DiffusionGenerator(lambda: load_pipeline(spec, device=str(device), dtype=dtype, vae=preset.vae), config)

    return diffusion


def factories(preset: Preset) -> tuple[GeneratorFactory, tuple[GeneratorFactory, ...]]:
    """(primary, fallbacks in order) for a preset."""
    if preset.generator == "procedural":
        return procedural, (gradient,)
    return diffusion_factory(preset), (procedural, gradient)
