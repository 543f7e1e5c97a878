"""Live audio analysis: level, bands, onsets, hits, presence, time accumulators and the beat.

`Analyzer.process` takes mono float samples of any length, cuts them into hops of
`AnalysisConfig.block` samples (512 at 48 kHz: 93.75 analysis frames a second) and answers an
`AudioFrame`: every feature below, always finite, and the events that fired since the previous
frame. Per hop, two spectra: the last `window` (1024) samples under a window that weighs the
newest samples most, so an onset shows in the first hop that holds it (onsets: a log-band
spectral flux; band hits: the rise of each band's amplitude), and the last `beat_window` (2048)
under a Hann window (the band levels, and a finer log-band flux for the beat tracker, whose lag
is taken off its predictions); then a few scalar envelopes and the online beat tracker
(`vj.audio.beat`), or, with `tracker: madmom`, madmom's learned online tracker fed the hop's
samples (`vj.audio.madmom_beat`: the beats extra; without it vj's own, with a message).
It is causal and cheap (2-3% of one slow shared core: `vj bench audio`); the live capture and
the offline renderer (`vj.audio.offline`) use the same code, so a rendered video reacts as the
live show would.

Features (`FEATURES`):

| name | range | meaning |
|---|---|---|
| `level` | 0..1 | loudness: RMS over auto-gain (the loudest of the last seconds reads 1), attack/release smoothed |
| `db` | -100..0 | RMS in dBFS, attack/release smoothed, no auto-gain |
| `bass`, `mid`, `high` | 0..1 | band energy (edges in the config) as an amplitude, each auto-gained on its own, smoothed |
| `onset` | 0..1 | spectral-flux onset strength (how much new sound is starting), auto-gained, smoothed |
| `bass.hit`, `mid.hit`, `high.hit` | 0..1 | 1 at an onset in that band (a kick, a snare, a hat), decaying with `hit_release` |
| `presence`, `bass.presence`, `mid.presence`, `high.presence` | 0..1 | slow envelopes of level and bands (`presence_attack` / `presence_release`, seconds): how much the music is "there" |
| `time`, `bass.time`, `mid.time`, `high.time` | seconds, >= 0 | accumulators: advance by `time_speed` x level (or the band) per second, so motion driven by them speeds up with the music and stops in silence |
| `bpm` | min_bpm..max_bpm | the tempo (held through breaks; `prior_bpm` until one is found) |
| `beat.confidence` | 0..1 | how sure the tracker is of the tempo; beats fire only when it is high enough |
| `beat.phase` | 0..1 | position within the beat: 0 at a beat event, rising to 1 at the next (held while no beats fire) |
| `bar.phase` | 0..1 | position within the bar (`beats_per_bar` beats), 0 at a downbeat (the beat with the strongest kick) |
| `beat.count` | 0.. | beat events so far |
| `beat.time` | beats, >= 0 | beats since the first beat (count + phase): a time that runs at the music's tempo |

Events (`EVENTS`): `beat` (a predicted beat, shifted earlier by `latency`), `bar` (a beat that
is a downbeat; comes with its `beat`), `onset` (any onset), `bass.hit`, `mid.hit`, `high.hit`.
An event is reported at the end of the hop in which it happened: an onset is reported at most
one hop (plus the window's reach, about 3 ms) after it starts.

Input hygiene: NaN and infinite samples become 0 and are counted (`problems["nan"]`); samples at
or beyond full scale are counted (`problems["clipped"]`) and clamped to -1..1.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from vj.audio.beat import BeatTracker
from vj.audio.madmom_beat import MadmomBeatTracker, MadmomUnavailable

log = logging.getLogger(__name__)

BANDS = ("bass", "mid", "high")
FEATURES: tuple[str, ...] = (
    "level", "db", "bass", "mid", "high", "onset",
    "bass.hit", "mid.hit", "high.hit",
    "presence", "bass.presence", "mid.presence", "high.presence",
    "time", "bass.time", "mid.time", "high.time",
    "bpm", "beat.confidence", "beat.phase", "bar.phase", "beat.count", "beat.time",
)
EVENTS: tuple[str, ...] = ("beat", "bar", "onset", "bass.hit", "mid.hit", "high.hit")

CLIP_LEVEL = 0.999  # a sample at or above this magnitude counts as clipped (int16 full scale is 0.99997)
COMPRESSION = 1000.0  # log(1 + C * amplitude) for the flux: -60 dBFS maps to log 2
ONSET_BANDS = 32  # log-spaced bands of the onset/hit spectral flux
BEAT_BANDS = 64  # log-spaced bands of the beat tracker's spectral flux
FLUX_LOW_HZ = 30.0
SNARE_BAND = (1500.0, 5000.0)  # Hz: a snare's or clap's crack, above a bass line's harmonics and below the hats
THRESHOLD_SPAN = 0.5  # seconds: the running mean that onset thresholds sit above
THRESHOLD_RATIO = 1.5  # an onset must exceed this many times the running mean...
FLUX_FLOOR = 0.05  # the auto-gain reference of the (log) onset flux never falls below this
BEAT_DELAY = 1.25  # hops: the beat onset strength (Hann window) lags an onset by about this much
WINDOW_TAIL = 128  # samples: the window falls to 0 over its newest this-many samples
TRACKERS = ("vj", "madmom")  # the beat trackers: vj's own (vj.audio.beat), madmom's (vj.audio.madmom_beat)


@dataclass(frozen=True)
class AnalysisConfig:
    """How the audio is analysed. Times are in seconds; every field is checked on creation."""

    sample_rate: int = 48000
    block: int = 512  # samples per analysis hop (<= 512); process() takes any length and buffers
    window: int = 1024  # samples per FFT for onsets and hits (a power of two, >= block)
    beat_window: int = 2048  # samples per FFT for band levels and the beat's onset strength
    bass: tuple[float, float] = (20.0, 150.0)  # band edges in Hz
    mid: tuple[float, float] = (150.0, 2000.0)
    high: tuple[float, float] = (2000.0, 16000.0)
    attack: float = 0.01  # smoothing of level, bands, onset and db when rising
    release: float = 0.15  # ... and when falling
    presence_attack: float = 1.0
    presence_release: float = 3.0
    hit_release: float = 0.25  # time constant of the *.hit envelopes' decay
    onset_threshold: float = 0.1  # an onset: the flux tops 1.5x its running mean + this x its recent peak
    hit_threshold: float = 0.3  # a band hit: the same for the rise of the band's amplitude
    hit_gap: float = 0.06  # at most one onset (and one hit per band) within this time
    gain_release: float = 10.0  # auto-gain: the reference peak decays with this time constant
    gain_floor_db: float = -50.0  # auto-gain never amplifies more than to bring this level to 1
    gate_db: float = -70.0  # below this RMS (dBFS) it is silence: no onsets, hits or beat evidence
    time_speed: float = 2.0  # accumulators advance this many seconds per second at level 1
    latency: float = 0.0  # beat predictions are shifted earlier by this much (output latency), <= 0.2
    beats_per_bar: int = 4
    min_bpm: float = 60.0
    max_bpm: float = 200.0
    prior_bpm: float = 120.0  # the tempo most expected (a log-normal prior, one octave wide)
    tempo_window: float = 8.0  # seconds of onset strength the tempo is estimated from
    beat_hold: float = 2.0  # in silence the beat confidence decays with this time constant
    min_confidence: float = 0.25  # beats fire while the confidence is above this (half: they stop)
    tracker: str = "vj"  # the beat tracker: "vj" (the default) or "madmom" (the beats extra)

    def __post_init__(self) -> None:
        problems = []
        nyquist = self.sample_rate / 2
        if not 8000 <= self.sample_rate <= 192000:
            problems.append(f"sample_rate must be in 8000..192000 Hz, got {self.sample_rate}")
        if not 16 <= self.block <= 512:
            problems.append(f"block must be in 16..512 samples, got {self.block}")
        for name in ("window", "beat_window"):
            size = getattr(self, name)
            if size < self.block or size & (size - 1) or size > 8192:
                problems.append(f"{name} must be a power of two in block..8192, got {size}")
        for name in BANDS:
            lo, hi = getattr(self, name)
            if not 0 <= lo < hi <= nyquist:
                problems.append(f"{name} band must satisfy 0 <= low < high <= {nyquist:g} Hz, got {(lo, hi)}")
        for name in ("attack", "release", "presence_attack", "presence_release", "hit_release",
                     "gain_release", "hit_gap", "tempo_window", "beat_hold"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                problems.append(f"{name} must be a finite number of seconds >= 0, got {value}")
        if not 0 <= self.latency <= 0.2:
            problems.append(f"latency must be in 0..0.2 s, got {self.latency}")
        if not 1 <= self.beats_per_bar <= 16:
            problems.append(f"beats_per_bar must be in 1..16, got {self.beats_per_bar}")
        if not 20 <= self.min_bpm < self.prior_bpm < self.max_bpm <= 400:
            problems.append(f"bpm settings must satisfy 20 <= min_bpm < prior_bpm < max_bpm <= 400, got "
                            f"{self.min_bpm} < {self.prior_bpm} < {self.max_bpm}")
        if self.tempo_window < 4 * 60 / self.min_bpm:
            problems.append(f"tempo_window must hold 4 beats at min_bpm ({4 * 60 / self.min_bpm:g} s), got "
                            f"{self.tempo_window}")
        for name in ("onset_threshold", "hit_threshold", "min_confidence"):
            if not 0 < getattr(self, name) < 1:
                problems.append(f"{name} must be in 0..1 (exclusive), got {getattr(self, name)}")
        for name in ("gain_floor_db", "gate_db"):
            if not -140 <= getattr(self, name) <= 0:
                problems.append(f"{name} must be in -140..0 dBFS, got {getattr(self, name)}")
        if not 0 <= self.time_speed <= 100:
            problems.append(f"time_speed must be in 0..100, got {self.time_speed}")
        if self.tracker not in TRACKERS:
            problems.append(f"tracker must be one of {', '.join(TRACKERS)}, got {self.tracker!r}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def hop_seconds(self) -> float:
        return self.block / self.sample_rate


@dataclass(frozen=True)
class AudioFrame:
    """The analysis as of `time`: every name in FEATURES (always finite) and the events since the
    previous frame, in the order they fired (one entry per occurrence)."""

    time: float  # stream time (s) at the end of the samples processed so far
    features: Mapping[str, float] = field(default_factory=dict)
    events: tuple[str, ...] = ()


def analysis_window(size: int, tail: int = WINDOW_TAIL) -> np.ndarray:
    """A window that rises as a half Hann over all but its last `tail` samples and falls to 0 over
    those: the newest samples weigh most, so an onset shows in the first hop that contains it."""
    tail = min(tail, size // 4)
    rise = np.sin(0.5 * np.pi * (np.arange(size - tail) + 0.5) / (size - tail)) ** 2
    fall = np.cos(0.5 * np.pi * (np.arange(tail) + 0.5) / tail) ** 2
    return np.concatenate([rise, fall])


def _log_bands(sample_rate: int, size: int, count: int, top: float) -> list[tuple[int, int]]:
    """Log-spaced FFT bin ranges [lo, hi) from FLUX_LOW_HZ to `top`, each at least one bin wide."""
    bin_hz = sample_rate / size
    edges = np.geomspace(FLUX_LOW_HZ, min(top, sample_rate / 2), count + 1) / bin_hz
    bins = sorted({max(1, round(e)) for e in edges})
    return [(lo, hi) for lo, hi in zip(bins[:-1], bins[1:])]


def _band_bins(sample_rate: int, size: int, band: tuple[float, float]) -> tuple[int, int]:
    """The FFT bins [lo, hi) whose centre frequency is in the band (at least one)."""
    bin_hz = sample_rate / size
    lo = max(1, math.ceil(band[0] / bin_hz))
    hi = max(lo + 1, math.floor(band[1] / bin_hz) + 1)
    return lo, min(hi, size // 2 + 1)


def _power(stream: np.ndarray, span: int, hop: int, hops: int, window: np.ndarray) -> np.ndarray:
    """|FFT|^2 of the `hops` windows that end at each hop end of `stream` (which starts `span` -
    `hop` samples before the first hop)."""
    size = window.size
    start = stream[span - size:]
    if hops == 1:
        frames = start[None, :size]
    else:
        step = start.strides[0]
        frames = np.lib.stride_tricks.as_strided(start, (hops, size), (hop * step, step), writeable=False)
    spectrum = np.fft.rfft(frames * window, axis=1)
    return spectrum.real ** 2 + spectrum.imag ** 2


class _BandSums:
    """Sums of |FFT|^2 over bin ranges [lo, hi), scaled: contiguous log bands by `reduceat`, any
    other ranges from a running sum."""

    def __init__(self, ranges: list[tuple[int, int]], contiguous: list[tuple[int, int]],
                 scale: float) -> None:
        self.ranges = np.array(ranges, dtype=np.intp).reshape(-1, 2)
        self.starts = np.array([lo for lo, _ in contiguous], dtype=np.intp)
        self.end = contiguous[-1][1] if contiguous else 0
        self.scale = scale

    def __call__(self, power: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(sums over `ranges`, sums over the contiguous bands), each hops x bands."""
        bands = np.add.reduceat(power[:, :self.end], self.starts, axis=1) * self.scale
        if not len(self.ranges):
            return np.zeros((power.shape[0], 0)), bands
        total = np.cumsum(power, axis=1)
        lo, hi = self.ranges[:, 0], self.ranges[:, 1]
        sums = np.maximum(total[:, hi - 1] - total[:, lo - 1], 0.0) * self.scale  # (rounding: never < 0)
        return sums, bands


