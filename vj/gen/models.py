"""Offline loading of diffusion pipelines, listing what is cached, and what `vj models download` fetches.

A show never touches the network: hub models load from the local Hugging Face cache only
(`vj models download NAME` fills it beforehand; vj.hub owns the cache). What cannot be loaded raises
`PipelineMissing` (a `ModelMissing` and a `GeneratorUnavailable`), whose message says what is missing and
what to do, and the show falls back to the procedural generator at once. The catalogue and resolution
are in vj.catalogue, LoRA fusion in vj.gen.lora.

`load_pipeline` returns a diffusers StableDiffusionPipeline or StableDiffusionXLPipeline with a
`.taesd` attribute: an AutoencoderTiny, or None when the full VAE is to be used.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import torch

from vj.catalogue import (
    CATALOGUE,
    CONFIG_CATALOGUE_NAME,
    CONFIG_REPOS,
    HUB_ID,
    LORA_WEIGHT_NAME,
    TAESD_HUB,
    WEIGHTED_COMPONENTS,
    Family,
    ModelSpec,
    VaeChoice,
    checkpoint_type,
    family_of_index,
    has_weights,
    read_index,
    resolve_model,
)
from vj.gen.base import GeneratorUnavailable
from vj.gen.lora import fuse_lora
from vj.hub import (
    ModelMissing,
    cached_snapshot,
    fetch_advice,
    fetch_repo,
    hub_cache_dir,
    local_or_cached,
    not_cached,
    repo_sizes,
    require_online,
)

log = logging.getLogger(__name__)


class PipelineMissing(ModelMissing, GeneratorUnavailable):
    """A diffusion model's weights or configs are not here: the show falls back at once (no retries)."""


# --- loading -------------------------------------------------------------------------------------


def _instructions(spec: ModelSpec) -> str:
    return fetch_advice(
        f"vj models download {spec.name}", "set `model: /path/to/folder` in the preset to a local diffusers folder"
    )


def _missing_hub(spec: ModelSpec, repo_id: str, what: str) -> PipelineMissing:
    return PipelineMissing(not_cached(spec.name, repo_id, _instructions(spec), what))


def _is_fp16(name: str) -> bool:
    """diffusers' fp16 variant names: model.fp16.safetensors, model.fp16-00001-of-00002.safetensors."""
    return re.search(r"\.fp16[.-]", name) is not None


def _weight_files(folder: Path) -> tuple[set[str], set[str]]:
    """Weight file names in a component folder, split into (plain, fp16 variant)."""
    names = {p.name for p in folder.glob("*") if p.suffix in (".safetensors", ".bin") and p.exists()}
    fp16 = {n for n in names if _is_fp16(n)}
    return names - fp16, fp16


def _choose_variant(folder: Path, index: dict[str, Any], dtype: torch.dtype) -> str | None:
    """'fp16' or None: the variant every weighted component has a file for; PipelineMissing if none fits."""
    plain_ok, fp16_ok, missing = True, True, []
    for name in WEIGHTED_COMPONENTS:
        if not has_weights(index.get(name)):
            continue
        plain, fp16 = _weight_files(folder / name)
        plain_ok &= bool(plain)
        fp16_ok &= bool(fp16)
        if not plain and not fp16:
            missing.append(name)
    if missing:
        raise PipelineMissing(f"{folder}: no weights for {', '.join(missing)} (an incomplete download?)")
    if fp16_ok and (dtype in (torch.float16, torch.bfloat16) or not plain_ok):
        return "fp16"
    if plain_ok:
        return None
    raise PipelineMissing(f"{folder}: components mix fp16-only and full-precision-only weights; re-download it")


def _pipeline_class(family: Family):
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    return StableDiffusionXLPipeline if family == "sdxl" else StableDiffusionPipeline


