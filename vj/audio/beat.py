"""The online beat tracker: tempo, beat events, beat and bar phase from an onset-strength envelope.

Causal: it is fed one onset-strength value per analysis frame (93.75 frames a second for a 512
hop at 48 kHz) and never looks ahead. Beats are *predicted*, so a beat event costs no detection
delay and can even be moved earlier to make up for the output's latency.

1. Tempo. Every TEMPO_INTERVAL the last `window` seconds of onset strength, less its local mean,
   half-wave rectified and weighted towards the recent (RECENCY), are autocorrelated, and the
   weighting window's own autocorrelation is divided out (else a long period scores less only for
   overlapping the window less: that bias read slow grooves in double time). Each candidate tempo
   (min_bpm to max_bpm, 0.35% apart) scores the mean autocorrelation at one to four of its periods
   (a comb; while the window fills, only the teeth it holds twice over: a tooth not heard yet
   counted as 0 read a slow waltz fast for its first 8 s), plus its half period when the music is
   subdivided further still, times a log-normal prior around `prior_bpm`. A small Bayesian filter
   over the candidates (a Gaussian drift in log-tempo plus a uniform floor, so that a new tempo
   takes over within 2-3 s) chooses the tempo; parabolic interpolation refines it.
1b. Metrical level. The onset strength alone cannot tell 85 bpm with eighth-note hats from 170 bpm
   (or 87 from 174): every multiple of a period is periodic too. A listener hears the beat where the
   drums put it: the snare or clap on 2 and 4 and not on 1 and 3 (rock, hip-hop, house, drum and
   bass alike), or a kick on every beat and not between (four on the floor); the hats subdivide.
   So the Analyzer also feeds the kick's onset strength (the bass band) and the snare's (1.5-5 kHz,
   above a bass line's harmonics and below the hats), and each level (half, same, double the
   filter's tempo) gets as evidence that contrast: the snare's periodicity at two of its periods
   less that at one, or the kick's at one period less that at half of one, whichever is more,
   smoothed over LEVEL_TIME and times the same tempo prior. The fastest level with LEVEL_RATIO of
   the best evidence is the beat; a new level takes over after LEVEL_VOTES estimates in a row.
   Not before the slowest level's snare lag (two of its beats) is within the comb's reach: from
   two seconds of clicks the snare band's contrast read 90 bpm as 180.
   Where no level's contrast reaches LEVEL_FLOOR the filter's tempo stands: on real recordings
   (a waltz, country, a Greek song) the two bands hold guitars, strings and voices as well as
   drums, and a weak contrast there pointed the wrong way as often as the right one, while the
   filter alone read them right (docs/benchmarks.md).
2. Confidence: how far the chosen comb score stands above the mean comb score, smoothed over
   about a second. An onset strength too faint to be a rhythm (ONSET_FLOOR) scores nothing.
   After SILENCE of nothing at all the tempo is held and the confidence decays with time
   constant `hold`.
3. Beats. A cumulative beat score C[n] = (1 - a) o[n] + a max_k w(k) C[n - k], with k from half a
   period to two periods and w a log-Gaussian in k / period, is high where onsets keep coming one
   period apart. Half a period after each beat the score is projected one period ahead (with no
   onsets) and the next beat goes where that projection, under a Gaussian centred one period
   after the last beat, peaks. A beat fires when its predicted frame, less `latency` and the
   onset strength's own `delay`, arrives, only while the confidence is above `min_confidence`
   (beats stop below half of it); between onsets the last period carries the grid on (a flywheel
   through breaks). On locking, and after every beat, the phase is checked against all others
   over the last PHASE_BEATS beats; a clearly stronger one for PHASE_VOTES beats in a row takes
   over (locked onto off-beats, or the music shifted).
4. Bars: each position in the bar accumulates the accent (the Analyzer passes the bass onset
   strength: the kick) found at its beats; the strongest position is the downbeat (it changes
   only when another is clearly stronger). With no accent to go by (a kick on every beat) the bar
   start is stable but arbitrary.

Why vj's own tracker (the default; madmom's learned one is an option, vj.audio.madmom_beat): on
synthetic grooves from 70 to 174 bpm in five drum styles (vj.bench.grooves) it picks the right
tempo octave on every one; on the annotated excerpts in shared/data/beats it scores F 0.99 and
0.64 (the second, a 74 bpm Greek song, read in double time), and on two recordings tuned on by no
one (a ballroom waltz and a country song, both about 84 bpm) the right tempo, F 0.93 and 0.97, at
about 1.5% of a core (`vj bench audio`, docs/benchmarks.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TEMPO_INTERVAL = 0.2  # seconds between tempo estimates
MIN_TEMPO_SPAN = 2.0  # seconds of onset strength before the first tempo estimate
HARMONICS = np.arange(1, 5, dtype=np.float64)  # the comb: autocorrelation at 1..4 periods
COMB_REACH = 0.5  # a comb tooth counts once the onset strength heard is twice its lag
SUBDIVISION_WEIGHT = 0.5  # the half-beat's support for a tempo...
SUBDIVISION_RATIO = 2.0  # ...at most this many times the quarter beat's periodicity
TEMPO_STEP = 0.005  # octaves between tempo candidates (0.35%: 0.4 bpm at 120)
TEMPO_DRIFT = 0.02  # octaves: standard deviation of the tempo's drift per estimate
TEMPO_FLOOR = 2e-3  # share of belief spread evenly per estimate (lets a new tempo take over)
SCORE_POWER = 4.0  # sharpens the comb score into the filter's likelihood
CONFIDENCE_TIME = 1.0  # seconds: smoothing of the confidence
SALIENCE_RANGE = (0.05, 0.2)  # comb salience mapped onto confidence 0..1
CUMULATIVE_WEIGHT = 0.9  # a: how much of the cumulative score is history
TIGHTNESS = 5.0  # width of w(k): larger follows one period more strictly
PREDICT_WIDTH = 0.12  # the Gaussian around the expected next beat, as a fraction of the period
BAR_DECAY = 0.8  # per bar: memory of the accents at each bar position
BAR_SWITCH = 1.25  # another position must be this much stronger to become the downbeat
PHASE_BEATS = 8  # beats the phase check looks back over
PHASE_DECAY = 0.85  # per beat back: weight of older beats in the phase check
PHASE_SWITCH = 1.25  # another phase must be this much stronger...
PHASE_VOTES = 3  # ...at this many beats in a row to move the grid
PHASE_TOLERANCE = 0.15  # of a period: closer than this is the same phase
RECENCY = 4.0  # seconds: onsets this much older count 1/e as much in the tempo estimate
ONSET_FLOOR = 0.02  # onset strength (rectified, less its local mean) below which there is no rhythm
SILENCE = 0.5  # seconds of silence after which the tempo is held and the confidence decays
LOCAL_MEAN = 0.15  # seconds: the running mean taken off the onset strength for the tempo
UNBIAS_FLOOR = 0.25  # the recency window's own autocorrelation divided out, down to this share
LEVELS = (0.5, 1.0, 2.0)  # metrical levels around the filter's tempo the beat may be at
LEVEL_RATIO = 0.8  # the fastest level whose drum evidence is this share of the best is the beat
# drum contrast below this leaves the filter's tempo as it is (0.1 doubled a country song, 0.3 slow grooves)
LEVEL_FLOOR = 0.2
LEVEL_TOLERANCE = 0.03  # of a period: where the drums' periodicity is looked for around a level's
LEVEL_TIME = 3.0  # seconds: smoothing of each level's periodicity
LEVEL_VOTES = 3  # estimates in a row a new metrical level needs to take over


def tempo_prior(bpm: float, prior_bpm: float = 120.0, octaves: float = 1.0) -> float:
    """The log-normal tempo prior (1 at `prior_bpm`)."""
    return math.exp(-0.5 * (math.log2(bpm / prior_bpm) / octaves) ** 2)


def periodicity(ac: np.ndarray | None, period: float) -> float:
    """An autocorrelation's peak within LEVEL_TOLERANCE of `period` frames (0 with none)."""
    if ac is None:
        return 0.0
    near = period * (1.0 + LEVEL_TOLERANCE * np.linspace(-1.0, 1.0, 7))
    return float(np.max(np.interp(near, np.arange(ac.size), ac, right=0.0)))


