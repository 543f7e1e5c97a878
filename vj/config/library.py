"""Finding and loading the shipped (or given) presets and mappings, and telling which a file is."""

from __future__ import annotations

import logging
from pathlib import Path

from vj.config.mapping import MappingConfig, parse_mapping
from vj.config.preset import Preset, parse_preset
from vj.config.source import ConfigError, load_yaml
from vj.paths import LEARN_FILE, MAPPING_DIR, PRESET_DIR

log = logging.getLogger(__name__)

DEFAULT_MAPPING = "default"


def is_mapping_file(path: Path) -> bool:
    """Mappings live in a `mappings` folder or have bindings/lfos/outputs at the top; anything else is a preset."""
    if Path(path).resolve().parent.name == "mappings":
        return True
    try:
        data = load_yaml(path)
    except ConfigError:
        return False
    return isinstance(data, dict) and bool({"bindings", "lfos", "outputs"} & set(data))


def check_file(path: Path) -> Preset | MappingConfig:
    """Validate one file of either kind (raises ConfigError)."""
    return parse_mapping(path) if is_mapping_file(path) else parse_preset(path)


def resolve(name: str, folder: Path) -> Path:
    """A path as given, or a name (with or without .yaml) in the shipped folder."""
    candidates = [Path(name), folder / name, folder / f"{name}.yaml"]
    # shipped files carry an order prefix (2-neon-tunnel.yaml): `neon-tunnel` and `2` find it
    if "/" not in name and "\\" not in name:
        candidates += sorted(folder.glob(f"*-{name}.yaml")) + sorted(folder.glob(f"{name}-*.yaml"))
        if folder == MAPPING_DIR and LEARN_FILE.stem == Path(name).stem:
            candidates.append(LEARN_FILE)  # MIDI learn's file, in the user's settings when vj is installed
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    available = ", ".join(sorted(p.stem for p in folder.glob("*.yaml"))) or "none"
    raise FileNotFoundError(f"no such file or shipped name: {name!r} (shipped in {folder}: {available})")


def load_presets(folder: Path = PRESET_DIR, extra: Path | None = None) -> tuple[list[Preset], list[ConfigError]]:
    """Every valid preset in `folder` (sorted by file name), plus `extra` if it lives elsewhere.

    Invalid presets are returned as errors, not raised: one broken file must not stop the show.
    """
    paths = sorted(Path(folder).glob("*.yaml"))
    if extra is not None and Path(extra).resolve() not in {p.resolve() for p in paths}:
        paths.insert(0, Path(extra))
    presets: list[Preset] = []
    errors: list[ConfigError] = []
    for path in paths:
        try:
            presets.append(parse_preset(path))
        except ConfigError as exc:
            log.error("skipping invalid preset:\n%s", exc)
            errors.append(exc)
    return presets, errors


def load_mapping(name: str | None) -> MappingConfig:
    return parse_mapping(resolve(name or DEFAULT_MAPPING, MAPPING_DIR))
