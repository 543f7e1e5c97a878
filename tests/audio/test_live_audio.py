"""Live audio end to end: music played into vj's JACK input by another process, analysed on vj's
analysis thread, agrees with the offline analysis of the same file; and `vj run` reacts to it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.support.audio_player import Player
from tests.support.capture import connected
from tests.support.display import press, wait_for_window
from tests.support.jack import RATE, vj_audio_port
from tests.support.synth import click_track
from tests.support.vj_process import Log, vj_run
from tests.support.waiting import wait_for
from vj.audio.analysis import FEATURES, AnalysisConfig, Analyzer, AudioFrame
from vj.audio.capture import AudioInput, InputConfig
from vj.audio.feed import AudioRunner, AudioSlot
from vj.audio.offline import analyze_samples, load_audio

FEATURE_INDEX = {name: i for i, name in enumerate(FEATURES)}
MUSIC = Path(__file__).resolve().parents[3] / "shared" / "data" / "beats" / "hainsworth_001.flac"

pytestmark = pytest.mark.e2e  # every test plays into vj's input on a JACK server of the module's own (live_jack)


class Recording:
    """Between the input and the analysis thread: keeps every block, to find where the file starts."""

    def __init__(self, source: AudioInput) -> None:
        self.source = source
        self.blocks: list[np.ndarray] = []

    def read(self, timeout: float) -> tuple[np.ndarray, float] | None:
        got = self.source.read(timeout)
        if got is not None:
            self.blocks.append(got[0])
        return got


class RecordingSlot(AudioSlot):
    """The show's slot, also keeping every frame's events with their stream times."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[float, str]] = []

    def put(self, frame: AudioFrame) -> None:
        self.events += [(frame.time, name) for name in frame.events]
        super().put(frame)


def matched(found: list[float], truth: list[float], window: float) -> float:
    """The share of `truth` with an entry of `found` within `window` seconds."""
    if not truth:
        return 1.0
    found_arr = np.asarray(found)
    return sum(bool(found_arr.size and np.abs(found_arr - t).min() <= window) for t in truth) / len(truth)


def play_live(path: Path, frames: int, config: AnalysisConfig) -> tuple[RecordingSlot, AudioRunner, np.ndarray, str]:
    """Plays the file into vj's input with the analysis thread running, as `vj run` does:
    (the slot's record, the runner, every sample captured, what JACK or vj reported lost)."""
    slot = RecordingSlot()
    with AudioInput(InputConfig("system", channels=(1,))).start() as audio:
        ports = connected(audio).ports
        recording = Recording(audio)
        before = audio.status()
        runner = AudioRunner(recording, Analyzer(config), slot).start()
        try:
            with Player(path, to=ports[:1]) as player:
                player.start()
                assert player.wait(timeout=60) == frames
            played = audio.status()
            wait_for(lambda: len(recording.blocks) + played.dropped >= played.blocks, 10,
                     what="the last blocks through the pipe and the analysis")
        finally:
            runner.stop()
        after = audio.status()
    lost = [f"{player.xruns} JACK xruns", f"{after.overflows - before.overflows} overflows",
            f"{after.dropped - before.dropped} dropped blocks"]
    return slot, runner, np.concatenate(recording.blocks), ", ".join(w for w in lost if not w.startswith("0 "))


