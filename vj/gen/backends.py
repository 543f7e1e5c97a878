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


def factories(preset: Preset) -> tuple[GeneratorFactory, tuple[GeneratorFactory, ...]]:
    """(primary, fallbacks in order) for a preset."""
    if preset.generator == "procedural":
        return procedural, (gradient,)

    def diffusion() -> Generator:
        raise GeneratorUnavailable(
            f"{preset.path}: generator 'diffusion' (model {preset.model}) is not available in this "
            "version of vj yet; showing the procedural dream instead"
        )

    return diffusion, (procedural, gradient)
