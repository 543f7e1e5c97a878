"""Presets: what is shown (generator, size, prompts, parameter values, transition).

Parsed once at the edge into a frozen, validated `Preset`; every problem names
the file, line and key.

    name: Endless Dreams
    generator: procedural          # or diffusion
    model: sd-turbo                # diffusion: a catalogue name, hub id, folder or .safetensors file
    size: 512x512
    steps: 1                       # diffusion: UNet calls per frame, 1..4 (the `steps` parameter)
    guidance: 0.0                  # diffusion: classifier-free guidance (the `guidance` parameter)
    scheduler: auto                # diffusion: auto | euler | euler-a | lcm
    blend: lerp                    # diffusion: how prompt embeddings mix: lerp | slerp
    vae: taesd                     # diffusion: taesd (fast) | full
    mode: img2img                  # diffusion: img2img (feedback) | txt2img
    device: auto                   # diffusion: auto | cuda | mps | cpu
    dtype: auto                    # diffusion: auto | float16 | bfloat16 | float32
    compile: auto                  # diffusion: auto | off | default | max-autotune | reduce-overhead |
                                   #   graphs | compiled-graphs (auto: graphs on CUDA, else off)
    feedback_space: pixels         # diffusion: pixels | latents (skips the encoder every frame)
    max_fps: 24                    # generator rate cap; 0 = as fast as it can
    prompts:
      - text: bioluminescent jellyfish drifting through a flooded cathedral
        weight: 1.0
    negative: blurry, text
    params: {zoom: 0.08, rotate: 2.0, feedback: 0.7}
    transition: {crossfade: 0.8, curve: smooth}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from vj.catalogue import COMPILE_MODES, FEEDBACK_SPACES
from vj.config.source import (
    ConfigError,
    Problem,
    Section,
    is_choice,
    is_int,
    is_number,
    is_str,
    load_yaml,
    type_name,
)
from vj.params import CROSSFADE_CURVES, REGISTRY, Registry, Value
from vj.vocabulary import MAX_PROMPTS

GENERATORS = ("procedural", "diffusion")
SCHEDULERS = ("auto", "euler", "euler-a", "lcm")
DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = ("auto", "float16", "bfloat16", "float32")
# Parameters a preset does not own: switching preset leaves the performer's state alone.
PERFORMANCE_PARAMS = frozenset({"blackout", "freeze", "hud", "bpm", "preset", "clock.source", "audio.amount"})
def _compile_mode(value: object) -> str:
    """A compile mode; true and false still mean "default" and "off" (older presets)."""
    if isinstance(value, bool):
        return "default" if value else "off"
    return is_choice(*COMPILE_MODES)(value)


_SIZE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


@dataclass(frozen=True)
class PromptSpec:
    text: str
    weight: float = 1.0


@dataclass(frozen=True)
class Preset:
    name: str
    path: str
    description: str = ""
    generator: str = "procedural"
    model: str = ""
    size: tuple[int, int] = (512, 512)
    steps: int = 1
    guidance: float = 0.0
    scheduler: str = "auto"
    blend: str = "lerp"
    vae: str = "taesd"
    mode: str = "img2img"
    device: str = "auto"
    dtype: str = "auto"
    compile: str = "auto"  # vj.catalogue.COMPILE_MODES
    feedback_space: str = "pixels"
    max_fps: float = 24.0
    prompts: tuple[PromptSpec, ...] = ()
    negative: str = ""
    params: Mapping[str, Value] = field(default_factory=lambda: MappingProxyType({}))
    crossfade: float | None = None
    curve: str | None = None

    def values(self, registry: Registry = REGISTRY) -> dict[str, Value]:
        """The base values this preset sets: every preset-owned parameter, defaults where unstated."""
        out = {s.name: s.default for s in registry if s.name not in PERFORMANCE_PARAMS}
        for i in range(1, MAX_PROMPTS + 1):
            out[f"prompt.{i}.weight"] = self.prompts[i - 1].weight if i <= len(self.prompts) else 0.0
        out["steps"] = self.steps
        out["guidance"] = self.guidance
        out["scheduler"] = self.scheduler
        if self.crossfade is not None:
            out["crossfade"] = self.crossfade
        if self.curve is not None:
            out["crossfade.curve"] = self.curve
        out.update(self.params)
        return out


def _size(value: object) -> tuple[int, int]:
    if isinstance(value, str) and (m := _SIZE.match(value)):
        w, h = int(m.group(1)), int(m.group(2))
    elif isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value):
        w, h = value
    else:
        raise ValueError(f"expected WIDTHxHEIGHT such as 512x512, got {type_name(value)}")
    if not (64 <= w <= 4096 and 64 <= h <= 4096) or w % 8 or h % 8:
        raise ValueError(f"expected width and height in 64..4096 and multiples of 8, got {w}x{h}")
    return w, h


def _relative(model: str, preset_path: Path) -> str:
    """A model path written relative to the preset file, if one exists there; else as written."""
    candidate = Path(preset_path).parent / model
    looks_like_path = "/" in model or model.endswith((".safetensors", ".ckpt"))
    return str(candidate) if looks_like_path and candidate.exists() else model


def parse_preset(path: Path, text: str | None = None, registry: Registry = REGISTRY) -> Preset:
    """Load and validate one preset file; raises ConfigError listing every problem."""
    file = str(path)
    data = load_yaml(path, text)
    problems: list[Problem] = []
    top = Section(file, data, "", problems, 1)
    name = top.get("name", is_str, Path(path).stem)
    description = top.get("description", is_str, "")
    generator = top.get("generator", is_choice(*GENERATORS), "procedural")
    model = _model(top, generator, path)
    size = top.get("size", _size, (512, 512))
    steps = top.get("steps", is_int(1, 4), 1)
    guidance = top.get("guidance", lambda v: float(registry["guidance"].check(v)), 0.0)  # a float parameter
    scheduler = top.get("scheduler", is_choice(*SCHEDULERS), "auto")
    blend = top.get("blend", is_choice("lerp", "slerp"), "lerp")
    vae = top.get("vae", is_choice("taesd", "full"), "taesd")
    mode = top.get("mode", is_choice("img2img", "txt2img"), "img2img")
    device = top.get("device", is_choice(*DEVICES), "auto")
    dtype = top.get("dtype", is_choice(*DTYPES), "auto")
    compile_ = top.get("compile", _compile_mode, "auto")
    feedback_space = top.get("feedback_space", is_choice(*FEEDBACK_SPACES), "pixels")
    max_fps = top.get("max_fps", is_number(0, 240), 24.0)
    negative = top.get("negative", is_str, "")
    prompts = _prompts(top, file, problems)
    values = _params(top.section("params"), registry)

    transition = top.section("transition")
    crossfade = transition.get("crossfade", registry["crossfade"].check, None)
    curve = transition.get("curve", is_choice(*CROSSFADE_CURVES), None)
    transition.finish(("crossfade", "curve"))
    top.finish(
        ("name", "description", "generator", "model", "size", "steps", "guidance", "scheduler", "blend", "vae",
         "mode", "device", "dtype", "compile", "feedback_space", "max_fps", "prompts", "negative", "params",
         "transition")
    )
    if problems:
        raise ConfigError(problems)
    return Preset(
        name=name,
        path=file,
        description=description,
        generator=generator,
        model=model,
        size=size,
        steps=steps,
        guidance=guidance,
        scheduler=scheduler,
        blend=blend,
        vae=vae,
        mode=mode,
        device=device,
        dtype=dtype,
        compile=compile_,
        feedback_space=feedback_space,
        max_fps=max_fps,
        prompts=prompts,
        negative=negative,
        params=MappingProxyType(values),
        crossfade=crossfade,  # type: ignore[arg-type]
        curve=curve,
    )


def _model(top: Section, generator: str, path: Path) -> str:
    """The `model` key: required for diffusion, and resolvable (a catalogue name, hub id or path)."""
    model: str = top.get("model", is_str, "")
    if generator == "diffusion" and not model:
        top.problem("model", "is required when generator is diffusion (a hub id or a local folder)")
    elif generator == "diffusion":
        from vj.catalogue import resolve_model

        try:
            model = _relative(model, path)
            resolve_model(model)
        except ValueError as exc:
            top.problem("model", str(exc))
        except OSError as exc:  # a name the file system refuses to look up (too long, a NUL in it)
            top.problem("model", f"cannot look up {model[:80]!r}: {exc.strerror or exc}")
    return model


def _prompts(top: Section, file: str, problems: list[Problem]) -> tuple[PromptSpec, ...]:
    """The `prompts` list: plain strings or {text, weight}; 1..MAX_PROMPTS, not all weighted 0."""
    prompts: list[PromptSpec] = []
    for index, line, item in top.items("prompts"):
        where = f"prompts[{index}]"
        if isinstance(item, str):
            prompts.append(PromptSpec(item, 1.0 if index == 0 else 0.0))
            continue
        sec = Section(file, item, where, problems, line)
        if not sec.ok:
            continue
        text_ = sec.get("text", is_str, "", required=True)
        weight = sec.get("weight", is_number(0.0, 1.0), 1.0)
        sec.finish(("text", "weight"))
        prompts.append(PromptSpec(text_, weight))
    if len(prompts) > MAX_PROMPTS:
        top.problem("prompts", f"at most {MAX_PROMPTS} prompts, got {len(prompts)}")
        prompts = prompts[:MAX_PROMPTS]
    if not prompts:
        top.problem("prompts", "at least one prompt is required (a list of {text, weight})", top.line_of("prompts"))
    elif not any(p.weight > 0 for p in prompts):
        top.problem("prompts", "the prompt weights sum to zero: give at least one prompt a weight above 0")
    return tuple(prompts)


def _params(params: Section, registry: Registry) -> dict[str, Value]:
    """The `params` section: preset-owned parameters only, each checked by its spec."""
    values: dict[str, Value] = {}
    for key in params.data:
        spec = registry.get(key)
        if spec is None:
            params.raw(key)
            params.problem(key, "unknown parameter (see `vj params` for the list)")
            continue
        if spec.name in PERFORMANCE_PARAMS:
            params.raw(key)
            params.problem(key, "is a performance control, not part of a preset")
            continue
        values[key] = params.get(key, spec.check, spec.default)
    return values
