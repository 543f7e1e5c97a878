"""`vj bench midi`: how fast does a MIDI message reach a parameter, and does a flood of them hurt?

A controller stand-in runs in its own process (this module, `python -m vj.bench.midi --sender`)
with a virtual MIDI output port; vj's real input path (`MidiPorts`: rtmidi's input queue, decoder,
`EventQueue`) receives its messages and the real `MappingEngine` writes them into a `ParamState`.
Every message is a control change whose channel, control (64-95) and value encode its index, so
each one is counted (lost and duplicated ones too) and matched to the sender's send time
(`time.perf_counter` is the system-wide monotonic clock on Linux, shared by both processes).

Phases, all in one run:

1. latency: 500 messages paced at 500/s (so queueing does not dominate) to a consumer thread
   that drains the queue as soon as anything is on it. `latency_*`: arrival in vj (the
   callback's stamp, `ControlEvent.time`) to the parameter written: decode, queue, wake-up,
   engine, write. `transport_*`: the sender's send to that arrival, i.e. the MIDI system (JACK's
   period sets it).
2. throughput: `messages` messages at `rate` per second to the same consumer: `sent`,
   `received` (events), `lost` and `duplicated` (by index), `rate_per_s` (as received).
3. render: a headless `Show` (EGL) drawing at 60 Hz drains the same queue once per frame, as
   `vj run` does. 500 paced messages give `frame_latency_*` (a parameter changes at the next
   display frame); then, in rounds as long as the throughput run, idle (the baseline: no MIDI
   traffic), spare (the sender floods a port vj does not listen to) and flood (`rate` messages
   per second into vj) alternate, and their p99 frame times are compared:
   `frame_p99_ratio` = flood / idle, `frame_p99_ratio_spare` = flood / spare.

Without a reachable MIDI system on Linux the benchmark starts a private JACK server (dummy
driver, no sound card needed) and stops it afterwards; `VJ_MIDI_API` or a running JACK server
is used as it is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import rtmidi

from vj.bench import emit
from vj.bench.harness import (
    RENDER_SIZE,
    Consumer,
    Records,
    RenderLoop,
    Sender,
    SenderRun,
    TimedEngine,
    WaitQueue,
    frame_figures,
    ms_stats,
    paced_sends,
    percentile,
    serve_sender,
    settle,
    sleep_pump,
)
from vj.config.mapping import MappingConfig, parse_mapping
from vj.control.midi_ports import MidiPorts, MidiUnavailable, api_name, midi_api
from vj.vocabulary import ControlEvent, DeviceStatus

SENDER = "vjbench-sender"  # the stand-in's JACK/ALSA client name (vj's own ports are "vj-midi...")
DEVICE = "bench"
FIRST_CC = 64  # controls 64-95: plain 7-bit CCs, so the decoder does no cc14 or NRPN pairing
INDEXES = 16 * 32 * 128  # distinct messages: channel x control x value
LATENCY_MESSAGES = 500
LATENCY_RATE = 500.0
ROUND_SECONDS = (0.5, 5.0)  # a render round lasts as long as the throughput run, within these
ROUNDS = 3  # the render cases alternate in rounds, so drifts in machine load hit all alike
JACK_PERIOD, JACK_SAMPLE_RATE = 256, 48000  # the private server gets the tests' settings
TARGETS = {"latency_p99_ms": 2.0, "rate_per_s": 5000.0, "frame_p99_ratio": 1.1}
# Every control the sender uses writes one of these continuous parameters.
PARAMS = ("brightness", "contrast", "saturation", "hue", "strength", "feedback", "speed", "crossfade")


def message(index: int) -> list[int]:
    """The control change that carries `index` (mod INDEXES)."""
    i = index % INDEXES
    return [0xB0 | (i >> 12), FIRST_CC + ((i >> 7) & 31), i & 127]


def index_of(event: ControlEvent) -> int | None:
    """The index a sender message carried, from its decoded event (None: not one of ours)."""
    source = event.source
    if len(source) != 5 or source[3] != "cc" or not isinstance(event.raw, int):
        return None
    channel, control = source[2], source[4]
    if not isinstance(channel, int) or not isinstance(control, int) or not FIRST_CC <= control < FIRST_CC + 32:
        return None
    return ((channel - 1) << 12) | ((control - FIRST_CC) << 7) | event.raw


# -- the sender process --------------------------------------------------------------------------


def sender_main(api: int) -> int:
    """The controller stand-in (the protocol: vj.bench.harness). Targets are its two virtual
    ports: `out` (vj listens) and `spare` (nobody does)."""
    ports = {name: rtmidi.MidiOut(rtapi=api, name=SENDER) for name in ("out", "spare")}
    for name, port in ports.items():
        port.open_virtual_port(name)
    dropped = [0]

    def on_error(kind: int, text: str, _data: object) -> None:
        dropped[0] += 1  # rtmidi's JACK output: "ringbuffer full, dropping message" and the like
        print(f"warning {text}", file=sys.stderr, flush=True)

    for port in ports.values():
        port.set_error_callback(on_error)

    def run(n: int, rate: float, first: int, target: str) -> tuple[np.ndarray, int]:
        # Small bursts paced per millisecond, not one burst that a JACK period's MIDI buffer cannot take.
        payloads = [message(first + i) for i in range(n)]
        send = ports[target].send_message
        dropped[0] = 0
        times = paced_sends(n, rate, lambda i: send(payloads[i]))
        return times, dropped[0]

    serve_sender(run)
    for port in ports.values():
        port.delete()
    return 0


# -- the MIDI system -----------------------------------------------------------------------------


class NoMidiSystem(RuntimeError):
    """No MIDI system this benchmark can use."""


_QUIET = ctypes.CFUNCTYPE(None, ctypes.c_char_p)(lambda _text: None)


def jack_period() -> tuple[int, int] | None:
    """(frames per period, sample rate) of the JACK server a client reaches now; None: none runs.

    Asked through libjack directly with its error printing silenced for the probe: no server is
    an expected answer here, not something to print on stderr (and this never starts one)."""
    name = ctypes.util.find_library("jack")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.jack_client_open.restype = ctypes.c_void_p
    lib.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p]
    lib.jack_client_close.argtypes = [ctypes.c_void_p]
    lib.jack_get_buffer_size.argtypes = lib.jack_get_sample_rate.argtypes = [ctypes.c_void_p]
    lib.jack_get_buffer_size.restype = lib.jack_get_sample_rate.restype = ctypes.c_uint32
    lib.jack_set_error_function.argtypes = lib.jack_set_info_function.argtypes = [ctypes.c_void_p]
    # Put libjack's own printers back afterwards where it exports them (jack2 does): a Python
    # callback left there would take the GIL on whichever JACK thread reports something.
    saved = []
    for variable, setter in (("jack_error_callback", lib.jack_set_error_function),
                             ("jack_info_callback", lib.jack_set_info_function)):
        try:
            saved.append((setter, ctypes.c_void_p.in_dll(lib, variable).value))
        except ValueError:
            pass
        setter(ctypes.cast(_QUIET, ctypes.c_void_p))
    try:
        client = lib.jack_client_open(b"vjbench-probe", 0x01, None)  # JackNoStartServer
        if not client:
            return None
        try:
            return int(lib.jack_get_buffer_size(client)), int(lib.jack_get_sample_rate(client))
        finally:
            lib.jack_client_close(client)
    finally:
        for setter, address in saved:
            setter(address)


@dataclass
class MidiSystem:
    api: int
    note: str  # how it was found, for the report
    period: tuple[int, int] | None = None  # JACK: (frames, sample rate)
    jackd: subprocess.Popen[bytes] | None = None  # a private server this benchmark started
    jackd_log: Path | None = None
    saved_env: dict[str, str | None] = field(default_factory=dict)

    def jackd_output(self) -> str:
        return self.jackd_log.read_text(errors="replace") if self.jackd_log and self.jackd_log.exists() else ""

    def close(self) -> None:
        if self.jackd is not None:
            self.jackd.terminate()
            try:
                self.jackd.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.jackd.kill()
                self.jackd.wait()
            self.jackd = None
        if self.jackd_log is not None:
            self.jackd_log.unlink(missing_ok=True)
            self.jackd_log = None
        for key, value in self.saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self.saved_env = {}


def _start_jackd() -> MidiSystem:
    exe = shutil.which("jackd")
    if exe is None:
        raise NoMidiSystem("no ALSA sequencer, no JACK server running, and jackd is not installed "
                           "(Debian: apt-get install jackd2)")
    name = f"vjbench{os.getpid()}"
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_AUDIO_RESERVATION")}
    os.environ.update(JACK_DEFAULT_SERVER=name, JACK_NO_AUDIO_RESERVATION="1")  # for us and the sender
    # Its messages go to a file: a pipe that nobody reads would block jackd once full.
    with tempfile.NamedTemporaryFile(prefix="vj-bench-jackd-", suffix=".log", delete=False) as log:
        proc = subprocess.Popen(
            [exe, "-n", name, "--no-realtime", "-d", "dummy", "-r", str(JACK_SAMPLE_RATE), "-p", str(JACK_PERIOD)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    system = MidiSystem(rtmidi.API_UNIX_JACK, f"started a private JACK server ({name}, dummy driver)",
                        jackd=proc, jackd_log=Path(log.name), saved_env=saved)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = system.jackd_output()[-1000:]
            system.close()
            raise NoMidiSystem(f"jackd exited: {err}")
        system.period = jack_period()
        if system.period is not None:
            return system
        time.sleep(0.2)
    system.close()
    raise NoMidiSystem("jackd did not come up within 15 s")


def open_midi_system() -> MidiSystem:
    """VJ_MIDI_API, or ALSA when it is there; else a running JACK server; else a private one."""
    explicit = bool(os.environ.get("VJ_MIDI_API", "").strip())
    try:
        api = midi_api()
    except MidiUnavailable as exc:
        raise NoMidiSystem(str(exc)) from exc
    if api != rtmidi.API_UNIX_JACK:
        return MidiSystem(api, f"{api_name(api)} ({'VJ_MIDI_API' if explicit else 'found'})")
    period = jack_period()
    if period is not None:
        return MidiSystem(api, f"the running JACK server ({os.environ.get('JACK_DEFAULT_SERVER', 'default')})",
                          period)
    if explicit:
        raise NoMidiSystem(f"VJ_MIDI_API=jack, but the JACK server "
                           f"{os.environ.get('JACK_DEFAULT_SERVER', 'default')!r} is not running: start it, "
                           "or unset VJ_MIDI_API to let the benchmark start a private one")
    return _start_jackd()


# -- the consumer side ---------------------------------------------------------------------------


def bench_mapping() -> MappingConfig:
    """Every control the sender uses (64-95, any channel) bound to a continuous parameter."""
    lines = [f'midi: {{name: {DEVICE}, input: "{SENDER}:out"}}', "bindings:"]
    lines += [f"  - {{cc: {FIRST_CC + i}, param: {PARAMS[i % len(PARAMS)]}}}" for i in range(32)]
    return parse_mapping(Path("bench-midi.yaml"), "\n".join(lines) + "\n")


def account(records: Records, first: int, n: int) -> tuple[int, int]:
    """(lost, duplicated): messages first..first+n-1 never handled, and extra events handled.
    A duplicate must not hide a loss, so this goes by index, not by count."""
    got = np.bincount([i for e, _ in records if (i := index_of(e)) is not None], minlength=INDEXES)
    expected = np.bincount(np.arange(first, first + n) % INDEXES, minlength=INDEXES)
    strangers = sum(1 for e, _ in records if index_of(e) is None)
    return int(np.maximum(expected - got, 0).sum()), int(np.maximum(got - expected, 0).sum()) + strangers


def transport(records: Records, first: int, times: np.ndarray) -> list[float]:
    """Seconds from the sender's send to the arrival in vj, for each event of a run at `first`."""
    out = []
    for event, _ in records:
        index = index_of(event)
        if index is not None and (k := (index - first) % INDEXES) < len(times):
            out.append(event.time - float(times[k]))
    return out


