"""NDI® out and in, through cyndilib (its wheels bundle the NDI runtime, libndi).

- `NdiSink`: a video output (vj.rig.sink) that sends the show's frames as an NDI source. NDI
  takes RGBA and BGRA, so the picture goes as it comes from the show (`native`, the default: no
  conversion); a set order (rgba, bgra) or UYVY is converted on the output's own thread (UYVY
  through PyAV's swscale, BT.709 limited range: what the NDI runtime decodes UYVY with, seen at
  320x180, 640x480 and 1280x720). The frame is copied once into cyndilib's buffer and sent
  asynchronously: NDI compresses it on its own threads.
- `NdiReceiver`: one NDI source, found by its full name ("MACHINE (NAME)"), its NAME or a unique
  part of it, read through NDI's frame-sync (cyndilib's `Receiver.receive()` misses frames): the
  newest frame as RGB, counted, with a connected/lost state. NDI reconnects by itself when a lost
  source comes back.
- `list_sources`: the NDI sources visible from here.

NDI finds sources by mDNS; where mDNS does not reach (no avahi, another subnet), an NDI config
names the machines to ask: `NDI_CONFIG_DIR` pointing at a folder whose `ndi-config.v1.json` is
`{"ndi": {"networks": {"ips": "192.168.1.20,192.168.1.21"}}}` (README, "NDI").

Imported only when NDI is asked for; without cyndilib every entry point raises
`OutputUnavailable` saying what to install. NDI® is a registered trademark of Vizrt NDI AB.
"""

from __future__ import annotations

import ctypes
import math
import time
from dataclasses import dataclass
from fractions import Fraction
from types import ModuleType
from typing import Any

import numpy as np

from vj.config.outputs import NDI_FORMATS
from vj.rig.sink import OutputUnavailable
from vj.vocabulary import PixelOrder, in_order

INSTALL = "NDI needs cyndilib, which bundles the NDI runtime: pip install 'vj[rig]' or pip install cyndilib"
DEFAULT_FPS = 60  # the frame rate an NdiSink announces when none is set (NDI carries one per frame)
RECEIVERS_EVERY_S = 1.0  # how often an NdiSink asks how many receivers it has (for its detail)
POLL_S = 0.001  # NdiReceiver: how often the frame-sync is asked for a newer frame
LOOK_EVERY_S = 0.1  # NdiReceiver: how often the source list and the connection are looked at


def cyndilib() -> ModuleType:
    """The cyndilib module; OutputUnavailable (saying what to install) without it."""
    try:
        import cyndilib as lib
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "cyndilib":
            raise OutputUnavailable(f"cyndilib is installed but cannot load: {exc}") from exc
        raise OutputUnavailable(INSTALL) from exc
    except (ImportError, OSError) as exc:  # the bundled runtime does not load on this system
        raise OutputUnavailable(f"cyndilib is installed but cannot load the NDI runtime: {exc}") from exc
    return lib


# -- sending -------------------------------------------------------------------------------------


def _writable_alias(flat: np.ndarray) -> np.ndarray:
    """`flat` (contiguous uint8) as an array cyndilib accepts, without a copy.

    cyndilib's write methods declare a writable buffer (Cython `uint8_t[:]`) although they only
    read from it; the show's frames are read-only (shared by every output). A writable alias of
    the same memory is handed over; the caller keeps `flat` alive for the call."""
    if flat.flags.writeable:
        return flat
    alias = (ctypes.c_uint8 * flat.size).from_address(flat.ctypes.data)
    return np.frombuffer(memoryview(alias), np.uint8)


def _uyvy(frame: np.ndarray, order: PixelOrder) -> np.ndarray:
    """RGBA or BGRA (h, w, 4) as packed UYVY 4:2:2, BT.709 limited range (see the module doc), flat."""
    import av

    h, w = frame.shape[:2]
    video = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=order)
    plane = video.reformat(format="uyvy422", dst_colorspace="ITU709", dst_color_range=1).planes[0]  # 1: limited
    packed = np.frombuffer(memoryview(plane), np.uint8).reshape(h, plane.line_size)
    return np.ascontiguousarray(packed[:, :w * 2]).reshape(-1)


