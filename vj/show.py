"""The show: one display frame at a time, the whole signal chain on the render thread.

Per frame: drain input events through the mapping, run modulators, take one
parameter snapshot, hand the generator the newest request, pick up its newest
finished frame (never waiting for it), advance motion, draw the passes.
`vj run` drives it from a window; `vj render` and the tests drive it headless
with a simulated clock (and `lockstep` generation, so renders are deterministic).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Mapping, Protocol, Sequence

import moderngl
import numpy as np

from vj.audio.analysis import AudioFrame
from vj.audio.link import AudioSlot
from vj.clock import AudioBeat, BeatClock, ClockState
from vj.config.midi import MidiDevice
from vj.config.mapping import MappingConfig, merge_mappings, parse_mapping
from vj.config.source import ConfigError
from vj.config.preset import Preset, PromptSpec
from vj.control.actions import TEXT_ACTIONS, ActionSink
from vj.control.engine import MappingEngine, Pickup
from vj.control.events import (
    ClockEvent,
    ConfigChanged,
    ControlEvent,
    DeviceStatus,
    EventQueue,
    Notice,
    SpokenPrompt,
)
from vj.control.feedback import Feedback
from vj.control.learn_mode import LEARN_DEVICE, LearnMode
from vj.control.osc_out import OscOut
from vj.control.oscquery import OscQuery
from vj.gen.base import GenRequest, MotionRates, Prompt
from vj.gen.gradient import GradientGenerator
from vj.gen.handover import hand_over
from vj.gen.process import interim_worker, process_workers
from vj.gen.worker import GeneratorHandle, GenFrame, WorkerStatus, with_alpha
from vj.motion import Camera
from vj.paths import MAPPING_DIR
from vj.proc.supervisor import Child, ChildStatus
from vj.params import MAX_PROMPTS, ParamState, Snapshot
from vj.render.compositor import Compositor, LayerView, PostSettings, crossfade_amount
from vj.render.hud import Hud
from vj.render.shaders import ShaderLibrary
from vj.render.textures import FrameTexture

log = logging.getLogger(__name__)

WorkerFactory = Callable[[Preset], GeneratorHandle]
default_worker: WorkerFactory = process_workers()


@dataclass
class _Layer:
    """A frame on screen (or waiting for its crossfade): its texture, its own accumulated
    camera and the frame's aspect."""

    texture: moderngl.Texture
    camera: Camera
    aspect: float
    source: FrameTexture  # the upload slot it lives in

    def view(self) -> LayerView:
        return LayerView(self.texture, self.camera, self.aspect)


STAND_IN_PERIOD = 0.25  # seconds between stand-in frames while the backend starts


PICKUP_HINT = 3.0  # seconds a "turn the knob to catch the value" hint stays in the HUD
MAX_PROMPT_TEXT = 1000  # characters: a prompt is a line, not a document from the network
QUERY_PERIOD = 0.2
FLASH_AMOUNT = 0.6  # brightness added by the flash action at its peak
FLASH_DECAY = 0.15  # seconds: the flash's time constant  # seconds between the values OSCQuery serves


class StatusSource(Protocol):
    def status(self) -> object: ...


class FrameSource(Protocol):
    """What the show needs of a live camera (vj.camera.Camera): the newest frame, never waiting."""

    def latest(self) -> np.ndarray | None: ...
    def status(self) -> object: ...


class ProcessList(Protocol):
    """What the HUD needs of the supervisor (vj.proc.supervisor.Supervisor): its children."""

    def children(self) -> list[Child]: ...


class VoiceLink(Protocol):
    """What the show needs of the voice threads (vj.voice.listener.VoiceListener)."""

    def hold(self, talk: bool, dictate: bool) -> None: ...
    def status(self) -> object: ...


@dataclass
class _PromptRamp:
    """A spoken prompt blending in: prompt `number`'s weight rises to 1 while the others fall to 0."""

    number: int
    start: dict[str, float]  # each prompt weight when the ramp began
    began: float  # show time
    seconds: float


class MidiLink(Protocol):
    """What the show needs of the MIDI ports (vj.control.midi_ports.MidiPorts)."""

    def send(self, device: str, message: bytes) -> None: ...
    def set_devices(self, devices: Sequence[MidiDevice]) -> None: ...
    def status(self) -> object: ...