# -- the render loop -----------------------------------------------------------------------------


# -- the benchmark -------------------------------------------------------------------------------


def bench_midi(messages: int = 20_000, rate: float = 10_000.0) -> dict[str, Any]:
    """Runs every phase (module docstring); raises NoMidiSystem when there is no MIDI system."""
    system = open_midi_system()
    sender: Sender | None = None
    ports: MidiPorts | None = None
    scratch = tempfile.TemporaryDirectory(prefix="vj-bench-midi-")
    try:
        try:
            sender = Sender("vj.bench.midi", [str(system.api)], "MIDI")
        except RuntimeError as exc:
            raise NoMidiSystem(str(exc)) from exc
        mapping = bench_mapping()
        events = WaitQueue()
        ports = MidiPorts(events, mapping.midi, api=system.api).start()  # the real port scan period
        _wait_connected(events)
        run = SenderRun(sender, Path(scratch.name))
        engine = TimedEngine(mapping)
        consumer = Consumer(events, engine)

        run.send(20, 1000.0, "out")  # warm-up: the connection, the first decoder and engine calls
        settle(engine, 20, sleep_pump)
        engine.take()

        latency = _latency_phase(run, engine)  # 1.
        throughput = _throughput_phase(run, engine, messages, rate)  # 2.
        consumer.stop()
        result: dict[str, Any] = {
            "benchmark": "midi",
            "midi_api": api_name(system.api),
            "midi_system": system.note,
            "jack_period_ms": round(system.period[0] / system.period[1] * 1000, 3) if system.period else None,
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            **latency,
            **throughput,
        }

        # 3. render: events reach the parameters once per display frame.
        seconds = min(max(messages / rate, ROUND_SECONDS[0]), ROUND_SECONDS[1])
        try:
            loop = RenderLoop(events, mapping)
        except Exception as exc:  # noqa: BLE001 - no EGL here: the MIDI figures still stand
            result["render_error"] = f"{type(exc).__name__}: {exc}"
        else:
            try:
                result.update(_render_phases(loop, run, rate, seconds))
            finally:
                loop.close()
        if system.jackd is not None:  # our own server: its log says how often a cycle was late
            result["jack_xruns"] = sum("XRun" in line for line in system.jackd_output().splitlines())  # lines
        result["targets"] = TARGETS
        result["met"] = _met(result)
        return result
    finally:
        if ports is not None:
            ports.stop()
        if sender is not None:
            sender.close()
        scratch.cleanup()
        system.close()


