"""What `vj run` and `vj render` both load before a show starts: the presets and the mapping."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vj.config.library import load_mapping, load_presets, resolve
from vj.config.mapping import MappingConfig, parse_mapping
from vj.config.preset import Preset, parse_preset
from vj.config.source import ConfigError
from vj.config.watch import ConfigWatcher
from vj.control.events import EventQueue
from vj.paths import PRESET_DIR


@dataclass(frozen=True)
class Loaded:
    presets: tuple[Preset, ...]
    index: int  # the preset to start with
    mapping: MappingConfig
    problems: tuple[ConfigError, ...]  # invalid presets that were skipped


def load_session(preset: str | None, mapping: str | None) -> Loaded:
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
    return Loaded(tuple(presets), index, load_mapping(mapping), tuple(problems))


def watch_session(loaded: Loaded, events: EventQueue) -> ConfigWatcher:
    """A (not yet started) watcher that reloads every loaded preset and the mapping when edited."""
    watcher = ConfigWatcher(events)
    for preset in loaded.presets:
        watcher.watch(Path(preset.path), parse_preset)
    watcher.watch(Path(loaded.mapping.path), parse_mapping)
    return watcher
