"""The byte-level BPE alphabet: GPT-2's, CLIP's and Whisper's tokenizers spell every byte with it.

The tiny tokenizers (vj.gen.tiny for CLIP, vj.voice.tiny_whisper for Whisper) build their vocabularies on it.
"""

from __future__ import annotations


def bytes_to_unicode() -> dict[int, str]:
    """The byte -> printable character table byte-level BPE tokenizers are built on."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1)
    )
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table