def request_from(snap: Snapshot, preset: Preset, dream_time: float,
                 audio: Mapping[str, float] | None = None, camera: np.ndarray | None = None) -> GenRequest:
    prompts = tuple(
        Prompt(p.text, snap.f(f"prompt.{i + 1}.weight")) for i, p in enumerate(preset.prompts[:MAX_PROMPTS])
    )
    return GenRequest(
        time=dream_time,
        size=preset.size,
        prompts=prompts,
        seed=int(snap["seed"]),
        seed_walk=snap.f("seed.walk"),
        strength=snap.f("strength"),
        feedback=snap.f("feedback"),
        motion=motion_rates(snap),
        params=snap.values,
        audio=MappingProxyType(dict(audio or {})),
        init_image=camera,
        init_mix=snap.f("camera.mix"),
    )


def motion_rates(snap: Snapshot) -> MotionRates:
    return MotionRates(snap.f("zoom"), snap.f("pan.x"), snap.f("pan.y"), snap.f("rotate"))


class Show(ActionSink):
    def __init__(
        self,
        ctx: moderngl.Context,
        presets: Sequence[Preset],
        mapping: MappingConfig | Sequence[MappingConfig],
        *,
        preset_index: int = 0,
        events: EventQueue | None = None,
        shaders: ShaderLibrary | None = None,
        worker_factory: WorkerFactory = default_worker,
        interim_factory: Callable[[], GeneratorHandle] = interim_worker,
        lockstep: bool = False,
        hud: bool = False,
        on_window_action: Callable[[str], None] | None = None,
        stand_in: bool = True,
        midi: MidiLink | None = None,
        learn_file: Path | None = None,
        osc: StatusSource | None = None,
        osc_out: OscOut | None = None,
        oscquery: OscQuery | None = None,
        audio: AudioSlot | None = None,
        audio_status: StatusSource | None = None,
        camera: FrameSource | None = None,
        voice: VoiceLink | None = None,
        processes: ProcessList | None = None,
    ) -> None:
        if not presets:
            raise ValueError("a show needs at least one preset")
        self.ctx = ctx
        self.presets = list(presets)
        self.events = events or EventQueue()
        self.state = ParamState()
        self.midi = midi
        self.osc = osc
        self.osc_out = osc_out
        self.oscquery = oscquery
        self.audio = audio
        self.audio_status = audio_status
        self.audio_features: Mapping[str, float] = {}  # the newest analysis (empty: no audio, silence)
        self.camera = camera
        self.voice = voice
        self.processes = processes
        self._ramp: _PromptRamp | None = None  # a spoken prompt blending in
        self._flash = 0.0  # the flash action's envelope, 1 at a flash
        self._next_query = 0.0
        self.learn_file = learn_file or MAPPING_DIR / "my-controller.yaml"
        self.learning: LearnMode | None = None
        self._hud_before_learn = False
        self.mappings = [mapping] if isinstance(mapping, MappingConfig) else list(mapping)
        self._set_mapping()
        self._pickup: tuple[Pickup, float] | None = None  # the hint shown, and since when
        self.clock = BeatClock()
        self.lockstep = lockstep
        self._worker_factory = worker_factory
        self._interim_factory = interim_factory
        self._on_window_action = on_window_action
        shaders = shaders or ShaderLibrary()
        self.compositor = Compositor(ctx, shaders)
        self.hud = Hud(ctx)
        # Three upload slots: the crossfade's two frames and one waiting its turn. A frame is
        # uploaded when it arrives: a generator's shared-memory slot is lent only until then.
        self._uploads = [FrameTexture(ctx), FrameTexture(ctx), FrameTexture(ctx)]
        self.pending: _Layer | None = None  # the newest frame that arrived during a crossfade
        self.frames_skipped = 0  # arrivals replaced by a newer one while waiting
        self.prev: _Layer | None = None
        self.new: _Layer | None = None
        self.fade_elapsed = 0.0
        self.dream_time = 0.0
        self.quit_requested = False
        self.frames_shown = 0  # generated frames picked up
        self.errors: dict[str, str] = {}  # where -> message, shown in the HUD until fixed
        self._notices: list[tuple[float, str]] = []  # (expires at, message)
        self._display_fps = 0.0
        self.display_mode = ""  # how the live loop is paced ("vsync", "capped 60"), for the HUD
        self._next_gen = 0.0
        self._gradient = GradientGenerator() if stand_in else None
        self._next_stand_in = 0.0
        self.preset = self.presets[max(0, min(preset_index, len(self.presets) - 1))]
        self.state.set_base("hud", hud, jump=True)
        self._apply_preset(self.presets.index(self.preset), jump=True)
        self.worker: GeneratorHandle = self._new_worker(None)

    # -- actions ------------------------------------------------------------------------------

    def action(self, name: str, value: float | int | str | None) -> None:
        s = self.state
        log.debug("action %s %s", name, value)
        if name == "fullscreen" and self._on_window_action:
            self._on_window_action(name)
        elif name == "quit":
            self.quit_requested = True
        elif name == "learn":
            self._learn(self.learning is None)
        elif name in ("hud", "freeze"):
            s.set_base(name, not s.base[name])
        elif name == "blackout":
            s.set_base("blackout", 0.0 if float(s.base["blackout"]) > 0.5 else 1.0)  # type: ignore[arg-type]
        elif name == "preset.select" and isinstance(value, str):
            index = self.preset_named(value)
            if index < 0:
                self._notice(f"no preset named {value!r}")
            else:
                self.select_preset(index)
        elif name == "preset.select" and isinstance(value, (int, float)) and math.isfinite(value):
            self.select_preset(int(value))
        elif name in ("preset.next", "preset.prev"):
            self.select_preset((self.presets.index(self.preset) + (1 if name == "preset.next" else -1)) % len(self.presets))
        elif name == "tap":
            if self.clock.source in ("midi", "audio"):
                self._notice(f"tap ignored: the {self.clock.source} beat drives the clock (set clock.source to manual)")
            bpm = self.clock.tap(s.time)
            if bpm is not None:
                s.set_base("bpm", bpm)
        elif name == "flash":
            self._flash = 1.0
        elif name == "prompt.select" and isinstance(value, (int, float)) and math.isfinite(value):
            self.select_prompt(int(value))
        elif name == "prompt.select":
            self._notice(f"prompt.select: {value!r} is not a prompt number")
        elif name in TEXT_ACTIONS:
            self.set_prompt_text(int(name.split(".")[1]), str(value))
        elif name == "seed.step":
            s.set_base("seed.walk", float(s.base["seed.walk"]) + 1.0)  # type: ignore[arg-type]
        elif name == "motion.reset":
            for p in ("zoom", "pan.x", "pan.y", "rotate"):
                s.set_base(p, 0.0, jump=True)
            for layer in (self.prev, self.new, self.pending):
                if layer:
                    layer.camera = Camera()

    def select_preset(self, index: int) -> None:
        if not 0 <= index < len(self.presets):
            self._notice(f"no preset number {index}: {len(self.presets)} presets are loaded (0..{len(self.presets) - 1})")
            return
        self.state.set_base("preset", index)

    def preset_named(self, name: str) -> int:
        """A preset's index by its name or file name (`Neon Tunnel`, `2-neon-tunnel`, `neon-tunnel`); -1 if none."""
        wanted = name.strip().lower()
        for i, p in enumerate(self.presets):
            stem = Path(p.path).stem.lower()
            if wanted in (p.name.lower(), stem, stem.split("-", 1)[-1]):
                return i
        return -1

    def select_prompt(self, number: int) -> None:
        count = min(len(self.preset.prompts), MAX_PROMPTS)
        if not 1 <= number <= count:
            self._notice(f"no prompt {number}: preset {self.preset.name} has {count} (1..{count})")
            return
        for i in range(1, MAX_PROMPTS + 1):
            self.state.set_base(f"prompt.{i}.weight", 1.0 if i == number else 0.0)

    def set_prompt_text(self, number: int, text: str) -> None:
        """Rewrite prompt `number` of the playing preset (OSC /vj/prompt/N/text, a spoken prompt).
        It lasts until the preset file changes; a preset with fewer prompts gains them (weight 0
        until raised, so nothing jumps)."""
        text = " ".join(text.split())[:MAX_PROMPT_TEXT]  # a text field's line breaks and tabs: one line
        if not 1 <= number <= MAX_PROMPTS:
            self._notice(f"no prompt {number}: prompts are numbered 1..{MAX_PROMPTS}")
            return
        if not text:
            self._notice(f"prompt {number}: empty text ignored (the prompt is kept)")
            return
        prompts = list(self.preset.prompts)
        while len(prompts) < number:
            prompts.append(PromptSpec(text, 0.0))
        prompts[number - 1] = replace(prompts[number - 1], text=text)
        index = self.presets.index(self.preset)
        self.preset = self.presets[index] = replace(self.preset, prompts=tuple(prompts))
        log.info("prompt %d: %s", number, text)

    def prompt_texts(self) -> tuple[str, ...]:
        return tuple(p.text for p in self.preset.prompts[:MAX_PROMPTS])

    def _apply_preset(self, index: int, jump: bool = False) -> None:
        self._ramp = None  # a spoken prompt blending into the old preset stops there
        old = self.preset
        self.preset = self.presets[index]
        for name, value in self.preset.values(self.state.registry).items():
            self.state.set_base(name, value, jump=jump)
        self.state.set_base("preset", index, jump=True)
        if not jump and (old.generator, old.model) != (self.preset.generator, self.preset.model):
            self.worker = self._new_worker(self.worker)
        log.info("preset %d: %s", index, self.preset.name)

    def _new_worker(self, old: GeneratorHandle | None) -> GeneratorHandle:
        """The preset's generator. Live, the old one (or the procedural dream) plays while it
        loads; in lockstep (offline renders) nothing stands in, so a render is deterministic."""
        new = self._worker_factory(self.preset)
        if self.lockstep:
            if old is not None:
                old.stop(timeout=0.0)
            return new
        return hand_over(old, new, self._interim_factory)

    # -- events ------------------------------------------------------------------------------

    def _set_mapping(self) -> None:
        """(Re)build everything compiled from the mappings: the engine, LED feedback, MIDI ports."""
        self.mapping = merge_mappings(self.mappings)
        self.engine = MappingEngine(self.mapping)
        set_latest_wins = getattr(self.osc, "set_latest_wins", None)
        if set_latest_wins is not None:  # the OSC server may coalesce values sent to these addresses
            from vj.control.osc_space import latest_wins

            set_latest_wins(latest_wins(self.mapping))
        self.feedback = Feedback(self.mapping)
        if self.midi is not None:
            learn = (MidiDevice(LEARN_DEVICE),) if self.learning else ()
            self.midi.set_devices(self.mapping.midi + learn)

    def _learn(self, on: bool) -> None:
        if on:
            self.learning = LearnMode(self.learn_file)
            self._hud_before_learn = bool(self.state.base["hud"])
            self.state.set_base("hud", True)  # learning happens in the HUD
            self._notice(f"MIDI learn: bindings go to {self.learn_file}")
        else:
            self.learning = None
            self.state.set_base("hud", self._hud_before_learn)
        self._set_mapping()  # the ports listen to every input while learning

    def _handle_learning(self, event: ControlEvent, learning: LearnMode) -> bool:
        """Learn mode gets navigation keys and the learn device's MIDI; True when it used the event."""
        kind = event.source[0]
        if kind == "key":
            used = learning.key(str(event.source[1]), event.value > 0.5)
            if used == "leave":
                self._learn(False)
            return used is not None
        if kind == "midi" and event.source[1] == LEARN_DEVICE:
            learned = learning.feed(event)
            if learned is not None:
                self._notice(f"learned {learned.description}")
                self._reload_file(learned.result.path)
            elif learning.last and learning.last.startswith("not written"):
                self._notice(learning.last)
            return True
        return False

    def _reload_file(self, path: Path) -> None:
        """A mapping file learn just wrote: replace it among the loaded mappings, or add it."""
        try:
            config = parse_mapping(path)
        except ConfigError as exc:
            self._notice(str(exc))
            return
        if any(Path(m.path).resolve() == path.resolve() for m in self.mappings):
            self.mappings = [config if Path(m.path).resolve() == path.resolve() else m for m in self.mappings]
        else:
            self.mappings.append(config)
        self._set_mapping()

    def _greet(self, device: str) -> None:
        """An output (re)connected: its init messages, then every LED again at the next frame
        (a controller back from a power cycle has its LEDs off and its modes reset)."""
        if self.midi is not None:
            for d in self.mapping.midi:
                for message in d.init if d.name == device else ():
                    self.midi.send(device, message)
        self.feedback.forget(device)

    def _handle(self, event: object) -> None:
        if isinstance(event, ControlEvent):
            if self.learning is not None and self._handle_learning(event, self.learning):
                return
            self.engine.handle(event, self.state, self)
        elif isinstance(event, ClockEvent):
            self.clock.handle(event)
        elif isinstance(event, DeviceStatus):
            key = f"{event.role} {event.device}"
            if event.role == "midi" and not self.mapping.midi:
                return  # no mapping uses MIDI: not a problem worth the HUD
            if event.connected:
                if self.errors.pop(key, None) is not None or event.role in ("midi in", "audio in", "camera in"):
                    self._notice(event.message)
                if event.role == "midi out":
                    self._greet(event.device)
            else:
                self.errors[key] = event.message
                log.warning(event.message)
        elif isinstance(event, ConfigChanged):
            self._reload(event)
        elif isinstance(event, SpokenPrompt):
            self.dream_of(event.text)
        elif isinstance(event, Notice):
            self._notice(event.message)

    def dream_of(self, text: str) -> None:
        """A spoken prompt: it takes the prompt slot that weighs least now (never the one showing)
        and blends in over prompt.transition seconds while the others fade out."""
        s = self.state
        weights = {f"prompt.{i}.weight": float(s.base[f"prompt.{i}.weight"]) for i in range(1, MAX_PROMPTS + 1)}  # type: ignore[arg-type]
        # two slots after the preset's own prompts take turns, so the preset's prompts are kept
        own = len(self.preset.prompts)
        slots = [own + 1, own + 2] if own + 2 <= MAX_PROMPTS else list(range(1, MAX_PROMPTS + 1))
        number = min(slots, key=lambda i: (weights[f"prompt.{i}.weight"], i))
        self.set_prompt_text(number, text)
        self._ramp = _PromptRamp(number, weights, s.time, float(s.base["prompt.transition"]))  # type: ignore[arg-type]
        self._notice(f"dreaming of {text}", seconds=max(6.0, self._ramp.seconds))

    def _ramp_prompts(self) -> None:
        ramp = self._ramp
        if ramp is None:
            return
        t = 1.0 if ramp.seconds <= 0 else min(1.0, (self.state.time - ramp.began) / ramp.seconds)
        t = t * t * (3.0 - 2.0 * t)  # smoothstep: no jolt at either end
        for name, start in ramp.start.items():
            target = 1.0 if name == f"prompt.{ramp.number}.weight" else 0.0
            self.state.set_base(name, start + (target - start) * t, jump=True)
        if t >= 1.0:
            self._ramp = None

    def _reload(self, event: ConfigChanged) -> None:
        if event.config is None:
            self.errors[event.path] = event.error or f"{event.path}: invalid"
            return
        self.errors.pop(event.path, None)
        config = event.config
        if isinstance(config, MappingConfig):
            self.mappings = [config if m.path == config.path else m for m in self.mappings]
            self._set_mapping()
            self.state.clear_modulations("lfo")
            self.state.clear_modulations("audio")
            self._notice(f"reloaded mapping {event.path}")
        elif isinstance(config, Preset):
            for i, p in enumerate(self.presets):
                if p.path == config.path:
                    self.presets[i] = config
                    if p is self.preset:
                        self._apply_preset(i)
            self._notice(f"reloaded preset {config.name}")

    def _audio_frame(self, frame: AudioFrame) -> None:
        """The newest audio analysis: features for modulators and shaders, its events (beats,
        hits) through the mapping, the beat tracker's reading for the clock."""
        self.audio_features = frame.features
        now = time.perf_counter()
        for name in frame.events:
            self.engine.handle(ControlEvent(("audio", name), 1.0, True, None, now, one_shot=True), self.state, self)
        f = frame.features
        if "bpm" in f:
            self.clock.audio(AudioBeat(f["bpm"], f.get("beat.confidence", 0.0), f.get("beat.time", 0.0)))

    def _beat_triggers(self, before: ClockState, after: ClockState) -> None:
        """`beat: N` sources fire when the clock passes a multiple of N beats (running forward)."""
        if not after.running or after.beats <= before.beats or after.beats - before.beats > 4.0:
            return  # stopped, moved back (a MIDI Start) or jumped (a Song Position): no burst of triggers
        now = time.perf_counter()
        for n in self.mapping.beat_divisions:
            if math.floor(after.beats / n) > math.floor(before.beats / n):
                self.engine.handle(ControlEvent(("beat", n), 1.0, True, None, now, one_shot=True), self.state, self)

    def _notice(self, message: str, seconds: float = 6.0) -> None:
        log.warning(message)
        self._notices.append((self.state.time + seconds, message))

    # -- the frame ---------------------------------------------------------------------------

    def update(self, dt: float) -> Snapshot:
        """Everything but drawing: events, modulators, snapshot, generator hand-over."""
        for event in self.events.drain():
            self._handle(event)
        s = self.state
        frame = self.audio.take() if self.audio is not None else None
        if frame is not None:
            self._audio_frame(frame)
        if self.voice is not None:
            self.voice.hold(bool(s.base["voice.talk"]), bool(s.base["voice.dictate"]))
        self._ramp_prompts()
        if float(s.base["seed.rate"]):  # type: ignore[arg-type]
            per_second = float(s.current["seed.rate"]) * (float(s.current["bpm"]) / 60.0 if s.current["seed.sync"] else 1.0)  # type: ignore[arg-type]
            s.set_base("seed.walk", float(s.base["seed.walk"]) + per_second * dt)  # type: ignore[arg-type]
        before = self.clock.state
        clock = self.clock.advance(dt, float(s.current["bpm"]), str(s.current["clock.source"]))  # type: ignore[arg-type]
        if clock.source in ("midi", "audio"):
            s.set_base("bpm", round(clock.bpm, 2), jump=True)  # one tempo everywhere: HUD, seed sync, OSC
        self._beat_triggers(before, clock)
        self.engine.modulate(s, s.time + dt, clock, self.audio_features)
        self._flash *= math.exp(-dt / FLASH_DECAY) if dt > 0 else 1.0
        s.set_modulation("brightness", "flash", FLASH_AMOUNT * self._flash)
        snap = s.tick(dt)
        if int(snap["preset"]) != self.presets.index(self.preset) and int(snap["preset"]) < len(self.presets):
            self._apply_preset(int(snap["preset"]))
            snap = s.tick(0.0)
        for message in s.warnings + self.engine.problems:
            self._notice(message)
        s.warnings.clear()
        self.engine.problems.clear()
        if self.osc_out is not None:
            features = {f"audio/{name}": value for name, value in self.audio_features.items()}
            self.osc_out.frame(s.time, s.base, clock, self.prompt_texts(), features)
        if self.oscquery is not None and s.time >= self._next_query:
            self._next_query = s.time + QUERY_PERIOD
            texts = {f"prompt.{i}.text": text for i, text in enumerate(self.prompt_texts(), 1)}
            self.oscquery.publish({**s.base, **texts})
        if self.midi is not None and not self.feedback.empty:
            for device, data in self.feedback.messages(s.base, clock):
                self.midi.send(device, data)
        frozen = bool(snap["freeze"])
        if not frozen:
            self.dream_time += dt  # the generator applies `speed` itself, without phase jumps
            self._exchange_frames(snap)
        return snap

    def _exchange_frames(self, snap: Snapshot) -> None:
        camera = self.camera.latest() if self.camera is not None and snap.f("camera.mix") > 0 else None
        request = request_from(snap, self.preset, self.dream_time, self.audio_features, camera)
        frame: GenFrame | None
        if self.lockstep:
            frame = None
            if snap.time + 1e-9 >= self._next_gen:
                period = 1.0 / self.preset.max_fps if self.preset.max_fps > 0 else 0.0
                self._next_gen = max(self._next_gen + period, snap.time) if period else snap.time
                frame = self.worker.generate_blocking(request)
        else:
            self.worker.submit(request)
            frame = self.worker.take_frame()
            if frame is None and self._gradient is not None and self.worker.status().frames == 0:
                frame = self._stand_in(request)
        if frame is not None:
            self.accept_frame(frame)

    def _stand_in(self, request: GenRequest) -> GenFrame | None:
        """Until the backend's first frame (a model can take many seconds to load), a small CPU
        gradient in the prompts' colours keeps the screen alive: never a black stage."""
        if request.time < self._next_stand_in:
            return None
        self._next_stand_in = request.time + STAND_IN_PERIOD
        w, h = request.size
        scale = max(1, max(w, h) // 192)  # a few hundred microseconds at this size: fine on the render thread
        small = replace(request, size=(max(8, w // scale), max(8, h // scale)))
        assert self._gradient is not None
        return GenFrame(with_alpha(self._gradient.generate(small)), request, 0.0, "stand-in", 0)

    def accept_frame(self, frame: GenFrame) -> None:
        """A finished frame: it starts a crossfade at once, or, if one is running, waits its turn.

        A crossfade always completes (no pops); meanwhile only the newest arrival waits (latest
        wins), moving with the camera from the moment it arrived so the picture stays continuous.
        """
        waits = self.new is not None and self._mix() < 1.0
        if waits and self.pending is not None:
            self.frames_skipped += 1
            upload = self.pending.source  # the waiting frame is replaced: its slot is free
        else:
            upload = next(u for u in self._uploads if all(u is not layer.source for layer in
                                                          (self.prev, self.new, self.pending) if layer))
        h, w = frame.image.shape[:2]
        upload.upload(frame.image)
        layer = _Layer(upload.texture, Camera(), w / h, upload)
        if waits:
            self.pending = layer
        else:
            self._start_fade(layer)

    def _start_fade(self, layer: _Layer) -> None:
        self.prev = self.new
        self.new = layer
        self.fade_elapsed = 0.0
        self.frames_shown += 1

    def _mix(self) -> float:
        snap_values = self.state.current
        duration = float(snap_values["crossfade"])  # type: ignore[arg-type]
        progress = 1.0 if duration <= 0 else self.fade_elapsed / duration
        return crossfade_amount(str(snap_values["crossfade.curve"]), progress)

    def draw(self, target: moderngl.Framebuffer, snap: Snapshot) -> None:
        if not snap["freeze"]:
            rates = motion_rates(snap)
            for layer in (self.prev, self.new, self.pending):
                if layer:
                    layer.camera = layer.camera.advanced(rates, snap.dt)
            self.fade_elapsed += snap.dt
            if self.pending is not None and self._mix() >= 1.0:
                pending, self.pending = self.pending, None
                self._start_fade(pending)
        post = PostSettings(
            brightness=snap.f("brightness"),
            contrast=snap.f("contrast"),
            hue=snap.f("hue"),
            saturation=snap.f("saturation"),
            blackout=snap.f("blackout"),
            audio=self.audio_features,
            audio_amount=snap.f("audio.amount"),
        )
        hud = None
        if snap["hud"]:
            self.hud.set_text(self.hud_lines(snap), self.hud_errors(snap))
            hud = self.hud
        self.compositor.render(
            target,
            self.prev.view() if self.prev else None,
            self.new.view() if self.new else None,
            self._mix(),
            post,
            hud,
        )

    def frame(self, dt: float, target: moderngl.Framebuffer) -> Snapshot:
        if dt > 0:
            inst = 1.0 / dt
            self._display_fps = inst if self._display_fps == 0 else 0.9 * self._display_fps + 0.1 * inst
        snap = self.update(dt)
        self.draw(target, snap)
        return snap

    # -- HUD -----------------------------------------------------------------------------------

    def hud_lines(self, snap: Snapshot) -> list[str]:
        st = self.worker.status()
        weights = "  ".join(
            f"{i + 1}:{snap.f(f'prompt.{i + 1}.weight'):.2f}" for i in range(len(self.preset.prompts))
        )
        flags = " ".join(f for f, on in (("FROZEN", snap["freeze"]), ("BLACKOUT", snap.f("blackout") > 0.5)) if on)
        return [
            f"vj  display {self._display_fps:5.1f} fps{f' ({self.display_mode})' if self.display_mode else ''}   gen {st.fps:5.1f} fps ({gen_label(st)})  {flags}",
            f"preset {int(snap['preset'])}: {self.preset.name}   {self.preset.size[0]}x{self.preset.size[1]}",
            f"strength {snap.f('strength'):.2f}  feedback {snap.f('feedback'):.2f}  speed {snap.f('speed'):.2f}",
            f"zoom {snap.f('zoom'):+.2f}  pan {snap.f('pan.x'):+.2f},{snap.f('pan.y'):+.2f}  rotate {snap.f('rotate'):+.1f}",
            f"seed {int(snap['seed'])}  walk {snap.f('seed.walk'):.2f} (+{snap.f('seed.rate'):.2f}/s)  "
            f"bpm {snap.f('bpm'):.1f} ({self.clock.state.source})  crossfade {snap.f('crossfade'):.2f}s {snap['crossfade.curve']}",
            f"prompts  {weights}",
        ] + self._midi_lines(snap)

    def _midi_lines(self, snap: Snapshot) -> list[str]:
        lines = []
        if self.midi is not None:
            st = self.midi.status()
            inputs, outputs = getattr(st, "inputs", ()), getattr(st, "outputs", ())
            lines.append(f"midi  in: {', '.join(inputs) or 'none'}  out: {', '.join(outputs) or 'none'}  "
                         f"msgs {getattr(st, 'messages', 0)}  ignored {getattr(st, 'ignored', 0)}")
        if self.osc is not None:
            st = self.osc.status()
            lines.append(f"osc  {getattr(st, 'host', '')}:{getattr(st, 'port', '')}  msgs {getattr(st, 'messages', 0)}  "
                         f"malformed {getattr(st, 'invalid', 0)}  refused {getattr(st, 'refused', 0)}  "
                         f"unmapped {self.engine.unmapped}")
        if self.audio is not None:
            st = self.audio_status.status() if self.audio_status is not None else None
            f = self.audio_features
            where = f"{getattr(st, 'device', '')} " if st is not None else ""
            if st is not None and not getattr(st, "connected", True):
                lines.append(f"audio  {where}not connected: {getattr(st, 'message', '')}")
            else:
                lines.append(f"audio  {where}level {f.get('level', 0.0):.2f} ({f.get('db', -100.0):.0f} dB)  "
                             f"bass {f.get('bass', 0.0):.2f} mid {f.get('mid', 0.0):.2f} high {f.get('high', 0.0):.2f}  "
                             f"beat {f.get('bpm', 0.0):.1f} bpm ({f.get('beat.confidence', 0.0):.0%})")
        lines += self._live_input_lines(snap)
        pickup = self.engine.pickup
        if pickup is not None:
            if self._pickup is None or self._pickup[0] is not pickup:
                self._pickup = (pickup, snap.time)
            if snap.time - self._pickup[1] < PICKUP_HINT:
                way = "up" if pickup.target > pickup.knob else "down"
                lines.append(f"pickup {pickup.param}: knob at {pickup.knob:.2f}, turn {way} to {pickup.target:.2f}")
        return lines

    def _live_input_lines(self, snap: Snapshot) -> list[str]:
        lines = []
        if self.camera is not None:
            st = self.camera.status()
            if getattr(st, "connected", False):
                size = getattr(st, "size", None)
                lines.append(f"camera  {getattr(st, 'source', '')}  {getattr(st, 'fps', 0.0):.1f} fps"
                             f"{f'  {size[0]}x{size[1]}' if size else ''}  mix {snap.f('camera.mix'):.2f}")
            else:
                lines.append(f"camera  {getattr(st, 'source', '')} not connected: {getattr(st, 'message', '')}")
        if self.processes is not None:
            lines.append("procs  " + "  ".join(process_label(c.status()) for c in self.processes.children()))
        if self.voice is not None:
            st = self.voice.status()
            held = "listening" if getattr(st, "listening", False) else "hold to talk"
            lines.append(f"voice  {getattr(st, 'mode', '')} ({held})  commands {getattr(st, 'commands', 0)}  "
                         f"ignored {getattr(st, 'ignored', 0)}  prompts {getattr(st, 'prompts', 0)}  "
                         f"last: {getattr(st, 'last', '') or '-'}")
        return lines

    def hud_errors(self, snap: Snapshot) -> list[str]:
        self._notices = [(t, m) for t, m in self._notices if t > snap.time]
        out = (self.learning.hud_lines() if self.learning else []) + list(self.errors.values())
        out += [m for _, m in self._notices]
        st = self.worker.status()
        if not self.lockstep:
            out += generator_lines(st)
        elif st.last_error:
            out.append(f"generator: {st.last_error}")
        return out

    def close(self) -> None:
        self.worker.stop()


def process_label(st: ChildStatus) -> str:
    """A child process for the HUD: `diffusion (tiny) ready`, `audio in waiting (restarts 2)`."""
    restarts = f" (restarts {st.starts - 1})" if st.starts > 1 else ""
    return f"{st.name} {st.state}{restarts}"


def gen_label(st: WorkerStatus) -> str:
    return f"{st.interim} while {st.backend} loads" if st.interim else st.backend


ERROR_SHOWN = 10.0  # seconds a generator fault stays in the HUD once the generator runs again


def generator_lines(st: WorkerStatus) -> list[str]:
    """What the HUD says about the generator: loading progress with its seconds, faults, restarts."""
    out = []
    now = time.monotonic()
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


def run_clock() -> Callable[[], float]:
    """Seconds since the previous call (the live loop's dt); the first call returns 0."""
    last = [time.perf_counter()]

    def tick() -> float:
        now = time.perf_counter()
        dt, last[0] = now - last[0], now
        return dt

    return tick
