"""`vj render --audio FILE`: the video reacts to the file as the live show would, and carries it."""

from __future__ import annotations

import re

import av
import numpy as np
import pytest
import soundfile

from tests.support.synth import click_track
from tests.support.vj_process import vj

pytestmark = pytest.mark.e2e  # `vj render` as a process

FPS = 20


def test_a_rendered_video_flashes_on_the_clicks_and_carries_the_sound(tmp_path):
    samples, clicks = click_track(120.0, 5.0, start=0.5, gain=0.8)
    wav = tmp_path / "clicks.wav"
    soundfile.write(wav, samples, 48000, subtype="FLOAT")
    mapping = tmp_path / "flash.yaml"
    mapping.write_text("bindings:\n  - {audio: onset, action: flash}\n")
    out = tmp_path / "out.mp4"
    result = vj("render", "--audio", str(wav), "--mapping", str(mapping), "--size", "96x64", "--fps", str(FPS),
                "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"with the sound of {wav}" in result.stdout
    # the beats, from the offline tracker (vj.audio.offline_beats), are one a click
    beats = re.search(r"analysed .*: 5\.0 s, (\d+) beats", result.stderr)
    assert beats and abs(int(beats.group(1)) - len(clicks)) <= 2, result.stderr

    with av.open(str(out)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert audio.codec_context.name == "aac" and audio.rate == 48000
        frames = [f.to_ndarray(format="rgb24").astype(float).mean() for f in container.decode(video)]
    assert len(frames) == 5 * FPS  # as long as the audio: no --seconds given
    with av.open(str(out)) as container:
        sound = np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio=0)])
    assert abs(sound.size / 48000 - 5.0) < 0.1 and np.abs(sound).max() > 0.3  # the clicks are in it

    # Each click flashes the frame that shows its moment: brightness jumps there, frame to frame.
    jumps = np.diff(frames)
    expected = [round(t * FPS) for t in clicks]
    flashed = [i for i in expected if jumps[max(0, i - 2):i + 2].max() > 15]
    assert len(flashed) >= len(expected) - 1, (expected, np.round(jumps, 1))
    quiet = [jumps[i] for i in range(len(jumps)) if min(abs(i - e) for e in expected) > 3]
    assert max(quiet) < 15  # and nothing flashes between them


def test_a_corrupt_audio_file_is_named_and_nothing_is_written(tmp_path):
    bad = tmp_path / "broken.flac"
    bad.write_bytes(b"fLaC" + bytes(range(256)) * 8)
    out = tmp_path / "out.mp4"
    result = vj("render", "--audio", str(bad), "--seconds", "1", "--size", "64x64", "--out", str(out))
    assert result.returncode == 1
    assert f"vj render: {bad}: not a readable audio file" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
