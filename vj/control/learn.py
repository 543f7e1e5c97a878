"""MIDI learn: move a control and it is bound to a parameter or action in a mapping file.

`vj learn TARGET` (and the learn mode inside `vj run`) has three parts:

* `Learner` (here) watches control events for one gesture and proposes a binding (pure: no
  ports, no files, no clock of its own; it reads `ControlEvent.time`).
* `vj.control.learn_yaml.write_binding` adds that binding to a mapping file, or replaces the
  binding of the same control, keeping every other byte of the file: its comments, key order
  and item styles.
* `vj.control.learn_cli.run_learn` is the command: it opens the MIDI inputs, runs a Learner,
  and writes the result.

What one gesture becomes (the heuristics):

* A *button* is a note-on (velocity > 0), a program change, or a CC that goes to a high value
  (64..127) and back to 0 with nothing in between (a CC button; it binds on the release, because
  only the return to 0 tells it from a knob). It binds at once: a press is never noise.
* A *knob* (absolute CC, 14-bit CC, NRPN, pitch bend) binds once it has moved: at least
  `MIN_DISTINCT` (3) different 7-bit positions spanning at least `MIN_SPAN` (3) steps of 127
  within `WINDOW` (2) seconds. A twitch (one or two steps) or a noisy fader does not bind.
* A *relative encoder* sends small signed codes, and the same code again when turned on in the
  same direction (an absolute knob never repeats its value back to back). A CC binds as an
  encoder when at least 3 codes arrived, one repeated back to back, and every code is a move of
  1..`ENCODER_RANGE` (15) detents in exactly one of the encodings:
  twos-complement (1/127 for +1/-1), signed-bit (1/65), binary-offset (65/63).
  Codes that fit two encodings (only 1s: twos-complement or signed-bit; only 65s: signed-bit
  down or binary-offset up) do not bind: turning the encoder the other way tells them apart.
* 14-bit CC (cc14 N) only when the LSB partner (CC N+32) arrived right after CC N on the same
  channel, as 14-bit controllers send them; a 7-bit control on CC 0-31 stays `cc`. A channel
  that sent an NRPN/RPN number (CC 99/98/101/100) has its raw CC 6/38/96/97/98-101 ignored, so
  an NRPN knob binds as `nrpn` and never as its data-entry CC.
* The channel written is the one the control sent on (`channel: N`).

A name that is both a parameter and an action (freeze, blackout, hud) is the action for a
button (a pad toggles freeze) and the parameter for a knob (a fader fades the blackout);
`param:NAME` or `action:NAME` picks one.

What the target makes of the gesture:

* an action: a button (mode trigger, `value:` from --value). Knobs do not bind to actions.
  A value-taking action (preset.select, prompt.select) without --value binds only a program
  change, as `program: any` (program N selects N).
* a bool parameter: a button toggles it; a knob sets it on above half way (mode value).
* a float parameter: a knob or encoder drives it (mode value). A button is momentary: held, it
  sets the parameter's top (or --value) and release restores it, which is what a VJ does with
  a pad (flash the blackout, hold to fly in). Velocity as the value (mode: value) is one edit
  away, but its release drops the parameter to the low end of its range, a jump to an extreme
  for centred parameters (zoom, pan, hue). A program change (no release) triggers the value.
* an int parameter: a knob drives it; a button steps it by 1 (wrapping), or with --value sets it.
* an enum parameter: a knob selects a choice; a button steps through the choices.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

from vj.control.transform import relative_delta
from vj.params import REGISTRY, Registry
from vj.vocabulary import ACTIONS, TEXT_ACTIONS, ControlEvent

MIN_DISTINCT = 3  # different 7-bit positions a knob must pass through
MIN_SPAN = 3  # ...spanning this many steps of 127
WINDOW = 2.0  # seconds: older events of a control are forgotten (slow drift is not a gesture)
ENCODER_RANGE = 15  # largest detent count a relative code may carry (accelerated turns send more)
ENCODER_MIN_CODES = 3
ENCODERS = ("twos-complement", "signed-bit", "binary-offset")
_HISTORY = 64  # events kept per control
_NRPN_CCS = frozenset({6, 38, 96, 97, 98, 99, 100, 101})  # number select, data entry, inc/dec
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
_YAML11_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}  # PyYAML reads these


class LearnError(Exception):
    """A target that cannot be learned, or a binding that cannot be written (the message says why)."""


@dataclass(frozen=True)
class Target:
    """What the gesture is bound to: a parameter (`kind` float/int/bool/enum) or an action."""

    name: str
    kind: str  # float | int | bool | enum | action
    value: float | None = None
    takes_value: bool = False  # an action that needs a value (preset.select, prompt.select)
    action_too: bool = False  # a parameter that is also an action's name (freeze, blackout, hud)

    @property
    def is_action(self) -> bool:
        return self.kind == "action"


def resolve_target(name: str, value: float | None = None, registry: Registry = REGISTRY) -> Target:
    """The parameter or action called `name`; LearnError with near matches when there is none,
    or when --value does not fit it. `param:NAME` and `action:NAME` pick one of the two where
    a name is both (freeze, blackout, hud); plain, such a name is an action for a button and
    the parameter for a knob."""
    forced = ""
    if name.startswith(("param:", "action:")):
        forced, name = name.split(":", 1)
    spec = registry.get(name) if forced != "action" else None
    if spec is not None:
        if value is not None:
            if spec.kind in ("bool", "enum"):
                how = "a button toggles it" if spec.kind == "bool" else "a button steps through its choices"
                raise LearnError(f"{name} is {spec.kind}: {how}; leave out --value")
            if not spec.lo <= value <= spec.hi:
                raise LearnError(f"--value {value:g} is outside {name}'s range {spec.range_text()}")
            if spec.kind == "int" and not float(value).is_integer():
                raise LearnError(f"{name} takes whole numbers; got --value {value:g}")
        action_too = not forced and value is None and name in ACTIONS and not ACTIONS[name][1]
        return Target(name, spec.kind, value, action_too=action_too)
    if name in TEXT_ACTIONS:
        raise LearnError(f"{name} takes text, which no MIDI control sends: set it over OSC (/vj/prompt/N/text)")
    if name in ACTIONS and forced != "param":
        takes_value = ACTIONS[name][1]
        if value is not None and not takes_value:
            raise LearnError(f"action {name} takes no value; leave out --value")
        return Target(name, "action", value, takes_value)
    playable = [a for a in ACTIONS if a not in TEXT_ACTIONS]
    names = list(registry.names) + playable
    near = difflib.get_close_matches(name, names, n=6, cutoff=0.6)
    near += [n for n in names if name.lower() in n.lower() and n not in near]
    hint = f"; did you mean: {', '.join(near[:6])}?" if near else ""
    what = {"param": "parameter", "action": "action"}.get(forced, "parameter or action")
    raise LearnError(
        f"unknown {what} {name!r}{hint} (`vj params` lists the parameters; "
        f"actions: {', '.join(playable)})"
    )


@dataclass(frozen=True)
class LearnedBinding:
    """A proposed mapping-file binding: the control (kind, number, channel) and what it drives.

    `number` is None for pitch bend and for `program: any`. `options` are the binding keys after
    the target, in the order they are written (mode, value, step, wrap, encoder).
    """

    kind: str  # cc | cc14 | nrpn | note | pitchbend | program
    number: int | None
    channel: int
    target: str
    is_action: bool = False
    options: tuple[tuple[str, object], ...] = ()
    gesture: str = ""  # how it was recognised: "knob", "button", "relative encoder (signed-bit)"...

    def item(self) -> dict[str, object]:
        """The binding as the mapping file's item, keys in the written order."""
        source: object = self.number
        if self.kind == "pitchbend":
            source = True
        elif self.kind == "program" and self.number is None:
            source = "any"
        out: dict[str, object] = {self.kind: source, "channel": self.channel}
        out["action" if self.is_action else "param"] = self.target
        out.update(self.options)
        return out

    def text(self) -> str:
        """One-line flow style, as in mappings/default.yaml: `{cc: 48, channel: 1, param: strength}`."""
        return "{" + ", ".join(f"{k}: {yaml_scalar(v)}" for k, v in self.item().items()) + "}"

    def control(self) -> str:
        """The control in words: `CC 48 on channel 1`."""
        names = {"cc": "CC", "cc14": "14-bit CC", "nrpn": "NRPN", "note": "note", "program": "program change"}
        if self.kind == "pitchbend":
            what = "pitch bend"
        elif self.number is None:
            what = "any program change"
        else:
            what = f"{names[self.kind]} {self.number}"
        return f"{what} on channel {self.channel}"

    def describe(self) -> str:
        return f"{self.control()} ({self.gesture}) -> {self.target}"


