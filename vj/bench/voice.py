"""`vj bench voice`: are spoken commands heard, is chatter ignored, and how soon does one act?

The utterances are the fixed corpus in vj.voice.corpus, spoken by espeak-ng (48 kHz mono with
silence around each). In one run:

1. Accuracy. Every command phrase in every corpus voice, and the out-of-grammar chatter, go to
   vj's `CommandRecognizer` as the live path feeds it (1024-sample blocks at 48 kHz through the
   streaming resampler `VoiceListener` uses; as fast as it decodes: pacing changes nothing here), each
   after 0.5-0.6 s of silence (seeded): the same words decode differently depending on where
   they fall against the blocks and the 10 ms frames, as they fall anywhere live.
   `command_accuracy`: the share of command utterances heard as exactly their command, once;
   `false_accept_rate`: the share of chatter utterances that fired anything (a dictation lead-in
   counts). The baseline, on the same audio: the same recognizer without rejection (a grammar of
   the command phrases alone, no garbage loop, no dictation, no confidence threshold), as a
   plain pocketsphinx command grammar behaves; ratios are vj / baseline. On the command
   utterances also: `endpoint_ms`, audio from the true end of speech (where espeak's output last
   rises above -60 dBFS) to the end of the block whose feed closed the utterance (the
   endpointer's hangover), and `decode_ms`, the wall time of that feed call (the decode).
2. Latency, in real time through the live path: a feeder thread plays a tape of utterances
   (each command once, by its first phrase, then a few chatter phrases) into a `VoiceListener`
   (mode "always", no Whisper) in 1024-sample blocks paced like an audio callback; a 60 Hz loop
   drains the event queue into a `MappingEngine` built from mappings/voice.yaml, acting on a
   `ParamState` and an action sink that note when each write and action happens. `latency_ms`:
   from the end of speech (when the block holding its last sample was fed) to the command's
   write or action, for the utterances heard right. Split into `recognised_ms` (to the event's
   time stamp: hangover, decode, queue) and `drain_ms` (to the write: the wait for the loop).
   `stall_ms`: how late the feeder's blocks went out and the longest gap between the loop's
   frames, on command and on chatter utterances. pocketsphinx holds Python's GIL while decoding;
   the listener runs it in a process of its own, so these stay small (before that: 50-70 ms on
   commands, about a second on chatter).
3. Push-to-talk, the same tape of commands in mode "push": the key is pressed before each
   utterance and released 100 ms after its speech ends. `push.latency_ms`: key release to the
   write or action.

Target: `latency_ms` p95 <= 500 ms (both modes).
"""

from __future__ import annotations

import math
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from vj.bench import emit
from vj.bench.harness import percentile
from vj.config.mapping import MappingConfig, parse_mapping
from vj.control.engine import MappingEngine
from vj.params import ParamState, Value
from vj.paths import MAPPING_DIR
from vj.vocabulary import VOICE_COMMANDS, ControlEvent, EventQueue, Notice
from vj.voice.commands import CommandRecognizer, Heard, StreamResampler
from vj.voice.corpus import (
    CHATTER,
    CHATTER_VOICES,
    COMMAND_VOICES,
    RATE,
    SPEECH_LEVEL,
    Speech,
    SpeechUnavailable,
    Voice,
    command_phrases,
    utterance,
)
from vj.voice.listener import VoiceConfig, VoiceListener

