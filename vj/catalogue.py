"""The model catalogue and resolution: which pipeline a preset's `model:` names, and where it is.

No torch here (a `.ckpt` checkpoint's type is read with torch, imported then), so validating a
preset (`vj check`) stays quick; loading lives in vj.gen.models, the local Hugging Face cache in
vj.hub. Nothing here touches the network or the cache.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from vj.hub import HUB_ID

Family = Literal["sd", "sdxl"]
SourceKind = Literal["hub", "folder", "file", "builtin"]
VaeChoice = Literal["taesd", "full"]

TAESD_HUB: dict[str, str] = {"sd": "madebyollin/taesd", "sdxl": "madebyollin/taesdxl"}
LORA_WEIGHT_NAME = "pytorch_lora_weights.safetensors"
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth")
WEIGHTED_COMPONENTS = ("unet", "vae", "text_encoder", "text_encoder_2")
# How the engine runs a frame (vj.gen.runners) and what it feeds back (vj.gen.frame): named here,
# torch-free, so a preset's `compile:` and `feedback_space:` are checked without importing torch.
COMPILE_MODES = ("auto", "off", "default", "max-autotune", "reduce-overhead", "graphs", "compiled-graphs")
FEEDBACK_SPACES = ("pixels", "latents")


@dataclass(frozen=True)
class ModelSpec:
    """What to load: a catalogue entry, a hub id, a local diffusers folder or a single-file checkpoint."""

    name: str
    family: Family
    source: str  # hub id, folder or file path, or "builtin:NAME"
    taesd: str | None = None  # hub id or local folder of the tiny autoencoder
    lcm_lora: str | None = None  # hub id, folder or file of an LCM-LoRA to fuse into the UNet
    description: str = ""
    kind: SourceKind = "hub"
    scheduler: Literal["default", "lcm"] = "default"  # "lcm": switch to LCMScheduler after loading
    config: str | None = None  # single-file only: a local diffusers folder with the component configs


CATALOGUE: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "sd-turbo", "sd", "stabilityai/sd-turbo", TAESD_HUB["sd"], None,
            "SD 2.1 distilled for 1-4 steps at 512x512 (default)",
        ),
        ModelSpec(
            "sdxl-turbo", "sdxl", "stabilityai/sdxl-turbo", TAESD_HUB["sdxl"], None,
            "SDXL distilled for 1-4 steps at 512x512",
        ),
        ModelSpec(
            "lcm", "sd", "SimianLuo/LCM_Dreamshaper_v7", TAESD_HUB["sd"], None,
            "latent consistency model (Dreamshaper v7, SD 1.5), 2-8 steps", scheduler="lcm",
        ),
        ModelSpec(
            "lcm-lora", "sd", "stable-diffusion-v1-5/stable-diffusion-v1-5", TAESD_HUB["sd"],
            "latent-consistency/lcm-lora-sdv1-5", "SD 1.5 with the LCM-LoRA fused in, 2-8 steps",
            scheduler="lcm",
        ),
        ModelSpec(
            "tiny", "sd", "builtin:tiny", None, None,
            "tiny random SD pipeline built in-process (tests, CPU demos)", kind="builtin",
        ),
        ModelSpec(
            "tiny-sdxl", "sdxl", "builtin:tiny-sdxl", None, None,
            "tiny random SDXL-shaped pipeline built in-process", kind="builtin",
        ),
    )
}
DEFAULT_MODEL = "sd-turbo"

# Which cached pipelines carry the component configs a single-file checkpoint of each type needs.
CONFIG_REPOS: dict[str, tuple[str, ...]] = {
    "v1": ("stable-diffusion-v1-5/stable-diffusion-v1-5",),
    "v2": ("stabilityai/stable-diffusion-2-1", "stabilityai/sd-turbo"),
    "xl_base": ("stabilityai/stable-diffusion-xl-base-1.0", "stabilityai/sdxl-turbo"),
}
CONFIG_CATALOGUE_NAME = {"v1": "lcm-lora", "v2": "sd-turbo", "xl_base": "sdxl-turbo"}


# --- resolution ----------------------------------------------------------------------------------


def _catalogue_names() -> str:
    return ", ".join(CATALOGUE)


def read_index(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{folder}: cannot read model_index.json ({exc})") from exc


def has_weights(entry: Any) -> bool:
    return isinstance(entry, list) and len(entry) == 2 and entry[0] is not None


def family_of_index(index: dict[str, Any], where: str) -> Family:
    """SD or SDXL from a pipeline's model_index.json; ValueError for anything else."""
    cls = str(index.get("_class_name", ""))
    if has_weights(index.get("text_encoder_2")) or "XL" in cls:
        if not has_weights(index.get("text_encoder")):
            raise ValueError(
                f"{where}: {cls or 'this pipeline'} has no first text encoder (an SDXL refiner?): "
                "not supported"
            )
        return "sdxl"
    if has_weights(index.get("unet")) and has_weights(index.get("text_encoder")):
        return "sd"
    raise ValueError(f"{where}: {cls or 'this pipeline'} is not a Stable Diffusion or SDXL pipeline")


def _is_lcm_index(index: dict[str, Any]) -> bool:
    scheduler = index.get("scheduler")
    return "LatentConsistency" in str(index.get("_class_name", "")) or (
        isinstance(scheduler, list) and scheduler[1:] == ["LCMScheduler"]
    )


