"""A real video file for camera tests: a red square moving right across a dark blue field (PyAV, H.264)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

W, H, FPS, SECONDS = 160, 120, 30, 2.0
SQUARE = 24


def square_frame(i: int) -> np.ndarray:
    """Frame i of the test video: a red square moving right across a dark blue field."""
    img = np.zeros((H, W, 3), np.uint8)
    img[:, :] = (0, 0, 80)
    x = int(i * (W - SQUARE) / (FPS * SECONDS - 1))
    img[48:48 + SQUARE, x:x + SQUARE] = (230, 40, 40)
    return img


def write_video(path: Path, frames: int = int(FPS * SECONDS)) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "12"}
        for i in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(square_frame(i), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
