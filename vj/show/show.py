"""The show: one display frame at a time, the whole signal chain on the render thread.

Per frame: drain input events through the mapping, run modulators, take one parameter snapshot,
hand the generator the newest request, pick up its newest finished frame (never waiting for it),
advance motion, draw the passes. `Show` conducts; each part does one job: `Controls` (the
mappings), `PromptBook` (presets and prompts), `GeneratorFeed`, `Crossfader`, `Outputs`,
`PictureOutputs` (the picture for the video outputs),
`Notices`, the HUD text (`hud_text`) and the action table (`actions`). `vj run` drives it from a
window; `vj render` and the tests drive it headless with a simulated clock (and `lockstep`
generation, so renders are deterministic).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence

import moderngl

from vj.audio.analysis import AudioFrame
from vj.clock import AudioBeat, BeatClock
from vj.config.mapping import MappingConfig
from vj.config.midi import MidiDevice
from vj.config.preset import Preset
from vj.control.engine import MappingEngine
from vj.control.learn_mode import LEARN_DEVICE
from vj.gen.worker import GenFrame
from vj.params import ParamState, Snapshot
from vj.paths import LEARN_FILE
from vj.render.compositor import Compositor, PostSettings
from vj.render.hud import Hud
from vj.render.shaders import ShaderLibrary
from vj.show import hud_text
from vj.show.actions import ACTION_TABLE
from vj.show.controls import Controls
from vj.show.crossfade import Crossfader
from vj.show.generator import GeneratorFeed, motion_rates, request_from
from vj.show.hud_text import AudioReading, HudStatus
from vj.show.links import DEFAULT_OPTIONS, NO_LINKS, ShowLinks, ShowOptions
from vj.show.notices import Notices
from vj.show.outputs import Outputs, PictureOutputs
from vj.show.prompts import PromptBook
from vj.vocabulary import (
    ActionSink,
    ClockEvent,
    ClockState,
    ConfigChanged,
    ControlEvent,
    DeviceStatus,
    Event,
    EventQueue,
    Notice,
    SpokenPrompt,
)

log = logging.getLogger("vj.show")

FLASH_AMOUNT = 0.6  # brightness added by the flash action at its peak
FLASH_DECAY = 0.15  # seconds: the flash's time constant


class Show(ActionSink):
    def __init__(self, ctx: moderngl.Context, presets: Sequence[Preset],
                 mapping: MappingConfig | Sequence[MappingConfig], *, links: ShowLinks = NO_LINKS,
                 options: ShowOptions = DEFAULT_OPTIONS, events: EventQueue | None = None) -> None:
        self.ctx, self.links, self.options = ctx, links, options
        self.events = events or EventQueue()
        self.state = ParamState()
        self.clock = BeatClock()
        self.notices = Notices(lambda: self.state.time)
        self.prompts = PromptBook(presets, options.preset_index, self.state, self.notices)
        self.outputs = Outputs(links.midi, links.osc_out, links.oscquery)
        mappings = [mapping] if isinstance(mapping, MappingConfig) else list(mapping)
        learn_file = options.learn_file or LEARN_FILE
        self.controls = Controls(mappings, self.state, self, self.notices, learn_file, self._mapping_changed)
        self.crossfader = Crossfader(ctx, self.state)
        self.compositor = Compositor(ctx, options.shaders or ShaderLibrary())
        self.hud = Hud(ctx)
        self.picture = PictureOutputs(ctx, self.compositor, links.video, options.output_size,
                                      options.read_mode, options.gl_share, options.window_pixels)
        self.audio_features: Mapping[str, float] = {}  # the newest analysis (empty: no audio, silence)
        self.flash = 0.0  # the flash action's envelope, 1 at a flash
        self.dream_time = 0.0  # the generator's time: it stands still while frozen
        self.quit_requested = False
        self.display_mode = ""  # how the live loop is paced ("vsync", "capped 60"), for the HUD
        self._display_fps = 0.0
        self.state.set_base("hud", options.hud, jump=True)
        self._apply_preset(self.prompts.index, jump=True)
        self.generator = GeneratorFeed(self.preset, options.worker_factory, options.interim_factory,
                                       options.lockstep, options.stand_in)

    @property
    def preset(self) -> Preset:
        """The preset playing (with its prompts as rewritten live)."""
        return self.prompts.preset

    @property
    def engine(self) -> MappingEngine:
        return self.controls.engine

    @engine.setter
    def engine(self, engine: MappingEngine) -> None:  # a bench times its own engine
        self.controls.engine = engine

    def action(self, name: str, value: float | int | str | None) -> None:
        log.debug("action %s %s", name, value)
        handler = ACTION_TABLE.get(name)
        if handler is not None:
            handler(self, value)

    def accept_frame(self, frame: GenFrame) -> None:
        """A finished frame from outside the generator (a bench's still): into the crossfade."""
        self.crossfader.accept_frame(frame)

    def _apply_preset(self, index: int, jump: bool = False, old: Preset | None = None) -> None:
        old = old or self.preset
        self.prompts.play(index)
        preset = self.preset
        for name, value in preset.values(self.state.registry).items():
            self.state.set_base(name, value, jump=jump)
        self.state.set_base("preset", index, jump=True)
        if not jump and (old.generator, old.model) != (preset.generator, preset.model):
            self.generator.switch(preset)
        log.info("preset %d: %s", index, preset.name)

    def _mapping_changed(self, mapping: MappingConfig, learning: bool) -> None:
        """The mappings were compiled: the LEDs they light, the OSC addresses where only the
        latest value counts, the MIDI ports to open (every one while learning)."""
        self.outputs.set_mapping(mapping)
        if self.links.osc is not None:
            from vj.control.osc_space import latest_wins

            self.links.osc.set_latest_wins(latest_wins(mapping))
        if self.links.midi is not None:
            self.links.midi.set_devices(mapping.midi + ((MidiDevice(LEARN_DEVICE),) if learning else ()))

    # -- events ------------------------------------------------------------------------------

    def _handle(self, event: Event) -> None:
        if isinstance(event, ControlEvent):
            self.controls.handle(event)
        elif isinstance(event, ClockEvent):
            self.clock.handle(event)
        elif isinstance(event, DeviceStatus):
            self._device(event)
        elif isinstance(event, ConfigChanged):
            self._reload(event)
        elif isinstance(event, SpokenPrompt):
            self.prompts.dream_of(event.text)
        elif isinstance(event, Notice):
            self.notices.notice(event.message)

    def _device(self, event: DeviceStatus) -> None:
        if event.role == "midi" and not self.controls.mapping.midi:
            return  # no mapping uses MIDI: not a problem worth the HUD
        self.notices.device(event)
        if event.connected and event.role == "midi out":
            self.outputs.greet(event.device)

    def _reload(self, event: ConfigChanged) -> None:
        if event.config is None:
            self.notices.errors[event.path] = event.error or f"{event.path}: invalid"
            return
        self.notices.errors.pop(event.path, None)
        config = event.config
        if isinstance(config, MappingConfig):
            self.controls.reload(config)
            self.state.clear_modulations("lfo")
            self.state.clear_modulations("audio")
            self.notices.notice(f"reloaded mapping {event.path}")
        elif isinstance(config, Preset):
            for i, p in enumerate(self.prompts.presets):
                if p.path == config.path:
                    self.prompts.presets[i] = config
                    if i == self.prompts.index:
                        self._apply_preset(i, old=p)
            self.notices.notice(f"reloaded preset {config.name}")

    # -- the frame ---------------------------------------------------------------------------

    def update(self, dt: float) -> Snapshot:
        """Everything but drawing: events, modulators, snapshot, outputs, generator hand-over."""
        for event in self.events.drain():
            self._handle(event)
        self._listen()
        self.prompts.ramp()
        self._walk_seed(dt)
        clock = self._advance_clock(dt)
        snap = self._settle(dt, clock)
        self._report_problems()
        self.outputs.frame(self.state.time, self.state.base, clock, self.prompts.texts(), self.audio_features)
        if not snap["freeze"]:
            self.dream_time += dt  # the generator applies `speed` itself, without phase jumps
            self._exchange_frames(snap)
        return snap

    def _listen(self) -> None:
        """The newest audio analysis, and the push-to-talk keys for the voice thread."""
        frame = self.links.audio.take() if self.links.audio is not None else None
        if frame is not None:
            self._audio_frame(frame)
        if self.links.voice is not None:
            self.links.voice.hold(bool(self.state.base["voice.talk"]), bool(self.state.base["voice.dictate"]))

    def _audio_frame(self, frame: AudioFrame) -> None:
        """Features for modulators and shaders, its events (beats, hits) through the mapping, the
        beat tracker's reading for the clock."""
        self.audio_features = f = frame.features
        now = time.perf_counter()
        for name in frame.events:
            self.controls.trigger(("audio", name), now)
        if "bpm" in f:
            self.clock.audio(AudioBeat(f["bpm"], f.get("beat.confidence", 0.0), f.get("beat.time", 0.0)))

    def _walk_seed(self, dt: float) -> None:
        s = self.state
        if float(s.base["seed.rate"]):
            per_beat = float(s.current["bpm"]) / 60.0 if s.current["seed.sync"] else 1.0
            per_second = float(s.current["seed.rate"]) * per_beat
            s.set_base("seed.walk", float(s.base["seed.walk"]) + per_second * dt)

    def _advance_clock(self, dt: float) -> ClockState:
        s = self.state
        before = self.clock.state
        clock = self.clock.advance(dt, float(s.current["bpm"]), str(s.current["clock.source"]))
        if clock.source in ("midi", "audio", "link"):
            s.set_base("bpm", round(clock.bpm, 2), jump=True)  # one tempo everywhere: HUD, seed sync, OSC
        self.controls.beat_triggers(before, clock)
        return clock

    def _settle(self, dt: float, clock: ClockState) -> Snapshot:
        """Modulators and the flash, then the frame's snapshot (after a preset switch, if one was asked)."""
        s = self.state
        self.controls.engine.modulate(s, s.time + dt, clock, self.audio_features)
        self.flash *= math.exp(-dt / FLASH_DECAY) if dt > 0 else 1.0
        s.set_modulation("brightness", "flash", FLASH_AMOUNT * self.flash)
        snap = s.tick(dt)
        wanted = int(snap["preset"])
        if wanted != self.prompts.index and wanted < len(self.prompts.presets):
            self._apply_preset(wanted)
            snap = s.tick(0.0)
        return snap

    def _report_problems(self) -> None:
        s, engine = self.state, self.controls.engine
        for message in s.warnings + engine.problems:
            self.notices.notice(message)
        s.warnings.clear()
        engine.problems.clear()

    def _exchange_frames(self, snap: Snapshot) -> None:
        camera = self.links.camera
        image = camera.latest() if camera is not None and snap.f("camera.mix") > 0 else None
        request = request_from(snap, self.preset, self.dream_time, self.audio_features, image)
        frame = self.generator.exchange(request, snap.time, self.preset.max_fps)
        if frame is not None:
            self.crossfader.accept_frame(frame)

    def draw(self, target: moderngl.Framebuffer, snap: Snapshot) -> None:
        if not snap["freeze"]:
            self.crossfader.advance(motion_rates(snap), snap.dt)
        hud = None
        if snap["hud"]:
            status = self.hud_status(snap)
            self.hud.set_text(hud_text.hud_lines(status), hud_text.hud_errors(status))
            hud = self.hud
        prev, new = self.crossfader.views()
        self.picture.draw(target, prev, new, self.crossfader.mix(), post_settings(snap, self.audio_features), hud)

    def frame(self, dt: float, target: moderngl.Framebuffer) -> Snapshot:
        if dt > 0:
            inst = 1.0 / dt
            self._display_fps = inst if self._display_fps == 0 else 0.9 * self._display_fps + 0.1 * inst
        snap = self.update(dt)
        self.draw(target, snap)
        return snap

    # -- HUD -----------------------------------------------------------------------------------

    def hud_status(self, snap: Snapshot) -> HudStatus:
        """Every status the HUD shows, read now."""
        links, learning = self.links, self.controls.learning
        capture = links.audio_status.status() if links.audio_status is not None else None
        return HudStatus(
            snap, self.preset, self.generator.worker.status(), self.clock.leader,
            self._display_fps, self.display_mode,
            midi=links.midi.status() if links.midi is not None else None,
            osc=links.osc.status() if links.osc is not None else None,
            unmapped=self.controls.engine.unmapped,
            audio=AudioReading(self.audio_features, capture) if links.audio is not None else None,
            camera=links.camera.status() if links.camera is not None else None,
            processes=tuple(c.status() for c in links.processes.children()) if links.processes is not None else None,
            voice=links.voice.status() if links.voice is not None else None,
            outputs=self.picture.statuses(),
            pickup=self.controls.pickup_hint(snap.time),
            clock_override=self.clock.override_text,
            messages=tuple((learning.hud_lines() if learning else []) + self.notices.current(snap.time)),
            lockstep=self.generator.lockstep,
            now=time.monotonic(),
        )

    def hud_lines(self, snap: Snapshot) -> list[str]:
        return hud_text.hud_lines(self.hud_status(snap))

    def hud_errors(self, snap: Snapshot) -> list[str]:
        return hud_text.hud_errors(self.hud_status(snap))

    def close(self) -> None:
        self.generator.close()
        self.picture.close()


def post_settings(snap: Snapshot, audio: Mapping[str, float]) -> PostSettings:
    """The colour controls of a frame's snapshot, with the live audio for the shaders."""
    return PostSettings(
        brightness=snap.f("brightness"),
        contrast=snap.f("contrast"),
        hue=snap.f("hue"),
        saturation=snap.f("saturation"),
        blackout=snap.f("blackout"),
        audio=audio,
        audio_amount=snap.f("audio.amount"),
    )
