"""Camera input: a webcam, a video file or an NDI source read on its own thread, the newest frame kept.

A `CameraInput` decodes with PyAV at the source's own rate (a webcam delivers when it has a frame;
a file is paced in real time by its frame timestamps and loops at its end) and keeps only the
newest RGB frame in a `LatestSlot`: the show reads it with `latest()` whenever it builds a
request, never waiting. A source that fails while playing (a camera unplugged, a file deleted
or truncated) never raises into the caller: `status()` says why, and the camera retries every
second until `stop()`. Only `open_camera` raises (`CameraError`), and only for a source that
does not exist at all when the show starts.

`ndi:NAME` reads an NDI source (vj.rig.ndi, needs cyndilib) instead: its full name "MACHINE
(NAME)", its NAME or a unique part of it. One not seen yet, or lost, only shows in `status()`
(not connected, the message says which) until it appears or comes back.

The show hands the newest frame to the generator as `GenRequest.init_image`, with the
`camera.mix` parameter as `init_mix`; each backend mixes it into its own feedback loop (on the
GPU), cover-fit to its frame.

The camera stays in the render process, not a generator's: one reader serves every generator
process (a webcam can usually be opened by one process at a time; during a handover two
generator processes run; a restarted generator would reopen the device). The newest frame is
copied once into the generator ring's input area when a request is sent. Decoding costs the
display nothing measurable (`benchmarks/camera_decode.py`: 1280x720 h264 at 30 fps beside the
show at 60 fps, p99 ratio 0.961).
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Self

import numpy as np

from vj.slot import LatestSlot

log = logging.getLogger(__name__)

RETRY = 0.25  # seconds between attempts to reopen a failed source (a replugged webcam plays within it)
FILE_CHECK = 1.0  # seconds between checks that a playing file is still there
MAX_LAG = 0.25  # seconds a file may fall behind its timestamps before its clock restarts
FALLBACK_FPS = 30.0  # pacing for a file whose frames carry no timestamps
FPS_WINDOW = 2.0  # seconds of frame times the measured rate averages over

_V4L_SYS = Path("/sys/class/video4linux")


class CameraError(Exception):
    """A camera source that does not exist or cannot be opened at start, said in words."""


@dataclass(frozen=True)
class CameraConfig:
    """What to capture: `source` is a webcam index (0, "0"), a device path (/dev/video0), a
    device name (or part of it, see `list_cameras`), a video file path or "ndi:NAME"."""

    source: str | int
    size: tuple[int, int] | None = None  # (width, height): frames are cover-fit to this
    fps: float | None = None  # the most frames per second delivered (webcams are also asked for it)
    loop: bool = True  # a file starts over at its end

    def __post_init__(self) -> None:
        if isinstance(self.source, bool) or not isinstance(self.source, (str, int)):
            raise TypeError(f"camera source must be an index or a name/path, got {self.source!r}")
        if isinstance(self.source, str) and not self.source.strip():
            raise ValueError("camera source is empty")
        if self.size is not None and (len(self.size) != 2 or min(int(self.size[0]), int(self.size[1])) <= 0):
            raise ValueError(f"camera size must be two positive numbers (width, height), got {self.size!r}")
        if self.fps is not None and not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"camera fps must be a positive number, got {self.fps!r}")


@dataclass(frozen=True)
class CameraStatus:
    """A snapshot for the HUD, the log and tests."""

    source: str  # what is being read, in words
    connected: bool  # frames are arriving (a file playing, a webcam open)
    message: str  # what happened last: opened, looped, why it is not connected
    frames: int  # frames delivered since start, over every connection
    fps: float  # delivered frames per second, measured over the last seconds
    size: tuple[int, int] | None  # (width, height) of the frames delivered


@dataclass(frozen=True)
class _Source:
    """A resolved source: what to hand av.open."""

    url: str
    format: str | None  # None for a file; "v4l2", "avfoundation", "dshow" for a webcam
    is_file: bool
    label: str


# -- finding sources ---------------------------------------------------------------------------


def _v4l_devices() -> list[tuple[int, str, str]]:
    """Linux video devices as (index, /dev path, name), by index."""
    found = []
    for dev in Path("/dev").glob("video*"):
        m = re.fullmatch(r"video(\d+)", dev.name)
        if not m:
            continue
        try:
            name = (_V4L_SYS / dev.name / "name").read_text().strip()
        except OSError:
            name = ""
        found.append((int(m.group(1)), str(dev), name))
    return sorted(found)


def list_cameras() -> list[str]:
    """The webcams this machine shows, one line each ("0: /dev/video0 (HD Webcam)").

    On Linux the /dev/video* devices (a webcam often has a second, metadata-only node). On
    other systems ffmpeg has no listing call PyAV exposes: empty, pass an index or a name.
    """
    if not sys.platform.startswith("linux"):
        return []
    return [f"{i}: {path}" + (f" ({name})" if name else "") for i, path, name in _v4l_devices()]


def _found() -> str:
    cams = list_cameras()
    if cams:
        return "cameras found: " + ", ".join(cams)
    if sys.platform.startswith("linux"):
        return "cameras found: none (no /dev/video* device)"
    return "this system cannot list cameras here (try another index or the camera's name)"


def _looks_like_file(source: str) -> bool:
    return "/" in source or "\\" in source or bool(Path(source).suffix)


def resolve_source(source: str | int) -> _Source:
    """What av.open needs for a source; CameraError if it does not exist."""
    text = str(source).strip()
    if text.startswith("ndi:"):  # an NDI source: found (and waited for) by the camera's thread
        name = text[len("ndi:"):].strip()
        if not name:
            raise CameraError("ndi: needs a source name, e.g. ndi:vj (vj devices lists the NDI sources seen)")
        return _Source(name, "ndi", False, f"NDI source {name!r}")
    linux = sys.platform.startswith("linux")
    if isinstance(source, int) or text.isdigit():
        index = int(text)
        if linux:
            dev = f"/dev/video{index}"
            if not os.path.exists(dev):
                raise CameraError(f"no camera {index}: {_found()}")
            return _Source(dev, "v4l2", False, f"camera {index} ({dev})")
        if sys.platform == "darwin":
            return _Source(f"{index}:none", "avfoundation", False, f"camera {index}")
        raise CameraError(f"camera {index}: on this system pass the camera's name (DirectShow needs it)")
    if linux and text.startswith("/dev/video"):
        if not os.path.exists(text):
            raise CameraError(f"no camera {text}: {_found()}")
        return _Source(text, "v4l2", False, f"camera {text}")
    path = Path(text).expanduser()
    if path.is_file():
        return _Source(str(path), None, True, f"video file {path}")
    if _looks_like_file(text):
        why = "it is a directory" if path.is_dir() else "no such file"
        raise CameraError(f"cannot open video file {text}: {why}")
    # A device name.
    if linux:
        wanted = text.lower()
        for _index, dev, name in _v4l_devices():
            if wanted in name.lower():
                return _Source(dev, "v4l2", False, f"camera {name} ({dev})")
        raise CameraError(f"no camera named {text!r}: {_found()}")
    if sys.platform == "darwin":
        return _Source(f"{text}:none", "avfoundation", False, f"camera {text}")
    return _Source(f"video={text}", "dshow", False, f"camera {text}")


# -- frames ------------------------------------------------------------------------------------


def cover_crop(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` scaled to cover (width, height) and cropped to it at the centre (bilinear).

    Aspect ratio kept, no black bars: a 4:3 camera on a 16:9 frame loses its top and bottom.
    """
    w, h = int(size[0]), int(size[1])
    ih, iw = image.shape[:2]
    if (iw, ih) == (w, h):
        return image
    scale = max(w / iw, h / ih)
    # Output pixel centres -> source coordinates (centred crop).
    xs = (np.arange(w, dtype=np.float32) + 0.5 - w / 2) / scale + iw / 2 - 0.5
    ys = (np.arange(h, dtype=np.float32) + 0.5 - h / 2) / scale + ih / 2 - 0.5
    xs = np.clip(xs, 0, iw - 1)
    ys = np.clip(ys, 0, ih - 1)
    x0 = np.floor(xs).astype(np.intp)
    y0 = np.floor(ys).astype(np.intp)
    x1 = np.minimum(x0 + 1, iw - 1)
    y1 = np.minimum(y0 + 1, ih - 1)
    fx = (xs - x0)[None, :, None]
    fy = (ys - y0)[:, None, None]
    src = image.astype(np.float32)
    top = src[y0][:, x0] * (1 - fx) + src[y0][:, x1] * fx
    bottom = src[y1][:, x0] * (1 - fx) + src[y1][:, x1] * fx
    out = top * (1 - fy) + bottom * fy
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


