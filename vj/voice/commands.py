"""Offline voice commands: a JSGF grammar of commands decoded by pocketsphinx, with rejection.

Audio (16 kHz mono, float32 in [-1, 1] or int16) is fed in blocks; pocketsphinx's Endpointer (a
WebRTC-style VAD with a hangover window) cuts utterances.  Each utterance is decoded against a grammar
whose public rule is either one command phrase or a loop of common "garbage" words: out-of-grammar
speech lands on the garbage loop (or on a partial phrase) and is rejected.  A second decode against a
free phone loop (allphone search) gives ``confidence``, the per-frame ln-likelihood ratio of the
grammar path to the phone loop; below ``threshold`` an utterance is rejected too (off by default:
see DEFAULT_THRESHOLD; the garbage loop does the rejecting).  Rejected utterances come back with
``command=None`` so the caller can log them while nothing is triggered.

Why a grammar with a garbage loop, not keyword spotting or free dictation: on espeak-ng speech
free-form pocketsphinx got 2 of 40 phrases; a bare grammar forces any speech onto some command
(73% of chatter fired one, `vj bench voice`); with a loop of 21 common filler words none of 22
chatter phrases (and none of 20 held out) fired, for 2 of 48 commands rejected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vj.vocabulary import VOICE_COMMANDS, phrase_index

# "dream of a glass city": the grammar spots the lead-in, Whisper (vj.voice.dictation) hears the rest
DICTATE = "dictate"
DICTATE_WORDS = ("of", "about")

SAMPLE_RATE = 16000
GRAMMAR_SEARCH = "commands"
PHONE_SEARCH = "phones"
# per-frame ln-likelihood ratio, grammar path vs phone loop, below which a command is rejected. Off
# by default: from the one-pass decode (bestpath off) it does not tell commands from chatter (fed as
# live, the corpus's commands measured -0.0027 .. +0.0004 and its chatter -0.0029 .. -0.0018), and
# the lattice pass that made it telling took minutes on music. The garbage loop does the rejecting
# (it did all of it before too: the old threshold, -10, rejected none of the corpus).
DEFAULT_THRESHOLD = -math.inf
# Always listening in a club, music can keep the endpointer "in speech" for minutes, and decoding it
# all at once took the recognizer's process past its supervisor's patience (killed as hung). No
# command, nor "dream of ..." with its prompt, is this long: longer speech is dropped undecoded.
MAX_UTTERANCE = 10.0  # seconds
MAX_DICTATION = 30.0  # seconds held for dictation (Whisper hears 30 s at a time): the rest is cut
OVERLONG = "(longer than a command)"  # the text of a dropped utterance


# Out-of-grammar speech has to go somewhere: a loop of common words competes with the commands, and an
# utterance that decodes to it (or to anything but a whole command phrase) is rejected.
GARBAGE_WORDS = [
    "the",
    "a",
    "is",
    "you",
    "what",
    "we",
    "i",
    "it",
    "to",
    "and",
    "this",
    "that",
    "how",
    "are",
    "there",
    # measured on chatter outside the test set too: with these, 1 of 42 phrases fired a command
    # instead of 3, for 1 of 48 commands lost
    "play",
    "some",
    "my",
    "get",
    "so",
    "for",
]


def jsgf_grammar(
    commands: dict[str, list[str]] = VOICE_COMMANDS, garbage_weight: float = 0.0, dictate: bool = False
) -> str:
    """The JSGF text: the public rule is one command phrase, or (weight > 0) a run of garbage words,
    or (dictate) "dream of" / "dream about" followed by anything (the words go to Whisper)."""
    phrases = sorted(phrase_index(commands))
    body = " | ".join(phrases)
    if garbage_weight <= 0 and not dictate:
        return f"#JSGF V1.0;\ngrammar vj;\npublic <command> = {body};\n"
    words = " | ".join(dict.fromkeys(GARBAGE_WORDS))
    rules = ["/1/ <phrase>"]
    if garbage_weight > 0:
        rules.append(f"/{garbage_weight}/ <garbage>")
    if dictate:
        rules.append(f"/1/ dream ({' | '.join(DICTATE_WORDS)}) <garbage>")
    return (
        "#JSGF V1.0;\ngrammar vj;\n"
        f"<phrase> = {body};\n"
        f"<garbage> = ({words})+;\n"
        f"public <utterance> = {' | '.join(rules)};\n"
    )


def resample_to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Mono float32 at ``rate`` -> float32 at 16 kHz (polyphase filter, so no aliasing from 48 kHz)."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if rate == SAMPLE_RATE:
        return x
    from scipy.signal import resample_poly

    g = math.gcd(int(rate), SAMPLE_RATE)
    return resample_poly(x, SAMPLE_RATE // g, int(rate) // g).astype(np.float32)


class StreamResampler:
    """Live blocks at any rate -> 16 kHz, continuous across blocks (resampling each block on its own
    rounds every block's length and puts a step at each edge). A low-pass FIR keeps its state from
    block to block; output samples are read at a running position, exact decimation at 48 kHz
    (every third sample) and linear interpolation for rates that are not a multiple (44.1 kHz,
    oversampled enough after the filter that interpolation adds little)."""

    def __init__(self, rate: int, taps: int = 63) -> None:
        from scipy.signal import firwin

        if rate < SAMPLE_RATE:
            raise ValueError(f"voice input must be at least {SAMPLE_RATE} Hz, got {rate}")
        self.step = rate / SAMPLE_RATE
        self._fir = firwin(taps, 0.45 * SAMPLE_RATE, fs=rate).astype(np.float64) if rate > SAMPLE_RATE else None
        self._zi = np.zeros(taps - 1) if self._fir is not None else None
        self._pos = 0.0  # next output position, in input samples from the start of the pending block
        self._last = 0.0  # the previous block's last filtered sample (for interpolating across the edge)

    def process(self, block: np.ndarray) -> np.ndarray:
        x = np.asarray(block, dtype=np.float64)
        if x.ndim == 2:
            x = x.mean(axis=1)
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        if x.size == 0:
            return np.zeros(0, np.float32)
        if self._fir is None:
            return x.astype(np.float32)
        from scipy.signal import lfilter

        y, self._zi = lfilter(self._fir, 1.0, x, zi=self._zi)
        ext = np.concatenate([[self._last], y])  # ext[i + 1] is y[i]; position -1 is the previous block's last
        positions = np.arange(self._pos, x.size - 1e-9, self.step)
        self._pos = (positions[-1] + self.step - x.size) if positions.size else self._pos - x.size
        self._last = float(y[-1])
        out = np.interp(positions + 1.0, np.arange(ext.size), ext)
        return out.astype(np.float32)


def int16_bytes(samples: np.ndarray) -> bytes:
    x = np.asarray(samples)
    if x.dtype == np.int16:
        return x.tobytes()
    # a broken input is silence
    x = np.clip(np.nan_to_num(x.astype(np.float32), nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)
    return (x * 32767.0).astype(np.int16).tobytes()


@dataclass(frozen=True)
class Heard:
    """One decoded utterance: ``command`` is None when it was rejected (outside the grammar)."""

    command: str | None
    text: str
    confidence: float
    start: float  # seconds since the recognizer started, by samples fed
    end: float
    audio: bytes = b""  # the utterance (16 kHz int16) when command is DICTATE: Whisper transcribes it


class CommandRecognizer:
    """Streams 16 kHz mono audio, cuts utterances, decodes them against the command grammar.

    ``push_to_talk=True``: only audio fed while ``hold(True)`` is decoded; releasing the key ends the
    utterance.  Otherwise it is always listening and the endpointer decides.
    """

    def __init__(
        self,
        commands: dict[str, list[str]] = VOICE_COMMANDS,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        garbage_weight: float = 1e-10,
        push_to_talk: bool = False,
        dictate: bool = True,
        vad_mode: int = 2,
        window: float = 0.3,
        ratio: float = 0.9,
        min_speech: float = 0.15,
    ) -> None:
        from vj.extras import require

        require("voice")  # names the extra to install where pocketsphinx is missing
        import pocketsphinx

        self.commands = commands
        self._index = phrase_index(commands)
        self.threshold = threshold
        self.push_to_talk = push_to_talk
        self.min_speech = min_speech
        self._held = False
        self._dictating = False  # held for dictation: the whole utterance goes to Whisper
        # bestpath off: its lattice pass over the garbage loop grew faster than the utterance (4 s
        # of music took 11.5 s to decode, 10 s took 126 s); the first pass alone took 0.14 s
        config = pocketsphinx.Config(loglevel="FATAL", bestpath=False)
        self._decoder = pocketsphinx.Decoder(config)
        self._decoder.add_jsgf_string(GRAMMAR_SEARCH, jsgf_grammar(commands, garbage_weight, dictate))
        self._decoder.add_allphone_file(PHONE_SEARCH)  # uniform phone loop: the "anything" model
        self._ep_args = {"window": window, "ratio": ratio, "vad_mode": vad_mode, "sample_rate": SAMPLE_RATE}
        self._endpointer = pocketsphinx.Endpointer(**self._ep_args)
        self._frame_bytes = self._endpointer.frame_bytes
        self._pending = b""
        self._fed = 0  # bytes fed to the endpointer (int16)
        self._utt: list[bytes] = []
        self._utt_bytes = 0
        self._overlong = False  # the speech in progress passed MAX_UTTERANCE: dropped until it ends
        self._utt_start = 0.0
        self._origin = 0.0  # stream time at which the current endpointer started (it counts from 0)

    # push-to-talk ---------------------------------------------------------------------------------
    def hold(self, pressed: bool, dictate: bool = False) -> list[Heard]:
        """Press / release push-to-talk; releasing closes the utterance in progress. Held with
        ``dictate``, the utterance is not decoded: it comes back whole as a DICTATE for Whisper."""
        out: list[Heard] = []
        if self._held and not pressed:
            out = self.flush()
        if pressed and not self._held:
            self._dictating = dictate
        self._held = pressed
        return out

    @property
    def listening(self) -> bool:
        return self._held or not self.push_to_talk

    # streaming ------------------------------------------------------------------------------------
    def feed(self, samples: np.ndarray) -> list[Heard]:
        """Feed a block of 16 kHz mono audio; returns the utterances completed by it."""
        if not self.listening:
            self._fed += 2 * len(samples)  # keep the clock running, decode nothing
            return []
        self._pending += int16_bytes(samples)
        heard: list[Heard] = []
        fb = self._frame_bytes
        while len(self._pending) >= fb:
            frame, self._pending = self._pending[:fb], self._pending[fb:]
            was = self._endpointer.in_speech
            speech = self._endpointer.process(frame)
            self._fed += fb
            if speech is not None:
                self._keep(speech)
            if was and not self._endpointer.in_speech:
                h = self._close(self._origin + self._endpointer.speech_end)
                if h is not None:
                    heard.append(h)
        return heard

    @property
    def buffered_seconds(self) -> float:
        """Speech held for the utterance in progress."""
        return self._utt_bytes / 2 / SAMPLE_RATE

    def _keep(self, speech: bytes) -> None:
        """One frame of speech into the utterance in progress, up to its limit."""
        if self._overlong:
            return
        if not self._utt:
            self._utt_start = self._origin + self._endpointer.speech_start
        limit = MAX_DICTATION if self._dictating else MAX_UTTERANCE
        if self._utt_bytes + len(speech) > 2 * SAMPLE_RATE * limit:
            if self._dictating:
                return  # the first 30 s go to Whisper
            self._overlong = True
            self._utt, self._utt_bytes = [], 0
            return
        self._utt.append(speech)
        self._utt_bytes += len(speech)

    def flush(self) -> list[Heard]:
        """End of input (or push-to-talk released): decode whatever speech is in progress."""
        end = self._fed / 2 / SAMPLE_RATE
        if self._endpointer.in_speech:
            # end_stream indexes its frame: an empty one raised IndexError (one zero sample instead)
            rest = self._endpointer.end_stream(self._pending or bytes(2))
            if rest:
                self._keep(rest)
        self._pending = b""
        h = self._close(end)
        import pocketsphinx

        self._endpointer = pocketsphinx.Endpointer(**self._ep_args)
        self._origin = end
        return [h] if h is not None else []

    def _close(self, end: float) -> Heard | None:
        audio = b"".join(self._utt)
        self._utt, self._utt_bytes = [], 0
        if self._overlong:
            self._overlong = False
            return Heard(None, OVERLONG, -math.inf, self._utt_start, end)
        if len(audio) < 2 * SAMPLE_RATE * self.min_speech:
            return None
        if self._dictating:
            return Heard(DICTATE, "", 0.0, self._utt_start, end, audio)
        return self.decode(audio, self._utt_start, end)

    # decoding -------------------------------------------------------------------------------------
    def _search(self, name: str, audio: bytes) -> tuple[str, float, int]:
        d = self._decoder
        d.activate_search(name)
        d.start_utt()
        d.process_raw(audio, full_utt=True)
        d.end_utt()
        hyp = d.hyp()
        # Segment.ascore comes back as a probability (per-frame normalised, so it does not underflow)
        ascore = sum(math.log(max(seg.ascore, 1e-300)) for seg in d.seg()) if hyp is not None else -math.inf
        return (hyp.hypstr if hyp is not None else ""), float(ascore), d.n_frames()

    def decode(self, audio: bytes | np.ndarray, start: float = 0.0, end: float = 0.0) -> Heard:
        """Decode one whole utterance (int16 bytes or 16 kHz samples) and apply the rejection rule."""
        if not isinstance(audio, bytes):
            audio = int16_bytes(audio)
        text, g_score, frames = self._search(GRAMMAR_SEARCH, audio)
        _, p_score, _ = self._search(PHONE_SEARCH, audio)
        frames = max(frames, 1)
        confidence = (g_score - p_score) / frames if text else -math.inf
        words = text.lower().split()
        if len(words) >= 2 and words[0] == "dream" and words[1] in DICTATE_WORDS:
            return Heard(DICTATE, text, confidence, start, end, audio)  # the lead-in is enough: Whisper judges the rest
        command = self._index.get(" ".join(words)) if confidence >= self.threshold else None
        return Heard(command, text, confidence, start, end)
