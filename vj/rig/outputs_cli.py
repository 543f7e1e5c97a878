"""`vj run`'s video outputs: the command-line options over a mapping file's `outputs:` section
(vj.config.outputs), and the output threads built from them.

A flag replaces the file's setting of the same option; an output only the file names, or only the
command line, runs too. The outputs start with the show: a live reload of the file leaves them as
they are and says that a change takes effect at the next start (restarting an NDI source mid-show
would blank every receiver). A recording never overwrites a file: `{date}` and `{time}` in its
name become the show's start, and a name already taken gets `-2`, `-3`...

Light on purpose (the CLI imports it to build its parser): every output's package is imported on
that output's own thread, and only when it is asked for.
"""

from __future__ import annotations

import argparse
import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from vj.config.outputs import (
    NDI_FORMATS,
    READ_MODES,
    RECORD_FPS,
    OutputSettings,
    ReadMode,
    record_problem,
    size_problem,
)

if TYPE_CHECKING:
    from vj.config.mapping import MappingConfig
    from vj.rig.record import AudioTrack
    from vj.rig.sink import SinkThread, VideoOutputs, VideoSink
    from vj.vocabulary import EventQueue

log = logging.getLogger(__name__)

VIRTUAL_CAMERA_FPS = 30.0  # what a virtual camera announces when --output-fps does not say


@dataclass(frozen=True)
class OutputOptions:
    """Which video outputs a show runs (all off by default)."""

    ndi_out: str | None = None  # an NDI source name
    ndi_format: str = "native"  # the picture's order (no conversion), rgba, bgra, uyvy (half the bytes to send)
    record: Path | None = None  # an .mp4 file
    record_fps: int = 30  # the recording's fixed frame rate
    virtual_camera: str | None = None  # a device (/dev/videoN); "": the first one; None: no virtual camera
    syphon: str | None = None  # a Syphon server name (macOS)
    spout: str | None = None  # a Spout sender name (Windows)
    size: tuple[int, int] | None = None  # the outputs' picture (None: the window's)
    fps: float = 0.0  # the most frames a second for NDI, the virtual camera, Syphon and Spout (0: every display frame)
    read_back: ReadMode = "auto"  # how the picture leaves the GPU (vj.render.readback.READ_MODES)
    # the fields the command line set: only these override a mapping file's `outputs:` (see `over`)
    given: frozenset[str] = field(default=frozenset(), compare=False)

    def __post_init__(self) -> None:
        problems = []
        if self.ndi_format not in NDI_FORMATS:
            problems.append(f"--ndi-format must be one of {', '.join(NDI_FORMATS)}, got {self.ndi_format!r}")
        if self.size is not None and (wrong := size_problem(self.size)):
            problems.append(f"--output-size {wrong}")
        if not RECORD_FPS[0] <= self.record_fps <= RECORD_FPS[1]:
            problems.append(f"--record-fps must be in {RECORD_FPS[0]}..{RECORD_FPS[1]}, got {self.record_fps}")
        if self.record is not None and (wrong := record_problem(self.record)):
            problems.append(f"--record {wrong}")
        if self.read_back not in READ_MODES:
            problems.append(f"--read-back must be one of {', '.join(READ_MODES)}, got {self.read_back!r}")
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

    def over(self, file: OutputSettings) -> OutputOptions:
        """These options (the command line's) over a mapping file's settings: an option set here
        wins, the file's fills in the rest."""
        unset_is_none = (f.name for f in fields(self) if f.default is None)
        mine = set(self.given) | {name for name in unset_is_none if getattr(self, name) is not None}
        taken = {name: value for name, value in file.said().items() if name not in mine}
        return replace(self, **taken) if taken else self  # type: ignore[arg-type]


