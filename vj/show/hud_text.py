"""The HUD's text, as pure functions of a typed status snapshot: no GL, no links, no clock.

The show reads every status once a frame into a `HudStatus`; `hud_lines` makes the panel of
rates and values from it, `hud_errors` the panel of problems. Tests build snapshots by hand.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vj.config.preset import Preset
from vj.control.engine import Pickup
from vj.gen.worker import WorkerStatus
from vj.params import Snapshot
from vj.proc.supervisor import ChildStatus

if TYPE_CHECKING:  # the status snapshots only: their modules load device libraries (rtmidi, PortAudio, PyAV)
    from vj.audio.capture import InputStatus
    from vj.camera import CameraStatus
    from vj.control.midi_ports import MidiStatus
    from vj.control.osc_server import OscStatus
    from vj.rig.sink import SinkStatus
    from vj.voice.listener import VoiceStatus

ERROR_SHOWN = 10.0  # seconds a generator fault stays in the HUD once the generator runs again


@dataclass(frozen=True)
class AudioReading:
    """The live audio for the HUD: the newest analysis (empty: none yet) and the capture's status
    (None: the show was given no capture to ask)."""

    features: Mapping[str, float] = field(default_factory=dict)
    capture: InputStatus | None = None


@dataclass(frozen=True)
class HudStatus:
    """Everything the HUD says, read at one moment. A None link: not connected, no line."""

    snap: Snapshot  # the frame's parameter values
    preset: Preset  # the one playing
    worker: WorkerStatus  # the generator
    clock_source: str = "manual"  # what drives the beat clock
    display_fps: float = 0.0
    display_mode: str = ""  # how the live loop is paced ("vsync", "capped 60")
    midi: MidiStatus | None = None
    osc: OscStatus | None = None
    unmapped: int = 0  # input events no binding took
    audio: AudioReading | None = None
    camera: CameraStatus | None = None
    processes: tuple[ChildStatus, ...] | None = None  # the supervisor's children
    voice: VoiceStatus | None = None
    outputs: tuple[SinkStatus, ...] | None = None  # the video outputs (NDI, virtual camera, recording...)
    pickup: Pickup | None = None  # a knob to turn to catch its value, while its hint shows
    messages: tuple[str, ...] = ()  # learn mode's lines, errors until fixed, notices
    lockstep: bool = False  # an offline render: the generator's loading and restarts are not news
    now: float = 0.0  # time.monotonic() when read: how long the generator has been loading
    clock_override: str = ""  # the VJ's overrides in force on the clock ("x2 +10 ms"), next to the tempo


def hud_lines(st: HudStatus) -> list[str]:
    """The panel of rates and values: display and generator, preset, parameters, then a line per link."""
    snap, preset, worker = st.snap, st.preset, st.worker
    weights = "  ".join(f"{i + 1}:{snap.f(f'prompt.{i + 1}.weight'):.2f}" for i in range(len(preset.prompts)))
    flags = " ".join(f for f, on in (("FROZEN", snap["freeze"]), ("BLACKOUT", snap.f("blackout") > 0.5)) if on)
    mode = f" ({st.display_mode})" if st.display_mode else ""
    override = f" {st.clock_override}" if st.clock_override else ""
    return [
        f"vj  display {st.display_fps:5.1f} fps{mode}   gen {worker.fps:5.1f} fps ({gen_label(worker)})  {flags}",
        f"preset {int(snap['preset'])}: {preset.name}   {preset.size[0]}x{preset.size[1]}"
        + (f"   {worker.detail}" if worker.state == "running" and worker.detail else ""),
        f"strength {snap.f('strength'):.2f}  feedback {snap.f('feedback'):.2f}  speed {snap.f('speed'):.2f}",
        f"zoom {snap.f('zoom'):+.2f}  pan {snap.f('pan.x'):+.2f},{snap.f('pan.y'):+.2f}  "
        f"rotate {snap.f('rotate'):+.1f}",
        f"seed {int(snap['seed'])}  walk {snap.f('seed.walk'):.2f} (+{snap.f('seed.rate'):.2f}/s)  "
        f"bpm {snap.f('bpm'):.1f}{override} ({st.clock_source})  "
        f"crossfade {snap.f('crossfade'):.2f}s {snap['crossfade.curve']}",
        f"prompts  {weights}",
    ] + link_lines(st)


def link_lines(st: HudStatus) -> list[str]:
    """A line for each connected link, in a fixed order, then a pickup hint."""
    lines = []
    if st.midi is not None:
        lines.append(midi_line(st.midi))
    if st.osc is not None:
        lines.append(osc_line(st.osc, st.unmapped))
    if st.audio is not None:
        lines.append(audio_line(st.audio))
    if st.camera is not None:
        lines.append(camera_line(st.camera, st.snap.f("camera.mix")))
    if st.processes is not None:
        lines.append("procs  " + "  ".join(process_label(c) for c in st.processes))
    if st.voice is not None:
        lines.append(voice_line(st.voice))
    lines += [output_line(o) for o in st.outputs or ()]
    if st.pickup is not None:
        p = st.pickup
        way = "up" if p.target > p.knob else "down"
        lines.append(f"pickup {p.param}: knob at {p.knob:.2f}, turn {way} to {p.target:.2f}")
    return lines


def midi_line(st: MidiStatus) -> str:
    return (f"midi  in: {', '.join(st.inputs) or 'none'}  out: {', '.join(st.outputs) or 'none'}  "
            f"msgs {st.messages}  ignored {st.ignored}")


def osc_line(st: OscStatus, unmapped: int) -> str:
    return (f"osc  {st.host}:{st.port}  msgs {st.messages}  malformed {st.invalid}  refused {st.refused}  "
            f"unmapped {unmapped}")


def audio_line(audio: AudioReading) -> str:
    st, f = audio.capture, audio.features
    where = f"{st.device} " if st is not None else ""
    if st is not None and not st.connected:
        return f"audio  {where}not connected: {st.message}"
    return (f"audio  {where}level {f.get('level', 0.0):.2f} ({f.get('db', -100.0):.0f} dB)  "
            f"bass {f.get('bass', 0.0):.2f} mid {f.get('mid', 0.0):.2f} high {f.get('high', 0.0):.2f}  "
            f"beat {f.get('bpm', 0.0):.1f} bpm ({f.get('beat.confidence', 0.0):.0%})")


def camera_line(st: CameraStatus, mix: float) -> str:
    if not st.connected:
        return f"camera  {st.source} not connected: {st.message}"
    size = f"  {st.size[0]}x{st.size[1]}" if st.size else ""
    return f"camera  {st.source}  {st.fps:.1f} fps{size}  mix {mix:.2f}"


def voice_line(st: VoiceStatus) -> str:
    held = "listening" if st.listening else "hold to talk"
    return (f"voice  {st.mode} ({held})  commands {st.commands}  ignored {st.ignored}  prompts {st.prompts}  "
            f"last: {st.last or '-'}")


def output_line(st: SinkStatus) -> str:
    """A video output: `out record  set.mp4 1280x720 30 fps  29.9 fps  sent 300  dropped 0`."""
    detail = f"  {st.detail}" if st.detail else ""
    trouble = "  error (below)" if st.error else ""
    return f"out {st.name}{detail}  {st.fps:.1f} fps  sent {st.sent}  dropped {st.dropped}{trouble}"


def hud_errors(st: HudStatus) -> list[str]:
    """The panel of problems: learn mode, errors and notices, the video outputs' (what to install
    or do), then the generator's own (live: loading and faults; in lockstep only a fault)."""
    out = list(st.messages) + [f"{o.name}: {o.error}" for o in st.outputs or () if o.error]
    if not st.lockstep:
        out += generator_lines(st.worker, st.now)
    elif st.worker.last_error:
        out.append(f"generator: {st.worker.last_error}")
    return out