def yaml_scalar(value: object) -> str:
    """A YAML scalar that PyYAML (which reads mappings) and ruamel read back as the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _YAML11_WORDS:
        return text
    return json.dumps(text)  # a JSON string is a valid YAML double-quoted scalar


# -- the learner -------------------------------------------------------------------------------


@dataclass
class _Seen:
    """One control's recent events: (time, raw code, normalised value)."""

    events: list[tuple[float, int, float]]


class Learner:
    """Watches control events for one gesture; `feed` returns the binding once it is clear.

    Construct it with the target's name (a parameter or action; LearnError when unknown) and the
    optional value. Non-MIDI events and clock/status events are ignored, so the show can feed
    it everything it drains. After a result, `feed` returns None until `reset()`.
    `hint` says why the latest gesture has not bound yet (for a terminal line or the HUD).
    """

    def __init__(self, target: str, value: float | None = None, registry: Registry = REGISTRY) -> None:
        self.target = resolve_target(target, value, registry)
        self._registry = registry
        self.result: LearnedBinding | None = None
        self.hint: str | None = None
        self._seen: dict[tuple[int, str, int], _Seen] = {}
        self._last_cc: dict[int, int] = {}  # channel -> the previous CC number on it
        self._pairs: set[tuple[int, int]] = set()  # (channel, MSB control) with an LSB partner
        self._nrpn_channels: set[int] = set()

    @property
    def program_only(self) -> bool:
        """A value-taking action without a value: only a program change (`program: any`) fits."""
        return self.target.takes_value and self.target.value is None

    def reset(self) -> None:
        self.__init__(self.target.name, self.target.value, self._registry)  # type: ignore[misc]

    def feed(self, event: object) -> LearnedBinding | None:
        if self.result is not None or not isinstance(event, ControlEvent):
            return None
        source = event.source
        if len(source) != 5 or source[0] != "midi":
            return None
        _, _, channel, kind, number = source
        if not isinstance(channel, int) or not isinstance(kind, str) or not isinstance(number, int):
            return None
        self.result = self._gesture(event, channel, kind, number)
        return self.result

    # -- gestures ------------------------------------------------------------------------------

    def _gesture(self, event: ControlEvent, ch: int, kind: str, number: int) -> LearnedBinding | None:
        if kind == "note":
            return self._button("note", number, ch, "button") if event.pressed else None
        if kind == "program":
            return self._program(number, ch)
        if kind == "cc":
            return self._cc(event, ch, number)
        if kind == "cc14":
            # cc14 events come with every CC 0-31; they count only for a real 14-bit pair
            if (ch, number) not in self._pairs or (ch in self._nrpn_channels and number == 6):
                return None
            return self._knob(event, ch, kind, number, "14-bit knob")
        if kind in ("nrpn", "pitchbend"):
            return self._knob(event, ch, kind, number, "NRPN knob" if kind == "nrpn" else "pitch bend")
        return None

    def _history(self, event: ControlEvent, ch: int, kind: str, number: int) -> list[tuple[float, int, float]]:
        seen = self._seen.setdefault((ch, kind, number), _Seen([]))
        raw = event.raw if isinstance(event.raw, int) else round(event.value * 127)  # MIDI: always an int code
        seen.events.append((event.time, raw, event.value))
        cutoff = event.time - WINDOW
        seen.events = [e for e in seen.events[-_HISTORY:] if e[0] >= cutoff]
        return seen.events

    def _cc(self, event: ControlEvent, ch: int, number: int) -> LearnedBinding | None:
        previous = self._last_cc.get(ch)
        self._last_cc[ch] = number
        if number in (98, 99, 100, 101):
            self._nrpn_channels.add(ch)
        if ch in self._nrpn_channels and number in _NRPN_CCS:
            return None  # NRPN plumbing: the nrpn event is the gesture
        if 32 <= number < 64 and previous == number - 32:
            self._pairs.add((ch, number - 32))  # an LSB right after its MSB: a 14-bit control
        if (ch, number) in self._pairs or (32 <= number < 64 and (ch, number - 32) in self._pairs):
            return None  # half of a 14-bit pair: the cc14 event is the gesture
        history = self._history(event, ch, "cc", number)
        codes = [raw for _, raw, _ in history]
        high = {c for c in codes if c >= 64}
        if codes[-1] == 0 and len(high) == 1 and set(codes) <= high | {0} and codes[-2:-1] == list(high):
            return self._button("cc", number, ch, "CC button")
        fits, repeated = _encodings(codes), any(a == b for a, b in pairwise(codes))
        if fits and repeated and len(codes) >= ENCODER_MIN_CODES:
            if len(fits) > 1:
                self.hint = (f"CC {number} on channel {ch} looks like a relative encoder ({' or '.join(fits)}): "
                             "turn it the other way too, so its encoding can be told")
                return None
            return self._encoder(number, ch, fits[0])
        if fits and repeated:
            return None  # maybe the first detents of an encoder: not a knob yet
        return self._knob(event, ch, "cc", number, "knob", history)

    def _knob(
        self, event: ControlEvent, ch: int, kind: str, number: int, gesture: str,
        history: list[tuple[float, int, float]] | None = None,
    ) -> LearnedBinding | None:
        history = history if history is not None else self._history(event, ch, kind, number)
        values = [v for _, _, v in history]
        steps = {round(v * 127) for v in values}
        if len(steps) < MIN_DISTINCT or (max(values) - min(values)) * 127 < MIN_SPAN - 1e-9:
            return None
        t = self.target
        if t.is_action or self.program_only:
            self.hint = f"{t.name} is an action: press a button or pad (a {gesture} does not fire actions)"
            return None
        options: tuple[tuple[str, object], ...] = (("mode", "value"),) if t.kind == "bool" else ()
        return LearnedBinding(kind, None if kind == "pitchbend" else number, ch, t.name, False, options, gesture)

    def _encoder(self, number: int, ch: int, encoding: str) -> LearnedBinding | None:
        t = self.target
        if t.kind not in ("float", "int"):
            what = "an action" if t.is_action else f"a {t.kind} parameter"
            self.hint = f"CC {number} is a relative encoder, which drives number parameters; {t.name} is {what}"
            return None
        return LearnedBinding("cc", number, ch, t.name, False, (("encoder", encoding),),
                              f"relative encoder, {encoding}")

    def _button_target(self) -> Target:
        """A button on a name that is both fires the action (freeze, blackout, hud toggle)."""
        t = self.target
        return Target(t.name, "action") if t.action_too else t

    def _button(self, kind: str, number: int, ch: int, gesture: str) -> LearnedBinding | None:
        t = self._button_target()
        if self.program_only:
            self.hint = (f"{t.name} needs a value: send a program change (program N selects N), "
                         f"or run again with --value to bind this {gesture}")
            return None
        return LearnedBinding(kind, number, ch, t.name, t.is_action, self._button_options(release=True), gesture)

    def _program(self, number: int, ch: int) -> LearnedBinding:
        t = self._button_target()
        if self.program_only:
            return LearnedBinding("program", None, ch, t.name, True, (), "program change")
        return LearnedBinding("program", number, ch, t.name, t.is_action, self._button_options(release=False),
                              "program change")

    def _button_options(self, release: bool) -> tuple[tuple[str, object], ...]:
        """Mode and value for a button (see the module docstring); `release`: it sends one."""
        t = self._button_target()
        value: tuple[tuple[str, object], ...] = (("value", t.value),) if t.value is not None else ()
        if t.kind in ("action",):
            return value
        if t.kind == "bool":
            return ()  # toggle is the parser's default for bool parameters
        if t.kind == "enum" or (t.kind == "int" and t.value is None):
            return (("mode", "step"), ("step", 1), ("wrap", True))
        if t.kind == "int" or not release:
            return (("mode", "trigger"),) + value
        return (("mode", "momentary"),) + value


def _encodings(codes: Iterable[int]) -> list[str]:
    """The relative encodings in which every code is a move of 1..ENCODER_RANGE detents."""
    codes = list(codes)
    return [e for e in ENCODERS if codes and all(1 <= abs(relative_delta(c, e)) <= ENCODER_RANGE for c in codes)]