def add_output_arguments(run: argparse.ArgumentParser, size: Callable[[str], tuple[int, int]]) -> None:
    """vj run's video outputs; `size` parses WxH."""
    group = run.add_argument_group("video outputs", "the picture (without the HUD) for other programs and files; "
                                   "a mapping file's outputs: section starts them too, these flags over it")
    group.add_argument("--record", type=Path, metavar="FILE.mp4",
                       help="record the show (and the live audio input) to an MP4 while performing; {date} and "
                            "{time} in the name become the start, and a file already there is never overwritten")
    group.add_argument("--record-fps", type=int, metavar="N",
                       help="the recording's frame rate (default 30)")
    group.add_argument("--ndi-out", metavar="NAME", help="send the picture as an NDI source called NAME")
    group.add_argument("--ndi-format", choices=NDI_FORMATS,
                       help="NDI pixel format (default native: RGBA or BGRA as the picture is read, "
                            "not converted; uyvy halves the network traffic)")
    group.add_argument("--virtual-camera", nargs="?", const="", metavar="DEVICE",
                       help="the picture as a webcam (v4l2loopback on Linux, OBS's virtual camera on macOS and "
                            "Windows); DEVICE: /dev/videoN (default: the first)")
    group.add_argument("--syphon", metavar="NAME", help="publish the picture as a Syphon server (macOS)")
    group.add_argument("--spout", metavar="NAME", help="publish the picture as a Spout sender (Windows)")
    group.add_argument("--output-size", type=size, metavar="WxH",
                       help="the outputs' picture size (default: the window's); the window shows it scaled")
    group.add_argument("--output-fps", type=float, metavar="N",
                       help="the most frames a second sent to NDI, the virtual camera, Syphon and Spout "
                            "(default: every display frame)")
    group.add_argument("--read-back", choices=READ_MODES,
                       help="how the picture leaves the GPU: pixel buffers (pbo), a copy by the X server from "
                            "the swapped window (server), a reader thread with a second context (thread), or a plain "
                            "read (direct); default auto: pbo on a GPU; on software GL server where no other window "
                            "can cover the show's (no window manager, or a compositing one), else thread with "
                            "rasteriser threads, else direct")


def output_options(args: argparse.Namespace) -> OutputOptions:
    """From vj run's parsed arguments (the flags not given keep their defaults, and a mapping
    file's `outputs:` may set them); ValueError says what is wrong."""
    flags = {"ndi_out": args.ndi_out, "ndi_format": args.ndi_format, "record": args.record,
             "record_fps": args.record_fps, "virtual_camera": args.virtual_camera, "syphon": args.syphon,
             "spout": args.spout, "size": args.output_size, "fps": args.output_fps, "read_back": args.read_back}
    given = {name: value for name, value in flags.items() if value is not None}
    return OutputOptions(**given, given=frozenset(given))


def record_file(template: Path, start: datetime.datetime | None = None) -> Path:
    """The file a recording writes: `{date}` and `{time}` in `template` filled from `start` (now),
    its folder made, and a name no file has yet (the template's, else with -2, -3...), taken at
    once so a second show cannot take it too."""
    start = start or datetime.datetime.now()
    path = Path(str(template).format(date=start.strftime("%Y-%m-%d"), time=start.strftime("%H-%M-%S")))
    path.parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        candidate = path if n == 1 else path.with_name(f"{path.stem}-{n}{path.suffix}")
        try:
            candidate.open("x").close()
        except FileExistsError:
            continue
        if candidate != path:
            log.warning("%s exists: recording to %s instead (a recording never overwrites a file)", path, candidate)
        return candidate
    raise FileExistsError(f"{path} and 9,999 numbered names beside it exist: give another --record file")


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

    if options.record is not None:
        try:
            options = replace(options, record=record_file(options.record))
        except OSError as exc:
            log.error("not recording: cannot write %s: %s", options.record, exc.strerror or exc)
            options = replace(options, record=None)
    track = AudioTrack(audio_rate) if options.record is not None and audio_rate else None
    return build_outputs(options, size, track).start(), track


def stop_outputs(outputs: VideoOutputs) -> None:
    """Stop every output in order (each finishes the frame it is on; a recording closes its file),
    then log what each did."""
    outputs.stop()
    for st in outputs.statuses():
        trouble = f", error: {st.error}" if st.error else ""
        log.info("output %s: sent %d, dropped %d%s", st.name, st.sent, st.dropped, trouble)


def reload_keeping_outputs(started: MappingConfig, events: EventQueue) -> Callable[[Path], MappingConfig]:
    """The live reload's parser for a mapping file whose outputs started with the show: when an
    edit changes its `outputs:` section, the log and the HUD say that the running outputs go on
    as they are and the change takes effect at the next start."""
    from vj.config.mapping import parse_mapping
    from vj.vocabulary import Notice

    last = [started.outputs.said()]

    def parse(path: Path) -> MappingConfig:
        config = parse_mapping(path)
        now = config.outputs.said()
        if now != last[0]:
            last[0] = now
            again = now == started.outputs.said()
            message = (f"{path}: outputs: as the show started again" if again else
                       f"{path}: outputs: changed; the video outputs go on as they started: "
                       "restart vj run for the change")
            events.put(Notice(message))  # the show logs it too
        return config

    return parse
