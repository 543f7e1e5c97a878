"""A fixed spoken corpus for the voice commands: espeak-ng says every command phrase and some
out-of-grammar chatter, as 48 kHz mono (the live capture's rate) with silence around it.

Used by the voice tests (tests/voice) and `vj bench voice`, so both hear the same utterances.
The commands come from vj.voice.commands.VOICE_COMMANDS (every phrase of every command); the chatter
is speech a VJ's microphone picks up between commands, none of it a command or a dictation.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vj.vocabulary import VOICE_COMMANDS, phrase_index

RATE = 48000
LEAD = 0.5  # seconds of silence before the speech
TAIL = 1.0  # seconds of silence after it: the endpointer closes the utterance within it
SPEECH_LEVEL = 1e-3  # |sample| above this (-60 dBFS) is speech, for where it ends

Voice = tuple[str, str]  # (espeak-ng voice, words per minute)
COMMAND_VOICES: list[Voice] = [("en-us+f2", "150"), ("en-us+f2", "130")]
CHATTER_VOICES: list[Voice] = [("en-us+f2", "150")]
CHATTER = [
    "what a beautiful night",
    "turn the music up",
    "hello everybody",
    "where is the bar",
    "I love this song",
    "can you hear me",
    "let me get a drink",
    "this is amazing",
    "how are you doing",
    "see you tomorrow",
    "the weather is nice today",
    "put your hands in the air",
    "one two three four",
    "check the microphone",
    "thank you very much",
    "good evening ladies and gentlemen",
    "I need a break",
    "what time is it",
    "play something else",
    "that was incredible",
    "everybody dance now",
    "who wants more",
]
# "dream of ..." lead-ins: the recognizer hands the rest to Whisper (vj.voice.dictation)
DICTATIONS = [
    "dream of a glass city",
    "dream of a forest at night",
    "dream about the ocean",
    "dream of neon rain",
    "dream about a burning sky",
]


class SpeechUnavailable(RuntimeError):
    """espeak-ng is missing or failed."""


@dataclass(frozen=True)
class Speech:
    """One utterance at RATE: `samples` with silence around the speech, which runs from sample
    `start` to `end` (one past the last sample above SPEECH_LEVEL)."""

    text: str
    voice: Voice
    samples: np.ndarray  # float32 mono
    start: int
    end: int

    @property
    def seconds(self) -> float:
        return (self.end - self.start) / RATE


def command_phrases() -> dict[str, str]:
    """Every phrase of every command -> the command it says."""
    return phrase_index(VOICE_COMMANDS)


def espeak_wav(text: str, voice: Voice = COMMAND_VOICES[0]) -> bytes:
    """espeak-ng's WAV file (22.05 kHz) for `text`."""
    if shutil.which("espeak-ng") is None:
        raise SpeechUnavailable("espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng)")
    name, speed = voice
    done = subprocess.run(["espeak-ng", "-v", name, "-s", speed, "--stdout", text],
                          capture_output=True, check=False)
    if done.returncode != 0 or not done.stdout:
        why = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
        raise SpeechUnavailable(f"espeak-ng -v {name} -s {speed} {text!r} failed: {why}")
    return done.stdout


def decode_wav(wav: bytes) -> np.ndarray:
    """A WAV file's samples as float32 mono at RATE."""
    import soundfile as sf
    from scipy.signal import resample_poly

    x, rate = sf.read(io.BytesIO(wav), dtype="float32")
    if x.ndim == 2:
        x = x.mean(axis=1)
    g = int(np.gcd(int(rate), RATE))
    return resample_poly(x, RATE // g, int(rate) // g).astype(np.float32)


def synthesize(text: str, voice: Voice = COMMAND_VOICES[0]) -> np.ndarray:
    """espeak-ng's speech for `text` (float32 mono at RATE, as espeak made it: no padding)."""
    return decode_wav(espeak_wav(text, voice))


def utterance(text: str, voice: Voice = COMMAND_VOICES[0], lead: float = LEAD, tail: float = TAIL) -> Speech:
    """`text` spoken by espeak-ng at RATE, with `lead` seconds of silence before the speech and
    `tail` after it. The speech is cut where espeak's output last rises above SPEECH_LEVEL (its
    own trailing silence goes), so `end` is where the speech truly ends."""
    x = synthesize(text, voice)
    loud = np.flatnonzero(np.abs(x) > SPEECH_LEVEL)
    if loud.size == 0:
        raise SpeechUnavailable(f"espeak-ng said nothing audible for {text!r}")
    first, last = int(loud[0]), int(loud[-1]) + 1
    before, after = int(round(lead * RATE)), int(round(tail * RATE))
    samples = np.concatenate([np.zeros(before, np.float32), x[first:last], np.zeros(after, np.float32)])
    return Speech(text, voice, samples, before, before + last - first)


def speak(text: str, voice: str, speed: str, path: Path | None = None) -> np.ndarray:
    """espeak-ng -> 48 kHz with 0.5 s of silence before and 1 s after espeak's own output (its
    trailing silence kept); `path` also gets espeak's WAV."""
    wav = espeak_wav(text, (voice, speed))
    if path is not None:
        Path(path).write_bytes(wav)
    pad = np.zeros(int(LEAD * RATE), np.float32), np.zeros(int(TAIL * RATE), np.float32)
    return np.concatenate([pad[0], decode_wav(wav), pad[1]])
