"""`voice:` sources in mappings: a spoken command fires like a key press (vj.voice.commands)."""

from __future__ import annotations

from vj.config.source import Section, is_str
from vj.vocabulary import VOICE_COMMANDS, SourceKey, phrase_index


def voice_source(sec: Section) -> tuple[SourceKey, ...] | None:
    """`voice: zoom.in` (the command's name) or `voice: zoom in` (any phrase that says it)."""
    said = sec.get("voice", is_str, "")
    key = " ".join(said.lower().split())
    command = key if key in VOICE_COMMANDS else phrase_index(VOICE_COMMANDS).get(key)
    if command is None:
        sec.problem("voice", f"unknown voice command {said!r}; expected one of: {', '.join(VOICE_COMMANDS)}")
        return None
    return (("voice", command),)
