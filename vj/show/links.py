"""What a show is connected to, and how it is set up: one typed object for each.

`ShowLinks` holds the optional links to the world outside the render thread (every one may be
None: a headless render has none); `ShowOptions` the choices made when the show is built. The
link Protocols name what the show needs of each, typed with the real status snapshots so the
HUD reads fields, never guesses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from vj.audio.feed import AudioSlot
from vj.config.midi import MidiDevice
from vj.control.osc_out import OscOut
from vj.control.oscquery import OscQuery
from vj.gen.process import interim_worker
from vj.gen.worker import GeneratorHandle
from vj.proc.supervisor import Child
from vj.render.readback import ReadMode, SharedGL, WindowPixels
from vj.render.shaders import ShaderLibrary
from vj.show.generator import WorkerFactory, default_worker
from vj.vocabulary import PixelOrder

if TYPE_CHECKING:  # the status snapshots only: their modules load device libraries (rtmidi, PortAudio, PyAV)
    from vj.audio.capture import InputStatus
    from vj.camera import CameraStatus
    from vj.control.midi_ports import MidiStatus
    from vj.control.osc_server import OscStatus
    from vj.rig.sink import SinkStatus
    from vj.voice.listener import VoiceStatus


class MidiLink(Protocol):
    """What the show needs of the MIDI ports (vj.control.midi_ports.MidiPorts)."""

    def send(self, device: str, message: bytes) -> None: ...
    def set_devices(self, devices: Sequence[MidiDevice]) -> None: ...
    def status(self) -> MidiStatus: ...


class OscLink(Protocol):
    """What the show needs of the OSC server (vj.control.osc_server.OscServer)."""

    def set_latest_wins(self, addresses: Iterable[str]) -> None: ...
    def status(self) -> OscStatus: ...


class AudioInputLink(Protocol):
    """What the HUD needs of the audio capture (vj.audio.capture.AudioInput)."""

    def status(self) -> InputStatus: ...


class FrameSource(Protocol):
    """What the show needs of a live camera (vj.camera.CameraInput): the newest frame, never waiting."""

    def latest(self) -> np.ndarray | None: ...
    def status(self) -> CameraStatus: ...


class VoiceLink(Protocol):
    """What the show needs of the voice threads (vj.voice.listener.VoiceListener)."""

    def hold(self, talk: bool, dictate: bool) -> None: ...
    def status(self) -> VoiceStatus: ...


class VideoLink(Protocol):
    """What the show needs of its video outputs (vj.rig.sink.VideoOutputs): whether any runs, the
    finished picture offered once a frame (never blocking), their statuses for the HUD."""

    @property
    def wanted(self) -> bool: ...
    def offer(self, frame: np.ndarray, time_: float, order: PixelOrder = "rgba", final: bool = False) -> None: ...
    def statuses(self) -> tuple[SinkStatus, ...]: ...


class ProcessList(Protocol):
    """What the HUD needs of the supervisor (vj.proc.supervisor.Supervisor): its children."""

    def children(self) -> list[Child]: ...


@dataclass(frozen=True)
class ShowLinks:
    """The show's optional links; None: not connected (the HUD leaves its line out)."""

    midi: MidiLink | None = None
    osc: OscLink | None = None  # the OSC server: its counts for the HUD, latest-wins addresses
    osc_out: OscOut | None = None
    oscquery: OscQuery | None = None
    audio: AudioSlot | None = None  # the analysis thread's newest frame
    audio_status: AudioInputLink | None = None  # the capture behind it
    camera: FrameSource | None = None
    voice: VoiceLink | None = None
    processes: ProcessList | None = None
    video: VideoLink | None = None  # NDI, virtual camera, Syphon, Spout, recording (vj.rig)


@dataclass(frozen=True)
class ShowOptions:
    """How a show is set up. `lockstep`: wait for each generated frame (offline renders are
    deterministic); `stand_in`: a CPU gradient until the generator's first frame (live)."""

    preset_index: int = 0
    lockstep: bool = False
    hud: bool = False
    stand_in: bool = True
    learn_file: Path | None = None  # where MIDI learn writes (default: vj.paths.LEARN_FILE)
    worker_factory: WorkerFactory = default_worker
    interim_factory: Callable[[], GeneratorHandle] = interim_worker
    on_window_action: Callable[[str], None] | None = None  # "fullscreen": the window's business
    shaders: ShaderLibrary | None = None
    output_size: tuple[int, int] | None = None  # the video outputs' picture (None: the window's)
    read_mode: ReadMode = "auto"  # how the outputs' picture leaves the GPU (vj.render.readback)
    gl_share: Callable[[], SharedGL] | None = None  # a second context for reading pictures on a thread (Window.share)
    window_pixels: Callable[[tuple[int, int]], WindowPixels] | None = None  # the window system's copy (Window.pixels)


NO_LINKS = ShowLinks()
DEFAULT_OPTIONS = ShowOptions()