MAPPING = MAPPING_DIR / "voice.yaml"
BLOCK = 1024  # samples at 48 kHz per feed, as the live capture delivers them
FPS = 60.0  # the drain loop, as the show's display frames
LATENCY_TARGET_MS = 500.0
RELEASE_AFTER = 0.1  # seconds after the end of speech that push-to-talk is released
WARMUP = 2.0  # seconds of silence before the tape: the listener loads its recognizer meanwhile
LEAD = 0.4  # seconds of silence before each utterance on the tape
LEAD_ACCURACY = 0.5  # seconds of silence before each utterance in the accuracy part, plus up to
JITTER = 0.1  # this (seeded): the decode depends on where the speech falls against blocks and frames
SEED = 1
GAP = 0.4  # seconds of silence after an utterance is answered, before the next
ANSWER_TIMEOUT = 4.0  # seconds after the end of speech to give up waiting for an utterance
LIVE_CHATTER = 3  # chatter phrases on the "always" tape (not timed: for stalls and false accepts)
QUICK = {"commands": 5, "chatter": 5, "latency": 4, "live_chatter": 1}
BASELINE = "no rejection: a grammar of the command phrases alone, no garbage loop, no threshold"


# -- figures -------------------------------------------------------------------------------------


def ms(seconds: Iterable[float]) -> dict[str, float | None]:
    """p50 / p95 / max in milliseconds (None when nothing was measured: JSON has no NaN)."""
    values = [1000.0 * s for s in seconds]
    if not values:
        return {"p50": None, "p95": None, "max": None}
    return {"p50": round(percentile(values, 50), 1), "p95": round(percentile(values, 95), 1),
            "max": round(max(values), 1)}


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


# -- 1. accuracy ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Closed:
    """An utterance the recognizer closed: what it heard, how much audio had been fed when it
    closed (48 kHz samples), and how long that feed call took."""

    heard: Heard
    fed: int
    seconds: float


def listen(rec: CommandRecognizer, samples: np.ndarray) -> list[Closed]:
    """Feeds 48 kHz audio as `VoiceListener` does (1024-sample blocks through one streaming
    resampler to 16 kHz), as fast as it decodes; then flushes."""
    out: list[Closed] = []
    resampler = StreamResampler(RATE)
    for i in range(0, samples.size, BLOCK):
        block = samples[i:i + BLOCK]
        start = time.perf_counter()
        heard = rec.feed(resampler.process(block))
        took = time.perf_counter() - start
        out += [Closed(h, i + block.size, took) for h in heard]
    out += [Closed(h, samples.size, 0.0) for h in rec.flush()]
    return out


def heard_text(closed: list[Closed]) -> list[str]:
    return [f"{c.heard.text or '?'} -> {c.heard.command}" for c in closed]


def score(rec: CommandRecognizer, commands: list[tuple[Speech, str]], chatter: list[Speech]) -> dict[str, Any]:
    """Accuracy and false accepts of one recognizer over the corpus, with its misses; and on the
    command utterances, endpointer hangover and decode time."""
    hits, misses, endpoint, decode = 0, [], [], []
    for speech, command in commands:
        closed = listen(rec, speech.samples)
        fired = [c.heard.command for c in closed if c.heard.command is not None]
        if fired == [command]:
            hits += 1
            first = next(c for c in closed if c.heard.command is not None)
            if first.seconds > 0.0:  # closed by the endpointer, not the flush
                endpoint.append((first.fed - speech.end) / RATE)
                decode.append(first.seconds)
        else:
            misses.append({"phrase": speech.text, "voice": "/".join(speech.voice), "command": command,
                           "heard": heard_text(closed)})
    accepts = []
    for speech in chatter:
        closed = listen(rec, speech.samples)
        if any(c.heard.command is not None for c in closed):
            accepts.append({"phrase": speech.text, "voice": "/".join(speech.voice), "heard": heard_text(closed)})
    return {
        "command_accuracy": round(hits / len(commands), 4) if commands else None,
        "false_accept_rate": round(len(accepts) / len(chatter), 4) if chatter else None,
        "recognised": hits,
        "false_accepts": len(accepts),
        "misses": misses,
        "accepted": accepts,
        "endpoint_ms": ms(endpoint),
        "decode_ms": ms(decode),
    }


# -- 2. and 3. latency through the live path -----------------------------------------------------


