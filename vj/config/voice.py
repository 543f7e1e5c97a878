"""`voice:` sources in mappings: a spoken command fires like a key press (vj.voice.commands)."""

from __future__ import annotations

from vj.config.source import Section, is_str
from vj.control.events import SourceKey
from vj.voice.commands import COMMANDS, phrase_index


def voice_source(sec: Section) -> tuple[SourceKey, ...] | None:
    """`voice: zoom.in` (the command's name) or `voice: zoom in` (any phrase that says it)."""
    said = sec.get("voice", is_str, "")
    key = " ".join(said.lower().split())
    command = key if key in COMMANDS else phrase_index(COMMANDS).get(key)
    if command is None:
        sec.problem("voice", f"unknown voice command {said!r}; expected one of: {', '.join(COMMANDS)}")
        return None
    return (("voice", command),)
