"""`vj bench audio`: every beat tracker vj can use, against each other and against aubio and
librosa; onset-to-event latency; CPU.

In one run:

1. Beats. For each audio file in the data folder with a same-named `.beats` file (one beat
   time in seconds per line, as in the shared annotated excerpts), every tracker available:
   - `vj`: vj's live `Analyzer` with its own online beat tracker (the default), fed 512-sample
     blocks at 48 kHz as the live capture would; a beat counts at the time its event is reported
     (the block's end);
   - `madmom`: the same Analyzer path with `tracker="madmom"` (madmom's learned online tracker,
     `vj.audio.madmom_beat`), when the beats extra is installed;
   - `offline`: the beat times a render uses (`vj.audio.offline_beats.offline_beat_times` over the
     whole file; it names the tracker it used), when that module is there;
   - `aubio`: aubio's online tempo tracker (`aubio.tempo("default", 1024, 512)`), fed the same
     blocks; a beat counts at the end of the block that reports it, as a live show would see it;
   - `librosa`: `librosa.beat.beat_track` over the whole file: offline, it sees the future.
   Each gets the beat F-measure (a detection within 70 ms of an annotation is a hit, each matched
   once; the first 5 s are skipped, as is customary), its tempo (vj, madmom and aubio: the median
   of their running estimate after 5 s; the others their own), and the tempo of its beats (60 /
   the median interval between its beats after 5 s). `f_measure` overall is the mean over files;
   `tempo_octave_ok` the share of files whose beats' median interval is within 4% of the
   annotations' (right tempo, right octave). A tracker that is not installed gets None and a line
   in `notes`.
   The same for synthetic drum grooves (`grooves`: GROOVES, vj.bench.grooves) from 75 to 174 bpm:
   backbeat, hip-hop, four on the floor and drum and bass patterns, where the tempo octave is
   known for sure (the two annotated excerpts cannot show a tracker's octave choice at both ends of
   the range).
2. Latency: clicks (and kick drums) at random sample positions over a quiet noise floor; the
   delay from each one's first sample to the end of the block whose frame reports its `onset`
   (`bass.hit`) event. `latency_ms` is the worst of all; `beat_offset_ms` is how far vj's beat
   events land from the clicks of a steady click track once locked (negative: early);
   `madmom_beat_offset_ms` the same for madmom's (detected, so late by its detection delay).
3. CPU: process time of `Analyzer.process` over all the files, as a fraction of their duration
   (one core): `cpu_fraction` with vj's tracker, `cpu_fraction_madmom` with madmom's, and
   `madmom_frame_us`, what madmom's tracker adds per 10 ms madmom frame.

Targets: vj's F-measure >= aubio's and within 0.1 of librosa's (overall), vj's right tempo on
every file and every groove, latency <= 20 ms, CPU < 5% of one core. (The issue's floors on real
music not in the shared data, online >= 0.80 F and offline >= 0.90, need such music: the
`f_measure` of `--data DIR` is the figure to hold them against.)
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vj.audio.analysis import AnalysisConfig, Analyzer
from vj.audio.madmom_beat import MADMOM_FPS, MadmomUnavailable, load_madmom
from vj.audio.offline import AudioFileError, load_audio
from vj.bench import emit
from vj.bench.grooves import groove
from vj.bench.harness import ms_stats
from vj.paths import ROOT

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "beats"
AUDIO_SUFFIXES = (".flac", ".wav", ".ogg", ".mp3", ".aif", ".aiff")
SAMPLE_RATE = 48000
BLOCK = 512
TOLERANCE = 0.07  # seconds: a beat within this of an annotation is a hit
SKIP = 5.0  # seconds at the start that are not scored
TRACKERS = ("vj", "madmom", "offline", "aubio", "librosa")
TEMPO_TOLERANCE = 0.04  # a tracker's median beat interval this close to the annotations': the right tempo
TARGETS = {"f_measure_vs_aubio": 0.0, "f_measure_vs_librosa": -0.1, "tempo_octave_ok": 1.0, "latency_ms": 20.0,
           "cpu_fraction": 0.05}
LATENCY_EVENTS = 60  # clicks (and kicks) in the latency test
BEAT_TEST_BPM = 120.0


def f_measure(reference: Sequence[float] | np.ndarray, estimated: Sequence[float] | np.ndarray,
              tolerance: float = TOLERANCE, skip: float = SKIP) -> float:
    """Beat F-measure: each annotation matches at most one detection within `tolerance` (both
    sorted, matched greedily in time order, which is a maximum matching for equal windows);
    annotations and detections before `skip` seconds are ignored."""
    ref = np.sort(np.asarray(reference, dtype=float))
    est = np.sort(np.asarray(estimated, dtype=float))
    ref, est = ref[ref >= skip], est[est >= skip]
    if ref.size == 0 or est.size == 0:
        return 0.0
    hits, j = 0, 0
    for r in ref:
        while j < est.size and est[j] < r - tolerance:
            j += 1
        if j < est.size and est[j] <= r + tolerance:
            hits += 1
            j += 1
    if hits == 0:
        return 0.0
    precision, recall = hits / est.size, hits / ref.size
    return 2 * precision * recall / (precision + recall)


def read_beats(path: Path) -> np.ndarray:
    """Beat times (first column) of a `.beats` file."""
    lines = path.read_text().splitlines()
    rows = [line.split() for line in lines if line.strip() and not line.startswith("#")]
    return np.array([float(row[0]) for row in rows])


def annotated_files(data: Path) -> list[tuple[Path, Path]]:
    """(audio, beats) pairs in `data`, by name."""
    pairs = []
    for audio in sorted(data.iterdir()):
        beats = audio.with_suffix(".beats")
        if audio.suffix.lower() in AUDIO_SUFFIXES and beats.is_file():
            pairs.append((audio, beats))
    return pairs


@dataclass(frozen=True)
class Tracked:
    beats: np.ndarray  # seconds
    tempo: float | None  # bpm
    by: str | None = None  # the tracker that made them, where the caller could choose (offline)


def beat_interval(beats: np.ndarray, skip: float = SKIP) -> float | None:
    """The median interval (s) between the beats from `skip` seconds on (None: fewer than two)."""
    later = np.sort(np.asarray(beats, dtype=float))
    later = later[later >= skip]
    return float(np.median(np.diff(later))) if later.size > 1 else None


def tempo_ok(reference: np.ndarray, beats: np.ndarray, tolerance: float = TEMPO_TOLERANCE) -> bool:
    """Whether the beats' median interval is within `tolerance` of the annotations' (after SKIP)."""
    ref, est = beat_interval(reference), beat_interval(beats)
    return ref is not None and est is not None and abs(est - ref) <= tolerance * ref


def blocks(samples: np.ndarray, size: int = BLOCK) -> list[np.ndarray]:
    return [samples[i:i + size] for i in range(0, samples.size - size + 1, size)]


def track_vj(samples: np.ndarray, config: AnalysisConfig = AnalysisConfig()) -> Tracked:
    analyzer = Analyzer(config)
    beats, tempi = [], []
    for block in blocks(samples, config.block):
        frame = analyzer.process(block)
        if "beat" in frame.events:
            beats.append(frame.time)
        if frame.time >= SKIP:
            tempi.append(frame.features["bpm"])
    return Tracked(np.array(beats), float(np.median(tempi)) if tempi else None)


def madmom_missing() -> str | None:
    """Why madmom's tracker cannot run here (None: it can)."""
    try:
        load_madmom()
    except MadmomUnavailable as exc:
        return str(exc)
    return None