def drum_evidence(kick: np.ndarray | None, snare: np.ndarray | None, period: float) -> float:
    """How much the drums say the beat lasts `period` frames (step 1b): the snare on 2 and 4 and not
    on 1 and 3 (its periodicity at two periods less that at one), or the kick on every beat and not
    between (at one period less that at half of one), whichever is more; `kick` and `snare` are
    their onset strengths' normalised autocorrelations. The contrast, not the periodicity alone:
    a band periodic at every multiple of its period says nothing of which multiple is the beat
    (the snare band of a country song strummed on every beat read as a backbeat at double time)."""
    return max(periodicity(snare, 2.0 * period) - periodicity(snare, period),
               periodicity(kick, period) - periodicity(kick, 0.5 * period), 0.0)


def drum_periodicity(kick: np.ndarray | None, snare: np.ndarray | None, period: float) -> float:
    """The drums' periodicity at a beat of `period` frames, without drum_evidence's contrast: the
    snare's at two periods or the kick's at one, whichever is more. Only good for slowing down: a
    slower level inherits every periodicity of a faster one, so it says something only where the
    slower level has clearly more (vj.audio.offline_beats)."""
    return max(periodicity(snare, 2.0 * period), periodicity(kick, period))


def fastest_level(evidence: dict[float, float]) -> float:
    """The beat's level among {factor: evidence} (step 1b): the fastest with LEVEL_RATIO of the
    best evidence; 1 when there is too little evidence (LEVEL_FLOOR) to go by."""
    top = max(evidence.values(), default=0.0)
    if top < LEVEL_FLOOR:
        return 1.0
    return max(f for f, e in evidence.items() if e >= LEVEL_RATIO * top)


