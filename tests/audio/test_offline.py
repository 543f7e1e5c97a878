"""Audio files for `vj render --audio`: loading, the whole-file analysis, lookups by video time."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile  # type: ignore[import-untyped]

from tests.support.synth import SR, click_track, tone
from vj.audio.analysis import FEATURES, Analyzer
from vj.audio.offline import BEAT_EVENTS, AudioFileError, analyze_file, load_audio
from vj.audio.offline_beats import BEAT_FEATURES


def test_load_audio_mixes_to_mono_and_resamples(tmp_path: Path) -> None:
    t = np.arange(2 * 44100) / 44100
    left, right = 0.5 * np.sin(2 * np.pi * 440 * t), 0.25 * np.sin(2 * np.pi * 440 * t)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), 44100, subtype="PCM_16")
    y = load_audio(path, 48000)
    assert y.dtype == np.float32 and y.ndim == 1
    assert y.size == pytest.approx(2 * 48000, abs=2)
    rms = float(np.sqrt(np.mean(y[4800:-4800] ** 2)))
    assert rms == pytest.approx(0.375 / math.sqrt(2), rel=0.01)
    spectrum = np.abs(np.fft.rfft(y))
    assert np.argmax(spectrum) * 48000 / y.size == pytest.approx(440.0, abs=1.0)


def test_load_audio_reads_what_libsndfile_cannot_through_ffmpeg(tmp_path: Path) -> None:
    import av

    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=48000)
        stream.layout = "mono"
        samples = tone(1000.0, 1.0, 0.3).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        frame.sample_rate = 48000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    y = load_audio(path, 48000)
    assert y.size == pytest.approx(48000, abs=4096)  # AAC pads a little
    assert float(np.sqrt(np.mean(y[4800:40000] ** 2))) == pytest.approx(0.3 / math.sqrt(2), rel=0.05)


def test_bad_files_raise_an_error_that_names_the_file(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4)
    with pytest.raises(AudioFileError, match="corrupt.wav"):
        load_audio(corrupt)
    text = tmp_path / "notes.flac"
    text.write_text("not audio at all\n")
    with pytest.raises(AudioFileError, match="notes.flac.*not a readable audio file"):
        load_audio(text)
    with pytest.raises(AudioFileError, match="missing.wav: no such file"):
        load_audio(tmp_path / "missing.wav")
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0), 48000)
    with pytest.raises(AudioFileError, match="empty.wav: the file holds no audio"):
        load_audio(empty)


@pytest.fixture(scope="module")
def clicks_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    samples, _ = click_track(120.0, 12.0)
    path = tmp_path_factory.mktemp("audio") / "clicks.wav"
    soundfile.write(path, samples, SR, subtype="FLOAT")
    return path


def test_the_track_is_what_the_live_analyzer_reports_but_the_beat(clicks_file: Path) -> None:
    # the beat comes from the offline tracker (tests/audio/test_offline_beats.py), all else is live
    track = analyze_file(clicks_file)
    samples = load_audio(clicks_file)
    analyzer = Analyzer()
    events: list[tuple[float, str]] = []
    live = [name for name in FEATURES if name not in BEAT_FEATURES]
    for i in range(0, samples.size - 511, 512):
        frame = analyzer.process(samples[i:i + 512])
        events.extend((frame.time, e) for e in frame.events if e not in BEAT_EVENTS)
        if i % (512 * 97) == 0:
            features = track.at(frame.time, since=frame.time).features
            assert [features[name] for name in live] == [frame.features[name] for name in live]
    assert [event for event in track.events if event[1] not in BEAT_EVENTS] == events
    assert track.duration == pytest.approx(12.0)
    assert sum(1 for _, e in track.events if e == "beat") > 15
    assert track.problems == {"nan": 0, "clipped": 0}


@pytest.mark.parametrize("fps", [24.0, 30.0, 60.0, 7.3])
def test_stepping_at_any_frame_rate_sees_every_event_once(clicks_file: Path, fps: float) -> None:
    track = analyze_file(clicks_file)
    seen: list[str] = []
    for k in range(round(track.duration * fps) + 2):
        frame = track.at(k / fps)
        seen.extend(frame.events)
        assert set(frame.features) == set(FEATURES)
        assert all(math.isfinite(v) for v in frame.features.values())
    assert seen == [e for _, e in track.events]
    assert seen.count("beat") > 15


def test_at_before_the_start_and_after_the_end_and_backwards(clicks_file: Path) -> None:
    track = analyze_file(clicks_file)
    first = track.at(0.0)
    assert first.events == () and first.features["level"] == 0.0
    end = track.at(100.0)
    assert end.features == track.frame(len(track) - 1).features
    assert len(end.events) == len(track.events)  # everything from 0 to the end, once
    assert track.at(5.0).events == ()  # a seek backwards: nothing fires
    track.rewind()
    assert len(track.at(100.0).events) == len(track.events)
    assert len(track.frames) == len(track)
