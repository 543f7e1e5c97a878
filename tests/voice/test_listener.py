"""The voice threads: espeak-ng speech fed in 48 kHz blocks as the audio thread does, out come
command events, spoken prompts (a tiny random Whisper saved to disk and loaded by the real
loader) and notices; the recognizer process under the supervisor: restarted when killed, stopped
with the listener."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.waiting import alive, wait_for
from vj.proc.supervisor import supervisor
from vj.vocabulary import ControlEvent, EventQueue, Notice, SpokenPrompt
from vj.voice.corpus import utterance
from vj.voice.dictation import Dictation
from vj.voice.listener import VoiceConfig, VoiceListener
from vj.voice.tiny_whisper import build_tiny_whisper

BLOCK = 1024  # 48 kHz samples per block, like a live callback

pytestmark = pytest.mark.e2e  # the recognizer runs in a process of its own, under the supervisor


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_whisper(tmp_path_factory.mktemp("whisper") / "tiny")


def feed(listener: VoiceListener, samples: np.ndarray) -> None:
    for i in range(0, len(samples), BLOCK):
        listener.feed(samples[i:i + BLOCK])


def collect(events: EventQueue, want: int, timeout: float = 30.0) -> list[object]:
    """Events until `want` of them arrived (or the timeout), then anything still coming for a moment."""
    got: list[object] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        if events.wait_pending(0.1):
            got += list(events.drain())
    time.sleep(0.3)  # a moment for what should not come: the callers check nothing more did
    return got + list(events.drain())


def commands(got: list[object]) -> list[str]:
    return [str(e.source[1]) for e in got if isinstance(e, ControlEvent)]


def test_always_listening_turns_commands_into_events_and_ignores_chatter():
    events = EventQueue()
    listener = VoiceListener(VoiceConfig(mode="always", whisper=None), events).start()
    try:
        for text in ("zoom in", "what a beautiful night", "next preset", "hello everybody"):
            feed(listener, utterance(text).samples)
        got = collect(events, 2)
        assert commands(got) == ["zoom.in", "preset.next"]
        event = next(e for e in got if isinstance(e, ControlEvent))
        assert event.one_shot and event.pressed and event.raw is None
        # the last chatter may still be decoding
        wait_for(lambda: listener.status().utterances >= 4, 30, what=lambda: f"4 utterances: {listener.status()}")
        st = listener.status()
        assert (st.utterances, st.commands, st.ignored) == (4, 2, 2), st
        assert st.last.startswith("ignored")
    finally:
        listener.stop()


def test_push_to_talk_hears_only_while_held():
    events = EventQueue()
    listener = VoiceListener(VoiceConfig(mode="push", whisper=None), events).start()
    try:
        feed(listener, utterance("zoom in").samples)
        assert collect(events, 1, timeout=3.0) == []  # not held: nothing heard
        speech = utterance("freeze", tail=0.1)  # the key is let go right after the word
        listener.hold(True, False)
        feed(listener, speech.samples)
        listener.hold(False, False)
        assert commands(collect(events, 1)) == ["freeze"]
        assert listener.status().listening is False
    finally:
        listener.stop()


def test_dream_of_goes_through_whisper_and_becomes_a_spoken_prompt(tiny_whisper: Path):
    """End to end with the tiny random Whisper: its words are nonsense, but they are its own
    transcription of this audio, loaded from disk by the real loader."""
    events = EventQueue()
    listener = VoiceListener(VoiceConfig(mode="always", whisper=str(tiny_whisper)), events).start()
    try:
        speech = utterance("dream of a glass city")
        feed(listener, speech.samples)
        got = collect(events, 1, timeout=60)
        prompts = [e for e in got if isinstance(e, SpokenPrompt)]
        assert len(prompts) == 1, got
        model = Dictation.load(str(tiny_whisper))
        expected = model.transcribe(speech.samples[speech.start - 4800:], 48000)
        assert prompts[0].text and prompts[0].heard.strip()
        assert set(prompts[0].text.split()) <= set(expected.split()) | set(prompts[0].heard.split())
        assert commands(got) == []  # the lead-in fires no command
        assert listener.status().prompts == 1 and "whisper" in listener.status().dictation
    finally:
        listener.stop()


def test_holding_dictate_sends_the_whole_utterance_to_whisper(tiny_whisper: Path):
    events = EventQueue()
    listener = VoiceListener(VoiceConfig(mode="push", whisper=str(tiny_whisper)), events).start()
    try:
        listener.hold(False, True)
        feed(listener, utterance("a glass city", tail=0.1).samples)
        listener.hold(False, False)
        prompts = [e for e in collect(events, 1, timeout=60) if isinstance(e, SpokenPrompt)]
        assert len(prompts) == 1 and prompts[0].text
    finally:
        listener.stop()


def test_without_whisper_weights_dictation_says_why_and_commands_go_on(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    events = EventQueue()
    listener = VoiceListener(VoiceConfig(mode="always", whisper="tiny.en"), events).start()
    try:
        feed(listener, utterance("dream of a glass city").samples)
        feed(listener, utterance("flash").samples)
        got = collect(events, 3)
        notices = [e.message for e in got if isinstance(e, Notice)]
        assert notices and all("spoken prompts unavailable" in n for n in notices), notices
        assert "tiny.en" in notices[0] and "vj models download tiny.en" in notices[0], notices[0]
        assert commands(got) == ["flash"]
        assert not any(isinstance(e, SpokenPrompt) for e in got)
    finally:
        listener.stop()


def test_garbage_audio_never_stops_the_listener():
    events = EventQueue()
    listener = VoiceListener(VoiceConfig(mode="always", whisper=None), events).start()
    try:
        listener.feed(np.full(BLOCK, np.nan, np.float32))
        listener.feed(np.full((BLOCK, 2), 1e9, np.float32))  # two channels, absurd level
        listener.feed(np.zeros(0, np.float32))
        feed(listener, utterance("blackout").samples)
        assert "blackout" in commands(collect(events, 1))
    finally:
        listener.stop()


def recognizer_pid(timeout: float = 30.0) -> int:
    """The pid of the one voice recognizer process the supervisor runs, once it is ready."""

    def ready() -> int | None:
        ready = [c for c in supervisor().children() if c.spec.name == "voice" and c.status().state == "ready"]
        return ready[0].pid if len(ready) == 1 else None

    return wait_for(ready, timeout,
                    what=lambda: f"a single ready voice recognizer: {[c.status() for c in supervisor().children()]}")


def test_a_recognizer_process_that_dies_is_restarted():
    events = EventQueue()
    listener = VoiceListener(VoiceConfig(mode="always", whisper=None), events).start()
    try:
        feed(listener, utterance("flash").samples)
        assert commands(collect(events, 1)) == ["flash"]
        first = recognizer_pid()
        os.kill(first, signal.SIGKILL)
        got = collect(events, 1, timeout=10)
        notices = [e.message for e in got if isinstance(e, Notice)]
        assert notices == ["voice recognizer stopped (killed by SIGKILL); restarting it"], got
        feed(listener, utterance("zoom out").samples)  # waits in the queue until a new one runs
        assert commands(collect(events, 1)) == ["zoom.out"]
        assert recognizer_pid() != first and not alive(first)
    finally:
        listener.stop()


def test_a_restarted_recognizer_gets_the_key_still_held():
    events = EventQueue()
    listener = VoiceListener(VoiceConfig(mode="push", whisper=None), events).start()
    try:
        assert listener.wait_ready(30)
        first = recognizer_pid()
        listener.hold(True, False)
        wait_for(lambda: listener.status().listening, 10, what="the first process to have the key held")
        os.kill(first, signal.SIGKILL)
        got = collect(events, 1, timeout=10)
        assert any(isinstance(e, Notice) and "restarting" in e.message for e in got), got
        feed(listener, utterance("freeze", tail=0.1).samples)  # to the new process, still held
        listener.hold(False, False)
        assert commands(collect(events, 1)) == ["freeze"]
        assert recognizer_pid() != first
    finally:
        listener.stop()


def test_a_steady_stream_of_audio_is_no_hang(monkeypatch):
    """Live input never lets the recognizer wait for a message (when its link would beat): it
    must still show signs of life within its silence, or the supervisor kills it as hung."""
    monkeypatch.setattr("vj.voice.listener.SILENCE", 1.5)
    events = EventQueue()
    listener = VoiceListener(VoiceConfig(mode="always", whisper=None), events).start()
    try:
        assert listener.wait_ready(30)
        first = recognizer_pid()
        rng = np.random.default_rng(3)
        started = time.monotonic()
        for i in range(int(5.0 * 48000 / BLOCK)):  # 5 s of quiet noise, in real time
            listener.feed((rng.standard_normal(BLOCK) * 1e-3).astype(np.float32))
            time.sleep(max(0.0, started + (i + 1) * BLOCK / 48000 - time.monotonic()))  # paced as it is played
        assert recognizer_pid() == first
        assert not [e for e in events.drain() if isinstance(e, Notice)]
    finally:
        listener.stop()


def test_stop_leaves_no_recognizer_process_behind():
    listener = VoiceListener(VoiceConfig(mode="always", whisper=None), EventQueue()).start()
    assert listener.wait_ready(30)
    pid = recognizer_pid()
    feed(listener, utterance("what a beautiful night").samples)  # busy decoding, or about to be
    started = time.monotonic()
    listener.stop()
    assert time.monotonic() - started < 6.0
    assert not alive(pid)
    assert not [c for c in supervisor().children() if c.spec.name == "voice"]
    time.sleep(1.5)  # longer than the restart back-off: no new one comes
    assert not [c for c in supervisor().children() if c.spec.name == "voice"]


def test_a_recognizer_that_cannot_be_built_is_reported_once_and_not_restarted(tmp_path, monkeypatch):
    """A missing pocketsphinx model (the child inherits the environment): one notice, no restarts."""
    monkeypatch.setenv("POCKETSPHINX_PATH", str(tmp_path / "no-model"))
    events = EventQueue()
    listener = VoiceListener(VoiceConfig(mode="always", whisper=None), events).start()
    try:
        got = collect(events, 1, timeout=30)
        time.sleep(2.0)  # longer than the restart back-off
        got += list(events.drain())
        notices = [e.message for e in got if isinstance(e, Notice)]
        assert len(notices) == 1, notices
        assert notices[0].startswith("voice commands unavailable: RuntimeError"), notices
        assert not listener.wait_ready(0.1)
        assert not [c for c in supervisor().children() if c.spec.name == "voice"]
        feed(listener, utterance("flash").samples)  # fed to nobody, and nothing raises
    finally:
        listener.stop()