def _load_folder(spec: ModelSpec, folder: Path, dtype: torch.dtype):
    if not (folder / "model_index.json").is_file():
        raise PipelineMissing(f"model {spec.name!r}: {folder} has no model_index.json. " + _instructions(spec))
    index = read_index(folder)
    try:
        family = family_of_index(index, str(folder))
    except ValueError as exc:
        raise GeneratorUnavailable(str(exc)) from exc
    variant = _choose_variant(folder, index, dtype)
    kwargs: dict[str, Any] = dict(dtype=dtype, local_files_only=True, variant=variant)
    if family == "sd":  # no safety checker in a live instrument, and never load its 1.2 GB
        kwargs.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    try:
        pipe = _pipeline_class(family).from_pretrained(str(folder), **kwargs)
    except OSError as exc:
        raise PipelineMissing(
            f"model {spec.name!r}: files missing in {folder}: {exc}. " + _instructions(spec)
        ) from exc
    except Exception as exc:
        raise GeneratorUnavailable(
            f"model {spec.name!r}: cannot load {folder}: {type(exc).__name__}: {exc}"
        ) from exc
    return pipe, family  # an LCM folder brings its LCMScheduler; load_pipeline keeps it


def _config_folder_for(model_type: str, spec: ModelSpec) -> Path | None:
    """A local diffusers folder whose component configs fit a single-file checkpoint of `model_type`."""
    if spec.config:
        return Path(spec.config).expanduser()
    for repo in CONFIG_REPOS.get(model_type, ()):
        snapshot = cached_snapshot(repo)
        if (
            snapshot is not None
            and (snapshot / "model_index.json").is_file()
            and (snapshot / "unet" / "config.json").is_file()
            and (snapshot / "tokenizer").is_dir()
        ):
            return snapshot
    return None


