"""Live recording: `vj run --record FILE.mp4` writes the show's output, and the live audio input
when there is one, while performing.

`Recording` is a video output (vj.rig.sink.VideoSink): its SinkThread offers it frames at the
recording's fixed rate (`--record-fps`) and it encodes them (H.264 through PyAV) on that thread.
A disk or an encoder too slow for the rate never slows the show: the frames it had no time for
are replaced by newer ones and counted as dropped (the HUD shows them).

Video and audio share one clock, time.perf_counter(): a frame carries the time it was drawn
(vj.render.readback), an audio block the time its first sample was captured
(vj.audio.capture.AudioInput.read). The recording starts at its first frame; a frame's
timestamp is its drawing time from there, in frames of the recording's rate, and the audio is
placed by its capture times on the same timeline. `AudioTrack` taps the blocks the analysis
thread reads (never blocking it) and queues them for the recording's thread, which encodes
them (AAC) as it goes; a gap in the input (a device lost, blocks dropped) becomes silence, so
the sound stays in step with the picture.

The file is a fragmented MP4 (a fragment every second): a show that is killed, or a machine
that loses power, still leaves a playable file up to the last second; ESC, Ctrl-C and
`--seconds` close it cleanly.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vj.audio.feed import BlockSource
from vj.rig.sink import OutputUnavailable
from vj.vocabulary import PixelOrder

if TYPE_CHECKING:
    import av

log = logging.getLogger(__name__)

AUDIO_QUEUE_SECONDS = 30.0  # audio held for a recording thread that fell behind; older blocks become silence
AUDIO_SLACK = 0.05  # seconds: capture-time jitter within this is taken as the next samples, not a gap
MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"  # fragmented: playable up to the last fragment


@dataclass(frozen=True)
class RecordSettings:
    path: Path
    size: tuple[int, int]  # the output's picture
    fps: int = 30  # the recording's frame rate: frames are offered at this rate
    crf: int = 20  # x264 quality (lower: better, bigger)
    preset: str = "ultrafast"  # x264 speed: live, the CPU goes to the show (veryfast took 4x the CPU)
    keyframe_seconds: float = 1.0  # also the fragment length

    def __post_init__(self) -> None:
        width, height = self.size
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"a recording needs an even, positive size (H.264 in yuv420p), got {width}x{height}")
        if not 1 <= self.fps <= 240:
            raise ValueError(f"record fps must be in 1..240, got {self.fps}")
        if self.path.suffix.lower() not in (".mp4", ".mov", ".m4v"):
            raise ValueError(f"record to an .mp4 (or .mov) file, got {self.path}")


class AudioTrack:
    """The live audio input for a recording (see the module doc). `tap(source)` goes between the
    capture and the analysis thread; `rate` is the input's sample rate."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._blocks: deque[tuple[np.ndarray, float]] = deque(maxlen=max(1, int(AUDIO_QUEUE_SECONDS * rate / 64)))
        self._lock = threading.Lock()
        self.blocks = 0  # blocks seen

    def tap(self, source: BlockSource) -> BlockSource:
        return _Tap(source, self)

    def put(self, block: np.ndarray, captured: float) -> None:
        """The analysis thread: never blocks."""
        with self._lock:
            self._blocks.append((block, captured))
            self.blocks += 1

    def take(self) -> list[tuple[np.ndarray, float]]:
        """The recording's thread: every block queued since the last take."""
        with self._lock:
            blocks = list(self._blocks)
            self._blocks.clear()
        return blocks


class _Tap:
    def __init__(self, source: BlockSource, track: AudioTrack) -> None:
        self.source, self.track = source, track

    def read(self, timeout: float) -> tuple[np.ndarray, float] | None:
        got = self.source.read(timeout)
        if got is not None:
            self.track.put(got[0], got[1])
        return got