class NdiSink:
    """Sends frames as the NDI source `source_name` (see the module doc); `send` runs on the
    output's thread (a SinkThread). `fourcc`: native (the picture's order, no conversion), rgba, bgra
    or uyvy. `fps`: the frame rate announced to receivers (0: DEFAULT_FPS); the pace itself is the
    show's (or the SinkThread's rate). A new frame size restarts the source (cyndilib cannot resize a running
    sender): receivers see a gap of about a second."""

    name = "ndi"

    def __init__(self, source_name: str, fourcc: str = "native", fps: float = 0.0) -> None:
        if not source_name.strip():
            raise ValueError("the NDI source name is empty")
        if fourcc.lower() not in NDI_FORMATS:
            raise ValueError(f"NDI fourcc must be one of {', '.join(NDI_FORMATS)}, got {fourcc!r}")
        if not (math.isfinite(fps) and fps >= 0):
            raise ValueError(f"NDI fps must be 0 (announce {DEFAULT_FPS}) or a positive number, got {fps!r}")
        self._lib = cyndilib()
        self.source_name = source_name
        self.fourcc = fourcc.lower()
        self.fps = fps
        self.detail = f"NDI '{source_name}' {self.fourcc.upper()}, no frame yet"
        self._sender: Any = None
        self._format: tuple[int, int, str] | None = None  # the running sender's width, height, fourcc
        self._swapped: np.ndarray | None = None  # the buffer for a frame with red and blue swapped
        self._receivers = 0
        self._asked = 0.0  # when the receivers were last counted

    def send(self, frame: np.ndarray, time: float, order: PixelOrder = "rgba") -> None:
        if frame.ndim != 3 or frame.shape[2] != 4 or frame.dtype != np.uint8:
            raise ValueError(f"an NDI frame is RGBA or BGRA uint8 (h, w, 4), got {frame.dtype} {frame.shape}")
        if frame.shape[1] % 2:  # NDI works in 4:2:2: an even width
            frame = frame[:, :-1]
        h, w = frame.shape[:2]
        fourcc = order if self.fourcc == "native" else self.fourcc
        if (w, h, fourcc) != self._format:
            self._open(w, h, fourcc)
        if not self._sender.write_video_async(self._data(frame, order, fourcc)):
            raise RuntimeError("NDI did not take the frame (the sender is not running)")
        self._count_receivers()

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()
            self._sender = None
        self._format = None

    def _open(self, w: int, h: int, fourcc: str) -> None:
        """A sender for frames of (w, h) in `fourcc`; the source goes away for a moment when they change."""
        lib = self._lib
        self.close()
        video = lib.VideoSendFrame()
        video.set_resolution(w, h)
        video.set_frame_rate(Fraction(self.fps or DEFAULT_FPS).limit_denominator(1001))
        video.set_fourcc(getattr(lib.FourCC, fourcc.upper()))
        sender = lib.Sender(self.source_name, clock_video=False)  # the show paces the frames
        sender.set_video_frame(video)
        sender.open()
        self._sender, self._format = sender, (w, h, fourcc)
        self._swapped = None
        self._asked = 0.0

    def _data(self, frame: np.ndarray, order: PixelOrder, fourcc: str) -> np.ndarray:
        """The frame's bytes in the sender's fourcc, flat."""
        if fourcc == "uyvy":
            return _uyvy(frame, order)
        if fourcc != order:
            if self._swapped is None or self._swapped.shape != frame.shape:
                self._swapped = np.empty(frame.shape, np.uint8)
            return in_order(frame, order, "bgra" if fourcc == "bgra" else "rgba", self._swapped).reshape(-1)
        return _writable_alias(np.ascontiguousarray(frame).reshape(-1))

    def _count_receivers(self) -> None:
        now = time.monotonic()
        if now - self._asked < RECEIVERS_EVERY_S:
            return
        self._asked = now
        self._receivers = int(self._sender.get_num_connections(0))
        assert self._format is not None
        w, h, fourcc = self._format
        plural = "" if self._receivers == 1 else "s"
        self.detail = f"NDI '{self.source_name}' {w}x{h} {fourcc.upper()}, {self._receivers} receiver{plural}"


# -- receiving -----------------------------------------------------------------------------------


def stream_name(full: str) -> str:
    """NAME of an NDI source's full name "MACHINE (NAME)"."""
    head, sep, tail = full.partition(" (")
    return tail[:-1] if sep and tail.endswith(")") else full


def match_source(wanted: str, names: list[str]) -> tuple[str | None, list[str]]:
    """The source `wanted` names among `names`: the full name, else the NAME in "MACHINE (NAME)",
    else the one name containing it (any case). Returns (match or None, the candidates when more
    than one fits). A source reached at two addresses is listed twice: one source."""
    names = sorted(set(names))
    if wanted in names:
        return wanted, []
    for fits in ([n for n in names if stream_name(n) == wanted],
                 [n for n in names if wanted.lower() in n.lower()]):
        if len(fits) == 1:
            return fits[0], []
        if fits:
            return None, sorted(fits)
    return None, []