def _rise(logs: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Half-wave rectified frame-to-frame difference; `last` is the row before the first."""
    before = last[None, :] if logs.shape[0] == 1 else np.vstack([last, logs[:-1]])
    return np.maximum(logs - before, 0.0)


class _Smoother:
    """One-pole attack/release follower."""

    __slots__ = ("up", "down", "value")

    def __init__(self, dt: float, attack: float, release: float, value: float = 0.0) -> None:
        self.up = 1.0 - math.exp(-dt / attack) if attack > 0 else 1.0
        self.down = 1.0 - math.exp(-dt / release) if release > 0 else 1.0
        self.value = value

    def __call__(self, x: float) -> float:
        self.value += (self.up if x > self.value else self.down) * (x - self.value)
        return self.value


class _AutoGain:
    """x / (the recent peak of x), the peak decaying exponentially but never below `floor`."""

    __slots__ = ("decay", "floor", "peak")

    def __init__(self, dt: float, release: float, floor: float) -> None:
        self.decay = math.exp(-dt / release) if release > 0 else 0.0
        self.floor = floor
        self.peak = floor

    def __call__(self, x: float) -> float:
        self.peak = max(x, self.peak * self.decay, self.floor)
        return min(1.0, x / self.peak)


class _OnsetDetector:
    """An onset when the flux rises above THRESHOLD_RATIO x its running mean (over about
    THRESHOLD_SPAN) plus `threshold` x its recent peak; at most one per `gap`."""

    __slots__ = ("gain", "threshold", "gap", "since", "previous", "mean", "rate")

    def __init__(self, dt: float, config: AnalysisConfig, threshold: float, floor: float) -> None:
        self.gain = _AutoGain(dt, config.gain_release, floor)
        self.threshold = threshold
        self.gap = max(1, round(config.hit_gap / dt))
        self.since = self.gap
        self.previous = 0.0
        self.mean = 0.0
        self.rate = 1.0 - math.exp(-dt / THRESHOLD_SPAN)

    def __call__(self, flux: float) -> tuple[bool, float]:
        """(an onset now, the flux auto-gained to 0..1)."""
        norm = self.gain(flux)
        self.since += 1
        hit = (flux > self.previous and self.since >= self.gap
               and flux > THRESHOLD_RATIO * self.mean + self.threshold * self.gain.peak)
        if hit:
            self.since = 0
        self.previous = flux
        self.mean += self.rate * (flux - self.mean)
        return hit, norm


def beat_tracker(c: AnalysisConfig) -> tuple[BeatTracker | MadmomBeatTracker, str, str | None]:
    """The configured beat tracker, its name and None; or, where madmom's is asked for but cannot
    load, vj's own, "vj" and why (also logged: the show goes on)."""
    if c.tracker == "madmom":
        try:
            madmom = MadmomBeatTracker(
                c.sample_rate, c.sample_rate / c.block, min_bpm=c.min_bpm, max_bpm=c.max_bpm,
                prior_bpm=c.prior_bpm, beats_per_bar=c.beats_per_bar, hold=c.beat_hold,
                min_confidence=c.min_confidence)
            log.info("beat tracker: madmom (online RNN + DBN; its models are CC BY-NC-SA 4.0, non-commercial)")
            return madmom, "madmom", None
        except MadmomUnavailable as exc:
            message = f"{exc}; using vj's beat tracker"
            log.warning("%s", message)
    else:
        message = None
    vj = BeatTracker(
        c.sample_rate / c.block, min_bpm=c.min_bpm, max_bpm=c.max_bpm, prior_bpm=c.prior_bpm,
        window=c.tempo_window, latency=c.latency, delay=BEAT_DELAY * c.block / c.sample_rate,
        beats_per_bar=c.beats_per_bar, hold=c.beat_hold,
        min_confidence=c.min_confidence)
    return vj, "vj", message


class Analyzer:
    """Live audio features and beat from mono samples (module docstring). Not thread-safe: one
    audio thread calls `process`."""

    def __init__(self, config: AnalysisConfig = AnalysisConfig()) -> None:
        self.config = c = config
        self._hop = c.block
        self._dt = dt = c.hop_seconds
        self._span = max(c.window, c.beat_window)  # samples each hop looks back over
        self._history = np.zeros(self._span - c.block)  # the samples before the next hop
        self._pending = np.zeros(0)  # samples that do not yet fill a hop
        self._received = 0  # samples received
        self._problems = {"nan": 0, "clipped": 0}

        # onsets and hits: a short window weighted to its newest samples, log bands for the flux
        self._onset_window = analysis_window(c.window)
        flux = _log_bands(c.sample_rate, c.window, ONSET_BANDS, max(c.high[1], 16000.0))
        self._onset_bands = _BandSums([], flux, 2.0 / (c.window * float(np.sum(self._onset_window ** 2))))
        centres = np.array([math.sqrt(lo * max(lo, hi - 1)) for lo, hi in flux]) * c.sample_rate / c.window
        self._hit_bands = np.zeros((len(flux), 4))  # flux bands -> bass, mid, high, snare
        for j, (lo, hi) in enumerate([getattr(c, name) for name in BANDS] + [SNARE_BAND]):
            inside = np.flatnonzero((centres >= lo) & (centres < hi))
            if inside.size == 0:  # a band narrower than the flux bands: the nearest one
                inside = np.array([int(np.argmin(np.abs(np.log(centres / math.sqrt(max(lo, 1.0) * hi)))))])
            self._hit_bands[inside, j] = 1.0
        self._last_onset_log = np.zeros(len(flux))
        self._last_band_amp = np.zeros(4)

        # band levels and the beat's onset strength: a longer Hann window, finer log bands
        self._beat_window = np.hanning(c.beat_window)
        self._beat_bands = _BandSums(
            [_band_bins(c.sample_rate, c.beat_window, getattr(c, name)) for name in BANDS],
            _log_bands(c.sample_rate, c.beat_window, BEAT_BANDS, 16000.0),
            2.0 / (c.beat_window * float(np.sum(self._beat_window ** 2))))
        self._last_beat_log = np.zeros(len(self._beat_bands.starts))

        floor = 10.0 ** (c.gain_floor_db / 20.0)
        self._gate = 10.0 ** (c.gate_db / 20.0)
        self._gains = [_AutoGain(dt, c.gain_release, floor) for _ in range(4)]  # level, bass, mid, high
        self._smooth = [_Smoother(dt, c.attack, c.release) for _ in range(5)]  # level, bands, onset
        self._rms = _Smoother(dt, c.attack, c.release)
        self._presence = [_Smoother(dt, c.presence_attack, c.presence_release) for _ in range(4)]
        self._detectors = [_OnsetDetector(dt, c, c.onset_threshold, FLUX_FLOOR)]  # onset,
        self._detectors += [_OnsetDetector(dt, c, c.hit_threshold, floor) for _ in BANDS]  # bass, mid, high
        self._hit_decay = math.exp(-dt / c.hit_release) if c.hit_release > 0 else 0.0
        self._hits = [0.0, 0.0, 0.0]
        self._times = [0.0, 0.0, 0.0, 0.0]
        # the beat tracker, which one is in use, and why not the one asked for (None: it is)
        self.beat, self.tracker, self.tracker_message = beat_tracker(c)
        self._frame = AudioFrame(0.0, self._features(), ())

    @property
    def problems(self) -> Mapping[str, int]:
        """Counts of input problems: "nan" (non-finite samples replaced by 0), "clipped"."""
        return MappingProxyType(dict(self._problems))

    @property
    def frame(self) -> AudioFrame:
        """The latest frame (no events: those went out with `process`'s answer)."""
        return AudioFrame(self._frame.time, self._frame.features, ())

    def process(self, samples: np.ndarray) -> AudioFrame:
        """Analyses mono samples (any length, any float or int dtype scaled to -1..1)."""
        x = np.asarray(samples, dtype=np.float64)
        if x.ndim == 2 and 1 in x.shape:
            x = x.reshape(-1)
        if x.ndim != 1:
            raise ValueError(f"samples must be mono (one dimension), got shape {np.shape(samples)}")
        if x.size:
            finite = np.isfinite(x)
            if not finite.all():
                self._problems["nan"] += int(x.size - np.count_nonzero(finite))
                x = np.where(finite, x, 0.0)
            loud = np.abs(x) >= CLIP_LEVEL
            if loud.any():
                self._problems["clipped"] += int(np.count_nonzero(loud))
                x = np.clip(x, -1.0, 1.0)
        self._received += x.size
        data = np.concatenate([self._pending, x]) if self._pending.size else x
        hops = data.size // self._hop
        events: list[str] = []
        if hops:
            used = data[:hops * self._hop]
            self._pending = data[hops * self._hop:].copy()
            self._analyse(used, hops, events)
        else:
            self._pending = data.copy()
        self._frame = AudioFrame(self._received / self.config.sample_rate, self._features(), tuple(events))
        return self._frame

    # -- per hop ---------------------------------------------------------------------------------

    def _analyse(self, used: np.ndarray, hops: int, events: list[str]) -> None:
        hop = self._hop
        stream = np.concatenate([self._history, used])
        self._history = stream[stream.size - (self._span - hop):].copy()
        rms = np.sqrt(np.einsum("ij,ij->i", *(used.reshape(hops, hop),) * 2) / hop)

        _, onset_power = self._onset_bands(_power(stream, self._span, hop, hops, self._onset_window))
        onset_logs = np.log1p(COMPRESSION * np.sqrt(onset_power))
        flux = np.empty((hops, 6))  # onset, bass, mid, high (for the detectors), beat, snare
        flux[:, 0] = _rise(onset_logs, self._last_onset_log).sum(axis=1) / onset_logs.shape[1]
        self._last_onset_log = onset_logs[-1].copy()
        # band hits: the rise of each band's amplitude (linear, so a faint leak of a hat into the
        # mid band does not count as much as a snare's body)
        band_amp = np.sqrt(onset_power @ self._hit_bands)
        flux[:, [1, 2, 3, 5]] = _rise(band_amp, self._last_band_amp)
        self._last_band_amp = band_amp[-1].copy()

        band_power, beat_power = self._beat_bands(_power(stream, self._span, hop, hops, self._beat_window))
        amplitude = np.sqrt(band_power)
        beat_logs = np.log1p(COMPRESSION * np.sqrt(beat_power))
        flux[:, 4] = _rise(beat_logs, self._last_beat_log).sum(axis=1) / beat_logs.shape[1]
        self._last_beat_log = beat_logs[-1].copy()
        for i in range(hops):
            self._step(float(rms[i]), amplitude[i].tolist(), flux[i].tolist(), events, used[i * hop:(i + 1) * hop])

    def _step(self, rms: float, bands: list[float], flux: list[float], events: list[str],
              samples: np.ndarray) -> None:
        dt = self._dt
        if rms < self._gate:  # silence
            flux = [0.0] * 6
        self._rms(rms)
        levels = [self._smooth[0](self._gains[0](rms))]
        for j in range(3):
            levels.append(self._smooth[j + 1](self._gains[j + 1](bands[j])))
        for j in range(4):
            self._presence[j](levels[j])
            self._times[j] += dt * self.config.time_speed * levels[j]

        onset, norm = self._detectors[0](flux[0])
        self._smooth[4](norm)
        self._hits = [h * self._hit_decay for h in self._hits]
        if onset:
            events.append("onset")
        for j, name in enumerate(BANDS):
            hit, _ = self._detectors[j + 1](flux[j + 1])
            if hit:
                self._hits[j] = 1.0
                events.append(f"{name}.hit")

        beat = self.beat
        if isinstance(beat, BeatTracker):
            update = beat.update(flux[4], flux[1], flux[5])
        else:  # madmom's tracker listens to the hop's samples itself
            update = beat.update(samples, flux[1])
        if update.beat:
            events.append("beat")
        if update.bar:
            events.append("bar")

    def _features(self) -> dict[str, float]:
        beat = self.beat
        level, bass, mid, high, onset = (s.value for s in self._smooth)
        presence = [s.value for s in self._presence]
        db = 20.0 * math.log10(self._rms.value) if self._rms.value > 1e-5 else -100.0
        count = beat.count
        values = {
            "level": level, "db": min(0.0, max(-100.0, db)), "bass": bass, "mid": mid, "high": high,
            "onset": onset,
            "bass.hit": self._hits[0], "mid.hit": self._hits[1], "high.hit": self._hits[2],
            "presence": presence[0], "bass.presence": presence[1], "mid.presence": presence[2],
            "high.presence": presence[3],
            "time": self._times[0], "bass.time": self._times[1], "mid.time": self._times[2],
            "high.time": self._times[3],
            "bpm": beat.bpm, "beat.confidence": beat.confidence, "beat.phase": beat.phase,
            "bar.phase": beat.bar_phase, "beat.count": float(count),
            "beat.time": max(0.0, count - 1 + beat.phase) if count else 0.0,
        }
        return values
