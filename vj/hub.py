"""The local Hugging Face cache: where it is, what is in it, fetching into it, and what to tell the user.

Shared by the diffusion models (vj.catalogue, vj.gen.models) and dictation (vj.voice.dictation). A show
never touches the network: models load from this cache (or a local folder) only, and
`vj models download NAME` fills it beforehand. What is not here raises `ModelMissing`, whose message says
what is missing and what to do; a failed download raises `ModelDownloadError`.

Nothing heavy is imported here: huggingface_hub only inside the functions that need it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


class ModelMissing(RuntimeError):
    """Weights or configs a model needs are not on this machine; the message says what to do."""


class ModelDownloadError(RuntimeError):
    """A model could not be fetched (offline, unreachable hub, unknown or gated repo)."""


# --- where things are ----------------------------------------------------------------------------


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment now (HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME)."""
    env = os.environ
    explicit = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(home).expanduser() / "hub"


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def cached_snapshot(repo_id: str, cache: Path | None = None) -> Path | None:
    """The local snapshot folder of a hub repo, or None when it is not cached. Never uses the network."""
    from huggingface_hub import snapshot_download

    cache = cache or hub_cache_dir()
    if not (cache / ("models--" + repo_id.replace("/", "--"))).is_dir():
        return None
    try:
        return Path(snapshot_download(repo_id, cache_dir=cache, local_files_only=True))
    except Exception:  # LocalEntryNotFoundError and friends: a partial or foreign cache entry
        return None


def local_or_cached(ref: str) -> Path | None:
    """A local path as is, or the cached snapshot of a hub id (None when neither is here)."""
    path = Path(ref).expanduser()
    if path.exists():
        return path
    if HUB_ID.match(ref):
        return cached_snapshot(ref)
    return None


def repo_sizes(cache: Path) -> dict[str, int]:
    """Hub id -> bytes on disk of every model repo in the cache ({} when there is none or it is unreadable)."""
    from huggingface_hub import scan_cache_dir

    if not cache.is_dir():
        return {}
    try:
        info = scan_cache_dir(cache)
    except Exception as exc:  # a corrupted cache must not break `vj models list`
        log.warning("cannot scan the Hugging Face cache %s: %s", cache, exc)
        return {}
    return {repo.repo_id: repo.size_on_disk for repo in info.repos if repo.repo_type == "model"}


# --- what to tell the user -----------------------------------------------------------------------


def fetch_advice(command: str, alternative: str) -> str:
    """The "what to do" of a missing model: the command that fetches it online, or a local alternative."""
    return f"Online, run `{command}` (vj never downloads during a show); or {alternative}."


def not_cached(name: str, repo_id: str, advice: str, what: str = "") -> str:
    """The message of a model whose hub repo is not in the cache (`what` names the part: "the LCM-LoRA")."""
    part = f"{what} " if what else ""
    return (
        f"model {name!r}: {part}{repo_id} is not in the local Hugging Face cache ({hub_cache_dir()}). "
        + advice
    )


def require_online(name: str, repos: str, alternative: str) -> None:
    """ModelDownloadError when offline mode is on: what cannot be fetched, and `alternative` to do instead."""
    if hub_offline():
        raise ModelDownloadError(
            f"offline mode is on (HF_HUB_OFFLINE=1): cannot download {name!r} ({repos}). "
            "Unset HF_HUB_OFFLINE on a machine that can reach the Hugging Face hub and run "
            f"`vj models download` again, or {alternative}."
        )


# --- downloading ---------------------------------------------------------------------------------


def _list_repo_files(repo_id: str) -> list[str]:
    from huggingface_hub import HfApi

    return list(HfApi().list_repo_files(repo_id))


def fetch_repo(repo_id: str, name: str, select: Callable[[list[str]], list[str]], kind: str) -> Path:
    """Download the files `select` picks from a hub repo into the cache; one clear message on failure."""
    from huggingface_hub import snapshot_download

    try:
        allow = select(_list_repo_files(repo_id))
        if not allow:
            raise ModelDownloadError(f"{repo_id} has no files vj can use ({kind})")
        log.info("downloading %s (%d files) into %s", repo_id, len(allow), hub_cache_dir())
        return Path(snapshot_download(repo_id, allow_patterns=allow, cache_dir=hub_cache_dir()))
    except ModelDownloadError:
        raise
    except Exception as exc:  # unreachable hub, unknown or gated repo, disk full: one clear message
        raise ModelDownloadError(
            f"cannot download {repo_id} for {name!r}: {type(exc).__name__}: {exc}. "
            "Check the network and the repo id; gated repos need `hf auth login` first."
        ) from exc
