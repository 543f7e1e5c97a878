"""Voice commands (offline, pocketsphinx + a JSGF grammar)."""

from vj.voice.commands import CommandRecognizer, Heard, jsgf_grammar, resample_to_16k

__all__ = ["CommandRecognizer", "Heard", "jsgf_grammar", "resample_to_16k"]
