"""`vj models list` and `vj models download NAME`: what the CLI calls (exit codes returned, not raised).

Diffusion models (vj.gen.models) and the Whisper models of dictation (vj.voice.dictation) share the table
and the command.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

from vj.catalogue import CATALOGUE, resolve_model
from vj.gen.models import ModelInfo, download_model, list_models
from vj.hub import ModelDownloadError, hub_cache_dir

if TYPE_CHECKING:
    from vj.voice.dictation import WhisperInfo


def _size(info: ModelInfo | WhisperInfo) -> str:
    if info.size_bytes is None:
        return "-"
    size = float(info.size_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return "-"


def _cached(info: ModelInfo | WhisperInfo) -> str:
    if info.source.startswith("builtin:"):
        return "built-in"
    if info.cached:
        return "yes" if not info.missing else "yes (no TAESD)"
    return "no"


def format_table(infos: list[ModelInfo | WhisperInfo]) -> str:
    rows = [("NAME", "FAMILY", "CACHED", "SIZE", "SOURCE")]
    rows += [(i.name, i.family, _cached(i), _size(i), i.source) for i in infos]
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines = ("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)


def cmd_models_list(out: TextIO | None = None) -> int:
    """Print the model table (name, family, cached, size, source); 0."""
    from vj.voice.dictation import list_whisper

    out = out or sys.stdout
    infos: list[ModelInfo | WhisperInfo] = [*list_models(), *list_whisper()]
    print(format_table(infos), file=out)
    print(f"\ncache: {hub_cache_dir()}", file=out)
    if any(not i.cached for i in infos):
        print("download with `vj models download NAME` (online), or use `model: /path/to/folder`.", file=out)
    return 0


def cmd_models_download(name: str, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Download a model with a progress bar: 0 when done, 2 for a bad name, 1 when the download fails."""
    from vj.voice.dictation import download_names, download_whisper, whisper_repo

    out, err = out or sys.stdout, err or sys.stderr
    if whisper_repo(name) is not None:
        try:
            path = download_whisper(name)
        except ModelDownloadError as exc:
            print(f"vj models download: {exc}", file=err)
            return 1
        print(f"{name}: downloaded to {path}", file=out)
        return 0
    try:
        spec = resolve_model(name)
        if spec.kind == "builtin":
            print(f"{spec.name} is built in: nothing to download.", file=out)
            return 0
        path = download_model(name)
    except ValueError as exc:
        print(f"vj models download: {exc}", file=err)
        print(f"known models: {', '.join(CATALOGUE)}; dictation: {', '.join(download_names())}", file=err)
        return 2
    except ModelDownloadError as exc:
        print(f"vj models download: {exc}", file=err)
        return 1
    print(f"{spec.name}: downloaded to {path}", file=out)
    return 0