@dataclass(frozen=True)
class BeatUpdate:
    """What one frame produced: did a beat fire, and was it a downbeat."""

    beat: bool = False
    bar: bool = False


class _SeriesRing:
    """The last `size` values of a per-frame series, stored twice over so that any run of recent
    frames is one contiguous slice (a view, no copy)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data = np.zeros(2 * size)

    def put(self, n: int, value: float) -> None:
        i = n % self.size
        self._data[i] = self._data[i + self.size] = value

    def recent(self, n: int, length: int) -> np.ndarray:
        """The `length` frames before frame n (oldest first; frame n itself excluded)."""
        start = (n - length) % self.size
        return self._data[start:start + length]


class TempoEstimator:
    """Steps 1 and 2 of the module docstring: the tempo, and how sure of it, from the recent onset
    strength. `update` is called every TEMPO_INTERVAL; `hold` instead while there is silence."""

    def __init__(self, frame_rate: float, size: int, *, min_bpm: float, max_bpm: float, prior_bpm: float,
                 prior_octaves: float, hold: float) -> None:
        self.frame_rate = frame_rate
        self._hold_decay = math.exp(-TEMPO_INTERVAL / hold) if hold > 0 else 0.0
        self._conf_rate = 1.0 - math.exp(-TEMPO_INTERVAL / CONFIDENCE_TIME)
        self._fft = 1 << (2 * size - 1).bit_length()
        self._mean_kernel = np.ones(max(1, round(LOCAL_MEAN * frame_rate)))
        self._mean_kernel /= self._mean_kernel.size
        self._recency = np.exp((np.arange(size) + 1 - size) / (RECENCY * frame_rate))

        # tempo candidates, their comb positions, the prior and the filter's drift
        count = max(2, math.ceil(math.log2(max_bpm / min_bpm) / TEMPO_STEP) + 1)
        octaves = np.linspace(math.log2(min_bpm), math.log2(max_bpm), count)
        self._bpms = 2.0 ** octaves
        self._periods = 60.0 * frame_rate / self._bpms
        self._comb_at = self._periods[:, None] * HARMONICS[None, :]
        self._prior_bpm, self._prior_octaves = prior_bpm, prior_octaves
        self._prior = np.exp(-0.5 * ((octaves - math.log2(prior_bpm)) / prior_octaves) ** 2)
        self._octave_step = step = float(octaves[1] - octaves[0])
        reach = max(1, math.ceil(3 * TEMPO_DRIFT / step))
        drift = np.exp(-0.5 * (np.arange(-reach, reach + 1) * step / TEMPO_DRIFT) ** 2)
        self._drift = drift / drift.sum()  # a convolution along the log-spaced candidates
        self._belief = np.full(self._bpms.size, 1.0 / self._bpms.size)

        self.bpm = float(prior_bpm)
        self.confidence = 0.0
        self._votes = 0  # estimates in a row that chose another metrical level
        self._strengths: dict[float, float] = {}  # smoothed drum evidence per level (_level)
        self._levels_bpm: float | None = None  # the filter's tempo those levels are relative to
        self._level_rate = 1.0 - math.exp(-TEMPO_INTERVAL / LEVEL_TIME)

    def hold(self) -> None:
        """Silence (or nothing periodic): the tempo is held and the confidence decays."""
        self.confidence *= self._hold_decay

    def _autocorrelation(self, odf: np.ndarray) -> np.ndarray | None:
        """The recency-weighted autocorrelation of the rectified onset strength less its local
        mean, per lag in frames; None when there is nothing."""
        span = odf.size
        local = np.convolve(odf, self._mean_kernel, mode="same")
        x = np.maximum(odf - local, 0.0)
        weights = self._recency[self._recency.size - span:]
        x *= weights
        ac = self._ac(x)
        if ac[0] <= 0.0:
            return None
        # normalised by its energy, but never by less than that of a faint onset strength: the
        # flicker of a steady tone is not a rhythm however periodic it is
        ac /= max(ac[0], float(np.sum(weights ** 2)) * ONSET_FLOOR ** 2)
        # the window's own fall with the lag divided out: a longer period must not score less for
        # overlapping the weighted window less (that bias chose double time on slow grooves)
        window = self._ac(weights)
        return ac * (window[0] / np.maximum(window, UNBIAS_FLOOR * window[0]))

    def _ac(self, x: np.ndarray) -> np.ndarray:
        spectrum = np.fft.rfft(x, self._fft)
        return np.fft.irfft(spectrum.real ** 2 + spectrum.imag ** 2, self._fft)[:x.size]

    def update(self, odf: np.ndarray, drums: tuple[np.ndarray, np.ndarray] | None = None) -> bool:
        """One estimate from the last frames of onset strength (oldest first, at most `size`) and of
        the kick's and the snare's (`Analyzer`: the bass band's rise and the snare band's), which
        choose the metrical level; True when the tempo changed."""
        span = odf.size
        ac = self._autocorrelation(odf)
        if ac is None:
            self.hold()
            return False
        lags = np.arange(span)
        # only the comb's teeth that half the onset strength heard so far overlaps: a tooth beyond
        # that says nothing yet, and counted as 0 it read slow music fast while the window filled
        teeth = self._comb_at <= COMB_REACH * span
        comb = (np.interp(self._comb_at, lags, ac, right=0.0) * teeth).sum(axis=1) / np.maximum(1, teeth.sum(axis=1))
        # The half-beat supports a tempo when the music is subdivided further still (its quarter
        # beat is periodic too): it sits in the middle of a metrical hierarchy. A bare click
        # track (no subdivisions) gets no such support for half its tempo.
        half = np.interp(self._periods / 2, lags, ac, right=0.0)
        quarter = np.interp(self._periods / 4, lags, ac, right=0.0)
        comb = comb + SUBDIVISION_WEIGHT * np.minimum(half, SUBDIVISION_RATIO * quarter)
        weighted = comb * self._prior
        self._belief = np.convolve(self._belief, self._drift, mode="same")
        self._belief = (1.0 - TEMPO_FLOOR) * self._belief + TEMPO_FLOOR / self._belief.size
        self._belief *= np.maximum(weighted, 1e-12) ** SCORE_POWER
        self._belief /= self._belief.sum()
        best = int(np.argmax(self._belief))
        bpm = float(self._bpms[best])
        if 0 < best < weighted.size - 1:  # parabolic refinement on the comb score
            a, b, c = weighted[best - 1], weighted[best], weighted[best + 1]
            denom = a - 2 * b + c
            if denom < 0:
                shift = float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5))
                bpm = float(2.0 ** (math.log2(bpm) + shift * self._octave_step))
        salience = float(comb[best] - comb.mean())
        lo, hi = SALIENCE_RANGE
        target = min(1.0, max(0.0, (salience - lo) / (hi - lo)))
        self.confidence += self._conf_rate * (target - self.confidence)
        if drums is not None:  # each to a mean of 1 (ONSET_FLOOR is the full onset strength's)
            kick, snare = (self._autocorrelation(x / max(1e-12, float(x.mean()))) for x in drums)
            bpm = self._level(bpm, kick, snare)
        if abs(bpm - self.bpm) > 1e-6:
            self.bpm = bpm
            return True
        return False


    def _level(self, bpm: float, kick: np.ndarray | None, snare: np.ndarray | None) -> float:
        """The metrical level of the beat around the filter's `bpm` (LEVELS), by the drums (step 1b):
        each level's contrast (drum_evidence), smoothed over LEVEL_TIME and tipped by the tempo
        prior; the fastest level with about as much evidence as the best is the beat. A new level
        takes over after LEVEL_VOTES estimates in a row. With no clear contrast (LEVEL_FLOOR) the
        filter's tempo stands."""
        self._follow_levels(bpm)
        levels = [f for f in LEVELS if self._bpms[0] <= bpm * f <= self._bpms[-1]]
        if kick is not None and 2.0 * 60.0 * self.frame_rate / (bpm * min(levels)) > COMB_REACH * kick.size:
            # the slowest level's snare (two of its beats) not measurable yet: the level in force
            # stands, or the filter's tempo before any level was chosen
            return bpm * 2.0 ** round(math.log2(self.bpm / bpm)) if self._strengths else bpm
        for f in levels:
            evidence = drum_evidence(kick, snare, 60.0 * self.frame_rate / (bpm * f))
            evidence *= tempo_prior(bpm * f, self._prior_bpm, self._prior_octaves)
            before = self._strengths.get(f, evidence)
            self._strengths[f] = before + self._level_rate * (evidence - before)
        candidate = bpm * fastest_level({f: self._strengths.get(f, 0.0) for f in levels})
        if 0.7 < candidate / self.bpm < 1.4:  # the level in force: follow the filter
            self._votes = 0
            return candidate
        self._votes += 1
        if self._votes >= LEVEL_VOTES:
            self._votes = 0
            return candidate
        return bpm * 2.0 ** round(math.log2(self.bpm / bpm))  # not yet: the level in force

    def _follow_levels(self, bpm: float) -> None:
        """Keeps the smoothed strengths on the same tempi when the filter's tempo moves by octaves;
        a new tempo starts them over."""
        if self._levels_bpm is not None:
            octaves = math.log2(bpm / self._levels_bpm)
            shift = round(octaves)
            if abs(octaves - shift) > 0.2:
                self._strengths = {}
            elif shift:
                self._strengths = {f / 2.0 ** shift: v for f, v in self._strengths.items()}
        self._levels_bpm = bpm


