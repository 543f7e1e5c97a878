"""Recording the output to a video file: H.264 in mp4 through PyAV (FFmpeg's libx264)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np


class VideoRecorder:
    """Writes RGB frames (uint8 (h, w, 3), row 0 at the top) to an H.264 mp4, yuv420p.

    yuv420p halves the chroma resolution in both directions, so width and height must be even.
    """

    def __init__(
        self,
        path: str | Path,
        size: tuple[int, int],
        fps: int,
        *,
        crf: int = 18,
        preset: str = "veryfast",
    ) -> None:
        width, height = size
        if width <= 0 or height <= 0:
            raise ValueError(f"video size must be positive, got {width}x{height}")
        if width % 2 or height % 2:
            raise ValueError(
                f"video size {width}x{height} has an odd side: H.264 in yuv420p needs even width and "
                f"height (e.g. {width + width % 2}x{height + height % 2})"
            )
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path = Path(path)
        self.size = (width, height)
        self.fps = fps
        self.frames_written = 0
        self._container = av.open(str(self.path), mode="w")
        try:
            stream = self._container.add_stream("libx264", rate=fps)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            stream.time_base = Fraction(1, fps)
            stream.options = {"crf": str(crf), "preset": preset}
        except Exception:
            self._container.close()
            raise
        self._stream = stream
        self._frame_time_base = Fraction(1, fps)
        self._closed = False
        self._audio: tuple[np.ndarray, int] | None = None

    def add_audio(self, samples: np.ndarray, sample_rate: int) -> None:
        """A mono float soundtrack (-1..1), muxed as AAC when the video is finished. Call it
        before the first frame: the container's streams are fixed by then."""
        if self.frames_written:
            raise ValueError("add the audio before the first frame")
        stream = self._container.add_stream("aac", rate=sample_rate)
        stream.layout = "mono"
        self._audio_stream = stream
        self._audio = (np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0), sample_rate)

    def _mux_audio(self) -> None:
        assert self._audio is not None
        samples, rate = self._audio
        stream = self._audio_stream
        chunk = 1024  # AAC's frame size
        for start in range(0, samples.size, chunk):
            part = samples[start:start + chunk]
            frame = av.AudioFrame.from_ndarray(part[None, :], format="flt", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            frame.time_base = Fraction(1, rate)
            self._container.mux(stream.encode(frame))
        self._container.mux(stream.encode(None))

    def write(self, rgb: np.ndarray) -> None:
        if self._closed:
            raise ValueError(f"recorder for {self.path} is closed")
        width, height = self.size
        if rgb.shape != (height, width, 3) or rgb.dtype != np.uint8:
            raise ValueError(
                f"expected a uint8 frame of shape ({height}, {width}, 3), got {rgb.dtype} {rgb.shape}"
            )
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.frames_written
        frame.time_base = self._frame_time_base  # not the stream's: the muxer changes that on the first write
        self._container.mux(self._stream.encode(frame))
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and finish the file. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._container.mux(self._stream.encode(None))
            if self._audio is not None:
                self._mux_audio()
        finally:
            self._container.close()

    def __enter__(self) -> VideoRecorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_video(path: str | Path) -> tuple[int, tuple[int, int], list[np.ndarray]]:
    """Decode a video file: (frame count, (width, height), frames as uint8 RGB arrays, row 0 at the top)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    return len(frames), size, frames