def _wait_connected(events: WaitQueue, limit: float = 10.0) -> None:
    """Until vj has opened the sender's port; NoMidiSystem when it cannot within `limit` seconds."""
    deadline = time.monotonic() + limit
    while True:
        statuses = [e for e in events.wait(0.1) if isinstance(e, DeviceStatus)]
        if any(e.connected for e in statuses):
            return
        failed = [e for e in statuses if e.device == "midi" and not e.connected]
        if failed:  # MidiPorts could not reach the MIDI system
            raise NoMidiSystem(failed[0].message)
        if time.monotonic() > deadline:
            raise NoMidiSystem(f"vj did not find the sender's port {SENDER!r} within {limit:g} s")


def _latency_phase(run: SenderRun, engine: TimedEngine) -> dict[str, Any]:
    """Phase 1: paced messages to a consumer that drains at once (arrival to write, send to arrival)."""
    first, _, _, _, times = run.send(LATENCY_MESSAGES, LATENCY_RATE, "out")
    settle(engine, LATENCY_MESSAGES, sleep_pump)
    records = engine.take()
    pipeline = ms_stats([written - e.time for e, written in records])
    wire = ms_stats(transport(records, first, times))
    lost, duplicated = account(records, first, LATENCY_MESSAGES)
    return {
        "latency_messages": LATENCY_MESSAGES,
        "latency_rate_per_s": LATENCY_RATE,
        "latency_p50_ms": pipeline["p50"],
        "latency_p99_ms": pipeline["p99"],
        "latency_max_ms": pipeline["max"],
        "transport_p50_ms": wire["p50"],
        "transport_p99_ms": wire["p99"],
        "transport_max_ms": wire["max"],
        "latency_lost": lost,
        "latency_duplicated": duplicated,
    }