def process_label(st: ChildStatus) -> str:
    """A child process for the HUD: `diffusion (tiny) ready`, `audio in waiting (restarts 2)`."""
    restarts = f" (restarts {st.starts - 1})" if st.starts > 1 else ""
    return f"{st.name} {st.state}{restarts}"


def gen_label(st: WorkerStatus) -> str:
    return f"{st.interim} while {st.backend} loads" if st.interim else st.backend


def generator_lines(st: WorkerStatus, now: float | None = None) -> list[str]:
    """What the HUD says about the generator: loading progress with its seconds, faults, restarts
    (`now`: time.monotonic(), read when not given)."""
    out = []
    now = time.monotonic() if now is None else now
    seconds = max(0.0, now - st.since) if st.since else 0.0
    if st.state == "loading":
        doing = st.progress or f"starting {st.backend}"
        meanwhile = st.interim or ("a stand-in" if st.frames == 0 else "the last frame")
        out.append(f"{doing} ({seconds:.0f} s): {meanwhile} shows meanwhile")
    recent = not st.error_at or now - st.error_at < ERROR_SHOWN
    if st.last_error and (recent or st.state != "running" or st.fell_back):
        then = {"restarting": "  -> restarting", "failed": "  -> no fallback left"}.get(st.state, "")
        restarts = f" (restarts {st.restarts})" if st.restarts else ""
        out.append(f"generator: {st.last_error}{then}{restarts}" + ("  -> fallback" if st.fell_back else ""))
    return out
