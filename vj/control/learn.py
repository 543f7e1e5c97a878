"""MIDI learn: move a control and it is bound to a parameter or action in a mapping file.

`vj learn TARGET` (and the learn mode inside `vj run`) has three parts:

* `Learner` watches control events for one gesture and proposes a binding (pure: no ports, no
  files, no clock of its own; it reads `ControlEvent.time`).
* `write_binding` adds that binding to a mapping file, or replaces the binding of the same
  control, keeping every other byte of the file: its comments, key order and item styles.
* `run_learn` is the command: it opens the MIDI inputs, runs a Learner, and writes the result.

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
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from vj.config.mapping import parse_mapping
from vj.config.midi import MIDI_KINDS, port_matches
from vj.config.source import ConfigError
from vj.control.actions import ACTIONS, TEXT_ACTIONS
from vj.control.events import ControlEvent, DeviceStatus
from vj.control.transform import relative_delta
from vj.params import REGISTRY, Registry

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
        return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in self.item().items()) + "}"

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


def _scalar(value: object) -> str:
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
        raw = event.raw if event.raw is not None else round(event.value * 127)
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
        fits, repeated = _encodings(codes), any(a == b for a, b in zip(codes, codes[1:]))
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


# -- the writer --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteResult:
    path: Path
    line: int  # 1-based line of the written item
    text: str  # the item as written (flow style)
    replaced: bool  # an existing binding of the same control was replaced (re-learn)
    created: bool  # the file did not exist


def write_binding(path: str | Path, learned: LearnedBinding, port_pattern: str = "") -> WriteResult:
    """Add `learned` to the mapping file at `path` (created when missing) and return where.

    An existing binding of the same control (same MIDI kind and number, overlapping channel;
    cc N and cc14 N share CC N) is replaced in place; otherwise the item goes after the last
    binding. The file is edited as text at the positions ruamel.yaml's composer reports, so
    everything outside the new or replaced item (comments, blank lines, order, quoting, the
    `midi:` section, keyboard bindings) stays byte for byte. A new file gets a header comment,
    a description, `midi: {input: PORT_PATTERN}` when a pattern is given, and `bindings:`.

    The result is written to a temporary file beside the original, validated with
    parse_mapping and then moved over it (os.replace), so a reader never sees half a file and
    an invalid result leaves the original untouched: LearnError says why.
    """
    path = Path(path)
    created = not path.exists()
    if created:
        new_text, index, replaced = _new_file(path, learned, port_pattern), -1, False
    else:
        with open(path, encoding="utf-8", newline="") as f:  # newline="": keep CRLF files CRLF
            text = f.read()
        try:
            parse_mapping(path, text)
        except ConfigError as exc:
            raise LearnError(f"{path} has problems already, so it was not changed; fix them first:\n{exc}") from None
        if not text.strip():
            new_text, index, replaced = _new_file(path, learned, port_pattern), -1, False
        else:
            new_text, index, replaced = _splice(text, learned)
    item = learned.text()
    if index < 0:
        index = new_text.index(item)
    _replace_validated(path, new_text, created)
    return WriteResult(path, new_text.count("\n", 0, index) + 1, item, replaced, created)


def _new_file(path: Path, learned: LearnedBinding, port_pattern: str) -> str:
    midi = f"midi:\n  input: {_scalar(port_pattern)}\n" if port_pattern else ""
    return (
        "# A MIDI controller mapping, written by `vj learn`: edit it freely, learn keeps comments and order.\n"
        f"# Use it with `vj run --mapping {path}`; check it with `vj check {path}`.\n"
        f"description: {_scalar(path.stem + ' (learned)')}\n"
        f"{midi}"
        "bindings:\n"
        f"  - {learned.text()}\n"
    )


def _splice(text: str, learned: LearnedBinding) -> tuple[str, int, bool]:
    """The edited text, the index where the item starts, and whether it replaced one."""
    newline = "\r\n" if "\r\n" in text else "\n"
    try:
        loader = YAML(typ="rt")
        root = loader.compose(text)
        data = YAML(typ="rt").load(text)
    except YAMLError as exc:  # parse_mapping accepted it, so this is a YAML 1.1/1.2 difference
        raise LearnError(f"cannot edit {exc}") from None
    item = learned.text()
    if not isinstance(root, MappingNode):  # comments only
        return _append_top(text, item, newline)
    bindings = next((v for k, v in root.value if isinstance(k, ScalarNode) and k.value == "bindings"), None)
    if bindings is None:
        return _append_top(text, item, newline)
    if isinstance(bindings, ScalarNode):  # `bindings:` with nothing under it
        key = next(k for k, v in root.value if v is bindings)
        # drop an explicit `~` or `null`, then the list goes on the lines below the key
        text = text[: bindings.start_mark.index] + text[bindings.end_mark.index:]
        at = _line_end(text, key.end_mark.index)
        prefix = " " * (key.start_mark.column + 2) + "- "
        return _insert_line(text, at, prefix + item, newline)
    assert isinstance(bindings, SequenceNode)
    device = data.get("midi") if isinstance(data.get("midi"), dict) else {}
    default_channel = device.get("channel") if isinstance(device, dict) else None
    items = list(data.get("bindings") or [])
    for node, value in zip(bindings.value, items):
        if isinstance(value, dict) and _same_control(value, learned, default_channel):
            start, end = node.start_mark.index, _content_end(node).end_mark.index
            return text[:start] + item + text[end:], start, True
    if bindings.flow_style:
        close = text.rindex("]", 0, bindings.end_mark.index)
        if bindings.value:
            at = bindings.value[-1].end_mark.index
            return text[:at] + ", " + item + text[at:], at + 2, False
        return text[:close] + item + text[close:], close, False
    at = _line_end(text, _content_end(bindings.value[-1]).end_mark.index)
    return _insert_line(text, at, " " * bindings.start_mark.column + "- " + item, newline)


def _append_top(text: str, item: str, newline: str) -> tuple[str, int, bool]:
    """A file without bindings: a `bindings:` section at the end."""
    if text and not text.endswith("\n"):
        text += newline
    head = text + "bindings:" + newline + "  - "
    return head + item + newline, len(head), False


def _insert_line(text: str, at: int, line: str, newline: str) -> tuple[str, int, bool]:
    """`line` as a new line starting at index `at` (a line start, or the end of a last line)."""
    if at == len(text) and text and not text.endswith("\n"):
        text += newline
        at = len(text)
    indent = len(line) - len(line.lstrip(" -"))
    return text[:at] + line + newline + text[at:], at + indent, False


def _line_end(text: str, index: int) -> int:
    """The index just after the end of the line holding `index` (its newline included)."""
    end = text.find("\n", index)
    return len(text) if end < 0 else end + 1


def _content_end(node: Node) -> Node:
    """The last node that ends where the item's text ends. A block collection's own end mark
    lies at the next token (after trailing comments and blank lines, which belong to what
    follows), so descend to its last scalar or flow collection."""
    while isinstance(node, (MappingNode, SequenceNode)) and not node.flow_style and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(last, tuple) else last
    return node


def _same_control(item: dict[str, Any], learned: LearnedBinding, default_channel: object) -> bool:
    """Whether an existing binding listens to the learned control (so re-learning replaces it)."""
    kinds = [k for k in MIDI_KINDS if k in item]
    if len(kinds) != 1:
        return False  # a keyboard binding (or an invalid one)
    kind, raw = kinds[0], item[kinds[0]]
    channel = item.get("channel", default_channel)
    if channel not in (None, "any") and channel != learned.channel:
        return False
    if {kind, learned.kind} <= {"cc", "cc14"}:  # cc14 N is CC N and N+32: the same physical control
        def ccs(k: str, n: object) -> set[object]:
            return {n, n + 32} if k == "cc14" and isinstance(n, int) else {n}

        return bool(ccs(kind, raw) & ccs(learned.kind, learned.number))
    if kind != learned.kind:
        return False
    if kind == "pitchbend" or raw == "any" or learned.number is None:
        return True
    return bool(raw == learned.number)


def _replace_validated(path: Path, text: str, created: bool) -> None:
    """Write `text` to a temporary file beside `path`, validate it, then move it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # a .tmp suffix, so a live reload watching *.yaml never picks up the half-done file
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        try:
            parse_mapping(path, tmp.read_text(encoding="utf-8"))  # errors name the real file
        except ConfigError as exc:
            raise LearnError(f"the learned binding would make {path} invalid, so it was not changed:\n{exc}") from None
        if created:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a new file gets the usual mode
        else:
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# -- the command -------------------------------------------------------------------------------


