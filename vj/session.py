"""What `vj run` and `vj render` both load before a show starts: the presets and the mappings.

The default (keyboard) mapping is always loaded first; `--mapping` adds controller mappings
on top (a later file's binding for the same control replaces an earlier one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vj.config.library import DEFAULT_MAPPING, load_mapping, load_presets, resolve
from vj.config.mapping import MappingConfig, merge_mappings, parse_mapping
from vj.config.preset import Preset, parse_preset
from vj.config.source import ConfigError
from vj.config.watch import ConfigWatcher
from vj.paths import MAPPING_DIR, PRESET_DIR
from vj.vocabulary import EventQueue


@dataclass(frozen=True)
class Loaded:
    presets: tuple[Preset, ...]
    index: int  # the preset to start with
    mappings: tuple[MappingConfig, ...]  # the default first, then the ones asked for
    problems: tuple[ConfigError, ...]  # invalid presets that were skipped

    @property
    def mapping(self) -> MappingConfig:
        return merge_mappings(list(self.mappings))


def mapping_names(names: Sequence[str] | str | None) -> list[str]:
    """The default mapping, then the named ones (each once)."""
    names = [names] if isinstance(names, str) else list(names or [])
    chosen = [resolve(n, MAPPING_DIR).resolve() for n in names]
    default = resolve(DEFAULT_MAPPING, MAPPING_DIR).resolve()
    return [str(p) for p in ([default] if default not in chosen else []) + list(dict.fromkeys(chosen))]


def load_session(preset: str | None, mapping: Sequence[str] | str | None) -> Loaded:
    """Raises ConfigError if the chosen preset or the mapping is invalid (nothing to show then)."""
    chosen = resolve(preset, PRESET_DIR) if preset else None
    presets, problems = load_presets(PRESET_DIR, extra=chosen)
    index = 0
    if chosen is not None:
        match = [i for i, p in enumerate(presets) if Path(p.path).resolve() == chosen.resolve()]
        if not match:
            raise next(e for e in problems if e.problems and Path(e.problems[0].file).resolve() == chosen.resolve())
        index = match[0]
    if not presets:
        raise ConfigError([p for e in problems for p in e.problems]) if problems else FileNotFoundError(
            f"no presets found in {PRESET_DIR}"
        )
    mappings = tuple(load_mapping(name) for name in mapping_names(mapping))
    return Loaded(tuple(presets), index, mappings, tuple(problems))


def watch_session(loaded: Loaded, events: EventQueue) -> ConfigWatcher:
    """A (not yet started) watcher that reloads every loaded preset and the mapping when edited."""
    watcher = ConfigWatcher(events)
    for preset in loaded.presets:
        watcher.watch(Path(preset.path), parse_preset)
    for mapping in loaded.mappings:
        watcher.watch(Path(mapping.path), parse_mapping)
    return watcher