@dataclass
class Take:
    """One utterance on the tape and what became of it (times: time.perf_counter)."""

    speech: Speech
    expected: str | None  # the command it says; None: chatter
    speech_end: float = math.nan  # the block holding its last speech sample was fed
    release: float = math.nan  # push-to-talk released
    heard: list[str] = field(default_factory=list)  # commands fired while it was on
    recognised: float = math.nan  # the first event's time stamp
    acted: float = math.nan  # the first write or action for it
    feed_late: float = 0.0  # the latest block (seconds after it was due) while it was on
    frame_gap: float = 0.0  # the longest gap between the loop's frames while it was on

    @property
    def right(self) -> bool:
        return self.expected is not None and self.heard == [self.expected] and not math.isnan(self.acted)


class NotingState(ParamState):
    """A ParamState that notes when each base value is written."""

    def __init__(self, noted: list[tuple[str, float]]) -> None:
        super().__init__()
        self.noted = noted

    def set_base(self, name: str, value: Value, smoothing: float | None = None, jump: bool = False) -> Value:
        out = super().set_base(name, value, smoothing, jump)
        self.noted.append((name, time.perf_counter()))
        return out


class NotingSink:
    """An ActionSink that notes when each action fires."""

    def __init__(self, noted: list[tuple[str, float]]) -> None:
        self.noted = noted

    def action(self, name: str, value: float | int | str | None) -> None:
        self.noted.append((name, time.perf_counter()))


class Tape:
    """The feeder thread: the takes one after another in real time, 1024-sample blocks at 48 kHz
    each fed when it is due (a live capture hands over a block once its last sample is in), with
    silence between takes until each is answered (see `answered`)."""

    def __init__(self, listener: VoiceListener, takes: list[Take], push: bool) -> None:
        self.listener, self.takes, self.push = listener, takes, push
        self.current = -1  # the take being played (its lead, speech and tail)
        self.answered = threading.Event()
        self.done = threading.Event()
        self.late: list[float] = []  # every block: seconds after it was due
        self._silence = np.zeros(BLOCK, np.float32)
        self._due = 0.0
        self.thread = threading.Thread(target=self._play, name="vj-bench-voice-tape", daemon=True)

    def start(self) -> None:
        self._due = time.perf_counter()
        self.thread.start()

    def _feed(self, block: np.ndarray) -> float:
        self._due += block.size / RATE
        wait = self._due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        now = time.perf_counter()
        late = max(0.0, now - self._due)
        self.late.append(late)
        if 0 <= self.current < len(self.takes):
            take = self.takes[self.current]
            take.feed_late = max(take.feed_late, late)
        self.listener.feed(block)
        return now

    def _silent(self, seconds: float, until: Callable[[], bool] = lambda: False) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end and not until():
            self._feed(self._silence)

    def _play(self) -> None:
        try:
            self._silent(WARMUP)
            for index, take in enumerate(self.takes):
                self.answered.clear()
                self.current = index
                samples, end = take.speech.samples, take.speech.end
                if self.push:
                    self.listener.hold(True, False)
                for i in range(0, samples.size, BLOCK):
                    now = self._feed(samples[i:i + BLOCK])
                    if i < end <= i + BLOCK:
                        take.speech_end = now
                    if self.push and math.isnan(take.release) and i + BLOCK >= end + RELEASE_AFTER * RATE:
                        self.listener.hold(False, False)
                        take.release = time.perf_counter()
                if self.push and math.isnan(take.release):
                    self._silent(RELEASE_AFTER - (time.perf_counter() - take.speech_end))
                    self.listener.hold(False, False)
                    take.release = time.perf_counter()
                self._silent(ANSWER_TIMEOUT - (time.perf_counter() - take.speech_end), self.answered.is_set)
                self._silent(GAP)
            self.current = len(self.takes)
        finally:
            self.done.set()