# -- the camera thread -------------------------------------------------------------------------


class CameraInput:
    """Decodes a source on its own thread: `start()`, `latest()` from any thread, `stop()`.

    `on_status` is called from the camera's thread whenever the connection or its message
    changes (it must not block: put an event on a queue).
    """

    def __init__(self, config: CameraConfig, source: _Source | None = None,
                 on_status: Callable[[CameraStatus], None] | None = None) -> None:
        self.config = config
        self.on_status = on_status
        self._source = source
        self.frames: LatestSlot[np.ndarray] = LatestSlot()
        self._lock = threading.Lock()
        label = source.label if source is not None else str(config.source)
        self._state = CameraStatus(label, False, "starting", 0, 0.0, None)
        self._times: deque[float] = deque()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vj-camera", daemon=True)

    # -- any thread ---------------------------------------------------------------------------

    def start(self) -> CameraInput:
        """Starts decoding (once per CameraInput); never raises for a source problem."""
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._set_state(connected=False, message="stopped")

    def latest(self) -> np.ndarray | None:
        """The newest frame, (h, w, 3) RGB uint8 read-only, row 0 at the top; the same one again
        until a newer arrives; None before the first frame and while the source is not connected."""
        with self._lock:
            if not self._state.connected:
                return None
        return self.frames.peek()

    def status(self) -> CameraStatus:
        with self._lock:
            times = self._times
            span = times[-1] - times[0] if len(times) > 1 else 0.0
            fps = (len(times) - 1) / span if span > 0 else 0.0
            return replace(self._state, fps=fps)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the decoding thread ------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._source is None:
                    self._source = resolve_source(self.config.source)
                    self._set_state(source=self._source.label)
                ended = self._play(self._source)
            except Exception as exc:  # noqa: BLE001 (any failure of the source: report it and retry)
                self._set_state(connected=False, message=f"{self._describe(exc)}; retrying every {RETRY:g} s")
                self._stop.wait(RETRY)
                continue
            if ended:  # a file at its end, not looping
                self._set_state(connected=False, message="end of the video file (loop is off)")
                return

    def _describe(self, exc: Exception) -> str:
        src = self._source
        if src is None:
            return str(exc)
        what = "video file" if src.is_file else "NDI source" if src.format == "ndi" else "camera"
        return f"{what} {src.url}: {_reason(exc)}"

    def _open(self, source: _Source) -> Any:
        import av

        if source.is_file:
            return av.open(source.url)
        options = {"framerate": f"{self.config.fps:g}"} if self.config.fps else {}
        try:
            return av.open(source.url, format=source.format, options=options)
        except av.FFmpegError:
            if not options:
                raise
            return av.open(source.url, format=source.format)  # the device refuses that rate: its own

    def _play(self, source: _Source) -> bool:
        """Plays the source until it fails (raises), stops, or (a file, no loop) ends (True)."""
        if source.format == "ndi":
            return self._play_ndi(source)
        container = self._open(source)
        try:
            if not container.streams.video:
                raise CameraError("no video stream in it")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = float(stream.average_rate) if stream.average_rate else FALLBACK_FPS
            self._set_state(connected=True, message=f"playing {stream.codec_context.name} "
                                                    f"{stream.codec_context.width}x{stream.codec_context.height}")
            base: tuple[float, float] | None = None  # (wall clock, media time) of the pacing origin
            last_check = time.monotonic()
            next_put = 0.0  # the fps cap
            media = 0.0
            decoded = 0
            for frame in container.decode(stream):
                if self._stop.is_set():
                    return False
                decoded += 1
                now = time.monotonic()
                if source.is_file:
                    media = frame.time if frame.time is not None else media + 1.0 / rate
                    if base is None or media < base[1]:
                        base = (now, media)
                    due = base[0] + (media - base[1])
                    if due - now > 0:
                        if self._stop.wait(due - now):
                            return False
                    elif now - due > MAX_LAG:
                        base = (now, media)  # far behind (a slow machine): restart the clock, don't race
                    if now - last_check >= FILE_CHECK:
                        last_check = now
                        if not os.path.isfile(source.url):
                            raise CameraError("the file is gone")
                if self.config.fps:
                    if now < next_put:
                        continue
                    period = 1.0 / self.config.fps
                    next_put = (next_put if now - next_put < period else now) + period  # keep the cadence
                self._put(self._to_rgb(frame))
        finally:
            container.close()
        if not source.is_file:
            raise CameraError("the camera stopped sending frames")
        if decoded == 0:  # (a damaged file can open and hold a stream, yet no frame decodes)
            raise CameraError("no frame in it could be decoded")
        if not self.config.loop:
            return True
        # Reopened from the start at every loop (same message: no status change, no log line):
        # a file deleted or damaged meanwhile shows up here.
        self._stop.wait(1.0 / rate)  # the last frame's own duration
        return False

    def _play_ndi(self, source: _Source) -> bool:
        """Receives an NDI source until the camera stops. A source not there yet, or lost, is only
        a status (no frames meanwhile): NDI reconnects when it comes back."""
        from vj.rig.ndi import NdiReceiver

        with NdiReceiver(source.url) as receiver:
            next_put = 0.0  # the fps cap
            while not self._stop.is_set():
                frame = receiver.read(0.25)
                self._set_state(connected=receiver.state == "connected", message=receiver.message)
                if frame is None:
                    continue
                if self.config.fps:
                    now = time.monotonic()
                    if now < next_put:
                        continue
                    period = 1.0 / self.config.fps
                    next_put = (next_put if now - next_put < period else now) + period
                rgb = frame.rgb if self.config.size is None else cover_crop(frame.rgb, self.config.size)
                rgb.flags.writeable = False
                self._put(rgb)
        return False

    def _to_rgb(self, frame: Any) -> np.ndarray:
        if self.config.size is None:
            rgb = frame.to_ndarray(format="rgb24")
        else:
            w, h = int(self.config.size[0]), int(self.config.size[1])
            scale = max(w / frame.width, h / frame.height)  # cover: the scaler does the work, we crop
            sw, sh = max(w, round(frame.width * scale)), max(h, round(frame.height * scale))
            rgb = frame.to_ndarray(format="rgb24", width=sw, height=sh)
            x, y = (sw - w) // 2, (sh - h) // 2
            rgb = np.ascontiguousarray(rgb[y:y + h, x:x + w])
        rgb.flags.writeable = False  # shared with other threads as is
        return rgb

    def _put(self, rgb: np.ndarray) -> None:
        now = time.monotonic()
        with self._lock:
            self._times.append(now)
            while self._times and now - self._times[0] > FPS_WINDOW:
                self._times.popleft()
            s = self._state
            self._state = replace(s, frames=s.frames + 1, size=(rgb.shape[1], rgb.shape[0]),
                                  connected=True)
        self.frames.put(rgb)

    def _set_state(self, **changes: Any) -> None:
        with self._lock:
            old = self._state
            self._state = replace(old, **changes)
            new = self._state
            if not new.connected:
                self._times.clear()  # the measured rate is of frames arriving now
        if (new.connected, new.message) == (old.connected, old.message):
            return
        log.log(logging.INFO if new.connected else logging.WARNING, "camera: %s", new.message)
        if self.on_status is not None:
            try:
                self.on_status(self.status())
            except Exception:
                log.exception("camera: the status listener failed")


