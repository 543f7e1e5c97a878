"""The mapping engine in tests: an engine built from mapping text, and a sink recording its actions."""

from __future__ import annotations

from pathlib import Path

from vj.config.mapping import parse_mapping
from vj.control.engine import MappingEngine


class Actions:
    """Stands in for the show as the engine's action sink: every (action, value) fired, in order."""

    def __init__(self) -> None:
        self.fired: list[tuple[str, object]] = []

    def action(self, name: str, value: object) -> None:
        self.fired.append((name, value))


def engine_for(tmp_path: Path, text: str) -> MappingEngine:
    """An engine for the mapping file `text` (written to `tmp_path`/m.yaml, so errors name a line)."""
    path = tmp_path / "m.yaml"
    path.write_text(text)
    return MappingEngine(parse_mapping(path))