class BarCounter:
    """Step 4 of the module docstring: which position in the bar is the downbeat, from the accent
    found at each beat (it changes only when another position is clearly stronger)."""

    def __init__(self, beats_per_bar: int) -> None:
        self._strength = np.zeros(beats_per_bar)
        self.downbeat = 0  # beat index modulo beats_per_bar that starts a bar

    def add(self, position: int, accent: float) -> None:
        self._strength[position] = BAR_DECAY * self._strength[position] + accent
        strongest = int(np.argmax(self._strength))
        if self._strength[strongest] > BAR_SWITCH * self._strength[self.downbeat]:
            self.downbeat = strongest


class BeatPosition:
    """Where in the beat and the bar a tracker is, from its beat count, phase and downbeat: what
    every tracker (this module's, vj.audio.madmom_beat's) shows the Analyzer alike."""

    beats_per_bar: int
    count: int  # beat events so far
    _phase: float
    _bars: BarCounter

    @property
    def phase(self) -> float:
        """0..1 within the current beat (0 at a beat event)."""
        return self._phase

    @property
    def bar_position(self) -> int:
        """Which beat of the bar the last beat was (0: the downbeat)."""
        if self.count == 0:
            return 0
        return (self.count - 1 - self._bars.downbeat) % self.beats_per_bar

    @property
    def bar_phase(self) -> float:
        return (self.bar_position + self._phase) / self.beats_per_bar


