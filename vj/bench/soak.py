"""`vj bench soak`: the real show played hard for minutes while things break around it.

`vj run` as a user runs it (a window in a private Xvfb; Mesa's software GL where there is no
GPU; the procedural dream, or `--preset`), with at the same time:

- MIDI at `midi_rate` messages a second from a controller process with real JACK MIDI ports
  (vj.bench.soak_peers), on a JACK server of the benchmark's own (dummy driver);
- OSC at `osc_rate` datagrams a second over UDP from a sender process;
- OSCQuery clients: HTTP GETs of nodes, values and HOST_INFO a few times a second, and a
  websocket LISTEN where the show's web server takes one (vj.bench.soak_query);
- music (the annotated recordings in ../shared/data/beats, looped) played through JACK into
  the show's audio input, with spoken commands ("next preset", "flash": espeak-ng) in it for
  `--voice always` (commands only: no dictation model);
- the camera from a video file (`--camera FILE`);
- a preset switch (OSC /vj/preset/next) every `preset_every` seconds;
- the mapping file rewritten every `mapping_every` seconds, every third version broken (bad
  YAML and a wrong value in turn): the show must keep the last good one and say so;
- a fault every `fault_every` seconds, in turn (vj.bench.soak_faults): the generator process
  killed, the audio worker killed, the JACK server restarted, the controller unplugged and
  plugged in again, the camera file removed and put back.

Figures, as one JSON object: `crashes` (the show ended unasked, a Python traceback in its log,
or an exit code other than Ctrl-C's), `midi_lost` (messages the controller sent minus those the
show's MIDI status counted; the unplugged windows are not sent), `osc_lost` (datagrams sent
minus those the show's OSC server read), faults injected and recovered with the seconds to the
show's own report (p99, and per kind), the display frame work p99 (`vj run --stats`: Show.frame
and the buffer swap, per frame) in the first and in the last minute of the load and their
ratio, and what the show held (/proc): RSS of vj and its children, vj's threads and open file
descriptors, each the median of the samples in the first WINDOW after WARMUP of the load
(`_start`) and in the last WINDOW (`_end`).
"""

from __future__ import annotations

import glob
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from vj.bench import emit
from vj.bench.harness import percentile
from vj.bench.rig_record import private_display
from vj.bench.soak_faults import FAULTS, KINDS, MIDI_BACK, FaultResult, JackServer, Rig
from vj.bench.soak_peers import MIDI_CCS, MIDI_CLIENT, Peer
from vj.bench.soak_query import QueryClients
from vj.bench.soak_show import Holdings, ShowProcess, free_port, holdings, stats_file

RATE = 48000  # the JACK server's sample rate, and the tape's
MUSIC = Path(__file__).resolve().parents[3] / "shared" / "data" / "beats"
WARMUP = 30.0  # seconds of load before the first resource sample that counts as the start
SAMPLE_EVERY = 5.0  # seconds between resource samples
WINDOW = 60.0  # seconds of samples at the start (after WARMUP) and at the end whose medians are compared
READY_TIMEOUT = 180.0  # seconds the show may take to have its window, MIDI, audio and camera
TARGETS = {"crashes": 0, "display_p99_drift": 1.1, "rss_growth": 0.05, "recovery_seconds_p99": {
    "generator": 1.0, "audio": 1.0, "jack": 2.0}}


@dataclass(frozen=True)
class SoakOptions:
    minutes: float = 10.0
    preset: str | None = None
    size: tuple[int, int] = (1280, 720)
    midi_rate: float = 10_000.0
    osc_rate: float = 20_000.0
    preset_every: float = 4.0
    mapping_every: float = 5.0
    fault_every: float = 20.0
    voice: bool = True
    jack_realtime: bool = True  # jackd -R where the machine allows it (JACK's default)
    log: Path | None = None  # where the show's whole log goes, each line stamped (seconds into the soak)


# -- what the show is given ----------------------------------------------------------------------


