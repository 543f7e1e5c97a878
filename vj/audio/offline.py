"""Audio files for `vj render --audio FILE`: load, analyse, and look the analysis up by video time.

`analyze_file` runs the whole file through the same `Analyzer` the live show uses, hop by hop,
and keeps every frame, so a rendered video reacts as the live show would have to the same sound
(levels, bands, onsets and hits are causal: they never look ahead, live or offline).

The beat is the exception: a render knows the whole song, so its beats come from the best
offline tracker there is (`vj.audio.offline_beats`: madmom's, else librosa's), which reads
real songs far better than the causal one (beat F 0.92-1.0 against 0.66 on unseen songs). The
`beat` and `bar` events fire at the offline beat times themselves (a render has no output
latency to make up for: `AnalysisConfig.latency` does not apply), and the beat features (`bpm`,
`beat.confidence`, `beat.phase`, `bar.phase`, `beat.count`, `beat.time`) follow those beats,
computed at the exact time asked for, so they agree with the events at any frame rate.

A renderer steps `AudioTrack.at(t)` for t = 0, 1/fps, 2/fps...: each call answers the features
as of time t and the events that fired in (previous t, t], so every event is seen exactly once
whatever the frame rate.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import numpy as np

from vj.audio.analysis import FEATURES, AnalysisConfig, Analyzer, AudioFrame
from vj.audio.offline_beats import BeatGrid, Prefer, track_offline

Beats = Prefer | Literal["online"]  # where a track's beats come from

BEAT_EVENTS = ("beat", "bar")  # the online Analyzer's are replaced by the offline tracker's


class AudioFileError(Exception):
    """An audio file that cannot be used; the message names the file and what is wrong."""


def load_audio(path: str | Path, sample_rate: int = 48000) -> np.ndarray:
    """The file's audio as mono float32 at `sample_rate` (channels averaged, resampled if needed).

    libsndfile (WAV, FLAC, Ogg, MP3, AIFF...) first; other formats (AAC, M4A, the sound of a video
    file) through FFmpeg (PyAV). Raises AudioFileError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path}: no such file")
    try:
        data, rate = _read_soundfile(path)
    except _Unreadable as first:
        try:
            data, rate = _read_av(path)
        except _Unreadable as second:
            raise AudioFileError(f"{path}: not a readable audio file ({first}; {second})") from None
    if data.size == 0:
        raise AudioFileError(f"{path}: the file holds no audio samples")
    mono = np.nan_to_num(data.mean(axis=1) if data.ndim == 2 else data, nan=0.0, posinf=0.0, neginf=0.0)
    if rate != sample_rate:
        import librosa  # only here: importing it costs about a second

        mono = librosa.resample(mono.astype(np.float32), orig_sr=rate, target_sr=sample_rate)
    return np.ascontiguousarray(mono, dtype=np.float32)


class _Unreadable(Exception):
    pass


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise _Unreadable(f"libsndfile: {exc}") from None
    return data, int(rate)


def _read_av(path: Path) -> tuple[np.ndarray, int]:
    try:
        import av
    except ImportError:
        raise _Unreadable("PyAV is not installed") from None
    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise _Unreadable("FFmpeg: no audio stream")
            stream = container.streams.audio[0]
            rate = int(stream.rate or 0)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate or None)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                    rate = out.sample_rate
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except _Unreadable:
        raise
    except Exception as exc:  # noqa: BLE001 - PyAV raises many kinds for a bad file
        raise _Unreadable(f"FFmpeg: {exc}") from None
    if not rate:
        raise _Unreadable("FFmpeg: unknown sample rate")
    data = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    return data[:, None], rate