@dataclass(frozen=True)
class NdiFrame:
    rgb: np.ndarray  # (h, w, 3) uint8, row 0 at the top, read-only
    timestamp: float  # when the sender submitted it (posix seconds, NDI's timestamp)
    received: float  # time.time() when it was read here


class NdiReceiver:
    """Receives one NDI source (see the module doc). One thread calls `read`; `state` is
    "searching" (not seen yet, or the name fits several: `message` says), "connecting",
    "connected" or "lost" (it was connected and its sender went away; NDI reconnects when it
    comes back). `frames` counts the distinct frames read, `reconnects` the returns after a loss."""

    def __init__(self, source_name: str) -> None:
        if not source_name.strip():
            raise ValueError("the NDI source name is empty")
        lib = cyndilib()
        self.wanted = source_name
        self.source: str | None = None  # the full name once found
        self.state = "searching"
        self.message = f"waiting for NDI source '{source_name}' (none seen yet)"
        self.frames = 0
        self.reconnects = 0
        self._finder = lib.Finder()
        self._finder.open()
        self._receiver = lib.Receiver(color_format=lib.RecvColorFormat.RGBX_RGBA,
                                      bandwidth=lib.RecvBandwidth.highest, recv_name="vj")
        self._video = lib.VideoFrameSync()
        self._receiver.frame_sync.set_video_frame(self._video)
        self._bgr = {int(lib.FourCC.BGRA), int(lib.FourCC.BGRX)}
        self._last: tuple[float, float] | None = None  # (timestamp, timecode) of the last frame read
        self._size: tuple[int, int] | None = None
        self._looked = 0.0

    def read(self, timeout: float) -> NdiFrame | None:
        """The next frame newer than the last one read, waiting up to `timeout` seconds; None if
        none came (look at `state`)."""
        deadline = time.monotonic() + timeout
        while True:
            self._look()
            if self.source is not None:
                frame = self._capture()
                if frame is not None:
                    return frame
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL_S)

    def close(self) -> None:
        self._receiver.disconnect()
        self._finder.close()

    def __enter__(self) -> NdiReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _look(self) -> None:
        """Find the source, or follow its connection (at most every LOOK_EVERY_S)."""
        now = time.monotonic()
        if now - self._looked < LOOK_EVERY_S:
            return
        self._looked = now
        if self.source is None:
            names = list(self._finder.get_source_names())
            found, several = match_source(self.wanted, names)
            if found is None:
                seen = f"it fits several: {', '.join(several)}; give the full name" if several else (
                    f"sources seen: {', '.join(sorted(set(names)))}" if names else "none seen yet")
                self._set("searching", f"waiting for NDI source '{self.wanted}' ({seen})")
                return
            self.source = found
            self._receiver.connect_to(self._finder.get_source(found))
            self._set("connecting", f"connecting to NDI source '{found}'")
            return
        if self.state == "connected" and not self._receiver.is_connected():
            self._set("lost", f"NDI source '{self.source}' lost: its sender stopped or cannot be reached; "
                              "waiting for it to come back")

    def _capture(self) -> NdiFrame | None:
        """The frame-sync's newest frame if it is newer than the last one read."""
        video = self._video
        self._receiver.frame_sync.capture_video()
        w, h = int(video.xres), int(video.yres)
        if not w or not h:
            return None
        stamp = (float(video.get_timestamp_posix()), float(video.get_timecode_posix()))
        if stamp == self._last:
            return None
        self._last = stamp
        stride = int(video.get_line_stride())
        raw = np.frombuffer(video, np.uint8)
        pixels = raw[:stride * h].reshape(h, stride)[:, :w * 4].reshape(h, w, 4)
        rgb = np.ascontiguousarray(pixels[..., 2::-1] if int(video.get_fourcc()) in self._bgr else pixels[..., :3])
        del raw, pixels  # the frame-sync's buffer is freed at the next capture
        rgb.flags.writeable = False
        self.frames += 1
        if self.state != "connected" or (w, h) != self._size:
            if self.state == "lost":
                self.reconnects += 1
            self._size = (w, h)
            self._set("connected", f"receiving NDI '{self.source}' {w}x{h}")
        return NdiFrame(rgb, stamp[0], time.time())

    def _set(self, state: str, message: str) -> None:
        self.state, self.message = state, message


def list_sources(wait_s: float = 1.0) -> list[str]:
    """The full names of the NDI sources seen within `wait_s` seconds."""
    lib = cyndilib()
    finder = lib.Finder()
    finder.open()
    try:
        deadline = time.monotonic() + wait_s
        while (left := deadline - time.monotonic()) > 0:
            finder.wait_for_sources(left)
        return sorted(set(finder.get_source_names()))  # a source reached at two addresses is listed twice
    finally:
        finder.close()