class BeatTracker(BeatPosition):
    """Online beat tracker fed one onset-strength value per frame (module docstring): it keeps the
    onset history and places the beats; the tempo comes from its TempoEstimator, the downbeat
    from its BarCounter."""

    def __init__(
        self,
        frame_rate: float,
        *,
        min_bpm: float = 60.0,
        max_bpm: float = 200.0,
        prior_bpm: float = 120.0,
        prior_octaves: float = 1.0,
        window: float = 8.0,
        latency: float = 0.0,
        delay: float = 0.0,
        beats_per_bar: int = 4,
        hold: float = 2.0,
        min_confidence: float = 0.25,
    ) -> None:
        if not 0 < min_bpm < max_bpm:
            raise ValueError(f"bpm range must satisfy 0 < min_bpm < max_bpm, got {min_bpm}..{max_bpm}")
        self.frame_rate = float(frame_rate)
        self.latency = float(latency)
        self.beats_per_bar = int(beats_per_bar)
        self.min_confidence = float(min_confidence)
        # beats fire this many frames before their predicted frame: the output latency to make up
        # for, the onset strength's own delay (`delay`, seconds), and half a frame, since a beat
        # is reported at the end of a frame and should land nearest to its time
        self._lat = (self.latency + delay) * self.frame_rate + 0.5
        self._every = max(1, round(TEMPO_INTERVAL * self.frame_rate))
        self._min_frames = round(MIN_TEMPO_SPAN * self.frame_rate)

        # the onset strength, the cumulative beat score and the accent of the last `size` frames
        max_period = 60.0 * self.frame_rate / min_bpm
        self._size = max(round(window * self.frame_rate), int(2 * max_period) + 4)
        self._odf = _SeriesRing(self._size)
        self._cum = _SeriesRing(self._size)
        self._accent = _SeriesRing(self._size)
        self._snare: _SeriesRing | None = None  # fed once the snare's onset strength is
        self._n = 0  # frames seen
        self._silence_frames = round(SILENCE * self.frame_rate)
        self._silent = 0  # frames in a row with no onset strength at all

        self._tempo = TempoEstimator(self.frame_rate, self._size, min_bpm=min_bpm, max_bpm=max_bpm,
                                     prior_bpm=prior_bpm, prior_octaves=prior_octaves, hold=hold)
        self._period = 60.0 * self.frame_rate / self.bpm
        self._set_lags()

        self.locked = False
        self.count = 0  # beats fired
        self._last_beat: float | None = None  # frame of the last beat fired (its predicted frame)
        self._next_beat: float | None = None
        self._refined = False  # has the next beat been placed by a projection yet
        self._fired_at = 0  # frame at which the last beat fired
        self._phase = 0.0
        self._bars = BarCounter(self.beats_per_bar)
        self._pending_accent: list[tuple[float, int]] = []
        self._votes = 0  # beats in a row at which another phase was clearly stronger

    # -- public ----------------------------------------------------------------------------------

    @property
    def bpm(self) -> float:
        return self._tempo.bpm

    @property
    def confidence(self) -> float:
        """0..1: how sure the tempo is; beats fire only above `min_confidence`."""
        return self._tempo.confidence

    @property
    def period(self) -> float:
        """The beat period in frames."""
        return self._period

    def update(self, strength: float, accent: float = 0.0, snare: float | None = None) -> BeatUpdate:
        """Feeds the onset strength (>= 0; 0 in silence), the accent (the kick's onset strength)
        and the snare's of the next frame (None: the tempo's metrical level is left to the filter)."""
        n = self._n
        self._n = n + 1
        strength = strength if strength > 0.0 and math.isfinite(strength) else 0.0
        self._silent = 0 if strength > 0.0 else self._silent + 1
        self._odf.put(n, strength)
        self._accent.put(n, accent if math.isfinite(accent) else 0.0)
        if snare is not None:
            self._snare = self._snare or _SeriesRing(self._size)
            self._snare.put(n, snare if snare > 0.0 and math.isfinite(snare) else 0.0)
        past = self._cum.recent(n, self._max_lag)
        score = (1.0 - CUMULATIVE_WEIGHT) * strength
        if n >= self._min_lag:
            score += CUMULATIVE_WEIGHT * float(np.max(self._weights * past[self._lag_index]))
        self._cum.put(n, score)

        if n >= self._min_frames and n % self._every == 0:
            self._estimate_tempo(n)
        self._measure_accents(n)
        return self._beat_step(n)

    # -- tempo -----------------------------------------------------------------------------------

    def _set_lags(self) -> None:
        p = self._period
        lags = np.arange(max(1, round(p / 2)), round(2 * p) + 1)
        self._weights = np.exp(-0.5 * (TIGHTNESS * np.log(lags / p)) ** 2)
        self._max_lag = int(lags[-1])
        self._min_lag = int(lags[0])
        self._lag_index = self._max_lag - lags  # index into the last max_lag frames

    def _estimate_tempo(self, n: int) -> None:
        span = min(n + 1, self._size)
        odf = self._odf.recent(n + 1, span)
        if self._silent >= self._silence_frames or not odf.any():  # silence: hold the tempo, fade
            self._tempo.hold()
        elif self._tempo.update(odf, None if self._snare is None else
                                (self._accent.recent(n + 1, span), self._snare.recent(n + 1, span))):
            before, self._period = self._period, 60.0 * self.frame_rate / self.bpm
            self._set_lags()
            if abs(math.log2(before / self._period)) > 0.5:  # another metrical level: half the old
                self.locked = False  # grid's beats may be off-beats now; lock afresh on the strongest

    # -- beats -----------------------------------------------------------------------------------

    def _beat_step(self, n: int) -> BeatUpdate:
        p = self._period
        if self.locked:
            if self.confidence < 0.5 * self.min_confidence:
                self.locked = False
                self._next_beat = None
        elif self.confidence >= self.min_confidence:
            self.locked = True
            scores = self._phase_scores(n)
            self._last_beat = float(n - int(np.argmax(scores)))
            self._next_beat = self._project(n, self._last_beat)
            self._refined = True
            self._votes = 0
        if not self.locked or self._next_beat is None or self._last_beat is None:
            return BeatUpdate()

        if not self._refined and n >= self._last_beat + 0.5 * p - self._lat:
            self._next_beat = self._project(n, self._last_beat)
            self._refined = True
        fired = n >= self._next_beat - self._lat
        if fired:
            self._last_beat = self._next_beat
            self._next_beat = self._last_beat + p
            self._refined = False
            self._fired_at = n
            self.count += 1
            self._pending_accent.append((self._last_beat, (self.count - 1) % self.beats_per_bar))
            self._phase = 0.0
            self._check_phase(n)
        else:
            self._phase = min(0.999, (n - self._fired_at) / p)
        return BeatUpdate(beat=fired, bar=fired and self.bar_position == 0)

    def _phase_scores(self, n: int) -> np.ndarray:
        """For each phase f = 0, 1, ... < period frames: how strong a beat grid through frame n - f
        is over the last PHASE_BEATS periods (lightly smoothed onset strength, recent beats weighing
        more)."""
        p = self._period
        span = min(n + 1, self._size)
        beats = max(1, min(PHASE_BEATS, int((span - p) // p) + 1))
        odf = self._odf.recent(n + 1, span)
        smooth = np.convolve(odf, (0.25, 0.5, 0.25), mode="same")
        offsets = np.arange(max(1, math.ceil(p)))[:, None] + p * np.arange(beats)[None, :]
        at = np.interp(span - 1 - offsets, np.arange(span), smooth, left=0.0)
        return at @ (PHASE_DECAY ** np.arange(beats))

    def _check_phase(self, n: int) -> None:
        """After a beat: if another phase has been clearly stronger for PHASE_VOTES beats in a row,
        move the grid there (the tracker locked onto off-beats, or the music shifted)."""
        if self._last_beat is None:
            return
        p = self._period
        scores = self._phase_scores(n)
        best = int(np.argmax(scores))
        current = (n - self._last_beat) % p
        distance = min(abs(best - current), p - abs(best - current))
        here = float(np.interp(current, np.arange(scores.size), scores, period=scores.size))
        if distance > PHASE_TOLERANCE * p and scores[best] > PHASE_SWITCH * here:
            self._votes += 1
        else:
            self._votes = 0
        if self._votes >= PHASE_VOTES:
            self._votes = 0
            last = self._last_beat
            self._next_beat = self._project(n, float(n - best))
            if self._next_beat - last < 0.5 * p:  # no double beat: skip to the one after
                self._next_beat += p
            self._last_beat = self._next_beat - p
            self._refined = True

    def _project(self, n: int, last_beat: float) -> float:
        """The frame of the next beat: the cumulative score carried forward with no onsets, peaked
        under a Gaussian one period after `last_beat` (only frames after n are candidates)."""
        p = self._period
        expected = last_beat + p
        first = max(n + 1, math.ceil(last_beat + 0.5 * p))
        last = max(first, math.floor(last_beat + 1.5 * p))
        history = self._cum.recent(n + 1, self._max_lag)
        horizon = last - n
        work = np.concatenate([history, np.zeros(horizon)])
        base = self._max_lag  # work[base + j - 1] is frame n + j
        for j in range(1, horizon + 1):
            at = base + j - 1
            past = work[at - self._max_lag:at]
            work[at] = CUMULATIVE_WEIGHT * float(np.max(self._weights * past[self._lag_index]))
        frames = np.arange(first, last + 1)
        future = work[base + frames - n - 1]
        sigma = PREDICT_WIDTH * p
        score = future * np.exp(-0.5 * ((frames - expected) / sigma) ** 2)
        if not score.any():
            return max(float(first), expected)
        best = int(np.argmax(score))
        if 0 < best < score.size - 1:  # parabolic refinement to a fraction of a frame
            a, b, c = score[best - 1], score[best], score[best + 1]
            denom = a - 2 * b + c
            if denom < 0:
                return float(frames[best]) + float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5))
        return float(frames[best])

    # -- bars ------------------------------------------------------------------------------------

    def _measure_accents(self, n: int) -> None:
        """Two frames after each beat: the accent around it goes to its bar position."""
        while self._pending_accent and self._pending_accent[0][0] + 2 <= n:
            frame, position = self._pending_accent.pop(0)
            back = n - int(frame) + 3  # frames from frame - 2 through n
            if back > self._size:
                continue
            around = self._accent.recent(n + 1, back)[:5]
            self._bars.add(position, float(around.max()))