def test_live_analysis_of_music_through_jack_agrees_with_the_offline_analysis(live_jack, tmp_path):
    music = load_audio(MUSIC, RATE)[: 14 * RATE]
    path = tmp_path / "music.wav"
    soundfile.write(path, music, RATE, subtype="FLOAT")
    config = AnalysisConfig()
    offline = analyze_samples(music, config, "music", beats="online")

    slot, runner, captured, lost = play_live(path, music.size, config)
    start = int(np.flatnonzero(captured)[0]) - int(np.flatnonzero(music)[0])  # where the file begins, live
    heard = captured[start:start + music.size]
    assert heard.size == music.size, f"the file did not come back whole ({lost or 'nothing was reported lost'})"
    # the file, sample for sample, unless JACK lost cycles on a busy machine (then nearly so)
    assert np.allclose(heard, music, atol=1e-6) or (lost and np.corrcoef(heard, music)[0, 1] > 0.95), lost
    shift = start / RATE
    assert runner.cpu_fraction() < 0.2  # of one core, while also capturing (the bench measures it properly)
    # the figures `vj run --stats` writes: a block's analysis cannot end before its last sample was
    # captured (256 frames at 48 kHz, 5.3 ms, after its first; whole ms), and the thread ran no
    # longer than it was busy
    figures = runner.figures()
    assert figures["blocks"] * InputConfig("system").block == captured.size
    assert 0.0 < figures["cpu"] <= figures["busy"] < 0.2
    assert 5.0 <= figures["lag_p50_ms"] <= figures["lag_p99_ms"] <= figures["lag_max_ms"], figures

    # 1. The live path (capture process, pipe, analysis thread, slot) computes exactly what the
    #    offline analysis computes for the same samples: every event, at the same time.
    same = analyze_samples(captured, config, "as heard live", beats="online")
    live_events = [(round(t, 6), n) for t, n in slot.events if t <= same.duration]
    assert live_events == [(round(t, 6), n) for t, n in same.events]

    # 2. The file analysed offline from its first sample agrees with the live analysis, which
    #    heard some silence first and the music starting part-way into an analysis hop: once the
    #    tracker has settled (8 s), the same beats within the beat F-measure's 70 ms both ways
    #    round, and the same loudness and bass curves.
    def times(events: list[tuple[float, str]], offset: float) -> list[float]:
        return [t - offset for t, n in events if n == "beat" and 8.0 <= t - offset <= music.size / RATE - 0.5]

    live, still = times(slot.events, shift), times(list(offline.events), 0.0)
    assert len(still) >= 8
    assert matched(live, still, 0.07) >= 0.9 and matched(still, live, 0.07) >= 0.9, (live, still)
    grid = np.arange(5.0, music.size / RATE - 0.5, 0.05)
    for feature in ("level", "bass"):
        k = FEATURE_INDEX[feature]
        a = np.interp(grid, same.times - shift, same.values[:, k])
        b = np.interp(grid, offline.times, offline.values[:, k])
        assert np.corrcoef(a, b)[0, 1] > 0.9, feature
    last = slot.peek()
    assert last is not None and abs(last.features["bpm"] - offline.frame(len(offline) - 1).features["bpm"]) < 1.0


def test_vj_run_follows_clicks_played_into_its_audio_input(live_jack, xvfb_display, tmp_path):
    samples, clicks = click_track(100.0, 6.0, start=1.0, gain=0.8)
    wav = tmp_path / "clicks.wav"
    soundfile.write(wav, samples, RATE, subtype="FLOAT")
    mapping = tmp_path / "clicks.yaml"
    mapping.write_text("bindings:\n  - {audio: onset, action: preset.next}\n")
    env = {**os.environ, "DISPLAY": xvfb_display}
    with vj_run(env, "--audio", "system", "--audio-channels", "1", "--mapping", str(mapping),
                "--osc-port", "0", "--no-zeroconf", "--seconds", "90") as proc:
        log = Log(proc)
        window = wait_for_window(env, proc)
        port = vj_audio_port(env, said=log.text)
        with Player(wav, to=(port,)) as player:
            player.start()
            assert player.wait(timeout=60) == samples.size
        log.expect("INFO vj.show: preset ", count=len(clicks) + 1, timeout=10)  # the last clicks analysed
        press(env, window, "Escape")
        proc.wait(timeout=30)
        out = log.join()
    assert proc.returncode == 0, out
    assert "audio input: system (JACK Audio Connection Kit), channels [1] of 2" in out, out[-3000:]
    switches = out.count("INFO vj.show: preset ")
    # one preset switch per click (a click is one onset), plus the first preset at start
    assert len(clicks) <= switches - 1 <= len(clicks) + 1, (switches, len(clicks), out[-3000:])

