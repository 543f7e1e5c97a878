"""Audio in mapping files: features that modulate parameters, and musical events as sources.

    audio:                                   # modulators, evaluated every display frame (like lfos)
      - {feature: bass, param: zoom, amount: 0.6}              # bass pumps the zoom by up to 0.6
      - {feature: high.hit, param: brightness, amount: 0.25, curve: exp, smoothing: 0.05}
      - {feature: level, param: strength, amount: -0.3, invert: true}
    bindings:
      - {audio: beat, action: seed.step}     # an event of the live analysis fires the action
      - {audio: bass.hit, action: flash}
      - {audio: bar, param: hue, mode: step, step: 30, wrap: true}
      - {beat: 4, action: preset.next}       # every 4 beats of the beat clock, whatever drives it

A modulator adds `amount` x curve(feature) (invert: 1 - feature first) to the parameter, in the
parameter's own units, after optional extra smoothing (seconds); the `audio.amount` parameter
scales them all (one fader tames the music's grip on the picture). The features and events
are the analysis's own (vj.audio.analysis: FEATURES, EVENTS). Source keys: ("audio", event) and
("beat", N).
"""

from __future__ import annotations

from dataclasses import dataclass

from vj.audio.analysis import EVENTS, FEATURES
from vj.config.source import Section, is_bool, is_choice, is_number, is_str
from vj.params import Registry
from vj.vocabulary import CURVES, SourceKey

AUDIO_MOD_KEYS = ("feature", "param", "amount", "curve", "invert", "smoothing")
# the features that run 0..1 (dB, tempo, counts and time accumulators are for shaders and OSC)
MOD_FEATURES = tuple(f for f in FEATURES if f not in ("db", "bpm", "beat.count") and not f.endswith("time"))
BEAT_OPTIONS: tuple[str, ...] = ()


@dataclass(frozen=True)
class AudioMod:
    feature: str
    param: str
    amount: float
    curve: str = "lin"
    invert: bool = False
    smoothing: float = 0.0  # seconds, on top of the analysis's own attack/release


def audio_source(sec: Section) -> tuple[SourceKey, ...] | None:
    name = sec.get("audio", is_str, "")
    if name not in EVENTS:
        hint = " (a feature: modulate with an `audio:` entry instead)" if name in FEATURES else ""
        sec.problem("audio", f"unknown audio event {name!r}{hint}; expected one of: {', '.join(EVENTS)}")
        return None
    return (("audio", name),)


def beat_source(sec: Section) -> tuple[SourceKey, ...] | None:
    beats = sec.get("beat", is_number(1 / 16, 1024.0), 0.0)
    if not beats:
        return None
    return (("beat", float(beats)),)


def parse_audio_mod(sec: Section, registry: Registry) -> AudioMod:
    feature = sec.get("feature", is_str, "", required=True)
    if feature and feature not in MOD_FEATURES:
        hint = (" (an event: bind it with `audio:` in bindings)" if feature in EVENTS else
                " (not a 0..1 feature: shaders and OSC out get it)" if feature in FEATURES else "")
        sec.problem("feature", f"unknown audio feature {feature!r}{hint}; expected one of: {', '.join(MOD_FEATURES)}")
    param = sec.get("param", is_str, "", required=True)
    spec = registry.get(param)
    if param and (spec is None or spec.kind != "float"):
        sec.problem("param", f"{param!r} is not a continuous parameter (audio modulates float parameters)")
    mod = AudioMod(
        feature=feature,
        param=param,
        amount=sec.get("amount", is_number(), 0.0, required=True),
        curve=sec.get("curve", is_choice(*CURVES), "lin"),
        invert=sec.get("invert", is_bool, False),
        smoothing=sec.get("smoothing", is_number(0.0, 60.0), 0.0),
    )
    sec.finish(AUDIO_MOD_KEYS)
    return mod