def _throughput_phase(run: SenderRun, engine: TimedEngine, messages: int, rate: float) -> dict[str, Any]:
    """Phase 2: `messages` at `rate` per second, counted by index; the rate as received."""
    first, sent, dropped, send_seconds, _ = run.send(messages, rate, "out")
    settle(engine, messages, sleep_pump)
    records = engine.take()
    lost, duplicated = account(records, first, messages)
    arrivals = sorted(e.time for e, _ in records)
    delivered = len(arrivals) - duplicated
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    return {
        "sent": sent,
        "received": len(records),  # ControlEvents handled, duplicates included
        "lost": lost,
        "duplicated": duplicated,
        "sender_dropped": dropped,  # refused by the sender's own MIDI library (counted in lost)
        "requested_rate_per_s": rate,
        "send_rate_per_s": round((sent - 1) / send_seconds, 1) if send_seconds > 0 else None,
        "rate_per_s": round((delivered - 1) / span, 1) if span > 0 else None,  # first to last arrival
        "throughput_latency_p99_ms": ms_stats([w - e.time for e, w in records])["p99"],  # queueing included
    }


def _met(result: dict[str, Any]) -> dict[str, bool | None]:
    """Each target, met or not (None: not measured, as the frame ratio without EGL)."""
    ratio = result.get("frame_p99_ratio")
    return {
        "latency_p99_ms": result["latency_p99_ms"] is not None
        and result["latency_p99_ms"] <= TARGETS["latency_p99_ms"],
        "rate_per_s": result["rate_per_s"] is not None and result["rate_per_s"] >= TARGETS["rate_per_s"]
        and result["lost"] == 0 and result["duplicated"] == 0,
        "frame_p99_ratio": None if ratio is None else bool(ratio <= TARGETS["frame_p99_ratio"]
                                                           and result["flood_lost"] == 0),
    }