class Recording:
    """A video output writing an MP4 (see the module doc). Opened at once, so a path that cannot
    be written is reported before the first frame."""

    name = "record"

    def __init__(self, settings: RecordSettings, audio: AudioTrack | None = None) -> None:
        import av

        self.settings, self.audio = settings, audio
        self.frames = 0  # frames written
        self._start: float | None = None  # the first frame's time
        self._last_pts = -1
        self._audio_next = 0  # the next audio sample's position on the recording's timeline
        self._audio_fill = 0  # samples of silence written for gaps in the input
        width, height = settings.size
        try:
            settings.path.parent.mkdir(parents=True, exist_ok=True)
            self._container = av.open(str(settings.path), mode="w", format="mp4", options={"movflags": MOVFLAGS})
        except (OSError, av.FFmpegError) as exc:
            raise OutputUnavailable(f"cannot write {settings.path}: {exc}") from exc
        self._time_base = Fraction(1, settings.fps)
        video = self._container.add_stream("libx264", rate=settings.fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.time_base = self._time_base
        keyframes = str(max(1, round(settings.fps * settings.keyframe_seconds)))
        video.options = {"crf": str(settings.crf), "preset": settings.preset, "g": keyframes, "keyint_min": keyframes}
        self._video = video
        self._sound = None
        if audio is not None:
            sound = self._container.add_stream("aac", rate=audio.rate)
            sound.layout = "mono"
            self._sound = sound
        with_audio = f" + audio {audio.rate / 1000:g} kHz" if audio is not None else ""
        self.detail = f"{settings.path.name} {width}x{height} {settings.fps} fps{with_audio}"
        log.info("recording to %s: %dx%d at %d fps, H.264%s", settings.path, width, height, settings.fps,
                 " + AAC from the audio input" if audio is not None else "")

    def send(self, frame: np.ndarray, time: float, order: PixelOrder = "rgba") -> None:
        if self._start is None:
            self._start = time
        # Its place on the recording's timeline; a frame that rounds onto the last one's slot takes the next.
        pts = max(self._last_pts + 1, round((time - self._start) * self.settings.fps))
        picture = video_frame(frame, order)
        picture.pts, picture.time_base = pts, self._time_base
        self._container.mux(self._video.encode(picture))
        self._last_pts = pts
        self.frames += 1
        self._write_audio()

    # -- audio --------------------------------------------------------------------------------

    def _write_audio(self, until: float | None = None) -> None:
        """The queued audio, placed by its capture times (`until`: seconds of the recording, in
        silence where no input came)."""
        if self.audio is None or self._start is None:
            return
        rate = self.audio.rate
        for block, captured in self.audio.take():
            at = round((captured - self._start) * rate)
            # Capture-time jitter within the slack is the next samples; the first block is placed exactly.
            slack = round(AUDIO_SLACK * rate) if self._audio_next else 0
            if at + block.size <= self._audio_next - slack:
                continue  # before the recording began (or a block repeated)
            if at > self._audio_next + slack:
                self._silence(at - self._audio_next)
            elif at < self._audio_next - slack:
                block = block[self._audio_next - at:]  # overlaps what is written: the rest only
            self._encode_audio(block)
        if until is not None:
            self._silence(round(until * rate) - self._audio_next)

    def _silence(self, samples: int) -> None:
        if samples > 0:
            self._audio_fill += samples
            self._encode_audio(np.zeros(samples, np.float32))

    def _encode_audio(self, samples: np.ndarray) -> None:
        import av

        assert self._sound is not None and self.audio is not None
        if not samples.size:
            return
        chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, np.float32)[None, :], format="flt",
                                           layout="mono")
        chunk.sample_rate = self.audio.rate
        chunk.pts, chunk.time_base = self._audio_next, Fraction(1, self.audio.rate)
        self._container.mux(self._sound.encode(chunk))
        self._audio_next += samples.size

    def close(self) -> None:
        """Flush the encoders and finish the file (the sound padded with silence to the picture's end)."""
        try:
            self._container.mux(self._video.encode(None))
            if self._sound is not None:
                self._write_audio(until=(self._last_pts + 1) / self.settings.fps)
                self._container.mux(self._sound.encode(None))
        finally:
            self._container.close()
        seconds = (self._last_pts + 1) / self.settings.fps
        sound = (f", audio {self._audio_next / self.audio.rate:.2f} s (silence for gaps in the input: "
                 f"{self._audio_fill / self.audio.rate:.2f} s)" if self.audio is not None else "")
        log.info("recorded %s: %d frames, %.2f s%s", self.settings.path, self.frames, seconds, sound)


def video_frame(pixels: np.ndarray, order: PixelOrder = "rgba") -> av.VideoFrame:
    """A PyAV frame holding `pixels` (RGBA or BGRA as `order` says, any strides; the encoder's
    scaler takes either). Copied by numpy, which releases the GIL for it: PyAV's from_ndarray holds
    it (3 ms a 720p frame, seen stalling the render thread)."""
    import av

    height, width = pixels.shape[:2]
    frame = av.VideoFrame(width, height, order)
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(height, plane.line_size)
    np.copyto(rows[:, :width * 4].reshape(height, width, 4), pixels)
    return frame


def recording_factory(settings: RecordSettings, audio: AudioTrack | None = None) -> Callable[[], Recording]:
    """For SinkThread("record", ..., rate=settings.fps): the recording opens on the output's thread."""
    return lambda: Recording(settings, audio)
