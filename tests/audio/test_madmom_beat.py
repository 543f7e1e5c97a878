"""madmom's learned beat tracker as the `tracker: madmom` option: the adapter on its own, through the
Analyzer, through `vj run`'s live JACK input, and the clear message when it cannot load.

madmom (the `beats` extra) is installed by scripts/setup.sh, so these run in CI and never skip.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import sys
import threading
import time

import numpy as np
import pytest
import soundfile

from tests.support.audio_player import Player
from tests.support.display import press, wait_for_window
from tests.support.jack import RATE, vj_audio_port
from tests.support.synth import SR, click_track, groove
from tests.support.vj_process import Log, vj, vj_run
from tests.support.waiting import wait_for
from vj.audio.analysis import AnalysisConfig, Analyzer
from vj.audio.madmom_beat import MadmomBeatTracker, Resampler
from vj.bench.audio import f_measure
from vj.control.osc_codec import parse_message

HOP = 512


def beat_times(tracker: MadmomBeatTracker, samples: np.ndarray) -> np.ndarray:
    """The end times of the hops in which the adapter reported a beat."""
    beats = []
    for i in range(0, samples.size - HOP + 1, HOP):
        if tracker.update(samples[i:i + HOP]).beat:
            beats.append((i + HOP) / SR)
    return np.array(beats)


def test_the_resampler_streams_48_to_44_1_khz_as_a_whole_signal_would() -> None:
    seconds = 1.0
    x = np.sin(2 * np.pi * 1000.0 * np.arange(int(seconds * SR)) / SR)
    whole = Resampler(SR, 44100)(x)
    resample = Resampler(SR, 44100)
    sizes = np.random.default_rng(0).integers(1, 700, 200)
    pieces, at = [], 0
    for size in sizes:
        pieces.append(resample(x[at:at + size]))
        at += size
    pieces.append(resample(x[at:]))
    streamed = np.concatenate(pieces)
    assert np.array_equal(streamed, whole)  # block sizes change nothing
    assert abs(whole.size - seconds * 44100) <= Resampler(SR, 44100).half  # all but the sinc's reach
    t = np.arange(whole.size) / 44100
    assert np.abs(whole[50:] - np.sin(2 * np.pi * 1000.0 * t[50:])).max() < 1e-3  # the same tone, in time


def test_the_adapter_finds_the_beats_and_tempo_of_a_120_bpm_groove() -> None:
    truth = groove(120.0, 20.0, "rock")
    tracker = MadmomBeatTracker(SR, SR / HOP)
    beats = beat_times(tracker, truth.samples)
    later = beats[beats >= 5.0]
    assert later.size >= 25
    # every beat event within 70 ms of a beat of the groove (detected: they come a little late)
    misses = [b for b in later if np.abs(truth.beats - b).min() > 0.07]
    assert not misses, (misses, later)
    assert f_measure(truth.beats, beats) >= 0.95
    assert tracker.bpm == pytest.approx(120.0, rel=0.02)
    assert tracker.locked and tracker.confidence > 0.5
    assert tracker.count == beats.size and 0.0 <= tracker.phase < 1.0 and 0.0 <= tracker.bar_phase < 1.0
    assert tracker.period == pytest.approx(60.0 * SR / HOP / tracker.bpm)


def test_the_analyzer_with_tracker_madmom_reports_beats_bars_and_tempo() -> None:
    truth = groove(120.0, 16.0, "four")
    analyzer = Analyzer(AnalysisConfig(tracker="madmom"))
    assert analyzer.tracker == "madmom" and analyzer.tracker_message is None
    beats, bars = [], 0
    for i in range(0, truth.samples.size - HOP + 1, HOP):
        frame = analyzer.process(truth.samples[i:i + HOP])
        assert all(math.isfinite(v) for v in frame.features.values())
        if "beat" in frame.events:
            beats.append(frame.time)
        bars += "bar" in frame.events
    assert f_measure(truth.beats, beats) >= 0.95
    assert frame.features["bpm"] == pytest.approx(120.0, rel=0.02)
    assert frame.features["beat.count"] == len(beats) and bars == pytest.approx(len(beats) / 4, abs=1)


def test_silence_lets_the_confidence_fall_and_the_beats_stop() -> None:
    tracker = MadmomBeatTracker(SR, SR / HOP)
    music = groove(120.0, 10.0, "rock").samples
    beat_times(tracker, music)
    assert tracker.locked
    count = tracker.count
    beats = beat_times(tracker, np.zeros(8 * SR, dtype=np.float32))
    assert not tracker.locked and tracker.confidence < 0.1
    assert tracker.count - count == beats.size and np.all(beats < 3.0)  # a couple at most, then none
    assert tracker.bpm == pytest.approx(120.0, rel=0.02)  # the tempo is held


def test_an_unknown_tracker_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="tracker must be one of vj, madmom, got 'beatroot'"):
        AnalysisConfig(tracker="beatroot")


@pytest.mark.e2e
def test_the_cli_offers_the_two_trackers() -> None:
    result = vj("render", "--audio", "x.wav", "--beat-tracker", "beatroot", "--out", "x.mp4", timeout=60)
    assert result.returncode == 2 and "invalid choice: 'beatroot'" in result.stderr


def test_without_madmom_the_show_goes_on_with_vjs_tracker_and_says_what_to_install(monkeypatch, caplog) -> None:
    # A mock, only for "the package is missing" (it is installed here): None in sys.modules makes
    # `import madmom` fail as it does where it is not installed.
    for name in [m for m in sys.modules if m == "madmom" or m.startswith("madmom.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "madmom", None)
    with caplog.at_level(logging.WARNING, logger="vj.audio.analysis"):
        analyzer = Analyzer(AnalysisConfig(tracker="madmom"))
    assert analyzer.tracker == "vj" and analyzer.tracker_message is not None
    assert "the madmom beat tracker needs the beats extra: pip install 'vj[beats]'" in analyzer.tracker_message
    assert analyzer.tracker_message.endswith("using vj's beat tracker")
    assert [r.getMessage() for r in caplog.records] == [analyzer.tracker_message]  # said once
    samples, clicks = click_track(120.0, 12.0, gain=0.8)
    beats = [f.time for i in range(0, samples.size - HOP + 1, HOP)
             if "beat" in (f := analyzer.process(samples[i:i + HOP])).events]
    assert f_measure(clicks, beats) > 0.9  # vj's tracker keeps the beat


class OscListener:
    """A UDP socket that keeps every (arrival time, address, first argument) vj's OSC out sends."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.got: list[tuple[float, str, object]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if data.startswith(b"/vj/audio/"):
                message = parse_message(data)
                self.got.append((time.monotonic(), message.address, message.args[0] if message.args else None))

    def values(self, address: str, since: float = 0.0) -> list[tuple[float, object]]:
        return [(t, v) for t, a, v in self.got if a == address and t >= since]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self.sock.close()


