"""The voice threads: live audio in, commands and spoken prompts out, as events for the show.

The audio thread hands every input block to `feed` (never blocking: a bounded queue, the oldest
block dropped if the voice thread falls behind). The voice thread resamples it to 16 kHz
(continuously, across blocks) and sends it to the command recognizer (vj.voice.commands), which
runs in a process of its own (vj.voice.recognizer_process: pocketsphinx holds the GIL 50-70 ms
per command and about a second for long chatter, and would stall this process while it decodes).
That process is one child of the process-wide supervisor (vj.proc.supervisor): it restarts the
recognizer after a back-off when it dies or hangs (a notice says so), and the voice thread
re-sends the push-to-talk state to each new one; while none runs, audio waits in the queue.
Results arrive on the supervisor's thread: each command heard becomes a one-shot ControlEvent
from the source ("voice", COMMAND), so mappings bind it like a key. A dictation ("dream of ...",
or speech while voice.dictate is held) goes to a second thread, because Whisper can take a second
or more and commands must not wait behind it; its text comes back as a SpokenPrompt. Push-to-talk
state comes from the show through `hold` (the newest state wins). Nothing here raises into the
show: problems become Notice events.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

import numpy as np

from vj.proc.supervisor import Child, ChildHandler, ChildSpec, ChildStatus, supervisor
from vj.vocabulary import ControlEvent, EventQueue, Notice, SpokenPrompt
from vj.voice.commands import DEFAULT_THRESHOLD, DICTATE, SAMPLE_RATE, Heard, StreamResampler, int16_bytes

log = logging.getLogger(__name__)

VoiceMode = Literal["push", "always"]
VOICE_MODES: tuple[str, ...] = ("push", "always")
MAX_BACKLOG = 10.0  # seconds of audio the recognizer may fall behind before old blocks are dropped
BACKOFF = (1.0, 8.0)  # seconds before a recognizer that died is started again: first, doubling up to
SILENCE = 15.0  # seconds the recognizer may say nothing before it counts as hung (a decode takes up to ~1 s)


class Transcriber(Protocol):
    """What the listener needs of a dictation model (vj.voice.dictation.Dictation)."""

    def transcribe(self, samples: np.ndarray, rate: int = SAMPLE_RATE) -> str: ...
    def describe(self) -> str: ...


@dataclass(frozen=True)
class VoiceConfig:
    mode: VoiceMode = "push"  # push: only while voice.talk / voice.dictate is held; always: the endpointer decides
    threshold: float = DEFAULT_THRESHOLD  # confidence below which a command is ignored
    whisper: str | None = "tiny.en"  # the dictation model (a name, hub id or folder); None: no spoken prompts
    # seconds of silence that end an utterance when always listening (shorter: sooner, but a pause between words
    # may split a command: 0.25 measured 45/48 and p95 430 ms, 0.3 46/48 and 490 ms)
    hangover: float = 0.3
    rate: int = 48000  # sample rate of the blocks fed

    def __post_init__(self) -> None:
        if not 0.1 <= self.hangover <= 2.0:
            raise ValueError(f"voice hangover must be 0.1..2 seconds, got {self.hangover}")
        if self.mode not in VOICE_MODES:
            raise ValueError(f"voice mode must be one of {', '.join(VOICE_MODES)}, got {self.mode!r}")


@dataclass(frozen=True)
class VoiceStatus:
    mode: str
    listening: bool  # push-to-talk held, or always listening
    utterances: int  # utterances decoded
    commands: int  # of them, commands fired
    ignored: int  # of them, rejected (not a command)
    prompts: int  # spoken prompts sent to the show
    dropped: float  # seconds of audio dropped because the recognizer fell behind
    last: str  # what was heard last, in words
    dictation: str  # the Whisper model, or why there is none


def load_transcriber(name: str) -> Transcriber:
    from vj.extras import require

    require("dictation")  # names the extra to install where torch or transformers is missing
    from vj.voice.dictation import Dictation

    return Dictation.load(name)


class VoiceListener:
    def __init__(self, config: VoiceConfig, events: EventQueue,
                 transcriber: Callable[[str], Transcriber] = load_transcriber,
                 on_heard: Callable[[Heard], None] | None = None) -> None:
        self.config = config
        self.events = events
        self.on_heard = on_heard  # sees every utterance decoded, with its stream times (tests, logs)
        self._load = transcriber
        self._blocks: queue.Queue[np.ndarray | tuple[bool, bool] | None] = queue.Queue()
        self._jobs: queue.Queue[tuple[Heard, float] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._status = VoiceStatus(config.mode, config.mode == "always", 0, 0, 0, 0, 0.0, "",
                                   "off" if config.whisper is None else f"loading {config.whisper}")
        self._held = (False, False)  # the show's push-to-talk state (render thread only)
        self._ready = threading.Event()  # the recognizer process has loaded its model (once)
        self._stop = threading.Event()
        self._child: Child | None = None  # the supervised recognizer process
        # set on the supervisor thread, read by the voice thread: which start of the recognizer
        # (ChildStatus.starts) takes messages, None while none runs
        self._live: int | None = None
        self._up = threading.Event()  # _live is not None
        self._unavailable = False  # the recognizer cannot be built here: not restarted
        self._threads = [threading.Thread(target=self._recognize, name="vj-voice", daemon=True),
                         threading.Thread(target=self._dictate, name="vj-dictation", daemon=True)]

    def start(self) -> VoiceListener:
        options = {"threshold": self.config.threshold, "push_to_talk": self.config.mode == "push",
                   "window": self.config.hangover}
        self._child = supervisor().start(ChildSpec(
            name="voice",
            main="vj.voice.recognizer_process:serve",
            args=(options,),
            env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},  # it needs no thread pools
            silence=SILENCE,
            backoff=BACKOFF,
            give_up_after=None,  # keep trying; a recognizer that cannot be built is stopped instead
        ), _Recognizer(self))
        for t in self._threads:
            t.start()
        return self

    def stop(self, timeout: float = 3.0) -> None:
        """Stops the threads, then the recognizer process (in order; killed if it takes too long)."""
        self._stop.set()
        self._up.set()  # wakes the voice thread if it waits for a recognizer
        self._blocks.put(None)
        self._jobs.put(None)
        for t in self._threads:
            t.join(timeout)
        if self._child is not None:  # after the voice thread: nothing is sent to it any more
            self._child.stop(timeout)

    def wait_ready(self, timeout: float) -> bool:
        """Blocks until the recognizer has loaded (True) or `timeout` seconds passed (False)."""
        return self._ready.wait(timeout)

    def status(self) -> VoiceStatus:
        with self._lock:
            return self._status

    def _set(self, **changes: object) -> None:
        with self._lock:
            self._status = replace(self._status, **changes)  # type: ignore[arg-type]

    # called from other threads --------------------------------------------------------------------
    def feed(self, block: np.ndarray) -> None:
        """A block of live input (mono or (frames, channels), at config.rate). Never blocks."""
        limit = int(MAX_BACKLOG * self.config.rate)
        while self._blocks.qsize() * len(block) > limit:  # blocks come in one size: a good estimate
            try:
                old = self._blocks.get_nowait()
            except queue.Empty:
                break
            if isinstance(old, np.ndarray):
                self._set(dropped=self.status().dropped + len(old) / self.config.rate)
            elif old is not None:
                self._blocks.put(old)  # never drop a push-to-talk change
                break
        self._blocks.put(block)

    def hold(self, talk: bool, dictate: bool) -> None:
        """Push-to-talk from the show (the voice.talk / voice.dictate parameters): only changes matter."""
        if (talk, dictate) != self._held:
            self._held = (talk, dictate)
            self._blocks.put((talk, dictate))

    # the voice thread -----------------------------------------------------------------------------
    def _recognize(self) -> None:
        """Sends audio and push-to-talk to the recognizer process, in order; an item waits while
        none runs (restarting after a failure). A new process first gets the push-to-talk state,
        so a key held across a restart stays held."""
        resampler = StreamResampler(self.config.rate)
        held = (False, False)  # push-to-talk as last taken from the queue
        sent_to: int | None = None  # the start of the recognizer the push-to-talk state was sent to
        pending: tuple[Any, ...] | None = None  # the next message, waiting for a recognizer
        while not self._stop.is_set():
            if pending is None:
                try:
                    item = self._blocks.get(timeout=0.2)
                except queue.Empty:
                    continue
                if item is None:
                    break
                if isinstance(item, tuple):
                    held = item
                    pending = ("hold", held[0] or held[1], held[1])
                else:
                    pending = ("audio", int16_bytes(resampler.process(item)))
            if not self._up.wait(0.2):
                continue
            live, child = self._live, self._child
            if live is None or child is None:
                continue
            if live != sent_to:
                if held != (False, False) and not child.send(("hold", held[0] or held[1], held[1])):
                    self._stop.wait(0.02)  # it just went away: the supervisor will tell
                    continue
                sent_to = live
            if child.send(pending):
                pending = None
            else:
                self._stop.wait(0.02)

    # the supervisor thread: must not block --------------------------------------------------------
    def _on_message(self, child: Child, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "heard" and isinstance(message[1], Heard):
            self._heard(message[1])
        elif kind == "listening":
            self._set(listening=bool(message[1]))
        elif kind == "unavailable":
            self._unavailable = True
            self._notice(f"voice commands unavailable: {message[1]}")
            self._stop.set()  # it would fail the same way again
            child.stop(timeout=0.0)  # on the supervisor thread: never wait for it

    def _on_changed(self, status: ChildStatus) -> None:
        if status.state == "ready":
            self._ready.set()
        if status.state in ("starting", "ready") and status.pid is not None:
            # started, and already sent its start message (the supervisor says "starting" after
            # that): what is sent now reaches it in order, and waits in its socket while it loads
            self._live = status.starts
            self._up.set()
            return
        self._live = None
        if not self._stop.is_set():
            self._up.clear()
        if status.state == "waiting" and status.fault and not self._stop.is_set() and not self._unavailable:
            self._notice(f"voice recognizer stopped ({status.fault}); restarting it")

    def _heard(self, h: Heard) -> None:
        now = time.perf_counter()
        if self.on_heard is not None:
            self.on_heard(h)
        st = self.status()
        if h.command == DICTATE:
            self._set(utterances=st.utterances + 1, last=f"dictating ({h.text or 'held'})")
            self._jobs.put((h, now))
            log.info("voice: %r -> dictation", h.text or "(held)")
        elif h.command is not None:
            self.events.put(ControlEvent(("voice", h.command), 1.0, True, None, now, one_shot=True))
            self._set(utterances=st.utterances + 1, commands=st.commands + 1, last=f"{h.text} -> {h.command}")
            log.info("voice: %r -> %s (confidence %.5f)", h.text, h.command, h.confidence)
        else:
            self._set(utterances=st.utterances + 1, ignored=st.ignored + 1, last=f"ignored ({h.text or '?'})")
            log.debug("voice: ignored %r (confidence %.5f)", h.text, h.confidence)

    # the dictation thread -------------------------------------------------------------------------
    def _dictate(self) -> None:
        model: Transcriber | None = None
        why = "spoken prompts are off (no Whisper model chosen)"
        if self.config.whisper is not None:
            try:
                model = self._load(self.config.whisper)
                self._set(dictation=model.describe())
            except Exception as exc:  # noqa: BLE001 - commands go on without dictation
                why = f"spoken prompts unavailable: {exc}"
                self._set(dictation=why)
                self._notice(why)
        from vj.voice.dictation import prompt_from_speech

        while not self._stop.is_set():
            job = self._jobs.get()
            if job is None:
                break
            heard, _ = job
            if model is None:
                self._notice(why)
                continue
            samples = np.frombuffer(heard.audio, dtype=np.int16).astype(np.float32) / 32768.0
            try:
                text = model.transcribe(samples, SAMPLE_RATE)
            except Exception as exc:  # noqa: BLE001 - one failed transcription is not the end
                self._notice(f"dictation failed: {type(exc).__name__}: {exc}")
                continue
            prompt = prompt_from_speech(text)
            if prompt is None:
                self._notice(f"dictation: nothing to dream of in {text!r}")
                continue
            self.events.put(SpokenPrompt(prompt, text, time.perf_counter()))
            st = self.status()
            self._set(prompts=st.prompts + 1, last=f"dream of {prompt}")
            log.info("voice: dream of %r (heard %r)", prompt, text)

    def _notice(self, message: str) -> None:
        log.warning(message)
        self.events.put(Notice(message))


class _Recognizer(ChildHandler):
    """The listener's side of its recognizer process; called on the supervisor thread."""

    def __init__(self, listener: VoiceListener) -> None:
        self.listener = listener
        self.child: Child | None = None

    def starting(self, child: Child) -> tuple[tuple[Any, ...], tuple[int, ...]]:
        self.child = child
        return child.spec.args, ()

    def message(self, message: tuple[Any, ...]) -> None:
        if self.child is not None:
            self.listener._on_message(self.child, message)

    def changed(self, status: ChildStatus) -> None:
        self.listener._on_changed(status)