def _load_single_file(spec: ModelSpec, dtype: torch.dtype):
    path = Path(spec.source)
    if not path.is_file():
        raise PipelineMissing(
            f"model {spec.name!r}: checkpoint file {path} does not exist. " + _instructions(spec)
        )
    try:
        model_type = checkpoint_type(path)
    except ValueError as exc:
        raise GeneratorUnavailable(str(exc)) from exc
    family: Family = "sdxl" if model_type == "xl_base" else "sd"
    config = _config_folder_for(model_type, spec)
    if config is None:
        repos = " or ".join(CONFIG_REPOS[model_type])
        raise PipelineMissing(
            f"single-file checkpoint {path} ({model_type}) needs the diffusers configs of its architecture "
            f"(model_index.json, unet/vae/text-encoder configs, tokenizer), which are not in a checkpoint; "
            f"diffusers would fetch them from the hub, which a show never does, and {repos} is not in the "
            f"local cache ({hub_cache_dir()}). Online, run `vj models download "
            f"{CONFIG_CATALOGUE_NAME[model_type]}` once (its configs fit this checkpoint); or set "
            "`model: /path/to/folder` in the preset to a diffusers folder of the model."
        )
    if not (config / "model_index.json").is_file():
        raise PipelineMissing(f"config folder {config} for {path} has no model_index.json")
    kwargs: dict[str, Any] = dict(config=str(config), local_files_only=True, dtype=dtype)
    if family == "sd":
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    try:
        pipe = _pipeline_class(family).from_single_file(str(path), **kwargs)
    except Exception as exc:
        raise GeneratorUnavailable(
            f"cannot load single-file checkpoint {path} with the configs of {config}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return pipe, family


def _load_taesd(spec: ModelSpec, family: Family, dtype: torch.dtype):
    from diffusers import AutoencoderTiny

    ref = spec.taesd or TAESD_HUB[family]
    if ref in TAESD_HUB.values() and ref != TAESD_HUB[family]:
        ref = TAESD_HUB[family]  # the spec guessed the family wrong; the files decided
    where = local_or_cached(ref)
    if where is None:
        log.warning(
            "TAESD %s is not in the local cache: using the full VAE (slower). "
            "`vj models download %s` fetches it.",
            ref, spec.name,
        )
        return None
    try:
        return AutoencoderTiny.from_pretrained(str(where), dtype=dtype, local_files_only=True).eval()
    except Exception as exc:
        log.warning("cannot load TAESD from %s (%s: %s): using the full VAE", where, type(exc).__name__, exc)
        return None


def _lora_file(spec: ModelSpec, ref: str) -> Path:
    where = local_or_cached(ref)
    if where is None:
        raise _missing_hub(spec, ref, "the LCM-LoRA")
    if where.is_file():
        return where
    candidates = [where / LORA_WEIGHT_NAME] + sorted(where.glob("*.safetensors"))
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise PipelineMissing(
            f"model {spec.name!r}: no LoRA .safetensors file in {where}. " + _instructions(spec)
        )
    return found


def _apply_lora(pipe, spec: ModelSpec, ref: str) -> None:
    path = _lora_file(spec, ref)
    try:
        fuse_lora(pipe, path)
    except Exception as exc:
        raise GeneratorUnavailable(
            f"model {spec.name!r}: cannot fuse LoRA {path}: {type(exc).__name__}: {exc}"
        ) from exc


def _check_device(device: str | torch.device) -> torch.device:
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise GeneratorUnavailable(f"unknown device {device!r}: {exc}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GeneratorUnavailable(f"device {device!r} requested but CUDA is not available here")
    if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise GeneratorUnavailable(f"device {device!r} requested but MPS is not available here")
    return dev


def load_pipeline(
    spec: ModelSpec,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    vae: VaeChoice = "taesd",
):
    """The diffusers pipeline for `spec` on `device` in `dtype`, with `.taesd` (None when vae="full").

    Local files only. Raises PipelineMissing (what is missing and what to do) or GeneratorUnavailable.
    A TAESD that is not cached falls back to the full VAE with a warning.
    """
    from diffusers import LCMScheduler

    if vae not in ("taesd", "full"):
        raise ValueError(f"vae must be 'taesd' or 'full', not {vae!r}")
    dev = _check_device(device)

    if spec.kind == "builtin":
        from vj.gen.tiny import tiny_sd, tiny_sdxl

        pipe = tiny_sdxl() if spec.family == "sdxl" else tiny_sd()
        taesd = pipe.taesd
        family = spec.family
    else:
        if spec.kind == "hub":
            folder = cached_snapshot(spec.source)
            if folder is None:
                raise _missing_hub(spec, spec.source, "hub model")
            pipe, family = _load_folder(spec, folder, dtype)
        elif spec.kind == "folder":
            folder = Path(spec.source)
            if not folder.is_dir():
                raise PipelineMissing(f"model folder {folder} does not exist. " + _instructions(spec))
            pipe, family = _load_folder(spec, folder, dtype)
        else:
            pipe, family = _load_single_file(spec, dtype)
        if family != spec.family:
            log.warning("model %s: its files say %s, not %s: loading it so", spec.name, family, spec.family)
        taesd = _load_taesd(spec, family, dtype) if vae == "taesd" else None

    # Loaded models are in dtype already and the tiny ones are built in float32: cast only when it
    # changes something (a no-op cast makes diffusers warn about modules kept in float32).
    cast = (dev, dtype) if spec.kind == "builtin" and dtype != torch.float32 else (dev,)
    pipe.to(*cast)
    taesd = taesd.to(*cast) if (taesd is not None and vae == "taesd") else None
    if spec.lcm_lora:
        _apply_lora(pipe, spec, spec.lcm_lora)
    if spec.scheduler == "lcm" or type(pipe.scheduler).__name__ == "LCMScheduler":
        pipe.scheduler = LCMScheduler.from_config(pipe.scheduler.config)
    pipe.taesd = taesd
    pipe.set_progress_bar_config(disable=True)
    return pipe


# --- listing and downloading ---------------------------------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    name: str
    source: str
    family: Family
    cached: bool  # loadable offline now (built-in models always are)
    size_bytes: int | None  # on disk in the cache, with TAESD and LoRA; None when nothing is cached
    description: str
    missing: tuple[str, ...] = ()  # hub repos this model uses that are not cached


def _pipeline_complete(folder: Path) -> bool:
    try:
        _choose_variant(folder, read_index(folder), torch.float32)
    except (ModelMissing, ValueError):
        return False
    return True


def _hub_refs(spec: ModelSpec) -> list[tuple[str, str]]:
    """(role, hub id) for every hub repo a spec uses."""
    refs = [("pipeline", spec.source)] if spec.kind == "hub" else []
    if spec.taesd and HUB_ID.match(spec.taesd) and not Path(spec.taesd).exists():
        refs.append(("taesd", spec.taesd))
    if spec.lcm_lora and HUB_ID.match(spec.lcm_lora) and not Path(spec.lcm_lora).exists():
        refs.append(("lora", spec.lcm_lora))
    return refs


def list_models() -> list[ModelInfo]:
    """The catalogue plus any other SD/SDXL pipeline in the local cache, with what is cached."""
    cache = hub_cache_dir()
    sizes = repo_sizes(cache)
    infos = []
    for spec in CATALOGUE.values():
        if spec.kind == "builtin":
            infos.append(ModelInfo(spec.name, spec.source, spec.family, True, None, spec.description))
            continue
        missing, size = [], 0
        for role, repo in _hub_refs(spec):
            snapshot = cached_snapshot(repo, cache)
            ok = snapshot is not None and (role != "pipeline" or _pipeline_complete(snapshot))
            if ok:
                size += sizes.get(repo, 0)
            else:
                missing.append(repo)
        cached = spec.source not in missing and spec.lcm_lora not in missing
        infos.append(ModelInfo(
            spec.name, spec.source, spec.family, cached, size or None, spec.description, tuple(missing),
        ))
    known = {spec.source for spec in CATALOGUE.values()}
    for repo, size in sorted(sizes.items()):
        if repo in known:
            continue
        snapshot = cached_snapshot(repo, cache)
        if snapshot is None or not (snapshot / "model_index.json").is_file():
            continue
        try:
            family = family_of_index(read_index(snapshot), repo)
        except ValueError:
            continue
        infos.append(ModelInfo(repo, repo, family, _pipeline_complete(snapshot), size, "cached hub model"))
    return infos


@dataclass(frozen=True)
class DownloadItem:
    repo_id: str
    role: Literal["pipeline", "taesd", "lora"]


def download_plan(spec: ModelSpec) -> tuple[DownloadItem, ...]:
    """The hub repos `vj models download` fetches for a spec: the pipeline, its TAESD, its LoRA."""
    if spec.kind == "builtin":
        return ()
    if spec.kind in ("folder", "file"):
        raise ValueError(f"{spec.source} is a local {spec.kind}: nothing to download")
    return tuple(DownloadItem(repo, role) for role, repo in _hub_refs(spec))  # type: ignore[arg-type]


def select_files(role: str, files: list[str]) -> list[str]:
    """The files of a repo listing that vj needs (allow_patterns for snapshot_download).

    Pipelines: model_index.json, every component's configs and tokenizer files, and one set of weights:
    the fp16 variant where every weighted component has one (half the download; loads in any dtype),
    else the full-precision safetensors (else .bin). No safety checker, no single-file checkpoints,
    no ONNX or Flax. TAESD: its config and weights. LoRA: its .safetensors files at the root.
    """
    root = [f for f in files if "/" not in f]
    if role == "lora":
        return sorted(f for f in root if f.endswith(".safetensors"))
    if role == "taesd":
        weights = [f for f in root if f == "diffusion_pytorch_model.safetensors"] or [
            f for f in root if f == "diffusion_pytorch_model.bin"
        ]
        return sorted([f for f in root if f == "config.json"] + weights)
    if role != "pipeline":
        raise ValueError(f"unknown download role {role!r}")
    nested = [f for f in files if f.count("/") == 1 and not f.startswith("safety_checker/")]
    chosen = ["model_index.json"] if "model_index.json" in root else []
    chosen += [f for f in nested if f.endswith((".json", ".txt"))]
    by_component: dict[str, list[str]] = {}
    for f in nested:
        if f.endswith((".safetensors", ".bin")):
            by_component.setdefault(f.split("/")[0], []).append(f)
    use_fp16 = bool(by_component) and all(
        any(_is_fp16(f) and f.endswith(".safetensors") for f in fs) for fs in by_component.values()
    )
    for fs in by_component.values():
        if use_fp16:
            chosen += [f for f in fs if _is_fp16(f) and f.endswith(".safetensors")]
        else:
            plain = [f for f in fs if not _is_fp16(f)]
            safetensors = [f for f in plain if f.endswith(".safetensors")]
            chosen += safetensors or [f for f in plain if f.endswith(".bin")]
    return sorted(set(chosen))


def download_model(name: str) -> Path:
    """Fetch a model, its TAESD and LoRA into the local cache with progress bars; returns the snapshot.

    Raises ValueError for unknown or local models, ModelDownloadError when offline or the hub fails.
    """
    spec = resolve_model(name)
    if spec.kind == "builtin":
        raise ValueError(f"{spec.name!r} is built in: nothing to download")
    plan = download_plan(spec)
    require_online(
        spec.name, ", ".join(item.repo_id for item in plan),
        "copy a diffusers folder here and set `model: /path/to/folder` in the preset",
    )
    result: Path | None = None
    for item in plan:
        path = fetch_repo(item.repo_id, spec.name, partial(select_files, item.role), "diffusers safetensors")
        if item.role == "pipeline":
            result = path
    assert result is not None
    return result