def settled(osc: OscListener, address: str, quiet: float) -> bool:
    """Whether `address` has kept one value for the last `quiet` seconds (and was heard)."""
    heard = osc.values(address)
    if not heard or time.monotonic() - heard[0][0] < quiet:
        return False
    recent = [v for t, v in heard if t >= time.monotonic() - quiet]
    return len(set(recent)) == 1 and recent[0] == heard[-1][1]


@pytest.mark.e2e
def test_vj_run_with_the_madmom_tracker_follows_a_click_track_played_into_its_jack_input(
        live_jack, xvfb_display, tmp_path) -> None:
    bpm = 100.0
    samples, clicks = click_track(bpm, 16.0, start=1.0, gain=0.8)
    wav = tmp_path / "clicks.wav"
    soundfile.write(wav, samples, RATE, subtype="FLOAT")
    env = {**os.environ, "DISPLAY": xvfb_display}
    osc = OscListener()
    try:
        with vj_run(env, "--audio", "system", "--audio-channels", "1", "--beat-tracker", "madmom",
                    "--osc-port", "0", "--no-zeroconf", "--osc-out", f"127.0.0.1:{osc.port}",
                    "--seconds", "180", "--stats", str(tmp_path / "stats.json")) as proc:
            log = Log(proc)
            window = wait_for_window(env, proc)
            port = vj_audio_port(env, timeout=90, said=log.text)  # (a loaded machine: madmom's models load first)
            with Player(wav, to=(port,)) as player:
                player.start()
                played = time.monotonic()
                assert player.wait(timeout=120) == samples.size
            # the last blocks through the analysis and out over OSC (the test's JACK server is
            # synchronous: on a busy machine the audio runs slower than the clock, never lost)
            wait_for(lambda: settled(osc, "/vj/audio/beat.count", 2.0), 30, what="the beat count to settle")
            press(env, window, "Escape")
            proc.wait(timeout=30)
            out = log.join()
    finally:
        osc.close()
    assert proc.returncode == 0, out[-3000:]
    assert "beat tracker: madmom" in out and "using vj's beat tracker" not in out, out[-3000:]
    # the right tempo, and a beat for every click once locked (it locks on click 3 to 7, by where the
    # first click falls in madmom's frames: 19-23 of these 25 over 40 offsets, docs/benchmarks.md):
    # double or half the tempo would count twice or half as many
    assert float(osc.values("/vj/audio/bpm")[-1][1]) == pytest.approx(bpm, rel=0.02)
    count = float(osc.values("/vj/audio/beat.count")[-1][1])
    audio = json.loads((tmp_path / "stats.json").read_text())["audio"]
    counted = osc.values("/vj/audio/beat.count")
    beats = [round(t - played, 2) for (t, v), (_, before) in zip(counted[1:], counted) if v != before]  # when each came
    assert clicks.size - 7 <= count <= clicks.size, (count, clicks.size, audio, beats)
    # audio lost on the way is said as the show stops, with the figures --stats wrote (on the tests'
    # dummy JACK server the overflows are common: they lose nothing here, the clicks come back whole)
    said = (f"audio input: of {audio['input']['blocks']} blocks, {audio['input']['dropped']} were dropped because "
            f"the analysis fell behind; the audio system reported {audio['input']['overflows']} overflows")
    assert (said in out) == bool(audio["input"]["dropped"] or audio["input"]["overflows"]), (said, out[-3000:])