def live_takes(commands: list[tuple[Speech, str]], chatter: list[Speech]) -> list[Take]:
    return [Take(speech, command) for speech, command in commands] + [Take(speech, None) for speech in chatter]


def run_tape(takes: list[Take], mapping: MappingConfig, push: bool) -> dict[str, Any]:
    """Plays the takes into a VoiceListener in real time and drains its events at 60 Hz into the
    mapping engine; fills in each take. Returns what the listener and the loop saw overall."""
    noted: list[tuple[str, float]] = []
    state, sink = NotingState(noted), NotingSink(noted)
    engine = MappingEngine(mapping)
    events = EventQueue()
    listener = VoiceListener(VoiceConfig(mode="push" if push else "always", whisper=None), events).start()
    listener.wait_ready(30.0)  # a show starts its recognizer once, at launch: its start-up is not measured
    tape = Tape(listener, takes, push)
    notices: list[str] = []
    period = 1.0 / FPS
    tape.start()
    utterances_before = 0
    last_frame = next_frame = time.perf_counter()
    try:
        while not tape.done.is_set():
            now = time.perf_counter()
            index = tape.current
            take = takes[index] if 0 <= index < len(takes) else None
            if take is not None:
                take.frame_gap = max(take.frame_gap, now - last_frame)
            last_frame = now
            utterances = listener.status().utterances  # (read before draining: its event is queued first)
            for event in events.drain():
                if isinstance(event, Notice):
                    notices.append(event.message)
                if not isinstance(event, ControlEvent) or take is None:
                    continue
                written = len(noted)
                engine.handle(event, state, sink)
                take.heard.append(str(event.source[-1]))
                if math.isnan(take.recognised):
                    take.recognised = event.time
                if math.isnan(take.acted) and len(noted) > written:
                    take.acted = noted[written][1]
            if take is not None and not math.isnan(take.speech_end) and utterances > utterances_before:
                tape.answered.set()
            if take is None or tape.answered.is_set():
                utterances_before = utterances
            next_frame = max(next_frame + period, time.perf_counter())
            time.sleep(max(0.0, next_frame - time.perf_counter()))
    finally:
        listener.stop()
        tape.thread.join(2.0)
    status = listener.status()
    return {"utterances": status.utterances, "ignored": status.ignored, "dropped_s": round(status.dropped, 3),
            "notices": notices, "feed_late": tape.late}


def latency_figures(takes: list[Take], since: Callable[[Take], float]) -> dict[str, Any]:
    timed = [t for t in takes if t.expected is not None]
    right = [t for t in timed if t.right]
    latency = [t.acted - since(t) for t in right]
    return {
        "utterances": len(timed),
        "latency_ms": ms(latency),
        "latency_ok": bool(latency) and percentile(latency, 95) * 1000.0 <= LATENCY_TARGET_MS,
        "recognised_ms": ms(t.recognised - since(t) for t in right),
        "drain_ms": ms(t.acted - t.recognised for t in right),
        "missed": [{"phrase": t.speech.text, "command": t.expected, "heard": t.heard} for t in timed if not t.right],
    }


def stall_figures(takes: list[Take], feed_late: list[float]) -> dict[str, Any]:
    commands = [t for t in takes if t.expected is not None]
    chatter = [t for t in takes if t.expected is None]
    return {
        "feed_late": ms(feed_late),
        "feed_late_max_commands": ms(t.feed_late for t in commands)["max"],
        "feed_late_max_chatter": ms(t.feed_late for t in chatter)["max"],
        "frame_gap_max_commands": ms(t.frame_gap for t in commands)["max"],
        "frame_gap_max_chatter": ms(t.frame_gap for t in chatter)["max"],
    }


# -- the run -------------------------------------------------------------------------------------