def mapping_text(version: int) -> tuple[str, str]:
    """Version `version` of the soak's mapping file and what it is: "good", "yaml" (broken YAML)
    or "value" (a value out of range). Good versions move which parameter a control plays."""
    params = ("zoom", "rotate", "hue", "saturation", "contrast", "strength", "feedback", "brightness")
    shift = version % len(params)
    lines = [f'midi: {{name: soak, input: "{MIDI_CLIENT}"}}', "bindings:"]
    lines += [f"  - {{cc: {cc}, param: {params[(i + shift) % len(params)]}}}" for i, cc in enumerate(MIDI_CCS)]
    text = "\n".join(lines) + "\n"
    if version % 3 != 2:
        return text, "good"
    if version % 6 == 2:
        return text + "  - {cc: 72, param: zoom\n", "yaml"
    return text + "  - {cc: 200, param: zoom}\n", "value"


def write_atomically(path: Path, text: str) -> None:
    partial = path.with_name("." + path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def make_tape(path: Path, voice: bool) -> str:
    """Music at RATE, mono, with spoken commands between passages where espeak-ng is there; what it holds."""
    import soundfile

    parts, held = [], []
    for name in sorted(glob.glob(str(MUSIC / "*.flac")))[:2]:
        data, rate = soundfile.read(name, dtype="float32", always_2d=True)
        mono = data.mean(axis=1)
        at = np.arange(0, len(mono) * RATE / rate) * rate / RATE
        parts.append(np.interp(at, np.arange(len(mono)), mono).astype(np.float32)[: 30 * RATE])
        held.append(Path(name).name)
    if not parts:  # no recordings: a synthetic groove (a kick at 120 bpm over a chord)
        t = np.arange(30 * RATE) / RATE
        kick = np.sin(2 * np.pi * 55 * t) * np.exp(-((t % 0.5) * 20))
        parts.append((0.5 * kick + 0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))
        held.append("a synthetic groove")
    if voice:
        try:
            from vj.voice.corpus import COMMAND_VOICES, utterance

            said = ("next preset", "flash")
            spoken = [utterance(text, COMMAND_VOICES[0]).samples.astype(np.float32) for text in said]
            parts = [p for pair in zip(parts * 2, spoken) for p in pair]
            held.append("spoken commands")
        except Exception as exc:  # noqa: BLE001 - espeak-ng missing: music alone, and say so
            held.append(f"no speech ({type(exc).__name__}: {exc})")
    np.save(path, np.concatenate(parts))
    return ", ".join(held)


def make_video(path: Path, seconds: float = 2.0, size: tuple[int, int] = (160, 120), fps: int = 30) -> None:
    """A short clip (a bright bar sweeping a gradient): the camera loops it, reopening the file each time."""
    import av

    w, h = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        x = np.arange(w)[None, :, None]
        for i in range(int(seconds * fps)):
            img = np.broadcast_to((x * 255 // w).astype(np.uint8), (h, w, 3)).copy()
            img[:, (i * 7) % w: (i * 7) % w + 12] = (255, 220, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


# -- the run -------------------------------------------------------------------------------------


class FaultRunner:
    """A thread injecting one fault every `every` seconds from `start` until `end`, kinds in turn."""

    def __init__(self, rig: Rig, start: float, end: float, every: float) -> None:
        self.rig, self.start, self.end, self.every = rig, start, end, every
        self.results: list[FaultResult] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-faults", daemon=True)

    def run(self) -> FaultRunner:
        self._thread.start()
        return self

    def _run(self) -> None:
        for n in range(1_000_000):
            due = self.start + (n + 1) * self.every
            if due >= self.end - 1.0 or self._stop.wait(max(0.0, due - time.monotonic())):
                return
            kind = KINDS[n % len(KINDS)]
            try:
                self.results.append(FAULTS[kind](self.rig))
            except Exception as exc:  # noqa: BLE001 - the bench reports it, it does not stop the soak
                self.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
                self.results.append(FaultResult(kind, time.monotonic(), False, None, f"{type(exc).__name__}: {exc}"))

    def join(self) -> None:
        self._stop.set()
        self._thread.join(RECOVERY_JOIN)


RECOVERY_JOIN = 90.0  # seconds to let a fault in progress finish its recovery wait


def vj_command(options: SoakOptions, folder: Path, port: int) -> list[str]:
    command = [sys.executable, "-m", "vj", "run", "--mapping", str(folder / "soak.yaml"),
               "--audio", "system", "--audio-channels", "1", "--camera", str(folder / "camera.mp4"),
               "--osc-port", str(port), "--no-zeroconf", "--stats", str(folder / "stats.json"),
               "--size", f"{options.size[0]}x{options.size[1]}",
               "--seconds", str(options.minutes * 60 + READY_TIMEOUT + 300)]
    if options.voice:
        command += ["--voice", "always", "--whisper", "none"]
    return command + (["--preset", options.preset] if options.preset else [])


def wait_ready(show: ShowProcess) -> None:
    for what, pattern in (("its window", r"vj is running"), ("the MIDI controller", MIDI_BACK),
                          ("its audio input", r"audio input: .*JACK ports"), ("the camera", r"camera: playing")):
        if show.wait_for(pattern, timeout=READY_TIMEOUT) is None:
            raise RuntimeError(f"vj run never had {what} (it {'runs' if show.running() else 'ended'}); "
                               f"it said:\n{show.text()[-3000:]}")


def generator_name(show: ShowProcess) -> str:
    """The generator child's name, from the supervisor's first `NAME: ready` that is not the audio or voice."""
    for line in show.lines:
        if "vj.proc.supervisor: " in line.text and (line.text.endswith(": ready") or ": ready (" in line.text):
            name = line.text.split("vj.proc.supervisor: ", 1)[-1].split(": ready", 1)[0]
            if name not in ("audio in", "voice", "audio devices"):
                return name
    return "procedural"


@dataclass
class Load:
    """What the benchmark did during the load."""

    start: float = 0.0
    end: float = 0.0
    presets: int = 0
    writes: list[tuple[float, str]] | None = None
    samples: list[Holdings] | None = None
    udp_drops: list[tuple[float, int]] | None = None  # (time.monotonic(), the kernel's drop count of the OSC socket)


def udp_drops(port: int) -> int | None:
    """Datagrams the kernel dropped for the UDP socket bound to 127.0.0.1:`port` (its receive
    buffer was full): the last column of /proc/net/udp. None where it cannot be read."""
    local = f"0100007F:{port:04X}"
    try:
        with open("/proc/net/udp") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 12 and fields[1] == local:
                    return int(fields[-1])
    except OSError:
        return None
    return None


def play_load(rig: Rig, osc: Peer, options: SoakOptions, mapping: Path, port: int) -> tuple[Load, FaultRunner]:
    load = Load(writes=[], samples=[], udp_drops=[])
    assert load.writes is not None and load.samples is not None and load.udp_drops is not None
    rig.midi.command("send")
    osc.command("send")
    load.start = now = time.monotonic()
    load.end = load.start + options.minutes * 60
    faults = FaultRunner(rig, load.start, load.end, options.fault_every).run()
    next_preset, next_write, next_sample = now + options.preset_every, now + options.mapping_every, now
    next_drops = now
    version = 1
    while now < load.end and rig.show.running():
        if now >= next_preset:
            osc.command("preset")
            load.presets += 1
            next_preset += options.preset_every
        if now >= next_write:
            text, kind = mapping_text(version)
            write_atomically(mapping, text)
            load.writes.append((time.monotonic(), kind))
            version += 1
            next_write += options.mapping_every
        if now >= next_sample:
            load.samples.append(holdings(rig.show.pid))
            next_sample += SAMPLE_EVERY
        if now >= next_drops and (drops := udp_drops(port)) is not None:
            load.udp_drops.append((now, drops))
            next_drops += 1.0
        time.sleep(0.05)
        now = time.monotonic()
    load.samples.append(holdings(rig.show.pid))
    return load, faults


def bench_soak(options: SoakOptions = SoakOptions()) -> dict[str, Any]:
    """The whole soak (module doc): sets everything up, plays the load, takes it all down."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # a shell starts a background job with Ctrl-C ignored, and a child inherits that: the show
        # would never hear the Ctrl-C that ends the soak (it was killed after a minute, a "crash")
        signal.signal(signal.SIGINT, signal.default_int_handler)
    with tempfile.TemporaryDirectory(prefix="vj-bench-soak-") as name, private_display() as display:
        folder = Path(name)
        mapping, camera, stats = folder / "soak.yaml", folder / "camera.mp4", folder / "stats.json"
        write_atomically(mapping, mapping_text(0)[0])
        tape = make_tape(folder / "tape.npy", options.voice)
        make_video(camera)
        jack = JackServer(f"vjsoak{os.getpid()}", realtime=options.jack_realtime)
        peers: list[Peer] = []
        show: ShowProcess | None = None
        query: QueryClients | None = None
        try:
            jack.start()
            env = {**jack.env, "DISPLAY": display, "VJ_MIDI_API": "jack"}
            env.pop("WAYLAND_DISPLAY", None)
            midi = Peer("midi", str(options.midi_rate), env=env)
            audio = Peer("audio", str(folder / "tape.npy"), env=env)
            peers += [midi, audio]
            port = free_port()
            show = ShowProcess(vj_command(options, folder, port), env)
            wait_ready(show)
            osc = Peer("osc", str(port), str(options.osc_rate), env=env)
            peers.append(osc)
            query = QueryClients(port).start()
            rig = Rig(show, jack, midi, audio, camera, generator_name(show))
            load, faults = play_load(rig, osc, options, mapping, port)
            faults.join()
            osc_sent = int(osc.command("pause")[0])
            midi.command("pause")
            midi_sent, midi_dropped = midi.counts()
            midi_heard = audio.counts()[2]
            query.stop()
            time.sleep(1.5)  # the last messages read, the MIDI status refreshed (every port scan)
            ended_unasked = not show.running()
            code = show.stop()
            if options.log is not None:
                options.log.write_text(show.stamped_text())
            return figures(options, show, load, faults, stats_file(stats), query, ended_unasked, code,
                           {"midi_sent": midi_sent, "midi_dropped_by_sender": midi_dropped, "midi_heard": midi_heard,
                            "osc_sent": osc_sent,
                            "audio": tape, "generator": rig.generator, "jack_realtime": jack.realtime})
        finally:
            if query is not None:
                query.stop()
            if show is not None and show.running():
                show.stop()
            for peer in peers:
                peer.close()
            jack.close()


def _p99(values: list[float]) -> float | None:
    return round(percentile(values, 99), 3) if values else None


def _display(data: dict[str, Any], start: float, end: float) -> tuple[float | None, int]:
    starts, work = data.get("frame_start", []), data.get("frame_ms", [])
    chosen = [w for t, w in zip(starts, work) if start <= t < end]
    return _p99(chosen), len(chosen)


def _mapping_answers(show: ShowProcess, writes: list[tuple[float, str]]) -> dict[str, int]:
    """How the show answered each rewrite: reloaded a good one, kept the last good one for a broken one."""
    counts = {"mapping_writes": len(writes), "mapping_good": 0, "mapping_broken": 0, "mapping_reloaded": 0,
              "mapping_kept_last_good": 0}
    for i, (at, kind) in enumerate(writes):
        until = writes[i + 1][0] if i + 1 < len(writes) else float("inf")
        pattern = (r"reloaded .*soak\.yaml" if kind == "good"
                   else r"reload of .*soak\.yaml failed; keeping the last good")
        line = show.find(pattern, after=at)
        answered = line is not None and line.at < until
        counts["mapping_good" if kind == "good" else "mapping_broken"] += 1
        counts["mapping_reloaded" if kind == "good" else "mapping_kept_last_good"] += int(answered)
    return counts


def _windows(load: Load) -> tuple[list[Holdings], list[Holdings]]:
    """The resource samples of the first WINDOW after the warm-up and of the last WINDOW (a
    quarter of the load each in shorter runs)."""
    samples, span = load.samples or [], load.end - load.start
    warm, width = min(WARMUP, 0.25 * span), min(WINDOW, 0.25 * span)
    first = [s for s in samples if load.start + warm <= s.at <= load.start + warm + width] or samples[:1]
    last = [s for s in samples if s.at >= load.end - width] or samples[-1:]
    return first, last


def _typical(window: list[Holdings]) -> Holdings:
    """A window's sample with the median descriptor count, its memory and threads the window's
    medians: a child restarted by a fault holds two interpreters for a moment, and one sample
    taken then moved the sum by 30 %."""
    fds = statistics.median_low([s.fds for s in window])
    chosen = next(s for s in window if s.fds == fds)
    return replace(chosen, rss_mb=round(statistics.median(s.rss_mb for s in window), 1),
                   rss_mb_vj=round(statistics.median(s.rss_mb_vj for s in window), 1),
                   threads=statistics.median_low([s.threads for s in window]))


def holdings_figures(load: Load) -> dict[str, Any]:
    """What vj held (memory, threads, descriptors) after the warm-up and at the end."""
    samples = load.samples or []
    if not samples:
        return {key: None for key in ("rss_mb_start", "rss_mb_end", "rss_growth", "threads_start", "threads_end",
                                      "fds_start", "fds_end")} | {"fds_change": {}}
    first, last = _windows(load)
    begin, end = _typical(first), _typical(last)
    return {
        "rss_mb_start": begin.rss_mb,
        "rss_mb_end": end.rss_mb,
        "rss_growth": round(end.rss_mb / begin.rss_mb - 1, 4) if begin.rss_mb else None,
        "rss_mb_vj_start": begin.rss_mb_vj,
        "rss_mb_vj_end": end.rss_mb_vj,
        "threads_start": begin.threads,
        "threads_end": end.threads,
        "fds_start": begin.fds,
        "fds_end": end.fds,
        # what the vj process holds more (or less) of at the end: the leak's kind, if one grows
        "fds_change": {kind: end.fd_kinds.get(kind, 0) - begin.fd_kinds.get(kind, 0)
                       for kind in sorted(set(begin.fd_kinds) | set(end.fd_kinds))
                       if end.fd_kinds.get(kind, 0) != begin.fd_kinds.get(kind, 0)},
        # the windows the start and end figures are the medians of, seconds into the load
        "resources_windows_s": [[round(w[0].at - load.start, 1), round(w[-1].at - load.start, 1)]
                                for w in (first, last)],
        "rss_mb_series": [s.rss_mb for s in samples[:: max(1, int(30 / SAMPLE_EVERY))]],
        "rss_mb_vj_series": [s.rss_mb_vj for s in samples[:: max(1, int(30 / SAMPLE_EVERY))]],
    }


def figures(options: SoakOptions, show: ShowProcess, load: Load, faults: FaultRunner, stats: dict[str, Any],
            query: QueryClients, ended_unasked: bool, code: int, sent: dict[str, Any]) -> dict[str, Any]:
    tracebacks = show.tracebacks()
    crashes = int(ended_unasked) + len(tracebacks) + int(code not in (0, 130) and not ended_unasked)
    results = faults.results
    recovered = [r for r in results if r.recovered and r.seconds is not None]
    per_kind = {kind: _p99([r.seconds for r in recovered if r.kind == kind and r.seconds is not None])
                for kind in KINDS if any(r.kind == kind for r in results)}
    first, first_n = _display(stats, load.start, load.start + 60)
    last, last_n = _display(stats, load.end - 60, load.end)
    drops = load.udp_drops or []
    midi_received = int((stats.get("midi") or {}).get("messages", 0))
    osc_status = stats.get("osc") or {}
    minutes = round((load.end - load.start) / 60, 2)
    return {
        "benchmark": "soak",
        "minutes": minutes,
        "crashes": crashes,
        "exit_code": code,
        "midi_sent": sent["midi_sent"],
        "midi_received": midi_received,
        "midi_lost": sent["midi_sent"] - midi_received,
        "midi_dropped_by_sender": sent["midi_dropped_by_sender"],
        "midi_lost_on_the_way": sent["midi_sent"] - sent["midi_heard"],  # not delivered by JACK to a second listener
        "midi_rate": options.midi_rate,
        "osc_sent": sent["osc_sent"],
        "osc_received": int(osc_status.get("datagrams", 0)),
        "osc_lost": sent["osc_sent"] - int(osc_status.get("datagrams", 0)),
        # the garbage collector's long pauses in vj's process: [seconds into the load, generation, ms]
        "gc_pauses_ms": [[round(t - load.start, 1), g, ms] for t, g, ms in stats.get("gc_pauses", [])
                         if load.start <= t <= load.end and ms >= 20],
        # of the OSC lost, dropped by the kernel for a full receive buffer (the show read too slowly),
        # and when: [seconds into the load, dropped in that second] for every second that dropped any
        "osc_dropped_by_kernel": drops[-1][1] - drops[0][1] if drops else None,
        "osc_drops_by_second": [[round(t - load.start), n - m] for (t, n), (_, m) in zip(drops[1:], drops)
                                if n > m],
        "osc_coalesced": int(osc_status.get("coalesced", 0)),
        "osc_rate": options.osc_rate,
        "faults_injected": len(results),
        "faults_recovered": len(recovered),
        "recovery_seconds_p99": _p99([r.seconds for r in recovered if r.seconds is not None]),
        "recovery_seconds_p99_by_kind": per_kind,
        "faults": [{**asdict(r), "at": round(r.at - load.start, 2)} for r in results],
        "display_p99_ms_first_minute": first,
        "display_p99_ms_last_minute": last,
        "display_p99_drift": round(last / first, 3) if first and last else None,
        "display_frames_first_minute": first_n,
        "display_frames_last_minute": last_n,
        "display_fps": round(_display(stats, load.start, load.end)[1] / (load.end - load.start), 1),
        **holdings_figures(load),
        "preset_switches": load.presets,
        **_mapping_answers(show, load.writes or []),
        **query.figures(),
        "audio": sent["audio"],
        # the input's blocks, overflows and drops (the analysis fell behind) and the analysis's lag
        "audio_analysis": stats.get("audio"),
        "voice": options.voice,
        "generator": sent["generator"],
        "jack_realtime": sent["jack_realtime"],
        "preset": options.preset or "default",
        "size": f"{options.size[0]}x{options.size[1]}",
        "tracebacks": tracebacks[:5],
        "last_words": [line.text for line in show.lines[-25:]] if crashes else [],  # a crash may leave no traceback
        "stop_hang": show.hang_dump,  # the stacks of a show that did not stop within a minute of Ctrl-C
        "fault_errors": faults.errors,
        "targets": TARGETS,
    }


def _table(r: dict[str, Any]) -> None:
    print(f"soak: {r['minutes']} min of the real show ({r['generator']}, {r['size']}) under "
          f"{r['midi_rate']:g} MIDI/s, {r['osc_rate']:g} OSC/s, OSCQuery, {r['audio']}, a camera file")
    print(f"  crashes {r['crashes']}   exit code {r['exit_code']}")
    print(f"  MIDI sent {r['midi_sent']}, lost {r['midi_lost']};  OSC sent {r['osc_sent']}, lost {r['osc_lost']}")
    print(f"  faults {r['faults_injected']}, recovered {r['faults_recovered']}, recovery p99 "
          f"{r['recovery_seconds_p99']} s  by kind {r['recovery_seconds_p99_by_kind']}")
    for f in r["faults"]:
        outcome = f"recovered in {f['seconds']} s" if f["recovered"] else "NOT RECOVERED"
        print(f"    {f['at']:7.1f} s {f['kind']:9s} {outcome}  ({f['detail']})")
    print(f"  display p99: first minute {r['display_p99_ms_first_minute']} ms, "
          f"last {r['display_p99_ms_last_minute']} ms, drift {r['display_p99_drift']}; {r['display_fps']} fps")
    if audio := r.get("audio_analysis"):
        print(f"  audio in: {audio['input']['blocks']} blocks, dropped {audio['input']['dropped']}, overflows "
              f"{audio['input']['overflows']}; analysis lag p50 {audio['analysis']['lag_p50_ms']} ms, "
              f"p99 {audio['analysis']['lag_p99_ms']} ms")
    print(f"  RSS {r['rss_mb_start']} -> {r['rss_mb_end']} MB ({r['rss_growth']}), threads {r['threads_start']} -> "
          f"{r['threads_end']}, fds {r['fds_start']} -> {r['fds_end']}")
    print(f"  presets switched {r['preset_switches']}; mapping writes {r['mapping_writes']}: reloaded "
          f"{r['mapping_reloaded']}/{r['mapping_good']}, kept the last good {r['mapping_kept_last_good']}/"
          f"{r['mapping_broken']}; OSCQuery GETs {r['oscquery_gets_ok']} ok, {r['oscquery_gets_failed']} failed")


def run_soak_bench(options: SoakOptions, as_json: bool = False) -> int:
    result = bench_soak(options)
    emit(result, as_json, _table)
    return 0 if result["crashes"] == 0 and result["faults_recovered"] == result["faults_injected"] else 1
