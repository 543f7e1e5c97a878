"""Voice through the live audio input: espeak-ng's speech written to WAV files, played into vj's
JACK capture port by another process, heard by the voice thread through the same capture and
tee the analysis uses; and `vj run --voice always` acting on what it hears."""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.support.audio_player import Player
from tests.support.capture import connected
from tests.support.display import press, wait_for_window
from tests.support.jack import vj_audio_port
from tests.support.vj_process import Log, vj_run
from tests.support.waiting import wait_for
from vj.audio.analysis import AnalysisConfig, Analyzer
from vj.audio.capture import AudioInput, InputConfig
from vj.audio.feed import AudioRunner, AudioSlot, Tee
from vj.vocabulary import EventQueue
from vj.voice.commands import Heard
from vj.voice.corpus import (
    CHATTER,
    CHATTER_VOICES,
    COMMAND_VOICES,
    RATE,
    Speech,
    Voice,
    command_phrases,
    utterance,
)
from vj.voice.listener import VoiceConfig, VoiceListener
from vj.voice.tiny_whisper import build_tiny_whisper

MIN_RECOGNISED = 0.80
MIN_IGNORED = 0.90

pytestmark = pytest.mark.e2e  # speech played into vj's input on a JACK server of the module's own (live_jack)


def program(texts: list[tuple[str, Voice]]) -> tuple[np.ndarray, list[tuple[Speech, int]]]:
    """One recording of every text with short pauses; each utterance with its offset in it."""
    parts, placed, at = [], [], 0
    for text, voice in texts:
        speech = utterance(text, voice, lead=0.3, tail=0.8)
        parts.append(speech.samples)
        placed.append((speech, at))
        at += speech.samples.size
    return np.concatenate(parts), placed


def hear(path: Path, frames: int, listener: VoiceListener) -> np.ndarray:
    """Plays the file into vj's capture with the analysis and the voice thread listening, as vj run
    does; returns every sample captured (the voice thread heard the same, from its first block)."""
    captured: list[np.ndarray] = []
    with AudioInput(InputConfig("system", channels=(1,))).start() as audio:
        ports = connected(audio).ports
        runner = AudioRunner(Tee(audio, listener.feed, captured.append), Analyzer(AnalysisConfig()),
                             AudioSlot()).start()
        try:
            with Player(path, to=ports[:1]) as player:
                player.start()
                assert player.wait(timeout=300) == frames
        finally:
            runner.stop()
    return np.concatenate(captured)


def test_commands_and_chatter_played_into_the_live_input(live_jack, tmp_path):
    """Every phrase of every command in both corpus voices, and the out-of-grammar chatter, through JACK."""
    said = command_phrases()
    texts = [(p, v) for v in COMMAND_VOICES for p in said] + [(c, CHATTER_VOICES[0]) for c in CHATTER]
    rng = np.random.default_rng(7)
    texts = [texts[i] for i in rng.permutation(len(texts))]  # commands and chatter interleaved
    samples, placed = program(texts)
    path = tmp_path / "speech.wav"
    soundfile.write(path, samples, RATE, subtype="FLOAT")

    heard: list[Heard] = []
    listener = VoiceListener(VoiceConfig(mode="always", whisper=None), EventQueue(), on_heard=heard.append).start()
    try:
        captured = hear(path, samples.size, listener)
        with contextlib.suppress(AssertionError):  # the counts below judge what was missed
            wait_for(lambda: listener.status().utterances >= len(texts) - 3, 30, what="the last utterances decoded")
        time.sleep(1.0)  # a moment more for the very last ones, which may still be decoding
    finally:
        listener.stop()
    status = listener.status()
    # where the file starts in what was captured: the voice thread's stream time counts from there too
    shift = int(np.flatnonzero(captured)[0]) - int(np.flatnonzero(samples)[0])
    # each utterance decoded belongs to the spoken one it overlaps most (in file samples)
    said_by: dict[int, list[str | None]] = {i: [] for i in range(len(placed))}
    for h in heard:
        a, b = h.start * RATE - shift, h.end * RATE - shift
        overlap = [min(b, at + sp.end) - max(a, at + sp.start) for sp, at in placed]
        said_by[int(np.argmax(overlap))].append(h.command)
    right = [i for i, (t, _) in enumerate(texts) if t in said and said[t] in said_by[i]]
    fired = [i for i, (t, _) in enumerate(texts) if t not in said and any(said_by[i])]
    total = sum(t in said for t, _ in texts)
    print(f"\nlive voice: {len(right)}/{total} commands, {len(fired)} of {len(CHATTER)} chatter fired "
          f"({[texts[i][0] for i in fired]}); {status}")
    missed = [(texts[i][0], said_by[i]) for i, (t, _) in enumerate(texts) if t in said and i not in right]
    assert len(right) / total >= MIN_RECOGNISED, missed
    assert (len(CHATTER) - len(fired)) / len(CHATTER) >= MIN_IGNORED, [(texts[i][0], said_by[i]) for i in fired]
    assert status.dropped == 0.0  # the voice thread kept up with the live input


def test_vj_run_obeys_spoken_commands_and_dreams_of_what_it_is_told(live_jack, xvfb_display, tmp_path):
    whisper = build_tiny_whisper(tmp_path / "whisper")
    samples, _ = program([(t, COMMAND_VOICES[0]) for t in ("next preset", "dream of a glass city", "flash")])
    wav = tmp_path / "say.wav"
    soundfile.write(wav, samples, RATE, subtype="FLOAT")
    env = {**os.environ, "DISPLAY": xvfb_display}
    with vj_run(env, "--audio", "system", "--audio-channels", "1", "--voice", "always", "--whisper", str(whisper),
                "--osc-port", "0", "--no-zeroconf", "--hud", "--seconds", "180") as proc:
        log = Log(proc)  # the log, as it comes: Whisper takes a while to load on a busy machine
        window = wait_for_window(env, proc)
        port = vj_audio_port(env, said=log.text)
        # Whisper loaded: the machine is not busy starting vj any more (a busy one kept a new JACK
        # client from registering within the player's 20 s once)
        log.expect("dictation: whisper", timeout=120)
        with Player(wav, to=(port,)) as player:
            player.start()
            assert player.wait(timeout=60) == samples.size
        log.expect("dreaming of", timeout=90)
        log.expect("voice: 'flash' -> flash", timeout=30)  # said last, maybe heard while Whisper worked
        press(env, window, "Escape")
        proc.wait(timeout=30)
        out = log.join()
    assert proc.returncode == 0, out
    assert "voice: 'next preset' -> preset.next" in out, out[-3000:]
    assert "voice: 'flash' -> flash" in out, out[-3000:]
    assert "voice: dream of " in out and "dreaming of " in out, out[-3000:]
    assert out.count("INFO vj.show: preset ") == 2, out[-3000:]  # the first, then the next
    spoken = out.split("voice: dream of ", 1)[1].split(" (heard", 1)[0].strip("'\"")
    assert re.search(rf"prompt \d: {re.escape(spoken)}", out), out[-3000:]  # the show took it as a prompt

