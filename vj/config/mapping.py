"""Mappings: how controls drive parameters and actions, and which LFOs modulate what.

    description: keyboard defaults
    bindings:
      - key: SPACE               # the source (key, and later midi / osc / audio)
        action: freeze           # ...drives an action
      - key: LEFT
        param: pan.x             # ...or a parameter
        mode: momentary          # value | toggle | momentary | trigger | step
        value: -0.25             # momentary / trigger: the value while held / when fired
      - key: EQUAL
        param: zoom
        mode: step
        step: 0.05               # step: added on each press (negative steps down)
    lfos:                        # and `audio:` modulators, see vj/config/audio.py
      - param: rotate
        shape: sine              # sine | saw | triangle | square
        hz: 0.05                 # or beats: 8 (one cycle per 8 beats of the clock)
        amount: 4.0              # depth, in the parameter's units
        phase: 0.0               # 0..1 of a cycle

Binding options: range [lo, hi] (default: the parameter's range), curve lin|exp|log,
invert, smoothing (seconds, overrides the parameter's), wrap (step mode wraps around).
MIDI sources and their options (encoder, takeover, led...) are described in vj/config/midi.py.

Source kinds register a parser in SOURCE_KINDS; the engine only sees the key
tuples a parser returns, so new inputs (MIDI, OSC, audio) plug in without touching it.

Several files load at once: the keyboard defaults always, controller mappings on top
(`--mapping` repeats); a later file's binding for the same control replaces an earlier one,
and each file reloads on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from vj.config.audio import AudioMod, audio_source, beat_source, parse_audio_mod
from vj.config.midi import (
    ANY_DEVICE,
    MIDI_KINDS,
    MIDI_OPTIONS,
    MidiDevice,
    midi_binding_options,
    midi_source,
    parse_device,
)
from vj.config.osc import OSC_OPTIONS, osc_binding_options, osc_source
from vj.config.outputs import NO_OUTPUTS, OutputSettings, merge_outputs, parse_outputs
from vj.config.source import (
    ConfigError,
    Problem,
    Section,
    is_bool,
    is_choice,
    is_number,
    is_str,
    load_yaml,
    type_name,
)
from vj.config.voice import voice_source
from vj.params import REGISTRY, ParamSpec, Registry
from vj.vocabulary import (
    ACTIONS,
    CURVES,
    KEY_NAMES,
    TEXT_ACTIONS,
    SourceKey,
    action_list,
    key_source,
    normalise_key,
)

log = logging.getLogger(__name__)

MODES = ("value", "toggle", "momentary", "trigger", "step")
SHAPES = ("sine", "saw", "triangle", "square")
BINDING_KEYS = ("param", "action", "mode", "range", "curve", "invert", "smoothing", "value", "step", "wrap")


@dataclass(frozen=True)
class Binding:
    sources: tuple[SourceKey, ...]  # every key it listens to (MIDI `channel: any` gives 16)
    file: str
    line: int
    param: str | None = None
    action: str | None = None
    mode: str = "value"
    lo: float = 0.0
    hi: float = 1.0
    curve: str = "lin"
    invert: bool = False
    smoothing: float | None = None
    value: float | None = None
    step: float = 0.0
    wrap: bool = False
    encoder: str | None = None  # relative encoder decoding (MIDI cc)
    accel: float = 0.0  # encoder acceleration: 0 off, 1 about 5x at fast turns
    takeover: str = "jump"  # absolute controls: jump | pickup | scale
    led: tuple[int, ...] | None = None  # [off, on] values sent back for buttons (and the LED's channel)
    echo: bool = True  # value bindings echo the parameter to LED rings and motor faders
    native: bool = False  # the event's raw value is in the parameter's own units (OSC `units: native`)

    @property
    def source(self) -> SourceKey:
        return self.sources[0]

    @property
    def kind(self) -> str:
        return str(self.source[0]) if self.source[0] != "midi" else str(self.source[3])

    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class LfoSpec:
    param: str
    shape: str = "sine"
    hz: float | None = 0.1
    beats: float | None = None
    amount: float = 0.0
    phase: float = 0.0


@dataclass(frozen=True)
class MappingConfig:
    path: str
    description: str = ""
    bindings: tuple[Binding, ...] = ()
    lfos: tuple[LfoSpec, ...] = ()
    midi: tuple[MidiDevice, ...] = ()  # the controllers its MIDI bindings come from
    audio: tuple[AudioMod, ...] = ()  # audio features modulating parameters
    outputs: OutputSettings = NO_OUTPUTS  # the video outputs `vj run` starts (vj.config.outputs)
    files: tuple[str, ...] = field(default=())  # merged: the files it was made of

    @property
    def uses_midi(self) -> bool:
        return any(b.source[0] == "midi" for b in self.bindings)

    @property
    def beat_divisions(self) -> tuple[float, ...]:
        """The N of every `beat: N` source: the show fires ("beat", N) every N beats."""
        divisions = {
            float(k[1]) for b in self.bindings for k in b.sources if k[0] == "beat" and isinstance(k[1], (int, float))
        }
        return tuple(sorted(divisions))


def merge_mappings(configs: list[MappingConfig]) -> MappingConfig:
    """Several mapping files as one (keyboard defaults plus a controller or two).

    A later file's binding for a source an earlier file also binds replaces the earlier one,
    so a controller file can take over a key; LFOs and MIDI devices add up; a later file's
    output setting replaces an earlier one's.
    """
    if len(configs) == 1:
        return replace(configs[0], files=(configs[0].path,))
    bindings: list[Binding] = []
    for config in configs:
        taken = {key for b in config.bindings for key in b.sources}
        bindings = [b for b in bindings if not taken & set(b.sources)] + list(config.bindings)
    devices: dict[str, MidiDevice] = {}
    for config in configs:
        devices.update({d.name: d for d in config.midi})
    return MappingConfig(
        path=" + ".join(c.path for c in configs),
        description="; ".join(c.description for c in configs if c.description),
        bindings=tuple(bindings),
        lfos=tuple(lfo for c in configs for lfo in c.lfos),
        midi=tuple(devices.values()),
        audio=tuple(mod for c in configs for mod in c.audio),
        outputs=merge_outputs([c.outputs for c in configs]),
        files=tuple(c.path for c in configs),
    )


def _key(section: Section, device: MidiDevice | None) -> tuple[SourceKey, ...] | None:
    name = section.get("key", _key_name, "")
    if normalise_key(name) not in KEY_NAMES:
        section.problem("key", f"unknown key {name!r}; expected a GLFW key name such as SPACE, LEFT, A, 1, F11")
        return None
    return (key_source(name),)


def _key_name(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 9:
        return str(value)  # `key: 1` in YAML is a number; it means the key 1
    return is_str(value)


def _midi(kind: str) -> Callable[[Section, MidiDevice | None], tuple[SourceKey, ...] | None]:
    return lambda section, device: midi_source(kind, section, device)


SourceParser = Callable[[Section, MidiDevice | None], "tuple[SourceKey, ...] | None"]
# source kind -> parser reading that kind's keys from a binding and returning the source keys
SOURCE_KINDS: dict[str, SourceParser] = {
    "key": _key,
    **{kind: _midi(kind) for kind in MIDI_KINDS},
    "osc": lambda section, device: osc_source(section),
    "audio": lambda section, device: audio_source(section),
    "beat": lambda section, device: beat_source(section),
    "voice": lambda section, device: voice_source(section),
}
# extra binding keys a source kind reads (e.g. midi's channel), so they are not flagged unknown
SOURCE_OPTIONS: dict[str, tuple[str, ...]] = {
    "key": (),
    **{kind: MIDI_OPTIONS for kind in MIDI_KINDS},
    "osc": OSC_OPTIONS,
    "audio": (),
    "beat": (),
    "voice": (),
}
# source kinds whose events carry a number an action can take (program N -> preset.select N)
VALUE_SOURCES = ("program", "osc")


def default_range(spec: ParamSpec | None) -> tuple[float, float]:
    """Where a 0..1 control reaches by default: the parameter's whole range, a choice's indexes."""
    if spec is not None and spec.kind in ("float", "int"):
        return spec.lo, spec.hi
    if spec is not None and spec.kind == "enum":
        return 0.0, float(len(spec.choices) - 1)
    return 0.0, 1.0


def _range(value: object) -> tuple[float, float]:
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        return float(value[0]), float(value[1])
    raise ValueError(f"expected [low, high], got {type_name(value)}")


def _binding(sec: Section, registry: Registry, device: MidiDevice | None) -> Binding | None:
    kinds = [k for k in SOURCE_KINDS if sec.has(k)]
    if len(kinds) != 1:
        sec.problem("", f"needs exactly one source ({', '.join(SOURCE_KINDS)}), got {len(kinds)}")
        sec.finish(tuple(SOURCE_KINDS) + BINDING_KEYS)
        return None
    kind = kinds[0]
    sources = SOURCE_KINDS[kind](sec, device)
    options = midi_binding_options(sec, kind, device) if kind in MIDI_KINDS else {}
    if kind == "osc":
        options = osc_binding_options(sec)

    param = sec.get("param", is_str, "") or None
    action = sec.get("action", is_str, "") or None
    if (param is None) == (action is None):
        sec.problem("", "needs exactly one target: param or action")
    spec = None
    if param is not None:
        spec = registry.get(param)
        if spec is None:
            sec.problem("param", f"unknown parameter {param!r} (see `vj params` for the list)")
    if action is not None and action not in ACTIONS:
        sec.problem("action", f"unknown action {action!r}; expected one of: {action_list()}")

    default_mode = "trigger" if action else ("toggle" if spec and spec.kind == "bool" else "value")
    mode = sec.get("mode", is_choice(*MODES), default_mode)
    if action and mode != "trigger":
        sec.problem("mode", "actions fire on press: use mode trigger (or leave mode out)")
    lo, hi = sec.get("range", _range, default_range(spec))
    if spec and spec.kind in ("float", "int") and not (spec.lo <= min(lo, hi) and max(lo, hi) <= spec.hi):
        sec.problem("range", f"[{lo:g}, {hi:g}] is outside {param}'s range {spec.range_text()}")
    value = sec.get("value", is_number(), None)
    if value is not None and spec and spec.kind in ("float", "int") and not spec.lo <= value <= spec.hi:
        sec.problem("value", f"{value:g} is outside {param}'s range {spec.range_text()}")
    if action in TEXT_ACTIONS and kind != "osc":
        sec.problem("action", f"action {action} takes text: only an osc source can send it")
    elif action and ACTIONS.get(action, ("", False))[1] and value is None and kind not in VALUE_SOURCES:
        sec.problem("value", f"action {action} needs a value")
    step = sec.get("step", is_number(), 0.0)
    if mode == "step" and step == 0.0:
        sec.problem("step", "step mode needs a non-zero step")
    if options.get("encoder") and (action or mode != "value" or (spec and spec.kind not in ("float", "int"))):
        sec.problem("encoder", "a relative encoder drives a number parameter in value mode")
    binding = Binding(
        sources=sources or ((),),
        file=sec.file,
        line=sec.line,
        param=param,
        action=action,
        mode=mode,
        lo=lo,
        hi=hi,
        curve=sec.get("curve", is_choice(*CURVES), "lin"),
        invert=sec.get("invert", is_bool, False),
        smoothing=sec.get("smoothing", is_number(0.0, 60.0), None),
        value=value,
        step=step,
        wrap=sec.get("wrap", is_bool, False),
        **options,  # type: ignore[arg-type]
    )
    sec.finish(tuple(SOURCE_KINDS) + SOURCE_OPTIONS.get(kind, ()) + BINDING_KEYS)
    return binding if sources else None


def _lfo(sec: Section, registry: Registry) -> LfoSpec:
    param = sec.get("param", is_str, "", required=True)
    spec = registry.get(param)
    if param and (spec is None or spec.kind != "float"):
        sec.problem("param", f"{param!r} is not a continuous parameter (LFOs modulate float parameters)")
    hz = sec.get("hz", is_number(0.0, 100.0), None)
    beats = sec.get("beats", is_number(1 / 64, 1024.0), None)
    if (hz is None) == (beats is None):
        sec.problem("", "needs exactly one rate: hz (cycles per second) or beats (beats per cycle)")
    lfo = LfoSpec(
        param=param,
        shape=sec.get("shape", is_choice(*SHAPES), "sine"),
        hz=hz,
        beats=beats,
        amount=sec.get("amount", is_number(), 0.0, required=True),
        phase=sec.get("phase", is_number(0.0, 1.0), 0.0),
    )
    sec.finish(("param", "shape", "hz", "beats", "amount", "phase"))
    return lfo


def parse_mapping(path: Path, text: str | None = None, registry: Registry = REGISTRY) -> MappingConfig:
    """Load and validate one mapping file; raises ConfigError listing every problem."""
    file = str(path)
    data = load_yaml(path, text)
    problems: list[Problem] = []
    top = Section(file, data if data is not None else {}, "", problems, 1)
    description = top.get("description", is_str, "")
    device = parse_device(top, file)
    bindings = []
    for index, line, item in top.items("bindings"):
        sec = Section(file, item, f"bindings[{index}]", problems, line)
        if sec.ok and (b := _binding(sec, registry, device)) is not None:
            bindings.append(b)
    lfos = []
    for index, line, item in top.items("lfos"):
        sec = Section(file, item, f"lfos[{index}]", problems, line)
        if sec.ok:
            lfos.append(_lfo(sec, registry))
    audio = []
    for index, line, item in top.items("audio"):
        sec = Section(file, item, f"audio[{index}]", problems, line)
        if sec.ok:
            audio.append(parse_audio_mod(sec, registry))
    outputs = parse_outputs(top)
    top.finish(("description", "midi", "bindings", "lfos", "audio", "outputs"))
    if problems:
        raise ConfigError(problems)
    for problem in outputs.problems:  # the mapping stands; `vj check` and `vj run` show these in their log
        log.warning("%s (vj run goes on without it)", problem)
    config = MappingConfig(file, description, tuple(bindings), tuple(lfos), (device,) if device else (),
                           tuple(audio), outputs, (file,))
    if device is None and config.uses_midi:  # MIDI bindings without a `midi:` section: every input
        config = replace(config, midi=(MidiDevice(ANY_DEVICE),))
    return config
