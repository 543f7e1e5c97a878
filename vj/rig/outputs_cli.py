"""`vj run`'s video outputs: the command-line options, and the output threads built from them.

Light on purpose (the CLI imports it to build its parser): every output's package is imported on
that output's own thread, and only when it is asked for.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vj.rig.record import AudioTrack
    from vj.rig.sink import SinkThread, VideoOutputs, VideoSink

log = logging.getLogger(__name__)

NDI_FORMATS = ("rgba", "bgra", "uyvy")
VIRTUAL_CAMERA_FPS = 30.0  # what a virtual camera announces when --output-fps does not say


@dataclass(frozen=True)
class OutputOptions:
    """Which video outputs a show runs (all off by default)."""

    ndi_out: str | None = None  # an NDI source name
    ndi_format: str = "rgba"  # rgba (no conversion), bgra or uyvy (half the bytes on the network)
    record: Path | None = None  # an .mp4 file
    record_fps: int = 30  # the recording's fixed frame rate
    virtual_camera: str | None = None  # a device (/dev/videoN); "": the first one; None: no virtual camera
    syphon: str | None = None  # a Syphon server name (macOS)
    spout: str | None = None  # a Spout sender name (Windows)
    size: tuple[int, int] | None = None  # the outputs' picture (None: the window's)
    fps: float = 0.0  # the most frames a second for NDI, the virtual camera, Syphon and Spout (0: every display frame)

    def __post_init__(self) -> None:
        problems = []
        if self.ndi_format not in NDI_FORMATS:
            problems.append(f"--ndi-format must be one of {', '.join(NDI_FORMATS)}, got {self.ndi_format!r}")
        if self.size is not None and (min(self.size) < 2 or self.size[0] % 2 or self.size[1] % 2):
            problems.append(f"--output-size must be even and at least 2x2 (video encoders need that), "
                            f"got {self.size[0]}x{self.size[1]}")
        if not 1 <= self.record_fps <= 240:
            problems.append(f"--record-fps must be in 1..240, got {self.record_fps}")
        if self.record is not None and self.record.suffix.lower() not in (".mp4", ".mov", ".m4v"):
            problems.append(f"--record writes MP4: give a file ending in .mp4, got {self.record}")
        if self.fps < 0:
            problems.append(f"--output-fps must be 0 (every display frame) or more, got {self.fps:g}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def wanted(self) -> bool:
        return any(x is not None for x in (self.ndi_out, self.record, self.virtual_camera, self.syphon, self.spout))

    def picture_size(self, window: tuple[int, int]) -> tuple[int, int]:
        """The outputs' picture: --output-size, else the window's made even."""
        if self.size is not None:
            return self.size
        return max(2, window[0] - window[0] % 2), max(2, window[1] - window[1] % 2)


def add_output_arguments(run: argparse.ArgumentParser, size: Callable[[str], tuple[int, int]]) -> None:
    """vj run's video outputs; `size` parses WxH."""
    group = run.add_argument_group("video outputs", "the picture (without the HUD) for other programs and files")
    group.add_argument("--record", type=Path, metavar="FILE.mp4",
                       help="record the show (and the live audio input) to an MP4 while performing")
    group.add_argument("--record-fps", type=int, default=30, metavar="N",
                       help="the recording's frame rate (default 30)")
    group.add_argument("--ndi-out", metavar="NAME", help="send the picture as an NDI source called NAME")
    group.add_argument("--ndi-format", choices=NDI_FORMATS, default="rgba",
                       help="NDI pixel format (default rgba; uyvy halves the network traffic)")
    group.add_argument("--virtual-camera", nargs="?", const="", metavar="DEVICE",
                       help="the picture as a webcam (v4l2loopback on Linux, OBS's virtual camera on macOS and "
                            "Windows); DEVICE: /dev/videoN (default: the first)")
    group.add_argument("--syphon", metavar="NAME", help="publish the picture as a Syphon server (macOS)")
    group.add_argument("--spout", metavar="NAME", help="publish the picture as a Spout sender (Windows)")
    group.add_argument("--output-size", type=size, metavar="WxH",
                       help="the outputs' picture size (default: the window's); the window shows it scaled")
    group.add_argument("--output-fps", type=float, default=0.0, metavar="N",
                       help="the most frames a second sent to NDI, the virtual camera, Syphon and Spout "
                            "(default: every display frame)")