def _checkpoint_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Key -> shape of a single-file checkpoint, without loading the tensors where the format allows."""
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            return {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}
    import torch  # only for .ckpt files: safetensors headers are read without it

    obj = torch.load(str(path), map_location="cpu", mmap=True, weights_only=True)
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a state dict checkpoint")
    return {key: tuple(value.shape) for key, value in state.items() if hasattr(value, "shape")}


def checkpoint_type(path: Path) -> str:
    """'v1', 'v2' or 'xl_base' for an original-layout SD checkpoint; ValueError otherwise."""
    try:
        shapes = _checkpoint_shapes(path)
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(f"{path}: cannot read checkpoint ({type(exc).__name__}: {exc})") from exc
    keys = shapes.keys()
    if any(k.startswith("conditioner.embedders.1.") for k in keys):
        return "xl_base"
    if any(k.startswith("conditioner.embedders.0.model.") for k in keys):
        raise ValueError(f"{path}: an SDXL refiner checkpoint: not supported")
    if not any(k.startswith("model.diffusion_model.") for k in keys):
        raise ValueError(
            f"{path}: no 'model.diffusion_model.' keys: "
            "not a Stable Diffusion checkpoint in the original layout"
        )
    conv_in = shapes.get("model.diffusion_model.input_blocks.0.0.weight")
    if conv_in is not None and len(conv_in) == 4 and conv_in[1] != 4:
        raise ValueError(f"{path}: UNet takes {conv_in[1]} input channels (inpainting?): not supported")
    to_k = shapes.get("model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight")
    if (to_k is not None and to_k[-1] == 1024) or any(k.startswith("cond_stage_model.model.") for k in keys):
        return "v2"
    return "v1"


def _folder_spec(folder: Path, family: str | None) -> ModelSpec:
    if not (folder / "model_index.json").is_file():
        raise ValueError(f"{folder} is not a diffusers pipeline folder (no model_index.json)")
    index = read_index(folder)
    detected = family_of_index(index, str(folder))
    if family is not None and family != detected:
        raise ValueError(f"{folder}: model_index.json says {detected}, not {family}")
    own_taesd = folder / "taesd"
    taesd = str(own_taesd) if (own_taesd / "config.json").is_file() else TAESD_HUB[detected]
    return ModelSpec(
        name=folder.name, family=detected, source=str(folder), taesd=taesd,
        description=f"diffusers folder ({index.get('_class_name', '?')})", kind="folder",
        scheduler="lcm" if _is_lcm_index(index) else "default",
    )


def _file_spec(path: Path, family: str | None) -> ModelSpec:
    if path.suffix not in SINGLE_FILE_SUFFIXES:
        raise ValueError(f"{path}: not a checkpoint ({', '.join(SINGLE_FILE_SUFFIXES)}) or diffusers folder")
    detected: Family = "sdxl" if checkpoint_type(path) == "xl_base" else "sd"
    if family is not None and family != detected:
        raise ValueError(f"{path}: the checkpoint's keys say {detected}, not {family}")
    # A checkpoint that sits in a diffusers folder (as in the sdxl-turbo repo) takes its configs from there.
    config = str(path.parent) if (path.parent / "model_index.json").is_file() else None
    return ModelSpec(
        name=path.stem, family=detected, source=str(path), taesd=TAESD_HUB[detected],
        description="single-file checkpoint", kind="file", config=config,
    )


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", "./", "../", "~", "\\")) or text.endswith(SINGLE_FILE_SUFFIXES) or (
        os.sep in text and not HUB_ID.match(text)
    )


def resolve_model(name_or_path: str, family: str | None = None) -> ModelSpec:
    """A catalogue name, a local diffusers folder, a single-file checkpoint or a hub id -> ModelSpec.

    `family` ("sd" | "sdxl") overrides the guess for hub ids not in the catalogue; for local models it
    must agree with what the files say.
    """
    if family is not None and family not in TAESD_HUB:
        raise ValueError(f"family must be 'sd' or 'sdxl', not {family!r}")
    text = (name_or_path or "").strip()
    if not text:
        raise ValueError(f"empty model name: use one of {_catalogue_names()}, a hub id or a local path")
    spec = CATALOGUE.get(text.lower())
    if spec is None:
        spec = next((s for s in CATALOGUE.values() if s.source == text), None)
    if spec is not None:
        if family is not None and family != spec.family:
            raise ValueError(f"model {spec.name!r} is {spec.family}, not {family}")
        return spec
    path = Path(text).expanduser()
    if path.exists():
        return _folder_spec(path, family) if path.is_dir() else _file_spec(path, family)
    if _looks_like_path(text):
        raise ValueError(f"model path {text!r} does not exist")
    if HUB_ID.match(text):
        guessed: Family = family or ("sdxl" if "xl" in text.lower() else "sd")  # type: ignore[assignment]
        return ModelSpec(
            name=text, family=guessed, source=text, taesd=TAESD_HUB[guessed],
            description="hub model", kind="hub", scheduler="lcm" if "lcm" in text.lower() else "default",
        )
    raise ValueError(
        f"unknown model {text!r}: use one of {_catalogue_names()}, a hub id (owner/name), "
        "a diffusers folder or a .safetensors/.ckpt file"
    )