def run_learn(
    target: str,
    mapping: str = "mappings/my-controller.yaml",
    port: str = "",
    timeout: float = 30.0,
    value: float | None = None,
) -> int:
    """`vj learn`: 0 when a binding was written, 1 on timeout or a write error, 2 on bad input
    (unknown target, invalid mapping file, no MIDI system), 130 when cancelled with Ctrl-C."""
    from vj.config.midi import MidiDevice
    from vj.control.events import EventQueue
    from vj.control.midi_ports import MidiPorts, MidiUnavailable, list_ports

    try:
        learner = Learner(target, value)
    except LearnError as exc:
        print(f"vj learn: {exc}", file=sys.stderr)
        return 2
    if learner.target.takes_value and value is None:
        print(f"{target} needs a value: only a program change binds (program N selects N); "
              f"give --value N to bind a button to one {target}")
    path = Path(mapping)
    if path.exists():
        try:
            parse_mapping(path)  # before the gesture: a broken file would waste it
        except ConfigError as exc:
            print(f"vj learn: {path} has problems; fix them first:\n{exc}", file=sys.stderr)
            return 2
    try:
        inputs, _ = list_ports()
    except MidiUnavailable as exc:
        print(f"vj learn: no MIDI: {exc}", file=sys.stderr)
        return 2

    events = EventQueue()
    ports = MidiPorts(events, [MidiDevice("learn", input=port)], poll=0.25).start()
    try:
        # the prompt comes once the inputs are open, so a control moved after it is heard
        opened = _wait_open(ports, [p for p in inputs if port_matches(port, p)])
        if opened:
            print(f"listening to: {', '.join(opened)}")
        else:
            which = f"matches {port!r}" if port else "exists"
            print(f"no MIDI input {which} yet (inputs: {', '.join(inputs) or 'none'}); "
                  "listening for one to appear")
        print(f"move a control for {target} (Ctrl-C to cancel)...", flush=True)
        learned = _wait_learned(learner, events, timeout)
    except KeyboardInterrupt:
        print("\ncancelled; nothing written", file=sys.stderr)
        return 130
    finally:
        ports.stop()
    if learned is None:
        why = f" ({learner.hint})" if learner.hint else ""
        print(f"vj learn: no control moved within {timeout:g} s{why}; nothing written", file=sys.stderr)
        return 1
    try:
        result = write_binding(path, learned, port)
    except LearnError as exc:
        print(f"vj learn: {exc}", file=sys.stderr)
        return 1
    how = "replaced" if result.replaced else ("created" if result.created else "added")
    print(f"learned {learned.describe()}")
    print(f"  - {result.text}")
    print(f"{how}: {result.path}:{result.line}")
    return 0


def _wait_open(ports: Any, expected: list[str], limit: float = 3.0) -> tuple[str, ...]:
    """The inputs the port manager has open once every expected one is (at most `limit` s)."""
    start = time.monotonic()
    while time.monotonic() < start + limit:
        status = ports.status()
        if status.error or (set(expected) <= set(status.inputs) and (expected or time.monotonic() > start + 0.5)):
            break  # with nothing expected, half a second covers the first port scans
        time.sleep(0.02)
    return tuple(ports.status().inputs)


def _wait_learned(learner: Learner, events: Any, timeout: float) -> LearnedBinding | None:
    deadline = time.monotonic() + timeout
    hint = None
    while time.monotonic() < deadline:
        for event in events.drain():
            if isinstance(event, DeviceStatus):
                print(event.message, flush=True)
            learned = learner.feed(event)
            if learned is not None:
                return learned
        if learner.hint != hint:
            hint = learner.hint
            print(hint, flush=True)
        time.sleep(0.01)
    return None