@dataclass(frozen=True)
class AudioTrack:
    """A whole file's analysis: `times[i]` is the end of frame i (frame 0 is the state before any
    audio, at 0 s), `values[i]` its features in FEATURES order, `events` (time, name) in order;
    `beats` the offline beat grid (its features are taken at the very time asked for) and
    `tracker` the beat tracker that found it ("online": the Analyzer's own, no grid)."""

    path: str
    sample_rate: int
    duration: float
    times: np.ndarray
    values: np.ndarray
    events: tuple[tuple[float, str], ...]
    problems: Mapping[str, int] = field(default_factory=dict)
    beats: BeatGrid | None = None
    tracker: str = "online"
    _event_times: list[float] = field(default_factory=list, repr=False, compare=False)
    _cursor: list[float] = field(default_factory=lambda: [-math.inf], repr=False, compare=False)

    def __post_init__(self) -> None:
        self._event_times[:] = [t for t, _ in self.events]

    def __len__(self) -> int:
        return int(self.times.size)

    def frame(self, index: int) -> AudioFrame:
        """Frame `index` with its own events."""
        t = float(self.times[index])
        before = float(self.times[index - 1]) if index > 0 else -math.inf
        return AudioFrame(t, self._features(index), self._events(before, t))

    @property
    def frames(self) -> list[AudioFrame]:
        """Every frame (built on demand: prefer `at` or `frame` for long files)."""
        return [self.frame(i) for i in range(len(self))]

    def at(self, t: float, since: float | None = None) -> AudioFrame:
        """The features as of time t (the latest frame that ended by t) and the events that fired in
        (since, t]. `since` defaults to the t of the previous call (the start, on the first call),
        so stepping t forward sees every event once; a step backwards (a seek) answers no events."""
        start = self._cursor[0] if since is None else since
        self._cursor[0] = t
        index = max(0, int(np.searchsorted(self.times, t, side="right")) - 1)
        events = self._events(start, t) if t >= start else ()
        features = self._features(index)
        if self.beats is not None:
            at = np.array([min(t, float(self.times[-1]))])  # after the end: as at the end
            features.update({name: float(v[0]) for name, v in self.beats.features(at).items()})
        return AudioFrame(t, features, events)

    def rewind(self) -> None:
        """Forget the previous call's time: the next `at` sees every event from the start."""
        self._cursor[0] = -math.inf

    def _features(self, index: int) -> dict[str, float]:
        return dict(zip(FEATURES, self.values[index].tolist()))

    def _events(self, after: float, until: float) -> tuple[str, ...]:
        lo = bisect.bisect_right(self._event_times, after)
        hi = bisect.bisect_right(self._event_times, until)
        return tuple(name for _, name in self.events[lo:hi])


def analyze_file(path: str | Path, config: AnalysisConfig = AnalysisConfig(), *,
                 beats: Beats = "auto") -> AudioTrack:
    """Loads the file, runs it through an `Analyzer` one hop at a time and takes its beats from the
    offline tracker (module docstring); `beats` picks that tracker (`offline_beats.track_offline`),
    or "online": the Analyzer's own, as a live show would have heard them."""
    samples = load_audio(path, config.sample_rate)
    return analyze_samples(samples, config, str(path), beats=beats)


def analyze_samples(samples: np.ndarray, config: AnalysisConfig = AnalysisConfig(),
                    name: str = "", *, beats: Beats = "auto") -> AudioTrack:
    """`analyze_file` for samples already loaded (mono, at config.sample_rate)."""
    # the online tracker's beats are replaced by the offline tracker's: no need for madmom's here
    analyzer = Analyzer(config if beats == "online" else replace(config, tracker="vj"))
    hop = config.block
    hops = samples.size // hop
    times = np.empty(hops + 1)
    values = np.empty((hops + 1, len(FEATURES)))
    times[0] = 0.0
    values[0] = [analyzer.frame.features[name] for name in FEATURES]
    events: list[tuple[float, str]] = []
    for i in range(hops):
        frame = analyzer.process(samples[i * hop:(i + 1) * hop])
        times[i + 1] = frame.time
        values[i + 1] = [frame.features[name] for name in FEATURES]
        events.extend((frame.time, event) for event in frame.events if beats == "online" or event not in BEAT_EVENTS)
    if beats == "online":
        return AudioTrack(name, config.sample_rate, samples.size / config.sample_rate, times, values,
                          tuple(events), MappingProxyType(dict(analyzer.problems)))

    found = track_offline(samples, config.sample_rate, beats_per_bar=config.beats_per_bar, prefer=beats)
    grid = BeatGrid.of(found, config.min_bpm, config.max_bpm, config.prior_bpm, config.beats_per_bar)
    for column, feature in grid.features(times).items():
        values[:, FEATURES.index(column)] = feature
    for t, downbeat in zip(found.times.tolist(), found.downbeats.tolist()):
        events.append((t, "beat"))
        if downbeat:
            events.append((t, "bar"))
    events.sort(key=lambda event: event[0])  # stable: a beat's `bar` stays after its `beat`
    return AudioTrack(name, config.sample_rate, samples.size / config.sample_rate, times, values,
                      tuple(events), MappingProxyType(dict(analyzer.problems)), grid, found.tracker)
