"""Recording: a real H.264 mp4 through PyAV, read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vj.render.recorder import VideoRecorder, read_video


def test_recorder_writes_an_mp4_that_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "show.mp4"
    colors = [(220, 30, 30), (30, 220, 30), (30, 30, 220)]
    with VideoRecorder(path, (96, 64), 24) as recorder:
        for i in range(12):
            recorder.write(np.full((64, 96, 3), colors[i % 3], dtype=np.uint8))
    assert recorder.frames_written == 12
    count, size, frames = read_video(path)
    assert count == 12
    assert size == (96, 64)
    for i, frame in enumerate(frames):
        assert frame.shape == (64, 96, 3)
        assert np.abs(frame[32, 48].astype(int) - colors[i % 3]).max() <= 12


def test_recorder_keeps_rows_top_first(tmp_path: Path) -> None:
    path = tmp_path / "rows.mp4"
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    image[:16] = 255  # white band at the top
    with VideoRecorder(path, (64, 64), 30) as recorder:
        recorder.write(image)
    _, _, (frame,) = read_video(path)
    assert frame[4].mean() > 230 and frame[-4].mean() < 25


def test_odd_sizes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        VideoRecorder(tmp_path / "odd.mp4", (101, 64), 30)


def test_wrong_frames_and_closed_recorders_are_refused(tmp_path: Path) -> None:
    recorder = VideoRecorder(tmp_path / "x.mp4", (64, 32), 30)
    with pytest.raises(ValueError, match=r"\(32, 64, 3\)"):
        recorder.write(np.zeros((64, 32, 3), dtype=np.uint8))
    recorder.close()
    recorder.close()
    with pytest.raises(ValueError, match="closed"):
        recorder.write(np.zeros((32, 64, 3), dtype=np.uint8))


def test_a_long_recording_keeps_its_timestamps(tmp_path: Path) -> None:
    # Regression: frames stamped in the stream's time base broke after the muxer changed it.
    path = tmp_path / "long.mp4"
    with VideoRecorder(path, (64, 48), 30) as recorder:
        for i in range(150):
            recorder.write(np.full((48, 64, 3), i, dtype=np.uint8))
    count, size, frames = read_video(path)
    assert count == 150 and size == (64, 48)
    assert abs(int(frames[100][24, 32, 0]) - 100) <= 3
