"""The `vj` command: run, render, check, params, osc, devices, learn, bench."""

from __future__ import annotations

import argparse
import faulthandler
import logging
import re
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vj.config.source import ConfigError
from vj.paths import LEARN_FILE, MAPPING_DIR

if TYPE_CHECKING:
    from vj.audio.analysis import AnalysisConfig

log = logging.getLogger("vj")


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)[xX](\d+)", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x720, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def _osc_target(text: str) -> object:
    from vj.control.osc_out import OscTarget

    try:
        return OscTarget.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _compile_argument(parser: argparse.ArgumentParser) -> None:
    from vj.catalogue import COMPILE_MODES

    parser.add_argument("--compile", choices=COMPILE_MODES, default=None, metavar="MODE",
                        help="how diffusion frames run, over the preset's compile: (" + ", ".join(COMPILE_MODES)
                        + "; auto: CUDA graphs on an NVIDIA GPU, else eager)")


def _monitor(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _numbers(kind: type, count: int | None = None) -> Callable[[str], tuple]:
    """A comma-separated list of numbers (`1,2`, `150,2000`), checked for how many."""

    def parse(text: str) -> tuple:
        try:
            values = tuple(kind(part) for part in text.split(",") if part.strip())
        except ValueError:
            values = ()
        if not values or (count is not None and len(values) != count):
            what = f"{count} " if count else ""
            raise argparse.ArgumentTypeError(f"expected {what}comma-separated {kind.__name__}s, got {text!r}")
        return values

    return parse


def _analysis(args: argparse.Namespace) -> AnalysisConfig:
    """The audio analysis settings shared by `vj run` and `vj render --audio`."""
    from vj.audio.analysis import AnalysisConfig

    low, high = args.audio_bands
    return AnalysisConfig(sample_rate=getattr(args, "audio_rate", 48000), bass=(20.0, low), mid=(low, high),
                          high=(high, min(16000.0, getattr(args, "audio_rate", 48000) / 2)),
                          latency=args.audio_latency / 1000.0, tracker=args.beat_tracker)


def _add_analysis_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--audio-bands", type=_numbers(float, 2), default=(150.0, 2000.0), metavar="LOW,HIGH",
                        help="band edges in Hz: bass below LOW, mid up to HIGH, high above (default 150,2000)")
    parser.add_argument("--audio-latency", type=float, default=0.0, metavar="MS",
                        help="beats are predicted this much earlier, to make up for the output's delay (0..200 ms)")
    parser.add_argument("--beat-tracker", choices=("vj", "madmom"), default="vj",
                        help="vj (default: predicted beats, light) or madmom (learned, detected beats, about 8%% more "
                             "of a core; non-commercial models; pip install 'vj[beats]')")


def _check_target(name: str) -> Path:
    """A file as given, else a shipped preset's or mapping's name (`neon-tunnel`, `apc40-mk2`)."""
    from vj.config.library import resolve
    from vj.paths import PRESET_DIR

    if Path(name).exists():
        return Path(name)
    for folder in (PRESET_DIR, MAPPING_DIR):
        try:
            return resolve(name, folder)
        except FileNotFoundError:
            pass
    return Path(name)  # check_file says it is missing


def cmd_check(args: argparse.Namespace) -> int:
    from vj.config.library import check_file

    failed = 0
    for name in args.files:
        path = _check_target(name)
        try:
            config = check_file(path)
        except ConfigError as exc:
            failed += 1
            print(exc, file=sys.stderr)
            continue
        problems = getattr(getattr(config, "outputs", None), "problems", ())
        if problems:  # (logged above as they were read) a show runs without those outputs: not ok
            failed += 1
            print(f"{path}: {len(problems)} wrong output setting(s); vj run starts without them", file=sys.stderr)
            continue
        print(f"ok: {path} ({type(config).__name__})")
    return 1 if failed else 0


def print_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], markdown: bool) -> None:
    """Rows as a Markdown table (docs) or aligned columns, the last one free (a terminal)."""
    if markdown:
        print("| " + " | ".join(header) + " |\n" + "|---" * len(header) + "|")
        for row in rows:
            print("| " + " | ".join(f"`{c}`" if i == 0 else c.replace("|", "\\|") for i, c in enumerate(row)) + " |")
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    for row in rows:
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(row[:-1])) + "  " + row[-1])