def _render_phases(loop: RenderLoop, run: SenderRun, rate: float, seconds: float) -> dict[str, Any]:
    engine = loop.engine

    def pump() -> None:
        loop.frame()

    # Paced messages into the 60 Hz loop: each waits for the next frame's update.
    run.send(LATENCY_MESSAGES, LATENCY_RATE, "out", during=lambda: loop.run(LATENCY_MESSAGES / LATENCY_RATE))
    settle(engine, LATENCY_MESSAGES, pump)
    frame_latency = ms_stats([written - e.time for e, written in engine.take()])

    # Three cases per round, alternating: idle (the baseline: no MIDI traffic), spare (the sender
    # floods a port vj does not listen to: what the sending process and JACK cost this machine's
    # cores, since here the "controller" shares them) and flood (vj receives it all).
    frames: dict[str, list[float]] = {"idle": [], "spare": [], "flood": []}
    flood_sent = flood_lost = flood_duplicated = 0
    per_round = max(1, int(rate * seconds))
    for _ in range(ROUNDS):
        frames["idle"] += loop.run(seconds)
        for port, into in (("spare", frames["spare"]), ("out", frames["flood"])):
            first, sent, _, _, _ = run.send(per_round, rate, port, during=partial(loop.extend, into, seconds))
            if port == "out":
                settle(engine, per_round, pump)  # the tail drains in frames that are not counted
                lost, duplicated = account(engine.take(), first, per_round)
                flood_sent, flood_lost, flood_duplicated = (flood_sent + sent, flood_lost + lost,
                                                            flood_duplicated + duplicated)
    result: dict[str, Any] = {
        "render_round_seconds": round(seconds, 3),
        "render_size": f"{RENDER_SIZE[0]}x{RENDER_SIZE[1]}",
        "gl_renderer": loop.ctx.info.get("GL_RENDERER", "?"),
        "frame_latency_p50_ms": frame_latency["p50"],
        "frame_latency_p99_ms": frame_latency["p99"],
    }
    result.update(frame_figures(frames))
    result.update(
        frame_p99_ratio=round(percentile(frames["flood"], 99) / percentile(frames["idle"], 99), 3),
        frame_p99_ratio_spare=round(percentile(frames["flood"], 99) / percentile(frames["spare"], 99), 3),
        flood_sent=flood_sent,
        flood_lost=flood_lost,
        flood_duplicated=flood_duplicated,
    )
    return result