def output_options(args: argparse.Namespace) -> OutputOptions:
    """From vj run's parsed arguments; ValueError says what is wrong."""
    return OutputOptions(ndi_out=args.ndi_out, ndi_format=args.ndi_format, record=args.record,
                         record_fps=args.record_fps, virtual_camera=args.virtual_camera, syphon=args.syphon,
                         spout=args.spout, size=args.output_size, fps=args.output_fps)


def build_outputs(options: OutputOptions, size: tuple[int, int], audio: AudioTrack | None = None) -> VideoOutputs:
    """The output threads asked for (not started), the recording first: it stops first."""
    from vj.rig.record import RecordSettings, recording_factory
    from vj.rig.sink import SinkThread, VideoOutputs

    sinks: list[SinkThread] = []
    if options.record is not None:
        settings = RecordSettings(options.record, size, options.record_fps)
        sinks.append(SinkThread("record", recording_factory(settings, audio), rate=options.record_fps))
    if options.ndi_out is not None:
        sinks.append(SinkThread("ndi", _ndi(options.ndi_out, options.ndi_format, options.fps), rate=options.fps))
    if options.virtual_camera is not None:
        sinks.append(SinkThread("virtual camera", _virtual_camera(size, options.fps, options.virtual_camera or None),
                                rate=options.fps))
    if options.syphon is not None:
        sinks.append(SinkThread("syphon", _syphon(options.syphon, size), rate=options.fps))
    if options.spout is not None:
        sinks.append(SinkThread("spout", _spout(options.spout, size), rate=options.fps))
    return VideoOutputs(sinks)


def _ndi(name: str, fourcc: str, fps: float) -> Callable[[], VideoSink]:
    def make() -> VideoSink:
        from vj.rig.ndi import NdiSink

        return NdiSink(name, fourcc=fourcc, fps=fps)

    return make


def _virtual_camera(size: tuple[int, int], fps: float, device: str | None) -> Callable[[], VideoSink]:
    def make() -> VideoSink:
        from vj.rig.virtualcam import VirtualCamera

        return VirtualCamera(size, fps or VIRTUAL_CAMERA_FPS, device)

    return make


def _syphon(name: str, size: tuple[int, int]) -> Callable[[], VideoSink]:
    def make() -> VideoSink:
        from vj.rig.virtualcam import SyphonOut

        return SyphonOut(name, size)

    return make


def _spout(name: str, size: tuple[int, int]) -> Callable[[], VideoSink]:
    def make() -> VideoSink:
        from vj.rig.virtualcam import SpoutOut

        return SpoutOut(name, size)

    return make


def start_outputs(options: OutputOptions, size: tuple[int, int],
                  audio_rate: int | None = None) -> tuple[VideoOutputs | None, AudioTrack | None]:
    """The outputs asked for, started (None: none asked), and the recording's audio track to tap
    the live input with (`audio_rate`: the input's sample rate; None: no audio input)."""
    if not options.wanted:
        return None, None
    from vj.rig.record import AudioTrack

    track = AudioTrack(audio_rate) if options.record is not None and audio_rate else None
    return build_outputs(options, size, track).start(), track


def stop_outputs(outputs: VideoOutputs) -> None:
    """Stop every output in order (each finishes the frame it is on; a recording closes its file),
    then log what each did."""
    outputs.stop()
    for st in outputs.statuses():
        trouble = f", error: {st.error}" if st.error else ""
        log.info("output %s: sent %d, dropped %d%s", st.name, st.sent, st.dropped, trouble)