def track_madmom(samples: np.ndarray) -> Tracked | None:
    """The Analyzer with madmom's tracker; None when it cannot load."""
    if madmom_missing() is not None:
        return None
    return track_vj(samples, AnalysisConfig(tracker="madmom"))


def offline_missing() -> str | None:
    """Why the renders' offline beat tracker cannot run here (None: it can)."""
    try:
        from vj.audio.offline_beats import offline_beat_times  # noqa: F401
    except ImportError as exc:
        return f"vj.audio.offline_beats is not importable ({exc})"
    return None


def track_offline(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Tracked | None:
    """The beats a render uses (the whole file at once); None when that module is not there."""
    if offline_missing() is not None:
        return None
    from vj.audio.offline_beats import offline_beat_times

    beats, name = offline_beat_times(samples, sample_rate)
    interval = beat_interval(beats)
    return Tracked(np.asarray(beats, dtype=float), None if interval is None else 60.0 / interval, name)


def aubio_version() -> str | None:
    try:
        import aubio
    except ImportError:
        return None
    return str(getattr(aubio, "version", "unknown"))


def track_aubio(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Tracked | None:
    """aubio's online tracker; None when aubio is not installed."""
    try:
        import aubio
    except ImportError:
        return None
    tracker = aubio.tempo("default", 2 * BLOCK, BLOCK, sample_rate)
    beats, tempi = [], []
    x = np.ascontiguousarray(samples, dtype=np.float32)
    for i, block in enumerate(blocks(x)):
        end = (i + 1) * BLOCK / sample_rate
        if tracker(block)[0]:
            beats.append(end)
        if end >= SKIP and tracker.get_bpm() > 0:
            tempi.append(float(tracker.get_bpm()))
    return Tracked(np.array(beats), float(np.median(tempi)) if tempi else None)


def track_librosa(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Tracked:
    import librosa

    tempo, beats = librosa.beat.beat_track(y=samples, sr=sample_rate, hop_length=BLOCK, units="time")
    return Tracked(np.asarray(beats, dtype=float), float(np.atleast_1d(tempo)[0]))


# -- latency -------------------------------------------------------------------------------------


def _click(seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.5 * rng.standard_normal(240) * np.exp(-np.arange(240) / 40.0)).astype(np.float32)


def _kick() -> np.ndarray:
    t = np.arange(int(0.25 * SAMPLE_RATE)) / SAMPLE_RATE
    phase = 2 * np.pi * np.cumsum(45.0 + 90.0 * np.exp(-t / 0.03)) / SAMPLE_RATE
    return (0.8 * np.sin(phase) * np.exp(-t / 0.09)).astype(np.float32)


def _with_sounds(sound: np.ndarray, starts: np.ndarray, seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = (1e-3 * rng.standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32)  # -60 dBFS floor
    for s in starts:
        n = min(sound.size, y.size - s)
        y[s:s + n] += sound[:n]
    return y


def event_delays(samples: np.ndarray, starts: np.ndarray, event: str, config: AnalysisConfig,
                 window: float = 0.05) -> tuple[list[float], int]:
    """For each sound start (sample index): seconds from it to the first frame reporting `event`
    within `window`; and how many got none."""
    analyzer = Analyzer(config)
    reported = []
    for block in blocks(samples, config.block):
        frame = analyzer.process(block)
        if event in frame.events:
            reported.append(frame.time)
    times = np.array(reported)
    delays, missed = [], 0
    for s in starts:
        t0 = s / config.sample_rate
        after = times[(times >= t0) & (times <= t0 + window)]
        if after.size:
            delays.append(float(after[0] - t0))
        else:
            missed += 1
    return delays, missed


def measure_latency(config: AnalysisConfig = AnalysisConfig(),
                    events: int = LATENCY_EVENTS) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    gap = 0.5  # seconds between sounds: well apart, so each is judged on its own
    starts = (np.arange(events) * gap + 1.0) * SAMPLE_RATE + rng.integers(0, BLOCK, events)
    starts = starts.astype(int)
    seconds = events * gap + 1.5
    result: dict[str, Any] = {}
    for event, sound in (("onset", _click()), ("bass.hit", _kick())):
        delays, missed = event_delays(_with_sounds(sound, starts, seconds, 3), starts, event, config)
        result[event] = {**ms_stats(delays), "missed": missed}
    # beat events against a steady click track, after the tracker has locked (the first 5 s)
    period = 60.0 / BEAT_TEST_BPM
    clicks = np.arange(0.25, 30.0, period)
    samples = _with_sounds(_click(), (clicks * SAMPLE_RATE).astype(int), 30.5, 4)
    for prefix, tracked in (("", track_vj(samples, config)), ("madmom_", track_madmom(samples))):
        late = [] if tracked is None else [
            float(b - clicks[np.argmin(np.abs(clicks - b))]) for b in tracked.beats
            if SKIP <= b <= clicks[-1] + period / 2]  # (after the last click the tracker coasts on)
        result[f"{prefix}beat_offset_ms"] = round(1000 * float(np.mean(late)), 2) if late else None
        result[f"{prefix}beat_offset_spread_ms"] = round(1000 * float(np.std(late)), 2) if late else None
    result["worst_ms"] = max(result[event]["max"] or 0.0 for event in ("onset", "bass.hit"))
    return result


# -- CPU -----------------------------------------------------------------------------------------


def measure_cpu(signals: Sequence[np.ndarray], config: AnalysisConfig = AnalysisConfig()) -> dict[str, float]:
    """Process time of Analyzer.process over the signals, in 512-sample blocks (and their seconds)."""
    used = 0.0
    seconds = 0.0
    hops = 0
    for samples in signals:
        analyzer = Analyzer(config)
        parts = blocks(samples, config.block)
        start = time.process_time()
        for block in parts:
            analyzer.process(block)
        used += time.process_time() - start
        seconds += len(parts) * config.block / config.sample_rate
        hops += len(parts)
    return {"cpu_fraction": round(used / seconds, 5) if seconds else 0.0,
            "cpu_per_hop_us": round(1e6 * used / hops, 1) if hops else 0.0, "seconds": seconds}


def measure_madmom_cpu(signals: Sequence[np.ndarray], vj_cpu: dict[str, float]) -> dict[str, float | None]:
    """The Analyzer's CPU with madmom's tracker, and what that tracker adds per 10 ms madmom frame
    (over `vj_cpu`, the same signals with vj's)."""
    if madmom_missing() is not None:
        return {"cpu_fraction_madmom": None, "cpu_per_hop_us_madmom": None, "madmom_frame_us": None}
    cpu = measure_cpu(signals, AnalysisConfig(tracker="madmom"))
    added = (cpu["cpu_fraction"] - vj_cpu["cpu_fraction"]) / MADMOM_FPS  # seconds per madmom frame
    return {"cpu_fraction_madmom": cpu["cpu_fraction"], "cpu_per_hop_us_madmom": cpu["cpu_per_hop_us"],
            "madmom_frame_us": round(1e6 * added, 1)}


# -- the run -------------------------------------------------------------------------------------


TRACKED_KEYS = ("f_measure", "tempo", "beat_tempo", "tempo_octave_ok", "beats")
# Synthetic grooves at both ends of the tempo range (vj.bench.grooves), 20 s each: the tempo
# octave's test where annotated music is scarce
GROOVES: tuple[tuple[float, str], ...] = (
    (75.0, "backbeat"), (75.0, "hiphop"), (85.0, "backbeat"), (85.0, "hiphop"), (95.0, "backbeat16"),
    (95.0, "backbeat"), (128.0, "four"), (128.0, "backbeat"), (140.0, "four"), (140.0, "backbeat16"),
    (174.0, "dnb"), (174.0, "backbeat"))
GROOVE_SECONDS = 20.0


def score_trackers(samples: np.ndarray, reference: np.ndarray, used_by: set[str]) -> dict[str, Any]:
    """Every tracker on one signal against its beat annotations (None where a tracker cannot run);
    the offline tracker's name goes into `used_by`."""
    trackers = {"vj": track_vj, "madmom": track_madmom, "offline": track_offline, "aubio": track_aubio,
                "librosa": track_librosa}
    scored = reference[reference >= SKIP]
    entry: dict[str, Any] = {
        "duration_s": round(samples.size / SAMPLE_RATE, 3),
        "annotated_beats": int(reference.size),
        "reference_bpm": round(60.0 / float(np.median(np.diff(scored))), 2) if scored.size > 1 else None,
        **{key: {} for key in TRACKED_KEYS},
    }
    for name, tracker in trackers.items():
        tracked = tracker(samples)
        if tracked is None:
            for key in TRACKED_KEYS:
                entry[key][name] = None
            continue
        interval = beat_interval(tracked.beats)
        entry["f_measure"][name] = round(f_measure(reference, tracked.beats), 4)
        entry["tempo"][name] = None if tracked.tempo is None else round(tracked.tempo, 2)
        entry["beat_tempo"][name] = None if interval is None else round(60.0 / interval, 2)
        entry["tempo_octave_ok"][name] = tempo_ok(reference, tracked.beats)
        entry["beats"][name] = int(tracked.beats.size)
        if tracked.by is not None:
            used_by.add(tracked.by)
    return entry


def summarise(entries: Sequence[dict[str, Any]]) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """(mean F, share of the right tempo) per tracker over scored signals (None: a tracker missing)."""
    overall: dict[str, float | None] = {}
    octave_ok: dict[str, float | None] = {}
    for name in TRACKERS:
        scores = [e["f_measure"][name] for e in entries]
        overall[name] = None if None in scores or not scores else round(float(np.mean(scores)), 4)
        right = [e["tempo_octave_ok"][name] for e in entries]
        octave_ok[name] = None if None in right or not right else round(float(np.mean(right)), 4)
    return overall, octave_ok


def bench_grooves(grooves: Sequence[tuple[float, str]], used_by: set[str]) -> dict[str, Any]:
    """Every tracker on synthetic grooves (GROOVES): F and the share with the right tempo octave."""
    cases: dict[str, Any] = {}
    for bpm, style in grooves:
        g = groove(bpm, style, seconds=GROOVE_SECONDS, seed=int(bpm))
        entry = score_trackers(g.samples, g.beats, used_by)
        cases[f"{style} {bpm:g}"] = {key: entry[key] for key in ("f_measure", "beat_tempo", "tempo_octave_ok")}
    overall, octave_ok = summarise(list(cases.values()))
    return {"seconds": GROOVE_SECONDS, "cases": cases, "f_measure": overall, "tempo_octave_ok": octave_ok}


def bench_audio(data: Path, grooves: Sequence[tuple[float, str]] = GROOVES) -> dict[str, Any]:
    pairs = annotated_files(data)
    if not pairs:
        raise FileNotFoundError(f"{data}: no audio files with same-named .beats files")
    notes = {name: why for name, why in (("madmom", madmom_missing()), ("offline", offline_missing()),
                                         ("aubio", None if aubio_version() else "aubio is not installed"))
             if why is not None}
    files: dict[str, Any] = {}
    used_by: set[str] = set()  # the offline tracker's names
    signals = []
    for audio, beats_path in pairs:
        samples = load_audio(audio, SAMPLE_RATE)
        signals.append(samples)
        files[audio.name] = score_trackers(samples, read_beats(beats_path), used_by)
    overall, octave_ok = summarise(list(files.values()))
    synthetic = bench_grooves(grooves, used_by)
    latency = measure_latency()
    cpu = measure_cpu(signals)
    cpu_madmom = measure_madmom_cpu(signals, cpu)
    del cpu["seconds"]
    vj, lib = float(overall["vj"] or 0.0), float(overall["librosa"] or 0.0)  # (never None: both always run)
    aubio = overall["aubio"]
    return {
        "benchmark": "audio",
        "data": str(data),
        "sample_rate": SAMPLE_RATE,
        "block": BLOCK,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "aubio_version": aubio_version(),
        "tolerance_s": TOLERANCE,
        "skip_s": SKIP,
        "files": files,
        "trackers": [name for name in TRACKERS if name not in notes],
        "notes": notes,
        "offline_tracker": ", ".join(sorted(used_by)) or None,
        "f_measure": overall,
        "tempo_octave_ok": octave_ok,
        "grooves": synthetic,
        "f_measure_minus_aubio": None if aubio is None else round(vj - aubio, 4),
        "f_measure_minus_librosa": round(vj - lib, 4),
        "latency_ms": latency["worst_ms"],
        "latency": latency,
        **cpu,
        **cpu_madmom,
        "targets": TARGETS,
        "met": {
            "f_measure_vs_aubio": (None if aubio is None
                                   else bool(vj >= aubio + TARGETS["f_measure_vs_aubio"])),
            "f_measure_vs_librosa": bool(vj >= lib + TARGETS["f_measure_vs_librosa"]),
            "tempo_octave_ok": bool(min(octave_ok["vj"] or 0.0, synthetic["tempo_octave_ok"]["vj"] or 0.0)
                                    >= TARGETS["tempo_octave_ok"]),
            "latency_ms": bool(latency["worst_ms"] <= TARGETS["latency_ms"]
                               and latency["onset"]["missed"] == 0 and latency["bass.hit"]["missed"] == 0),
            "cpu_fraction": bool(cpu["cpu_fraction"] < TARGETS["cpu_fraction"]),
        },
    }


def _print_table(r: dict[str, Any]) -> None:
    def f(value: float | None, digits: int = 3) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    aubio = r["aubio_version"] or "not installed"
    print(f"audio benchmark: {r['data']} ({len(r['files'])} files), {r['sample_rate']} Hz, "
          f"blocks of {r['block']}; aubio {aubio}; offline: {r['offline_tracker'] or '-'}; {r['cores']} cores")
    for name, why in r["notes"].items():
        print(f"  {name}: not run: {why}")
    print(f"  beat F-measure (+-{1000 * r['tolerance_s']:.0f} ms, first {r['skip_s']:g} s skipped) "
          "@ the tempo of its beats (bpm):")
    print(f"    {'file':<28} {'ref bpm':>8}   " + "  ".join(f"{t:>15}" for t in TRACKERS))
    for name, e in r["files"].items():
        cells = [f"{f(e['f_measure'][t])} @ {f(e['beat_tempo'][t], 1):>5}" for t in TRACKERS]
        print(f"    {name:<28} {f(e['reference_bpm'], 1):>8}   " + "  ".join(f"{c:>15}" for c in cells))
    overall = "  ".join(f"{f(r['f_measure'][t]):>15}" for t in TRACKERS)
    print(f"    {'overall F (mean)':<28} {'':>8}   {overall}")
    octave = "  ".join(f"{f(r['tempo_octave_ok'][t], 2):>15}" for t in TRACKERS)
    print(f"    {'right tempo (share)':<28} {'':>8}   {octave}")
    g = r["grooves"]
    print(f"  synthetic grooves ({len(g['cases'])}, {g['seconds']:g} s each): F / right tempo (share)")
    print(f"    {'':<37}" + "  ".join(f"{f(g['f_measure'][t]):>7} / {f(g['tempo_octave_ok'][t], 2):>5}"
                                       for t in TRACKERS))
    lat = r["latency"]
    for event in ("onset", "bass.hit"):
        s = lat[event]
        print(f"  {event} event latency: p50 {f(s['p50'], 2)} ms  p99 {f(s['p99'], 2)} ms  "
              f"max {f(s['max'], 2)} ms  ({s['missed']} missed)")
    for name, prefix in (("vj", ""), ("madmom", "madmom_")):
        print(f"  {name} beat events vs a {BEAT_TEST_BPM:g} bpm click track: "
              f"offset {lat[prefix + 'beat_offset_ms']} ms "
              f"(spread {lat[prefix + 'beat_offset_spread_ms']} ms; negative: early)")
    print(f"  CPU: {100 * r['cpu_fraction']:.2f}% of one core "
          f"({r['cpu_per_hop_us']} us per {r['block']}-sample hop)")
    if r["cpu_fraction_madmom"] is not None:
        print(f"  CPU with madmom's tracker: {100 * r['cpu_fraction_madmom']:.2f}% of one core "
              f"({r['madmom_frame_us']} us added per 10 ms madmom frame)")
    print(f"  targets met: {r['met']}")


def run_audio_bench(as_json: bool = False, data: Path | None = None, grooves: int | None = None) -> int:
    folder = Path(data) if data is not None else DEFAULT_DATA
    if not folder.is_dir():
        print(f"vj bench audio: {folder} is not a folder "
              "(--data DIR: audio files with same-named .beats files)", file=sys.stderr)
        return 2
    try:
        result = bench_audio(folder, GROOVES if grooves is None else GROOVES[:max(0, grooves)])
    except (FileNotFoundError, AudioFileError) as exc:
        print(f"vj bench audio: {exc}", file=sys.stderr)
        return 2
    return emit(result, as_json, _print_table)


if __name__ == "__main__":
    sys.exit(run_audio_bench(as_json="--json" in sys.argv))