def _reason(exc: Exception) -> str:
    """An error in words: PyAV's "[Errno N] text: 'path'" as just its text."""
    text = getattr(exc, "strerror", None)
    return str(text) if text else str(exc) or type(exc).__name__


def open_camera(config: CameraConfig, on_status: Callable[[CameraStatus], None] | None = None) -> CameraInput:
    """A started CameraInput for `config`.

    Raises CameraError for a source that does not exist at start (no such webcam, no such
    file) or a file that is not a playable video; the caller shows it and the show goes on
    without a camera. Anything later (a busy or unplugged webcam, a deleted file) only shows in
    `status()` while the camera retries.
    """
    source = resolve_source(config.source)
    if source.format == "ndi":
        from vj.rig.ndi import cyndilib
        from vj.rig.sink import OutputUnavailable

        try:
            cyndilib()
        except OutputUnavailable as exc:
            raise CameraError(f"camera {source.label}: {exc}") from exc
    if source.is_file:
        import av

        try:
            with av.open(source.url) as probe:
                if not probe.streams.video:
                    raise CameraError(f"cannot open video file {source.url}: it has no video stream")
        except av.FFmpegError as exc:
            raise CameraError(f"cannot open video file {source.url}: {_reason(exc)}") from exc
    return CameraInput(config, source, on_status).start()