def corpus(quick: bool) -> tuple[list[tuple[Speech, str]], list[Speech], list[tuple[Speech, str]], list[Speech]]:
    """(command utterances, chatter, the timed commands for the tape, the chatter on the tape)."""
    phrases = list(command_phrases().items())
    voices: list[Voice] = COMMAND_VOICES
    chatter_phrases = CHATTER
    tape_commands = [(phrases_[0], name) for name, phrases_ in VOICE_COMMANDS.items()]
    live_chatter = CHATTER[-LIVE_CHATTER:]
    if quick:
        step = max(1, len(phrases) // QUICK["commands"])
        phrases = phrases[::step][:QUICK["commands"]]
        voices = voices[:1]
        chatter_phrases = CHATTER[:QUICK["chatter"]]
        step = max(1, len(tape_commands) // QUICK["latency"])
        tape_commands = tape_commands[::step][:QUICK["latency"]]
        live_chatter = CHATTER[-QUICK["live_chatter"]:]
    rng = np.random.default_rng(SEED)  # where speech falls against the blocks and frames matters

    def lead() -> float:
        return LEAD_ACCURACY + float(rng.uniform(0.0, JITTER))

    commands = [(utterance(p, v, lead=lead()), c) for v in voices for p, c in phrases]
    chatter = [utterance(p, v, lead=lead()) for v in CHATTER_VOICES for p in chatter_phrases]
    tape = [(utterance(p, COMMAND_VOICES[0], lead=LEAD, tail=0.0), c) for p, c in tape_commands]
    tape_chatter = [utterance(p, CHATTER_VOICES[0], lead=LEAD, tail=0.0) for p in live_chatter]
    return commands, chatter, tape, tape_chatter


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def bench_voice(quick: bool = False) -> dict[str, Any]:
    started = time.perf_counter()
    commands, chatter, tape, tape_chatter = corpus(quick)
    mapping = parse_mapping(MAPPING)

    vj = score(CommandRecognizer(), commands, chatter)
    baseline = score(CommandRecognizer(garbage_weight=0.0, threshold=-math.inf, dictate=False), commands, chatter)

    always = live_takes(tape, tape_chatter)
    always_run = run_tape(always, mapping, push=False)
    pushed = live_takes(tape, [])
    push_run = run_tape(pushed, mapping, push=True)

    live = latency_figures(always, lambda t: t.speech_end)
    push = latency_figures(pushed, lambda t: t.release)
    push["speech_end_latency_ms"] = ms(t.acted - t.speech_end for t in pushed if t.right)
    push["release_after_ms"] = round(1000 * RELEASE_AFTER)
    push["notices"] = push_run["notices"]
    live_chatter = [t for t in always if t.expected is None]
    return {
        "benchmark": "voice",
        "quick": quick,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "pocketsphinx_version": package_version("pocketsphinx"),
        "sample_rate": RATE,
        "block": BLOCK,
        "speech_end_level": SPEECH_LEVEL,
        "lead_s": [LEAD_ACCURACY, LEAD_ACCURACY + JITTER],
        "command_voices": ["/".join(v) for v in (COMMAND_VOICES[:1] if quick else COMMAND_VOICES)],
        "commands": len(commands),
        "chatter": len(chatter),
        "command_accuracy": vj["command_accuracy"],
        "false_accept_rate": vj["false_accept_rate"],
        "misses": vj["misses"],
        "accepted": vj["accepted"],
        "endpoint_ms": vj["endpoint_ms"],
        "decode_ms": vj["decode_ms"],
        "baseline": {"name": BASELINE, **{k: baseline[k] for k in (
            "command_accuracy", "false_accept_rate", "misses", "accepted")}},
        "accuracy_vs_baseline": ratio(vj["command_accuracy"] or 0.0, baseline["command_accuracy"] or 0.0),
        "false_accept_vs_baseline": ratio(vj["false_accept_rate"] or 0.0, baseline["false_accept_rate"] or 0.0),
        "latency_utterances": live["utterances"],
        "latency_ms": live["latency_ms"],
        "latency_target_ms": LATENCY_TARGET_MS,
        "latency_ok": live["latency_ok"],
        "recognised_ms": live["recognised_ms"],
        "drain_ms": live["drain_ms"],
        "latency_missed": live["missed"],
        "live_chatter": len(live_chatter),
        "live_false_accepts": [{"phrase": t.speech.text, "heard": t.heard} for t in live_chatter if t.heard],
        "listener": {k: always_run[k] for k in ("utterances", "ignored", "dropped_s", "notices")},
        "stall_ms": stall_figures(always, always_run["feed_late"]),
        "push": push,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _print_table(r: dict[str, Any]) -> None:
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}%"

    def stats(s: dict[str, float | None]) -> str:
        return "  ".join(f"{k} {'-' if v is None else f'{v:.0f}'}" for k, v in s.items()) + " ms"

    b = r["baseline"]
    print(f"voice benchmark{' (quick)' if r['quick'] else ''}: espeak-ng {', '.join(r['command_voices'])}; "
          f"pocketsphinx {r['pocketsphinx_version']}; {r['cores']} cores; {r['seconds']} s")
    print(f"  {'':<34} {'vj':>8} {'baseline':>9} {'vj/baseline':>12}")
    print(f"  {'commands recognised (' + str(r['commands']) + ')':<34} ", end="")
    print(f"{pct(r['command_accuracy']):>8} {pct(b['command_accuracy']):>9} {r['accuracy_vs_baseline'] or '-':>12}")
    print(f"  {'chatter accepted (' + str(r['chatter']) + ')':<34} {pct(r['false_accept_rate']):>8} "
          f"{pct(b['false_accept_rate']):>9} {r['false_accept_vs_baseline'] or '-':>12}")
    for miss in r["misses"]:
        print(f"    missed {miss['phrase']!r} ({miss['voice']}): heard {miss['heard']}")
    for accepted in r["accepted"]:
        print(f"    accepted {accepted['phrase']!r}: heard {accepted['heard']}")
    print(f"  endpointer hangover (end of speech -> utterance closed): {stats(r['endpoint_ms'])}")
    print(f"  decode of a command: {stats(r['decode_ms'])}")
    print(f"  always listening, end of speech -> action ({r['latency_utterances']} commands, real time): "
          f"{stats(r['latency_ms'])}  (target p95 <= {r['latency_target_ms']:.0f}: "
          f"{'met' if r['latency_ok'] else 'NOT met'})")
    print(f"    of which end of speech -> event {stats(r['recognised_ms'])}; event -> action {stats(r['drain_ms'])}")
    for miss in r["latency_missed"]:
        print(f"    missed {miss['phrase']!r}: heard {miss['heard']}")
    print(f"    chatter on the tape: {len(r['live_false_accepts'])}/{r['live_chatter']} fired a command")
    p = r["push"]
    print(f"  push-to-talk, key release ({p['release_after_ms']} ms after speech) -> action: "
          f"{stats(p['latency_ms'])}  ({'met' if p['latency_ok'] else 'NOT met'})")
    for miss in p["missed"]:
        print(f"    missed {miss['phrase']!r}: heard {miss['heard']}")
    s = r["stall_ms"]
    print(f"  stalls while decoding (the recognizer has its own process): audio blocks late by up to "
          f"{s['feed_late_max_commands']} ms (commands) / {s['feed_late_max_chatter']} ms (chatter); "
          f"longest frame gap {s['frame_gap_max_commands']} / {s['frame_gap_max_chatter']} ms")


def run_voice_bench(as_json: bool, quick: bool = False) -> int:
    try:
        result = bench_voice(quick)
    except (SpeechUnavailable, ImportError) as exc:
        print(f"vj bench voice: {exc}", file=sys.stderr)
        return 2
    return emit(result, as_json, _print_table)


if __name__ == "__main__":
    sys.exit(run_voice_bench(as_json="--json" in sys.argv, quick="--quick" in sys.argv))