def cmd_params(args: argparse.Namespace) -> int:
    from vj.params import REGISTRY

    rows = [(s.name, s.kind, s.range_text(), str(s.default), s.unit, s.description) for s in REGISTRY]
    print_table(("name", "type", "range", "default", "unit", "description"), rows, args.markdown)
    return 0


def cmd_osc(args: argparse.Namespace) -> int:
    from vj.control.osc_space import address_rows

    print_table(("address", "arguments", "range", "does"), address_rows(), args.markdown)
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    from vj.render.window import WindowError, list_monitors

    try:
        monitors = list_monitors()
    except WindowError as exc:
        print(f"monitors: none ({exc})")
    else:
        print("monitors:")
        for m in monitors:
            print(f"  {m.index}: {m.name}  {m.width}x{m.height} @ {m.refresh_hz} Hz")
    from vj.control.midi_ports import MidiUnavailable, api_name, list_ports, midi_api

    try:
        api = midi_api()
        inputs, outputs = list_ports(api)
    except MidiUnavailable as exc:
        print(f"MIDI: unavailable ({exc})")
    else:
        print(f"MIDI inputs ({api_name(api)}):")
        for name in inputs or ["(none)"]:
            print(f"  {name}")
        print("MIDI outputs:")
        for name in outputs or ["(none)"]:
            print(f"  {name}")
    from vj.audio.capture import AudioInputError, inventory

    try:
        audio = inventory()
    except AudioInputError as exc:
        print(f"audio inputs: none ({exc})")
    else:
        if not audio.inputs:
            print(f"audio inputs: {audio.describe()}")
        else:
            print("audio inputs:")
            for d in audio.inputs:
                default = "  (default)" if d.index == audio.default else ""
                print(f"  {d.index}: {d.name}  {d.host_api}, {d.channels} channels, {d.default_rate:g} Hz{default}")
    from vj.camera import list_cameras

    cameras = list_cameras()
    print("cameras:" if cameras else "cameras: none found (vj run --camera also takes a video file)")
    for line in cameras:
        print(f"  {line}")
    from vj.rig.ndi import list_sources
    from vj.rig.sink import OutputUnavailable

    discovery_s = 1.5  # how long to look for NDI sources
    try:
        sources = list_sources(discovery_s)
    except OutputUnavailable as exc:
        print(f"NDI sources: unavailable ({exc})")
    else:
        print("NDI sources (vj run --camera ndi:NAME):" if sources else f"NDI sources: none seen in {discovery_s:g} s")
        for name in sources:
            print(f"  {name}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from vj.live import LiveOptions, run_live

    try:
        analysis = _analysis(args)
    except ValueError as exc:
        print(f"vj run: audio settings: {exc}", file=sys.stderr)
        return 2
    if args.voice is not None:
        from vj.voice.listener import VoiceConfig

        try:
            VoiceConfig(mode=args.voice, hangover=args.voice_hangover)
        except ValueError as exc:
            print(f"vj run: voice settings: {exc}", file=sys.stderr)
            return 2
    from vj.rig.outputs_cli import output_options

    try:
        outputs = output_options(args)
    except ValueError as exc:
        print(f"vj run: video outputs: {exc}", file=sys.stderr)
        return 2
    options = LiveOptions(
        preset=args.preset,
        mapping=tuple(args.mapping or ()),
        learn_file=args.learn_file,
        osc_host=args.osc_host,
        osc_port=args.osc_port,
        osc_allow=tuple(a.strip() for a in (args.osc_allow or "").split(",") if a.strip()),
        osc_out=tuple(args.osc_out or ()),
        node=args.node,
        node_osc=args.node_osc,
        osc_out_rate=args.osc_out_rate,
        zeroconf=not args.no_zeroconf,
        audio=not args.no_audio,
        audio_device=args.audio,
        audio_channels=args.audio_channels or (),
        audio_gain=args.audio_gain,
        analysis=analysis,
        camera=args.camera,
        camera_fps=args.camera_fps,
        voice=args.voice,
        whisper=None if args.whisper.lower() == "none" else args.whisper,
        voice_hangover=args.voice_hangover,
        fullscreen=args.fullscreen,
        monitor=args.monitor,
        size=args.size,
        vsync=not args.no_vsync,
        max_fps=args.max_fps,
        gen_threads=args.gen_threads,
        compile=args.compile,
        hud=args.hud,
        seconds=args.seconds,
        outputs=outputs,
        link=args.link,
        midi_clock_out=tuple(args.midi_clock_out or ()),
        stats=args.stats,
        surface=args.surface,
        surface_host=args.surface_host,
        surface_port=args.surface_port,
    )
    return run_live(options)


def cmd_render(args: argparse.Namespace) -> int:
    from vj.offline import RenderOptions, render_video

    try:
        analysis = _analysis(args)
    except ValueError as exc:
        print(f"vj render: audio settings: {exc}", file=sys.stderr)
        return 2
    options = RenderOptions(
        preset=args.preset,
        mapping=tuple(args.mapping or ()),
        seconds=args.seconds if args.seconds is not None or args.audio else 10.0,
        fps=args.fps,
        out=Path(args.out),
        size=args.size,
        hud=args.hud,
        audio=Path(args.audio) if args.audio else None,
        analysis=analysis,
        compile=args.compile,
    )
    return render_video(options)


def cmd_models(args: argparse.Namespace) -> int:
    from vj.model_cli import cmd_models_download, cmd_models_list

    return cmd_models_list() if args.action == "list" else cmd_models_download(args.name)


def cmd_bench_render(args: argparse.Namespace) -> int:
    from vj.bench.render import run_render_bench

    return run_render_bench(as_json=args.json, seconds=args.seconds)


def cmd_bench_midi(args: argparse.Namespace) -> int:
    from vj.bench.midi import run_midi_bench

    return run_midi_bench(as_json=args.json, messages=args.messages, rate=args.rate)


def cmd_bench_osc(args: argparse.Namespace) -> int:
    from vj.bench.osc import run_osc_bench

    return run_osc_bench(as_json=args.json, messages=args.messages, rate=args.rate, seconds=args.seconds)


def cmd_bench_audio(args: argparse.Namespace) -> int:
    from vj.bench.audio import run_audio_bench

    return run_audio_bench(as_json=args.json, data=args.data, grooves=args.grooves)


def cmd_bench_fuzz(args: argparse.Namespace) -> int:
    from vj.bench.fuzz import TARGETS, run_fuzz_bench

    targets = tuple(t.strip() for t in args.target.split(",") if t.strip()) if args.target else TARGETS
    return run_fuzz_bench(targets, args.count, args.seed, as_json=args.json)


def cmd_bench_voice(args: argparse.Namespace) -> int:
    from vj.bench.voice import run_voice_bench

    return run_voice_bench(as_json=args.json, quick=args.quick)


def cmd_learn(args: argparse.Namespace) -> int:
    from vj.control.learn_cli import run_learn

    return run_learn(args.target, mapping=args.mapping, port=args.port, timeout=args.timeout, value=args.value)


def cmd_bench_live(args: argparse.Namespace) -> int:
    from vj.bench.live import run_live_bench

    return run_live_bench(as_json=args.json, seconds=args.seconds, size=args.size, steps=args.steps,
                          threads=args.gen_threads, thread_case=not args.no_thread)


def cmd_bench_rig(args: argparse.Namespace) -> int:
    from vj.bench.rig import run_rig_bench

    only = tuple(name.strip() for name in args.only.split(",") if name.strip())
    try:
        return run_rig_bench(only, args.quick, args.json)
    except ValueError as exc:
        print(f"vj bench rig: {exc}", file=sys.stderr)
        return 2


def cmd_bench_surface(args: argparse.Namespace) -> int:
    from vj.bench.surface import run_surface_bench

    return run_surface_bench(as_json=args.json, quick=args.quick)


def cmd_bench_soak(args: argparse.Namespace) -> int:
    from vj.bench.soak import SoakOptions, run_soak_bench

    options = SoakOptions(minutes=args.minutes, preset=args.preset, size=args.size, voice=not args.no_voice,
                          jack_realtime=not args.jack_no_realtime, log=args.log)
    try:
        return run_soak_bench(options, args.json)
    except RuntimeError as exc:
        print(f"vj bench soak: {exc}", file=sys.stderr)
        return 1


def cmd_bench_gen(args: argparse.Namespace) -> int:
    from vj.bench.gen import GenBenchOptions, run_gen_bench

    options = GenBenchOptions(
        model=args.model, arch=args.arch, random_weights=args.random_weights, size=args.size, steps=args.steps,
        strength=args.strength, frames=args.frames, device=args.device, dtype=args.dtype, vae=args.vae,
        compile=args.compile, feedback=args.feedback, fuse_qkv=args.fuse_qkv, channels_last=not args.no_channels_last,
    )
    return run_gen_bench(options, as_json=args.json)


class _Version(argparse.Action):
    """--version: the installed version, read only when asked (importlib.metadata costs 25 ms a start)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print vj's version and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        import vj

        print(f"vj {vj.__version__}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vj", description="vj: a live-performance VJ instrument")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_run, _add_render, _add_serve, _add_learn, _add_check_and_lists, _add_models, _add_bench):
        add(sub)
    return parser


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """vj run: the live window."""
    run = sub.add_parser("run", help="open the live window")
    run.add_argument("--preset", help="preset name (in presets/) or path; default: the first")
    run.add_argument("--mapping", action="append", metavar="NAME",
                     help="a controller mapping (in mappings/, e.g. apc40-mk2) or path, on top of the default "
                          "keyboard mapping; repeat for several controllers")
    run.add_argument("--learn-file", type=Path, default=LEARN_FILE,
                     help=f"where MIDI learn (F2) writes bindings (default: {LEARN_FILE})")
    _add_run_inputs(run)
    run.add_argument("--fullscreen", action="store_true")
    run.add_argument("--monitor", type=_monitor, help="monitor index or (part of its) name; see vj devices")
    run.add_argument("--size", type=_size, default=(1280, 720), help="window size, WxH (default 1280x720)")
    run.add_argument("--no-vsync", action="store_true",
                     help="do not wait for the monitor (the loop is then capped at its refresh rate or --max-fps)")
    run.add_argument("--max-fps", type=float, default=0.0, metavar="N",
                     help="the most display frames a second (default: the monitor's refresh rate where vsync "
                          "does not hold the loop)")
    run.add_argument("--gen-threads", type=int, default=0, metavar="N",
                     help="compute threads for the generator process (default: every core but one)")
    _compile_argument(run)
    run.add_argument("--hud", action="store_true", help="start with the HUD shown")
    run.add_argument("--seconds", type=float, default=0.0, help="quit after this many seconds (0: run until closed)")
    run.add_argument("--stats", type=Path, metavar="FILE",
                     help="when the show stops, write its figures to FILE as JSON: every display frame's time, "
                          "MIDI and OSC counts, the child processes (vj bench soak reads them)")
    run.add_argument("--link", action="store_true",
                     help="join an Ableton Link session: tempo, bar phase and start/stop shared with the peers "
                          "(clock.source auto follows it while it has peers); needs the rig extra")
    run.add_argument("--midi-clock-out", action="append", metavar="PORT",
                     help="send the beat clock as MIDI clock (24 ppqn, start, stop, continue, song position) to "
                          "the output ports matching PORT (part of the name, or a glob); repeatable")
    from vj.rig.outputs_cli import add_output_arguments

    add_output_arguments(run, _size)
    run.set_defaults(func=cmd_run)


def _add_run_inputs(run: argparse.ArgumentParser) -> None:
    """vj run's inputs: OSC, audio, camera and voice."""
    run.add_argument("--osc-port", type=int, default=9000, help="OSC over UDP on this port (default 9000; 0: off)")
    run.add_argument("--osc-host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1, this machine only; 0.0.0.0: every network, "
                          "so anyone on it can play the show: combine with --osc-allow)")
    run.add_argument("--osc-allow", metavar="IP,IP", help="accept OSC only from these sender addresses")
    run.add_argument("--osc-out", action="append", type=_osc_target, metavar="HOST:PORT",
                     help="send parameter values, bpm, beat and phase here (repeat for several targets)")
    run.add_argument("--osc-out-rate", type=float, default=30.0, help="OSC out updates per second (default 30)")
    run.add_argument("--node", metavar="NAME",
                     help="play a generator node's frames (its NDI source, from vj serve on another machine) as the "
                          "generator layer; the local procedural dream stands in while it is away")
    run.add_argument("--node-osc", type=_osc_target, metavar="HOST:PORT",
                     help="the node's OSC address: parameter changes go there (vj serve listens on port 9000)")
    run.add_argument("--surface", action="store_true",
                     help="serve the control surface: every parameter, prompt, preset and action on a web page, with "
                          "the tempo, the audio levels and a small preview (docs/surface.md)")
    run.add_argument("--surface-host", default="127.0.0.1",
                     help="address the surface listens on (default 127.0.0.1, this machine only; 0.0.0.0: every "
                          "network, and then a pairing token is required: vj prints the URL and the HUD shows its QR)")
    run.add_argument("--surface-port", type=int, default=8080, help="the surface's TCP port (default 8080)")
    run.add_argument("--no-zeroconf", action="store_true",
                     help="do not advertise OSCQuery/OSC on the network (mDNS); clients then connect by address")
    run.add_argument("--audio", metavar="DEVICE", type=_monitor,
                     help="audio input: index or (part of its) name, see vj devices (default: the system's)")
    run.add_argument("--no-audio", action="store_true", help="no audio input: audio features stay silent")
    run.add_argument("--audio-channels", type=_numbers(int), metavar="N,N",
                     help="input channels to mix to mono, from 1 (default: all of the device's)")
    run.add_argument("--audio-rate", type=int, default=48000, help="sample rate in Hz (default 48000)")
    run.add_argument("--audio-gain", type=float, default=0.0, metavar="DB", help="input gain in dB (default 0)")
    _add_analysis_args(run)
    run.add_argument("--camera", metavar="SOURCE",
                     help="dream over a live camera: a webcam index, /dev/video path or name (see vj devices), "
                          "or a video file (loops); the camera.mix parameter sets how much")
    run.add_argument("--camera-fps", type=float, metavar="FPS",
                     help="the most camera frames a second (default: its own)")
    run.add_argument("--voice", nargs="?", const="push", choices=("push", "always"),
                     help="voice commands from the audio input: push (hold M to talk, P to dictate; the default) "
                          "or always listening; loads mappings/voice.yaml")
    run.add_argument("--voice-hangover", type=float, default=0.3, metavar="S",
                     help="always listening: seconds of silence that end an utterance (default 0.3; shorter acts "
                          "sooner but may split a command at a pause)")
    run.add_argument("--whisper", default="tiny.en", metavar="MODEL",
                     help="Whisper model for spoken prompts: tiny.en (default), base.en, small.en, a hub id, "
                          "a folder, or none")


def _add_render(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """vj render: a video, headless."""
    render = sub.add_parser("render", help="render a video headless (deterministic for a fixed seed)")
    render.add_argument("--preset", help="preset name or path; default: the first")
    render.add_argument("--mapping", action="append", metavar="NAME",
                        help="a mapping name or path on top of the default (their LFOs apply); repeatable")
    render.add_argument("--seconds", type=float, help="length (default: the --audio file's, else 10)")
    render.add_argument("--audio", metavar="FILE", help="a sound file the video reacts to, muxed into the mp4")
    _add_analysis_args(render)
    render.add_argument("--fps", type=int, default=30)
    render.add_argument("--size", type=_size, default=(1280, 720), help="video size, WxH (default 1280x720)")
    _compile_argument(render)
    render.add_argument("--hud", action="store_true", help="burn the HUD into the video")
    render.add_argument("--out", required=True, help="output .mp4 file")
    render.set_defaults(func=cmd_render)


def _add_serve(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """vj serve: a generator node for `vj run --node` on another machine."""
    serve = sub.add_parser("serve", help="a generator node: dream headless, take parameters over OSC, send frames "
                                         "as NDI (for vj run --node on another machine)")
    serve.add_argument("--ndi-name", default="vj node", metavar="NAME",
                       help="the NDI source the frames go out as (default 'vj node')")
    serve.add_argument("--preset", help="preset name or path; default: the first")
    serve.add_argument("--mapping", action="append", metavar="NAME", help="a mapping on top of the default; repeatable")
    serve.add_argument("--osc-host", default="0.0.0.0", help="address OSC listens on (default 0.0.0.0: played from "
                                                             "another machine)")
    serve.add_argument("--osc-port", type=int, default=9000, help="OSC port (default 9000)")
    serve.add_argument("--osc-allow", metavar="IP,IP", help="accept OSC only from these sender addresses")
    serve.add_argument("--gen-threads", type=int, default=0, metavar="N", help="the generator's compute threads")
    _compile_argument(serve)
    serve.add_argument("--seconds", type=float, default=0.0, help="stop after this many seconds (0: when stopped)")
    serve.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from vj.serve import ServeOptions, run_serve

    allow = tuple(a.strip() for a in (args.osc_allow or "").split(",") if a.strip())
    return run_serve(ServeOptions(ndi_name=args.ndi_name, preset=args.preset, mapping=tuple(args.mapping or ()),
                                  osc_host=args.osc_host, osc_port=args.osc_port, osc_allow=allow,
                                  gen_threads=args.gen_threads, compile=args.compile, seconds=args.seconds))


def _add_learn(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """vj learn: MIDI learn from the command line."""
    learn = sub.add_parser("learn", help="MIDI learn: move a control and it is bound to a parameter or action")
    learn.add_argument("target", help="a parameter (vj params) or an action (freeze, preset.next, ...)")
    learn.add_argument("--mapping", default=str(LEARN_FILE),
                       help="the mapping file to write (created if missing; comments and order are kept; "
                            f"default: {LEARN_FILE}, which --mapping my-controller finds)")
    learn.add_argument("--port", default="", help="only listen to input ports whose name contains this")
    learn.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a control to move")
    learn.add_argument("--value", type=float, help="the action's value (preset.select, prompt.select)")
    learn.set_defaults(func=cmd_learn)


def _add_check_and_lists(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """vj check, and the listings: params, osc, devices."""
    check = sub.add_parser("check", help="validate preset and mapping files")
    check.add_argument("files", nargs="+", metavar="FILE",
                       help="a preset or mapping file, or the name of a shipped one (neon-tunnel, apc40-mk2)")
    check.set_defaults(func=cmd_check)

    params = sub.add_parser("params", help="list every parameter with its range and description")
    params.add_argument("--markdown", action="store_true", help="print a Markdown table")
    params.set_defaults(func=cmd_params)
    osc = sub.add_parser("osc", help="list every OSC address vj listens to, with its arguments")
    osc.add_argument("--markdown", action="store_true", help="print a Markdown table")
    osc.set_defaults(func=cmd_osc)

    devices = sub.add_parser("devices", help="list monitors and MIDI ports")
    devices.set_defaults(func=cmd_devices)


def _add_models(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """vj models: list and download diffusion and Whisper models."""
    models = sub.add_parser("models", help="diffusion and Whisper models: what is known and cached, and downloading")
    model_actions = models.add_subparsers(dest="action", required=True)
    model_actions.add_parser("list", help="catalogue names, sources and whether they are cached")
    download = model_actions.add_parser("download", help="fetch a model (and its TAESD) into the local cache")
    download.add_argument("name", help="a catalogue name (vj models list) or a hub id")
    models.set_defaults(func=cmd_models)


def _add_bench(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """vj bench: each benchmark against its baseline."""
    bench = sub.add_parser("bench", help="benchmarks, each against its baseline in the same run")
    benches = bench.add_subparsers(dest="what", required=True)
    render_bench = benches.add_parser("render", help="display frame times: no generator vs a 200 ms generator")
    render_bench.add_argument("--json", action="store_true", help="print one JSON object")
    render_bench.add_argument("--seconds", type=float, default=15.0, help="measuring time per case and size")
    render_bench.set_defaults(func=cmd_bench_render)
    midi_bench = benches.add_parser("midi", help="MIDI event-to-parameter latency and throughput over JACK/ALSA")
    midi_bench.add_argument("--json", action="store_true", help="print one JSON object")
    midi_bench.add_argument("--messages", type=int, default=20_000, help="messages in the throughput run")
    midi_bench.add_argument("--rate", type=float, default=10_000.0, help="messages per second sent")
    midi_bench.set_defaults(func=cmd_bench_midi)
    osc_bench = benches.add_parser("osc", help="OSC over UDP: a burst (none lost?), latency, a flood while rendering")
    osc_bench.add_argument("--json", action="store_true", help="print one JSON object")
    osc_bench.add_argument("--messages", type=int, default=10_000, help="messages in the burst")
    osc_bench.add_argument("--rate", type=float, default=20_000.0, help="messages per second in the flood")
    osc_bench.add_argument("--seconds", type=float, default=2.0, help="length of each render round")
    osc_bench.set_defaults(func=cmd_bench_osc)
    fuzz_bench = benches.add_parser("fuzz", help="hostile input to every parser at the edge: YAML, OSC, MIDI, "
                                    "audio, camera files; nothing may raise")
    fuzz_bench.add_argument("--json", action="store_true", help="print one JSON object")
    fuzz_bench.add_argument("--target", default="", metavar="T,T",
                            help="some of yaml, osc, osc-server, http, midi, audio, camera (default: all)")
    fuzz_bench.add_argument("--count", type=int, default=None, metavar="N",
                            help="cases per target (default: each target's own, 1,000,000 OSC datagrams)")
    fuzz_bench.add_argument("--seed", type=int, default=1)
    fuzz_bench.set_defaults(func=cmd_bench_fuzz)
    audio_bench = benches.add_parser("audio", help="beat tracking vs aubio and librosa, onset latency, CPU")
    audio_bench.add_argument("--json", action="store_true", help="print one JSON object")
    audio_bench.add_argument("--data", type=Path, default=None, metavar="DIR",
                             help="audio files with same-named .beats files (default: ../shared/data/beats "
                                  "beside the repository)")
    audio_bench.add_argument("--grooves", type=int, default=None, metavar="N",
                             help="only the first N of the synthetic grooves (default: all 12)")
    audio_bench.set_defaults(func=cmd_bench_audio)
    voice_bench = benches.add_parser("voice", help="voice commands: accuracy, false accepts, end-of-speech latency")
    voice_bench.add_argument("--json", action="store_true", help="print one JSON object")
    voice_bench.add_argument("--quick", action="store_true", help="a small subset (for tests)")
    voice_bench.set_defaults(func=cmd_bench_voice)
    _add_diffusion_benches(benches)


def _add_diffusion_benches(benches: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """vj bench live and gen: the diffusion engine."""
    live_bench = benches.add_parser("live", help="diffusion inside the show loop vs the same engine alone")
    live_bench.add_argument("--json", action="store_true", help="print one JSON object")
    live_bench.add_argument("--seconds", type=float, default=6.0, help="measuring time per case (default 6)")
    live_bench.add_argument("--size", type=_size, default=(256, 256), help="frame size, WxH (default 256x256)")
    live_bench.add_argument("--steps", type=int, default=2, help="UNet calls per frame (default 2)")
    live_bench.add_argument("--gen-threads", type=int, default=0, metavar="N",
                            help="compute threads for the generator (default: every core but one)")
    live_bench.add_argument("--no-thread", action="store_true",
                            help="skip the old design's case (the engine on a thread of the render process)")
    live_bench.set_defaults(func=cmd_bench_live)
    from vj.catalogue import COMPILE_MODES, FEEDBACK_SPACES  # torch-free copies of vj.gen's names

    gen_bench = benches.add_parser("gen", help="diffusion engine vs the plain diffusers img2img pipeline")
    gen_bench.add_argument("--model", default="tiny", help="a model name, hub id or folder (default: tiny)")
    gen_bench.add_argument("--arch", choices=["sd-turbo", "sdxl-turbo"], help="a full-size architecture")
    gen_bench.add_argument("--random-weights", action="store_true", help="with --arch: random weights, no download")
    gen_bench.add_argument("--size", type=_size, default=None,
                           help="WxH (default 64x64 tiny, 512x512 sd, 1024x1024 sdxl)")
    gen_bench.add_argument("--steps", type=int, default=1, help="UNet calls per frame (default 1)")
    gen_bench.add_argument("--strength", type=float, default=0.5)
    gen_bench.add_argument("--frames", type=int, default=40, help="measured frames per side")
    gen_bench.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"])
    gen_bench.add_argument("--dtype", default="auto", choices=["auto", "float16", "bfloat16", "float32"])
    gen_bench.add_argument("--vae", default="taesd", choices=["taesd", "full"], help="the engine's decoder")
    gen_bench.add_argument("--compile", default="off", choices=COMPILE_MODES, metavar="MODE",
                           help=f"how the engine runs a frame: {', '.join(COMPILE_MODES)} (default: off; "
                           "auto: graphs on CUDA, else off)")
    gen_bench.add_argument("--feedback", default="pixels", choices=FEEDBACK_SPACES,
                           help="what the engine feeds back: the decoded image or its latents (default: pixels)")
    gen_bench.add_argument("--fuse-qkv", action="store_true", help="fuse the engine's attention projections")
    gen_bench.add_argument("--no-channels-last", action="store_true",
                           help="keep the engine's modules in the contiguous memory format")
    gen_bench.add_argument("--json", action="store_true", help="print one JSON object")
    gen_bench.set_defaults(func=cmd_bench_gen)

    rig_bench = benches.add_parser("rig", help="NDI, Ableton Link, MIDI clock out, recording and a generator node, "
                                               "each against its target (Link and NDI in a loopback-only namespace)")
    rig_bench.add_argument("--only", default="", metavar="CASE,CASE",
                           help="run only these: ndi, ndi_show, link, midi_clock_out, record, node")
    rig_bench.add_argument("--quick", action="store_true", help="shorter runs (tests)")
    rig_bench.add_argument("--json", action="store_true", help="print one JSON object")
    rig_bench.set_defaults(func=cmd_bench_rig)
    soak_bench = benches.add_parser("soak", help="the real show for minutes under MIDI, OSC, OSCQuery, audio, voice, "
                                    "camera, preset switches, mapping rewrites and faults: crashes, losses, recovery, "
                                    "frame-time drift, leaks")
    soak_bench.add_argument("--minutes", type=float, default=10.0, help="minutes of load (default 10)")
    soak_bench.add_argument("--preset", help="the preset to soak (default: the first, the procedural dream)")
    soak_bench.add_argument("--size", type=_size, default=(1280, 720), help="window size, WxH (default 1280x720)")
    soak_bench.add_argument("--no-voice", action="store_true", help="no voice commands in the audio")
    soak_bench.add_argument("--jack-no-realtime", action="store_true",
                            help="run the benchmark's JACK server without real-time scheduling")
    soak_bench.add_argument("--log", type=Path, help="write the show's whole log here, each line stamped")
    soak_bench.add_argument("--json", action="store_true", help="print one JSON object")
    soak_bench.set_defaults(func=cmd_bench_soak)
    surface_bench = benches.add_parser("surface", help="the control surface in the real show: websocket pages moving "
                                       "a slider (latency to the parameter, bursts' last values, 8 pages converging, "
                                       "the preview's frame rate, display p99 with and without pages)")
    surface_bench.add_argument("--quick", action="store_true", help="a shorter run (tests)")
    surface_bench.add_argument("--json", action="store_true", help="print one JSON object")
    surface_bench.set_defaults(func=cmd_bench_surface)


def main(argv: list[str] | None = None) -> int:
    if sys.__stderr__ is not None:  # a native crash (a driver, a C extension) leaves the Python stacks in the log
        faulthandler.enable(sys.__stderr__)
        if hasattr(signal, "SIGUSR2"):  # and `kill -USR2` shows where a show that hangs waits
            faulthandler.register(signal.SIGUSR2, sys.__stderr__, all_threads=True, chain=False)
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    from vj.render.context import RenderError
    from vj.render.shaders import ShaderError

    try:
        return int(args.func(args))
    except (FileNotFoundError, ConfigError, ShaderError, RenderError) as exc:
        print(f"vj: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:  # an optional part that is not installed: say which extra brings it
        from vj.extras import explain

        message = explain(exc, f"vj {args.command}")
        if message is None:
            raise
        print(message, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
