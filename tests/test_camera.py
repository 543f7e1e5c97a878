"""Camera input: a real video file written by PyAV plays as a camera; mixing into feedback."""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.video import H, W, write_video
from tests.support.waiting import wait_for
from vj.camera import (
    CameraConfig,
    CameraError,
    CameraInput,
    CameraStatus,
    cover_crop,
    list_cameras,
    open_camera,
)


def square_x(frame: np.ndarray) -> float:
    """Where the red square is: the mean column of the red pixels."""
    red = (frame[:, :, 0] > 150) & (frame[:, :, 2] < 120)
    cols = np.nonzero(red)[1]
    assert cols.size > 0, "no red square in the frame"
    return float(cols.mean())


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("camera") / "square.mp4")


def test_a_video_file_plays_as_a_camera_at_its_own_rate(video: Path) -> None:
    with open_camera(CameraConfig(str(video))) as cam:
        wait_for(lambda: cam.latest() is not None, 3.0, what="the first frame")
        first = cam.latest()
        assert first is not None
        assert first.shape == (H, W, 3) and first.dtype == np.uint8
        assert not first.flags.writeable  # shared between threads as is
        start_frames, start_x = cam.status().frames, square_x(first)
        time.sleep(1.0)  # a second of the video, played in real time
        later = cam.latest()
        assert later is not None
        st = cam.status()
        assert st.connected, st.message
        assert 10 <= st.frames - start_frames <= 60, st  # about 30: the file's own rate, real time
        assert 10 <= st.fps <= 60, st
        assert st.size == (W, H)
        assert square_x(later) != start_x  # the picture moves
        assert cam.latest() is later  # no new frame yet: the same one again, never blocking


def test_a_video_file_loops(video: Path) -> None:
    with open_camera(CameraConfig(str(video))) as cam:
        xs: list[float] = []

        def jumped_back() -> bool:
            """Samples the square's place; whether it has jumped from the right back to the left."""
            if (frame := cam.latest()) is not None:
                xs.append(square_x(frame))
            return any(a > W * 0.6 and a - b > W * 0.4 for a, b in itertools.pairwise(xs))

        # The square runs left to right in 2 s; after the end it starts again at the left.
        wait_for(jumped_back, 5.0, what=lambda: f"a jump back to the start in {xs}")
        assert cam.status().connected


def test_a_video_file_without_loop_ends_not_connected(tmp_path: Path) -> None:
    short = write_video(tmp_path / "short.mp4", frames=10)
    with open_camera(CameraConfig(str(short), loop=False)) as cam:
        wait_for(lambda: "end of the video file" in cam.status().message, 3.0, what=lambda: f"the end: {cam.status()}")
        assert not cam.status().connected
        assert cam.latest() is None
        assert cam.status().frames == 10


def test_size_cover_fits_and_fps_caps(video: Path) -> None:
    with open_camera(CameraConfig(str(video), size=(64, 64), fps=10)) as cam:
        wait_for(lambda: cam.latest() is not None, 3.0, what="the first frame")
        frame = cam.latest()
        assert frame is not None and frame.shape == (64, 64, 3)
        start = cam.status().frames
        time.sleep(1.0)  # a second of the video, played in real time
        assert 5 <= cam.status().frames - start <= 14  # about 10 of the file's 30


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match=r"cannot open video file .*nothing\.mp4: no such file"):
        open_camera(CameraConfig(str(tmp_path / "nothing.mp4")))


def test_a_file_that_is_not_a_video_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(CameraError, match=r"cannot open video file .*junk\.mp4: "):
        open_camera(CameraConfig(str(junk)))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="webcam indexes are /dev/videoN on Linux")
def test_a_missing_webcam_is_a_clear_error_listing_the_cameras() -> None:
    index = 97
    while Path(f"/dev/video{index}").exists():
        index += 1
    with pytest.raises(CameraError) as err:
        open_camera(CameraConfig(index))
    message = str(err.value)
    assert message.startswith(f"no camera {index}: cameras found: ")
    for line in list_cameras():  # whatever this machine has is named (none on CI)
        assert line in message
    if not list_cameras():
        assert "none" in message
    with pytest.raises(CameraError, match=r"no camera named 'No Such Cam'"):
        open_camera(CameraConfig("No Such Cam"))


def test_a_file_deleted_while_playing_is_reported_and_retried(tmp_path: Path) -> None:
    path = write_video(tmp_path / "gone.mp4")
    changes: list[CameraStatus] = []
    cam = open_camera(CameraConfig(str(path)), on_status=changes.append)
    try:
        wait_for(lambda: cam.status().frames > 0, 3.0, what="the first frame")
        path.unlink()
        wait_for(lambda: not cam.status().connected, 4.0, what=lambda: f"the loss: {cam.status()}")
        st = cam.status()
        assert "gone.mp4" in st.message and "retrying" in st.message, st.message
        assert cam.latest() is None  # the show falls back to plain feedback
        write_video(path)  # the file comes back: the camera picks it up again
        wait_for(lambda: cam.status().connected, 3.0, what=lambda: f"the file again: {cam.status()}")
        wait_for(lambda: cam.latest() is not None, 2.0, what="a frame from the file again")
    finally:
        cam.stop()
    assert not cam._thread.is_alive()
    # The listener (the show's HUD) heard each change once: playing, lost, playing, stopped.
    assert [c.connected for c in changes] == [True, False, True, False], changes
    assert "retrying" in changes[1].message and changes[-1].message == "stopped"


def test_a_file_truncated_while_playing_is_reported(tmp_path: Path) -> None:
    path = write_video(tmp_path / "cut.mp4")
    cam = open_camera(CameraConfig(str(path)))
    try:
        wait_for(lambda: cam.status().frames > 0, 3.0, what="the first frame")
        with open(path, "r+b") as f:
            f.truncate(200)
        wait_for(lambda: not cam.status().connected, 4.0, what=lambda: f"the loss: {cam.status()}")
        assert "cut.mp4" in cam.status().message
        frames = cam.status().frames
        time.sleep(0.3)  # about 10 frames' time: none must come
        assert cam.status().frames == frames
    finally:
        cam.stop()


def test_a_camera_that_cannot_start_never_raises() -> None:
    cam = CameraInput(CameraConfig("/no/such/dir/clip.mp4")).start()  # bypasses open_camera's check
    try:
        wait_for(lambda: "retrying" in cam.status().message, 2.0, what=lambda: f"a retry: {cam.status()}")
        assert "no such file" in cam.status().message
        assert cam.latest() is None
    finally:
        cam.stop()


def _gradient(w: int, h: int) -> np.ndarray:
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    planes = [np.broadcast_to(x, (h, w)), np.broadcast_to(y, (h, w)), np.full((h, w), 40.0)]
    return np.stack(planes, -1).astype(np.uint8)


def test_cover_fit_keeps_the_picture_upright_and_centred() -> None:
    camera = np.zeros((100, 200, 3), np.uint8)
    camera[:10] = 255  # top rows white
    fit = cover_crop(camera, (50, 50))  # scale 0.5, crop the centre 50 of 100 columns
    assert fit.shape == (50, 50, 3)
    assert fit[0].mean() > 200 and fit[-1].mean() < 10
    same = _gradient(32, 24)
    assert cover_crop(same, (32, 24)) is same
