"""Which backend a preset asks for, as worker factories (the backend is built on the worker thread)."""

from __future__ import annotations

from vj.config.preset import Preset
from vj.gen.base import Generator, GeneratorUnavailable
from vj.gen.isolated import ProcessGenerator
from vj.gen.worker import GeneratorFactory


def procedural() -> Generator:
    # In a child process: GL calls hold the GIL, and the render loop must never wait for them.
    return ProcessGenerator("vj.gen.procedural:ProceduralGenerator", "procedural")


def factories(preset: Preset) -> tuple[GeneratorFactory, GeneratorFactory | None]:
    """(primary, fallback) for a preset; procedural needs no fallback."""
    if preset.generator == "procedural":
        return procedural, None

    def diffusion() -> Generator:
        raise GeneratorUnavailable(
            f"{preset.path}: generator 'diffusion' (model {preset.model}) is not available in this "
            "version of vj yet; showing the procedural dream instead"
        )

    return diffusion, procedural
