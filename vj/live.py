"""`vj run`: the live window loop. Short on purpose: the show owns the frame."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vj.audio.analysis import AnalysisConfig, Analyzer
from vj.audio.feed import AudioRunner, AudioSlot, BlockSource, Tee
from vj.control.advertise import Advertisement
from vj.control.osc_out import OscOut, OscTarget
from vj.control.osc_server import OscError, OscServer
from vj.control.osc_space import address_space
from vj.control.oscquery import OscQuery
from vj.gen.process import ProcessOptions, interim_worker, process_workers
from vj.heap import ImportFreezer, freeze_start
from vj.proc.supervisor import supervisor
from vj.render.context import share_cores
from vj.render.pacing import FramePacer
from vj.rig.node import NodeWorkers
from vj.rig.outputs_cli import OutputOptions, reload_keeping_outputs, start_outputs, stop_outputs
from vj.run_stats import FrameTimes, GcPauses, write_stats
from vj.session import Loaded, load_session, watch_session
from vj.show import Show, ShowLinks, ShowOptions
from vj.surface.feed import SurfaceFeed
from vj.surface.site import Surface, SurfaceError
from vj.surface.space import surface_space
from vj.vocabulary import DeviceStatus, EventQueue, key_event
from vj.web.server import WebServer

if TYPE_CHECKING:
    from vj.audio.capture import AudioInput
    from vj.camera import CameraInput
    from vj.render.window import Window
    from vj.rig.record import AudioTrack
    from vj.voice.listener import VoiceListener

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveOptions:
    preset: str | None = None
    mapping: tuple[str, ...] = ()  # added to the default keyboard mapping
    learn_file: Path | None = None  # where MIDI learn writes (default: vj.paths.LEARN_FILE)
    osc_host: str = "127.0.0.1"  # beyond loopback only when asked: anyone on the network could play the show
    osc_port: int = 9000  # 0: no OSC
    osc_allow: tuple[str, ...] = ()  # sender IP addresses allowed (empty: any)
    osc_out: tuple[OscTarget, ...] = ()  # where vj's state goes
    osc_out_rate: float = 30.0  # times a second
    node: str | None = None  # a generator node's NDI source: its frames are the generator layer (vj.rig.node)
    node_osc: OscTarget | None = None  # where the node listens for parameters (it gets vj's OSC out)
    zeroconf: bool = True  # advertise OSCQuery and OSC on the network (mDNS)
    audio: bool = True  # live audio input and analysis
    audio_device: str | int | None = None  # None: the system's default input
    audio_channels: tuple[int, ...] = ()  # 1-based channels mixed to mono; (): all
    audio_gain: float = 0.0  # dB
    analysis: AnalysisConfig = AnalysisConfig()  # sample rate, bands, latency
    camera: str | None = None  # a webcam (index, /dev path, name) or a video file: the img2img source
    camera_fps: float | None = None  # the most camera frames a second (None: the source's own rate)
    voice: str | None = None  # "push" (push-to-talk) or "always"; None: no voice (needs audio)
    whisper: str | None = "tiny.en"  # the dictation model for spoken prompts; None: commands only
    voice_hangover: float = 0.3  # seconds of silence that end an utterance (always listening)
    fullscreen: bool = False
    monitor: int | str | None = None
    size: tuple[int, int] = (1280, 720)
    vsync: bool = True
    max_fps: float = 0.0  # the most display frames a second (0: the monitor's refresh rate where vsync does not hold)
    gen_threads: int = 0  # compute threads for the generator process (0: every core but one)
    compile: str | None = None  # diffusion compile mode over the presets' (vj.catalogue.COMPILE_MODES)
    hud: bool = False
    seconds: float = 0.0  # 0: until the window closes
    outputs: OutputOptions = OutputOptions()  # video outputs: NDI, virtual camera, Syphon, Spout, recording
    link: bool = False  # join an Ableton Link session: tempo, phase and start/stop shared (vj.rig.link)
    midi_clock_out: tuple[str, ...] = ()  # MIDI output ports (name patterns) that get vj's beat clock
    stats: Path | None = None  # where the show's figures go as JSON when it stops (vj.run_stats)
    surface: bool = False  # the control surface: a web page that plays every parameter (vj.surface)
    surface_host: str = "127.0.0.1"  # beyond loopback only when asked, and then with a pairing token
    surface_port: int = 8080


def start_audio(options: LiveOptions, events: EventQueue, voice: VoiceListener | None = None,
                track: AudioTrack | None = None) -> tuple[AudioInput, AudioRunner, AudioSlot]:
    """The audio input (it keeps trying a device that is missing: the show goes on) and the
    analysis thread feeding the show's slot (and the voice thread, and a recording's `track`).
    Connection changes go to the HUD and the log."""
    from vj.audio.capture import AudioInput, InputConfig

    def on_status(status: object) -> None:
        events.put(DeviceStatus(str(getattr(status, "device", "audio")), bool(getattr(status, "connected", False)),
                                str(getattr(status, "message", "")), role="audio in"))

    config = InputConfig(options.audio_device, options.audio_channels, options.analysis.sample_rate,
                         options.audio_gain)
    audio_input = AudioInput(config, on_status).start()
    slot = AudioSlot()
    source: BlockSource = Tee(audio_input, voice.feed) if voice is not None else audio_input
    source = track.tap(source) if track is not None else source
    runner = AudioRunner(source, Analyzer(options.analysis), slot).start()
    return audio_input, runner, slot


def audio_report(audio_input: AudioInput | None, runner: AudioRunner | None) -> dict[str, object] | None:
    """The audio's figures for `--stats`, and a warning in the log when audio was lost on the way
    (a beat tracker that fell behind misses beats: the performer should hear of it)."""
    if audio_input is None or runner is None:
        return None
    status = audio_input.status()
    if status.dropped or status.overflows:
        log.warning("audio input: of %d blocks, %d were dropped because the analysis fell behind; the audio "
                    "system reported %d overflows (xruns)", status.blocks, status.dropped, status.overflows)
    return {"input": asdict(status), "analysis": runner.figures()}


def start_camera(options: LiveOptions, events: EventQueue) -> tuple[CameraInput | None, str | None]:
    """The camera, or why there is none (the feedback loop goes on without it)."""
    from vj.camera import CameraConfig, CameraError, open_camera

    assert options.camera is not None

    def on_status(status: object) -> None:
        source = str(getattr(status, "source", "camera"))
        events.put(DeviceStatus(source, bool(getattr(status, "connected", False)),
                                f"{source}: {getattr(status, 'message', '')}", role="camera in"))

    try:
        return open_camera(CameraConfig(options.camera, fps=options.camera_fps), on_status), None
    except (CameraError, ValueError, TypeError) as exc:
        message = f"camera: {exc} (the dream goes on without it)"
        log.warning(message)
        return None, message


def start_voice(options: LiveOptions, events: EventQueue) -> VoiceListener:
    from vj.voice.listener import VoiceConfig, VoiceListener

    config = VoiceConfig(mode=options.voice or "push", whisper=options.whisper,  # type: ignore[arg-type]
                         rate=options.analysis.sample_rate, hangover=options.voice_hangover)
    return VoiceListener(config, events).start()


def start_osc(options: LiveOptions, events: EventQueue, web: WebServer | None = None,
              ) -> tuple[OscServer | None, OscQuery | None, Advertisement | None, str | None]:
    """OSC in, its OSCQuery tree (on `web`, vj's web server) and its mDNS advertisement, and why
    not where one failed (the show goes on without OSC, or without discovery, and says so)."""
    osc, query, advert = None, None, None
    if not options.osc_port:
        return osc, query, advert, None
    try:
        osc = OscServer(events, options.osc_host, options.osc_port, options.osc_allow).start()
        query = OscQuery(address_space(), options.osc_host, osc.port, server=web).start()
        if web is not None:
            web.start()  # (once it has a site; by whichever part comes first)
        if options.zeroconf:
            advert = Advertisement("vj", options.osc_host, osc.port).start()
    except (OscError, OSError) as exc:
        log.warning("%s", exc)
        return osc, query, advert, str(exc)
    return osc, query, advert, None


def start_surface(options: LiveOptions, events: EventQueue, web: WebServer) -> tuple[Surface | None, str | None]:
    """The control surface on vj's web server, or why not (the show goes on without it)."""
    try:
        surface = Surface(web, events, options.surface_host, options.surface_port)
        web.start()
    except SurfaceError as exc:
        log.warning("%s", exc)
        return None, str(exc)
    print(f"vj: control surface at {surface.url}", flush=True)
    return surface, None


def run_clock() -> Callable[[], float]:
    """Seconds since the previous call (the live loop's dt); the first call returns 0."""
    last = [time.perf_counter()]

    def tick() -> float:
        now = time.perf_counter()
        dt, last[0] = now - last[0], now
        return dt

    return tick


def play(show: Show, window: Window, pacer: FramePacer, seconds: float, frames: FrameTimes | None = None,
         surface: SurfaceFeed | None = None) -> bool:
    """Frames until the window closes, quit, or `seconds` pass (0: no limit); True when Ctrl-C
    stopped it (the same orderly stop as closing the window). Each frame's work (the pacing wait
    excluded) goes into `frames` when given."""
    tick = run_clock()
    started = time.perf_counter()
    failures: dict[str, int] = {}
    imports = ImportFreezer()
    try:
        while not window.should_close and not show.quit_requested:
            for key in window.poll():
                if not key.repeat:
                    show.events.put(key_event(key.key, key.pressed))
            dt = tick()
            began = time.monotonic()
            try:
                snap = show.frame(dt, window.framebuffer)
                if surface is not None:
                    surface.frame(snap, window.framebuffer)
            except Exception as exc:  # noqa: BLE001 - the render loop must survive anything
                what = f"{type(exc).__name__}: {exc}"
                failures[what] = failures.get(what, 0) + 1
                if failures[what] == 1:
                    log.exception("frame failed (the show goes on)")
            window.swap()
            if frames is not None:
                frames.add(began, time.monotonic())
            pacer.wait()
            imports.tick()
            show.display_mode = pacer.mode
            if seconds and time.perf_counter() - started >= seconds:
                break
    except KeyboardInterrupt:
        log.info("Ctrl-C: stopping")
        return True
    return False


def start_feed(surface: Surface, show: Show, window: Window) -> SurfaceFeed:
    """The render thread's side of the surface; with a pairing token, its URL as a QR code in the
    HUD. On software GL under X the preview may come from the X server's copy of the window."""
    from vj.render.readback import software_renderer
    from vj.surface.pairing import qr_modules

    if surface.token is not None:
        show.hud.set_qr(qr_modules(surface.url), f"control surface: {surface.url}")
    return SurfaceFeed(surface, show, window=window.x11_id() if software_renderer(show.ctx) else None)


def show_start_errors(show: Show, options: LiveOptions, loaded: Loaded, errors: dict[str, str | None]) -> None:
    """What went wrong while the show started, in its HUD: inputs that did not open, files with problems."""
    voice_alone = options.voice is not None and not options.audio
    errors["voice"] = "voice needs the audio input: drop --no-audio" if voice_alone else None
    for where, error in errors.items():
        if error:
            show.notices.errors[where] = error
    for problem in loaded.problems:
        show.notices.errors[problem.problems[0].file] = str(problem)
    for wrong in loaded.mapping.outputs.problems:  # logged when the file was read
        show.notices.errors[f"outputs {wrong.file}:{wrong.line}"] = f"{wrong} (the show goes on without it)"


def run_live(options: LiveOptions) -> int:
    from vj.render.window import Window, WindowConfig, WindowError

    voice_on = options.voice is not None and options.audio
    loaded = load_session(options.preset, options.mapping + (("voice",) if voice_on else ()))
    events = EventQueue()
    watcher = watch_session(loaded, events)  # at once: an edit made while the window opens counts too
    for mapping in loaded.mappings:  # the video outputs start with the show: an edited `outputs:` says so
        watcher.watch(Path(mapping.path), reload_keeping_outputs(mapping, events))
    share_cores(ProcessOptions(threads=options.gen_threads).compute_threads)
    try:
        window = Window(WindowConfig(options.size, options.fullscreen, options.monitor, options.vsync))
    except WindowError as exc:
        print(f"vj: {exc}", file=sys.stderr)
        return 1
    from vj.control.midi_ports import MidiPorts

    outputs = options.outputs.over(loaded.mapping.outputs)  # the flags over the mapping files' `outputs:`
    output_size = outputs.picture_size(window.framebuffer_size)
    video, track = start_outputs(outputs, output_size, options.analysis.sample_rate if options.audio else None)

    midi = MidiPorts(events, loaded.mapping.midi).start()  # also without MIDI bindings: learn mode listens
    web = WebServer()  # OSCQuery and the control surface: one server, one set of limits
    osc, query, advert, osc_error = start_osc(options, events, web)
    surface, surface_error = start_surface(options, events, web) if options.surface else (None, None)
    targets = options.osc_out + ((options.node_osc,) if options.node_osc else ())
    osc_out = OscOut(targets, options.osc_out_rate).start() if targets else None
    node = NodeWorkers(options.node, options.gen_threads) if options.node else None
    voice = start_voice(options, events) if voice_on else None
    audio_input, audio_runner, audio_slot = (start_audio(options, events, voice, track) if options.audio
                                             else (None, None, None))
    camera, camera_error = start_camera(options, events) if options.camera else (None, None)
    links = ShowLinks(midi=midi, osc=osc, osc_out=osc_out, oscquery=query, audio=audio_slot,
                      audio_status=audio_input, camera=camera, voice=voice, processes=supervisor(), video=video)
    show_options = ShowOptions(preset_index=loaded.index, hud=options.hud, learn_file=options.learn_file,
                               on_window_action=lambda name: window.toggle_fullscreen(),
                               worker_factory=node or process_workers(options.gen_threads, live=True,
                                                                      compile=options.compile),
                               interim_factory=lambda: interim_worker(options.gen_threads), output_size=output_size,
                               read_mode=outputs.read_back, gl_share=window.share,
                               window_pixels=window.pixels)
    spaces = ((address_space(),) if osc else ()) + ((surface_space(),) if surface else ())
    show = Show(window.ctx, loaded.presets, spaces + loaded.mappings, links=links, options=show_options, events=events)
    feed = start_feed(surface, show, window) if surface else None
    show_start_errors(show, options, loaded, {"osc": osc_error, "surface": surface_error, "camera": camera_error})
    from vj.rig.tempo import start_tempo

    tempo = start_tempo(show.clock, options.link, options.midi_clock_out, events)
    show.notices.errors.update(tempo.errors)
    watcher.start()
    log.info("vj is running: %s. Keys come from %s (H shows the HUD); presets and the mapping reload when saved",
             show.preset.name, ", ".join(m.path for m in loaded.mappings))
    freeze_start()  # what was made so far lives as long as the show (vj.heap)
    frames = FrameTimes() if options.stats else None
    pauses = GcPauses().start() if options.stats else None
    try:
        interrupted = play(show, window, FramePacer(options.max_fps, window.refresh_hz, options.vsync), options.seconds,
                           frames, feed)
    finally:
        write_stats(options.stats, frames, midi, osc, supervisor(), pauses,  # before the inputs stop: their last counts
                    audio_report(audio_input, audio_runner))
        if pauses is not None:
            pauses.stop()
        tempo.stop()
        show.close()
        if node is not None:
            node.stop()
        if video is not None:  # first: a recording takes the audio input's last blocks before it stops
            stop_outputs(video)
        midi.stop()
        for part in (feed, osc, query, surface, advert, osc_out, audio_runner, audio_input, voice, camera):
            if part is not None:  # in this order: the analysis thread stops before the input it reads
                part.stop()
        web.stop()
        watcher.stop()
        window.close()
    return 130 if interrupted else 0
