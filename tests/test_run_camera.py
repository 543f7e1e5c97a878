"""`vj run --camera`: a video file as the camera reaches the window; a missing camera is named and
the dream goes on without it."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.support.display import press, screen_until, wait_for_window
from tests.support.video import write_video
from tests.support.vj_process import vj_run

pytestmark = pytest.mark.e2e


def square_seen(px: np.ndarray) -> bool:
    """The camera's red square, dreamed over, is a patch far redder than the window around it."""
    red = px[:720, :1280, 0].astype(float)
    patch = red > red.mean() + 60
    return 0.005 < patch.mean() < 0.2


def test_a_video_file_as_camera_shows_in_the_window(xvfb_display, tmp_path):
    video = write_video(tmp_path / "square.mp4")
    env = {**os.environ, "DISPLAY": xvfb_display}
    with vj_run(env, "--camera", str(video), "--osc-port", "0", "--no-zeroconf", "--seconds", "90") as proc:
        window = wait_for_window(env, proc)
        screen_until(env, tmp_path / "camera.png", square_seen, timeout=30, what="the camera's red square")
        press(env, window, "Escape")
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"video file {video}" in out and "playing h264 160x120" in out, out[-2000:]


def test_a_missing_camera_is_named_and_the_dream_goes_on(xvfb_display, tmp_path):
    env = {**os.environ, "DISPLAY": xvfb_display}
    missing = tmp_path / "nowhere.mp4"
    with vj_run(env, "--camera", str(missing), "--osc-port", "0", "--no-zeroconf", "--hud", "--seconds", "90") as proc:
        window = wait_for_window(env, proc)
        screen_until(env, tmp_path / "dream.png", lambda p: p[:720, :1280].std() > 20, timeout=30,
                     what="a dream, not a black screen")
        press(env, window, "Escape")
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"camera: cannot open video file {missing}: no such file (the dream goes on without it)" in out, out[-2000:]
