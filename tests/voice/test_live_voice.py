"""Voice through the live audio input: espeak-ng's speech written to WAV files, played into vj's
JACK capture port by another process, heard by the voice thread through the same capture and
tee the analysis uses; and `vj run --voice always` acting on what it hears."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import numpy as np
import soundfile

from tests.audio.test_capture import connected
from tests.audio.test_live_audio import _vj_audio_port, live_jack  # noqa: F401 (fixture)
from tests.audio_player import Player
from tests.test_cli import _press, _vj_run, _wait_for_window
from vj.audio.analysis import AnalysisConfig, Analyzer
from vj.audio.capture import AudioInput, InputConfig
from vj.audio.link import AudioRunner, AudioSlot, Tee
from vj.control.events import EventQueue
from vj.voice.commands import Heard
from vj.voice.corpus import CHATTER, CHATTER_VOICES, COMMAND_VOICES, RATE, Speech, Voice, command_phrases, utterance
from vj.voice.listener import VoiceConfig, VoiceListener
from vj.voice.tiny_whisper import build_tiny_whisper

MIN_RECOGNISED = 0.80
MIN_IGNORED = 0.90


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


def test_commands_and_chatter_played_into_the_live_input(live_jack, tmp_path):  # noqa: F811
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
        deadline = time.monotonic() + 30
        while listener.status().utterances < len(texts) - 3 and time.monotonic() < deadline:
            time.sleep(0.1)  # the last utterances may still be decoding
        time.sleep(1.0)
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


def test_vj_run_obeys_spoken_commands_and_dreams_of_what_it_is_told(live_jack, xvfb_display, tmp_path):  # noqa: F811
    whisper = build_tiny_whisper(tmp_path / "whisper")
    samples, _ = program([(t, COMMAND_VOICES[0]) for t in ("next preset", "dream of a glass city", "flash")])
    wav = tmp_path / "say.wav"
    soundfile.write(wav, samples, RATE, subtype="FLOAT")
    env = {**os.environ, "DISPLAY": xvfb_display}
    with _vj_run(env, "--audio", "system", "--audio-channels", "1", "--voice", "always", "--whisper", str(whisper),
                 "--osc-port", "0", "--no-zeroconf", "--hud", "--seconds", "180") as proc:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
        reader.start()  # the log, as it comes: Whisper takes a while to load on a busy machine
        window = _wait_for_window(env, proc)
        port = _vj_audio_port(env)
        deadline = time.monotonic() + 120
        while not any("dictation: whisper" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.2)  # Whisper loaded: the machine is not busy starting vj any more (a busy one
            #                 kept a new JACK client from registering within the player's 20 s once)
        with Player(wav, to=(port,)) as player:
            player.start()
            assert player.wait(timeout=60) == samples.size
        deadline = time.monotonic() + 90
        while not any("dreaming of" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.2)
        _press(env, window, "Escape")
        proc.wait(timeout=30)
        reader.join(timeout=10)
        out = "".join(lines)
    assert proc.returncode == 0, out
    assert "voice: 'next preset' -> preset.next" in out, out[-3000:]
    assert "voice: 'flash' -> flash" in out, out[-3000:]
    assert "voice: dream of " in out and "dreaming of " in out, out[-3000:]
    assert out.count("INFO vj.show: preset ") == 2, out[-3000:]  # the first, then the next
    spoken = out.split("voice: dream of ", 1)[1].split(" (heard", 1)[0].strip("'\"")
    assert re.search(rf"prompt \d: {re.escape(spoken)}", out), out[-3000:]  # the show took it as a prompt