def _print_table(r: dict[str, Any]) -> None:
    def f(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    period = f", period {r['jack_period_ms']} ms" if r.get("jack_period_ms") else ""
    xruns = f", {r['jack_xruns']} xruns" if "jack_xruns" in r else ""
    print(f"midi benchmark: {r['midi_api']}: {r['midi_system']}{period}{xruns}; {r['cores']} cores")
    print(f"  event -> parameter, consumer draining continuously ({r['latency_messages']} at "
          f"{r['latency_rate_per_s']:g}/s): p50 {f(r['latency_p50_ms'])} ms  p99 {f(r['latency_p99_ms'])} ms  "
          f"(target p99 <= 2 ms; {r['latency_lost']} lost, {r['latency_duplicated']} duplicated)")
    print(f"  send -> arrival in vj (the MIDI system):       p50 {f(r['transport_p50_ms'])} ms  "
          f"p99 {f(r['transport_p99_ms'])} ms")
    if "frame_latency_p50_ms" in r:
        print(f"  event -> parameter in the 60 Hz render loop: p50 {f(r['frame_latency_p50_ms'])} ms  "
              f"p99 {f(r['frame_latency_p99_ms'])} ms  (the next display frame)")
    print(f"  throughput at {r['requested_rate_per_s']:g}/s: sent {r['sent']}  received {r['received']}  "
          f"lost {r['lost']}  duplicated {r['duplicated']}  rate {r['rate_per_s']}/s  (target >= 5000/s, no loss)")
    if "frame_p99_ratio" in r:
        print(f"  render {r['render_size']} at 60 Hz ({r['gl_renderer']}), frame work (update, draw, glFinish):")
        for case, label in (("idle", "idle  "), ("spare", "spare "), ("flood", "flood ")):
            print(f"    {label} p50 {r[f'frame_p50_ms_{case}']:7.3f} ms  p99 {r[f'frame_p99_ms_{case}']:7.3f} ms  "
                  f"({r[f'frames_{case}']} frames, {r[f'frames_late_{case}']} over 16.7 ms)")
        print(f"    flood: {r['flood_sent']} sent, {r['flood_lost']} lost, {r['flood_duplicated']} duplicated")
        print(f"    frame_p99_ratio flood/idle: {r['frame_p99_ratio']:.3f}  (target <= 1.1, no loss); "
              f"flood/spare: {r['frame_p99_ratio_spare']:.3f}")
    elif "render_error" in r:
        print(f"  render part skipped: {r['render_error']}")
    met = ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in r["met"].items() if v is not None)
    print(f"  targets: {met}")


def run_midi_bench(as_json: bool = False, messages: int = 20_000, rate: float = 10_000.0) -> int:
    if messages < 2 or not rate > 0:
        print("vj bench midi: --messages must be at least 2 and --rate positive", file=sys.stderr)
        return 2
    try:
        result = bench_midi(messages, rate)
    except NoMidiSystem as exc:
        print(f"vj bench midi: no MIDI system to measure: {exc}", file=sys.stderr)
        return 2
    return emit(result, as_json, _print_table)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--sender"]:  # the controller stand-in (see Sender)
        sys.exit(sender_main(int(sys.argv[2])))
    sys.exit(run_midi_bench(as_json="--json" in sys.argv))
