"""Voice commands (offline, pocketsphinx + a JSGF grammar)."""

from vj.voice.commands import COMMANDS, CommandRecognizer, Heard, jsgf_grammar, resample_to_16k

__all__ = ["COMMANDS", "CommandRecognizer", "Heard", "jsgf_grammar", "resample_to_16k"]
