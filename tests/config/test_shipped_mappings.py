"""Each shipped controller mapping does what docs/controllers.md says it does, control by control.

Every row of a controller's table is played through vj as the hardware would send it: the row's MIDI
as raw bytes through the real MidiDecoder and a MappingEngine holding the whole mapping, with a fresh
ParamState and an action recorder. The documented action must fire once (with its number), or the
documented parameter must do what the row says, and nothing else may move. Conversely every binding
in the file must be a row of the table.

The doc's forms (defined at the top of docs/controllers.md):
  MIDI  `cc N ch C` [twos-complement | signed-bit | binary-offset], `cc14 N ch C`, `nrpn N ch C`,
        `note N ch C`, `pitchbend ch C`, `program N|any ch C`; C is 1-16 or `any`.
  does  `` `action` (action) `` or `` `action N` (action) `` (N: the action's number), or
        `` `parameter` `` and then one of:
          LO … HI              a knob, fader or wheel: bottom gives LO, top gives HI (swept)
          first / ... / last   a knob over a choice
          +S per detent        a relative encoder (three detents clockwise: +3S)
          V while held         momentary (V while pressed, back on release)
          set to V             trigger
          toggle A ↔ B         toggle (from A, a press gives B)
          on / off             toggle of an on/off parameter
          step S [(wraps round)]  each press adds S
        followed by free text (the LED, a comment).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tests.support.engine import Actions
from tests.support.vj_process import vj
from vj.config.mapping import Binding, MappingConfig, parse_mapping
from vj.config.midi import CHANNELS, MidiDevice
from vj.control.engine import MappingEngine
from vj.control.midi_decode import MidiDecoder
from vj.params import REGISTRY, ParamState
from vj.paths import MAPPING_DIR, ROOT
from vj.vocabulary import ACTIONS, SourceKey

DOC = ROOT / "docs" / "controllers.md"
CONTROLLERS = (
    "apc40-mk2",
    "apc-mini-mk2",
    "launch-control-xl",
    "nanokontrol2",
    "midi-fighter-twister",
    "generic-midi",
)
HEADER = "| control | MIDI | does |"

MIDI_FORM = re.compile(
    r"(?:(?P<kind>cc|cc14|nrpn|note|program) (?P<number>\d+|any)|(?P<pitchbend>pitchbend))"
    r" ch (?P<channel>\d+|any)(?: (?P<encoding>twos-complement|signed-bit|binary-offset))?"
)
DOES_FORM = re.compile(r"`(?P<name>[a-z0-9.]+)(?: (?P<value>-?\d+(?:\.\d+)?))?`(?P<action> \(action\))?")
SPAN = re.compile(r"`(?P<name>[^`]+)`(?: \(action\))? ?(?P<rest>.*)")
NUMBER = r"[−+-]?\d+(?:\.\d+)?"
RANGE_FORM = re.compile(rf"(?P<lo>{NUMBER}) … (?P<hi>{NUMBER})")  # a knob or fader, bottom … top
CHOICES_FORM = re.compile(r"(?P<choices>[a-z-]+(?: / [a-z-]+)+)")  # a knob over a choice, bottom / ... / top
STEP_FORM = re.compile(rf"\+(?P<step>{NUMBER}) per detent")  # a relative encoder, one detent clockwise
HELD_FORM = re.compile(rf"(?P<value>{NUMBER}) while held")  # momentary
SET_FORM = re.compile(rf"set to (?P<value>{NUMBER})")  # trigger
TOGGLE_FORM = re.compile(rf"toggle (?P<a>{NUMBER}) ↔ (?P<b>{NUMBER})")  # toggle between two values
PRESS_STEP_FORM = re.compile(rf"step (?P<step>{NUMBER})(?P<wrap> \(wraps round\))?")  # one step per press
BEAT_FORM = re.compile(r"Beat LED: `(?P<kind>note|cc) (?P<number>\d+) ch (?P<channel>\d+)`")
CLOCKWISE = {"twos-complement": 1, "signed-bit": 1, "binary-offset": 65}  # one detent up


@dataclass(frozen=True)
class Row:
    control: str
    kind: str
    number: int | None  # None: any (program any)
    channel: int | None  # None: any channel
    encoding: str | None  # a relative encoder's encoding
    name: str  # the parameter or action
    action: bool
    value: float | None  # the action's number
    does: str
    line: int

    def keys(self, device: str) -> frozenset[SourceKey]:
        channels = CHANNELS if self.channel is None else (self.channel,)
        numbers = range(128) if self.number is None else (self.number,)
        return frozenset(("midi", device, ch, self.kind, n) for ch in channels for n in numbers)


def doc_section(stem: str) -> list[tuple[int, str]]:
    """(line number, text) of the doc section whose heading names the mapping as (`stem`)."""
    lines = DOC.read_text().splitlines()
    start = next(
        (i for i, line in enumerate(lines) if line.startswith("## ") and f"(`{stem}`)" in line), None
    )
    assert start is not None, f"{DOC} has no section headed '## ... (`{stem}`)'"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return [(i + 1, lines[i]) for i in range(start, end)]


def doc_rows(stem: str) -> list[Row]:
    section = doc_section(stem)
    header = [n for n, line in section if line.strip() == HEADER]
    assert len(header) == 1, f"section {stem}: expected one table with the header {HEADER!r}"
    rows = []
    for number, line in section:
        if number <= header[0] + 1:  # the header and its |---| line
            continue
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 3, f"{DOC}:{number}: expected 3 cells, got {line!r}"
        rows.append(parse_row(cells, number))
    assert rows, f"section {stem}: the table has no rows"
    return rows


def parse_row(cells: list[str], line: int) -> Row:
    control, midi, does = cells
    where = f"{DOC}:{line}"
    assert control, f"{where}: no control named"
    m = MIDI_FORM.fullmatch(midi.strip("`"))
    assert midi.startswith("`") and m, f"{where}: MIDI {midi!r} is not in the documented form"
    kind = "pitchbend" if m["pitchbend"] else m["kind"]
    number = 0 if kind == "pitchbend" else (None if m["number"] == "any" else int(m["number"]))
    assert number is not None or kind == "program", f"{where}: only program takes `any` as its number"
    assert m["encoding"] is None or kind == "cc", f"{where}: relative encoders send plain CC"
    d = DOES_FORM.match(does)
    assert d, f"{where}: 'does' must begin with `parameter` or `action` (action), got {does!r}"
    action = bool(d["action"])
    table = ACTIONS if action else REGISTRY
    assert d["name"] in table, f"{where}: {d['name']!r} is not a known {'action' if action else 'parameter'}"
    value = float(d["value"]) if d["value"] is not None else None
    assert value is None or action, f"{where}: a number in the backticks belongs to an action"
    channel = None if m["channel"] == "any" else int(m["channel"])
    return Row(control, kind, number, channel, m["encoding"], d["name"], action, value, does, line)


def _number(text: str) -> float:
    return float(text.replace("−", "-"))


def doc_beats(stem: str) -> set[tuple[str, int, int]]:
    return {
        (m["kind"], int(m["number"]), int(m["channel"]))
        for _, line in doc_section(stem)
        for m in BEAT_FORM.finditer(line)
    }


def load(stem: str) -> tuple[MappingConfig, MidiDevice]:
    config = parse_mapping(MAPPING_DIR / f"{stem}.yaml")
    assert len(config.midi) == 1, f"{stem}: expected one MIDI device"
    return config, config.midi[0]


# -- playing a row through vj ---------------------------------------------------------------------


Sent = list[tuple[bytes, float | None]]  # each message with the control's position after it (0..1)


def stimulus(row: Row, channel: int, number: int, how: str) -> Sent:
    """The raw MIDI the control sends: `press` and release, `sweep` bottom-middle-top-bottom-top-bottom,
    or `turn` three detents clockwise."""
    ch = channel - 1
    if row.kind == "program":
        return [(bytes((0xC0 | ch, number)), None)]
    if row.kind == "note":
        return [(bytes((0x90 | ch, number, 127)), 1.0), (bytes((0x80 | ch, number, 0)), 0.0)]
    if row.kind == "pitchbend":
        return [(bytes((0xE0 | ch, v & 0x7F, v >> 7)), v / 16383) for v in (0, 8192, 16383, 8192, 0)]
    if how == "turn":
        assert row.kind == "cc" and row.encoding
        return [(bytes((0xB0 | ch, number, CLOCKWISE[row.encoding])), None)] * 3
    values = (127, 0) if how == "press" else (0, 64, 127, 0, 127, 0)
    if row.kind == "cc":
        return [(bytes((0xB0 | ch, number, v)), v / 127) for v in values]
    if row.kind == "cc14":
        return [
            m
            for v in values
            for m in ((bytes((0xB0 | ch, number, v)), None), (bytes((0xB0 | ch, number + 32, 0)), v / 127))
        ]
    assert row.kind == "nrpn"
    select: Sent = [
        (bytes((0xB0 | ch, 99, number >> 7)), None),
        (bytes((0xB0 | ch, 98, number & 0x7F)), None),
    ]
    return select + [
        m for v in values for m in ((bytes((0xB0 | ch, 6, v)), None), (bytes((0xB0 | ch, 38, 0)), v / 127))
    ]


@dataclass
class Played:
    start: object  # the documented parameter before
    trace: list[tuple[float | None, object]]  # the control's position and the parameter after each message
    others: list[str]  # other parameters that moved
    actions: list[tuple[str, object]]


def play(config: MappingConfig, device: str, data: Sent, name: str | None, start: object = None) -> Played:
    engine = MappingEngine(config)
    state = ParamState()
    if name is not None and start is not None:
        state.set_base(name, start)  # type: ignore[arg-type]
    first = dict(state.base)
    decoder = MidiDecoder((device,))
    sink = Actions()
    trace = []
    for i, (message, position) in enumerate(data):
        for event in decoder.decode(message, float(i)):  # a second apart: no encoder acceleration
            engine.handle(event, state, sink)  # type: ignore[arg-type]
        trace.append((position, state.base[name] if name else None))
    others = sorted(k for k, v in state.base.items() if v != first[k] and k != name)
    return Played(first[name] if name else None, trace, others, sink.fired)


def same(value: object, documented: object) -> bool:
    if isinstance(documented, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return abs(float(value) - documented) < 1e-6
    return value == documented


def other_than(name: str, value: object) -> object:
    """A start for the parameter that is not `value`: its default, else an end of its range."""
    spec = REGISTRY[name]
    ends = (
        [False, True]
        if spec.kind == "bool"
        else (list(spec.choices) if spec.kind == "enum" else [spec.lo, spec.hi])
    )
    return next(v for v in [spec.default, *ends] if not same(v, value))


def stepped(name: str, start: object, step: float, wrap: bool) -> object:
    spec = REGISTRY[name]
    if spec.kind == "enum":
        index = spec.choices.index(start) + int(step)  # type: ignore[arg-type]
        return spec.choices[index % len(spec.choices) if wrap else min(len(spec.choices) - 1, max(0, index))]
    return float(start) + step  # type: ignore[arg-type]


def step_start(name: str, step: float) -> object:
    """A start from which one step neither clamps nor wraps."""
    spec = REGISTRY[name]
    if spec.kind == "enum":
        n = len(spec.choices)
        return next(c for c in [spec.default, *spec.choices] if 0 <= spec.choices.index(c) + step < n)  # type: ignore[arg-type]
    return next(v for v in [spec.default, spec.lo, spec.hi] if spec.lo <= float(v) + step <= spec.hi)  # type: ignore[arg-type]


def check_row(config: MappingConfig, device: MidiDevice, row: Row) -> list[str]:
    """What is wrong with one documented row (empty: the control does what the doc says)."""
    where = f"{DOC}:{row.line} ({row.control})"
    keys = row.keys(device.name)
    matches = [b for b in config.bindings if frozenset(b.sources) == keys]
    if len(matches) != 1:
        return [f"{where}: {len(matches)} bindings listen to exactly this MIDI, expected 1"]
    b: Binding = matches[0]
    problems = []
    if row.action and b.action != row.name or not row.action and b.param != row.name:
        problems.append(
            f"{where}: the file binds it to {b.action or b.param!r} ({b.where()}), the doc says {row.name!r}"
        )
    if row.action and ACTIONS[row.name][1] and (b.value if b.value is None else float(b.value)) != row.value:
        problems.append(f"{where}: the file's number is {b.value}, the doc says {row.value}")
    if b.encoder != row.encoding:
        problems.append(
            f"{where}: the file reads it as {b.encoder or 'absolute'}, the doc says {row.encoding or 'absolute'}"
        )
    if problems:
        return problems
    channels = (1, 16) if row.channel is None else (row.channel,)
    numbers = (0, 5, 127) if row.number is None else (row.number,)
    for channel in channels:
        for number in numbers:
            problem = check_played(config, device.name, row, channel, number)
            if problem:
                return [f"{where}: {problem}"]
    return []


def check_played(config: MappingConfig, device: str, row: Row, channel: int, number: int) -> str | None:
    """Send the row's MIDI and compare what happens with the row's `does`."""
    if row.action:
        data = stimulus(row, channel, number, "press")
        played = play(config, device, data, None)
        expected = row.value if row.value is not None else (float(number) if row.kind == "program" else None)
        fired = played.actions
        if len(fired) != 1 or fired[0][0] != row.name or (expected is not None and fired[0][1] != expected):
            wanted = f"{row.name} {'' if expected is None else expected}"
            return f"sent {_hex(data)}: expected the action {wanted} once, got {fired}"
        return f"sent {_hex(data)}: the action also moved {played.others}" if played.others else None
    expectation = documented_behaviour(row)
    if expectation is None:
        return f"'does' {row.does!r} does not say what the control does in one of the checked forms"
    how, start, expect = expectation
    data = stimulus(row, channel, number, how)
    played = play(config, device, data, row.name, start)
    if played.actions or played.others:
        return f"sent {_hex(data)}: also fired {played.actions} / moved {played.others}"
    problem = expect(played)
    return f"sent {_hex(data)}: {row.name} {problem}" if problem else None


Expect = Callable[[Played], "str | None"]  # a problem, or None when the parameter did what the doc says


def documented_behaviour(row: Row) -> tuple[str, object, Expect] | None:
    """From the row's `does`: how to work the control, where to start the parameter, what must happen."""
    rest = SPAN.match(row.does)["rest"]  # type: ignore[index]
    name = row.name
    if m := STEP_FORM.match(rest):  # a relative encoder: three detents clockwise
        step = _number(m["step"])

        def turned(p: Played) -> str | None:
            after = p.trace[-1][1]
            ok = same(after, float(p.start) + 3 * step)  # type: ignore[arg-type]
            return None if ok else f"went {p.start} -> {after}, expected +{3 * step:g}"

        return "turn", other_than(name, REGISTRY[name].hi), turned
    ends: tuple[object, object] | None = None
    if m := RANGE_FORM.match(rest):
        ends = (_number(m["lo"]), _number(m["hi"]))
    elif (m := CHOICES_FORM.match(rest)) and not rest.startswith("on / off"):
        choices = m["choices"].split(" / ")
        ends = (choices[0], choices[-1])
    if ends is not None:  # a knob, fader or wheel: bottom and top of the sweep
        bottom, top = ends

        def swept(p: Played) -> str | None:
            low = any(pos == 0.0 and same(v, bottom) for pos, v in p.trace)
            high = any(pos == 1.0 and same(v, top) for pos, v in p.trace)
            return None if low and high else f"swept: {_values(p)}, the doc says {bottom} … {top}"

        return "sweep", None, swept
    if rest.startswith("on / off"):
        return (
            "press",
            False,
            lambda p: None if all(v is True for v in _values(p)) else f"from off: {_values(p)}",
        )
    if m := HELD_FORM.match(rest):
        value = _number(m["value"])

        def held(p: Played) -> str | None:
            ok = same(p.trace[0][1], value) and same(p.trace[-1][1], p.start)
            return (
                None
                if ok
                else f"from {p.start}, held then released: {_values(p)}; the doc says {value} while held"
            )

        return "press", other_than(name, value), held
    if m := SET_FORM.match(rest):
        value = _number(m["value"])
        return "press", other_than(name, value), lambda p: _stays(p, value)
    if m := TOGGLE_FORM.match(rest):
        return "press", _number(m["a"]), lambda p: _stays(p, _number(m["b"]))
    if m := PRESS_STEP_FORM.match(rest):
        step, wrap = _number(m["step"]), bool(m["wrap"])
        start = step_start(name, step)
        return "press", start, lambda p: _stays(p, stepped(name, start, step, wrap))
    return None


def _values(p: Played) -> list[object]:
    return [v for _, v in p.trace]


def _stays(p: Played, value: object) -> str | None:
    """Pressed and released, the parameter went to `value` and stayed there."""
    ok = all(same(v, value) for v in _values(p))
    return None if ok else f"from {p.start}: {_values(p)}, expected {value}"


def _hex(data: Sent) -> str:
    return " ".join(message.hex() for message, _ in data)


# -- the tests ------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_vj_check_accepts_every_controller_mapping():
    files = [str(MAPPING_DIR / f"{stem}.yaml") for stem in CONTROLLERS]
    result = vj("check", *files, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok: ") == len(files)


def test_the_doc_lists_every_shipped_controller_mapping():
    shipped = {p.stem for p in Path(MAPPING_DIR).glob("*.yaml")}
    assert set(CONTROLLERS) <= shipped
    for stem in CONTROLLERS:
        assert any(f"`{stem}`" in line for line in DOC.read_text().splitlines() if line.startswith("| "))


@pytest.mark.parametrize("stem", CONTROLLERS)
def test_each_documented_control_does_what_the_doc_says(stem):
    config, device = load(stem)
    rows = doc_rows(stem)
    problems = [p for row in rows for p in check_row(config, device, row)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("stem", CONTROLLERS)
def test_every_binding_is_documented_once(stem):
    config, device = load(stem)
    rows = doc_rows(stem)
    documented = [row.keys(device.name) for row in rows]
    assert len(set(documented)) == len(documented), f"{stem}: a MIDI message is documented twice"
    undocumented = [b.where() for b in config.bindings if frozenset(b.sources) not in set(documented)]
    assert not undocumented, f"{stem}: bindings missing from {DOC.name}: {undocumented}"
    assert len(rows) == len(config.bindings)


@pytest.mark.parametrize("stem", CONTROLLERS)
def test_the_doc_names_the_port_and_the_beat_leds(stem):
    _, device = load(stem)
    text = "\n".join(line for _, line in doc_section(stem))
    if device.input:
        assert f"Port: `{device.input}`" in text, f"section {stem}: say the port name, Port: `{device.input}`"
        assert device.output == device.input  # LEDs and echo go back to the same controller
    leds = {(led.kind, led.number, led.channel) for led in device.beat}
    assert doc_beats(stem) == leds, (
        f"section {stem}: the file's beat LEDs are {leds}, the doc's (Beat LED: `note N ch C`) {doc_beats(stem)}"
    )


def test_the_row_check_catches_a_wrong_doc():
    """A row that names another control, parameter, number or encoding, or MIDI that nothing binds, fails."""
    config, device = load("apc40-mk2")
    rows = {row.control: row for row in doc_rows("apc40-mk2")}
    knob, pad, tempo = rows["track knob 1"], rows["clip pad row 1, pad 1"], rows["TEMPO knob (endless)"]
    assert not check_row(config, device, knob) and not check_row(config, device, pad)
    assert not check_row(config, device, tempo)
    wrong = [
        replace(knob, name="feedback"),  # another parameter
        replace(knob, number=30),  # nothing bound there
        replace(knob, channel=2),
        replace(pad, value=3.0),  # another preset
        replace(pad, name="preset.next"),
        replace(tempo, encoding="binary-offset"),
        replace(knob, encoding="twos-complement"),
    ]
    for row in wrong:
        assert check_row(config, device, row), f"not caught: {row}"


def test_the_played_check_catches_controls_that_misbehave():
    """With a binding's behaviour broken behind the doc's back, playing its row fails."""
    config, device = load("nanokontrol2")
    rows = {row.control: row for row in doc_rows("nanokontrol2")}

    def broken(name: str, **change: object) -> MappingConfig:
        return replace(
            config, bindings=tuple(replace(b, **change) if b.param == name else b for b in config.bindings)
        )

    knob, flash, zoom, mono, hue = (
        rows["knob 1"],
        rows["R button 5"],
        rows["knob 5"],
        rows["R button 6"],
        rows["R button 8"],
    )
    assert not any(check_row(config, device, row) for row in (knob, flash, zoom, mono, hue))
    assert check_row(broken("strength", lo=0.5, hi=0.5), device, knob)  # stuck
    assert check_row(broken("strength", invert=True), device, knob)  # upside down
    assert check_row(broken("zoom", lo=-2.0, hi=2.0), device, zoom)  # not the documented range
    assert check_row(broken("brightness", value=0.3), device, flash)  # another value while held
    assert check_row(broken("brightness", mode="toggle"), device, flash)  # latches instead of springing back
    assert check_row(broken("saturation", mode="momentary"), device, mono)  # springs back instead of latching
    assert check_row(broken("hue", step=30.0), device, hue)  # another step
    hue_button = next(b for b in config.bindings if b.source == ("midi", "nanokontrol2", 1, "cc", 71))
    on_any_channel = tuple(
        ("midi", "nanokontrol2", ch, "cc", 71) for ch in CHANNELS
    )  # not exactly the row's MIDI
    doubled = config.bindings + (replace(hue_button, sources=on_any_channel, param="contrast"),)
    problems = check_row(replace(config, bindings=doubled), device, hue)
    assert "moved ['contrast']" in " ".join(problems)  # it moves another parameter too

    apc, apc_device = load("apc40-mk2")
    tempo = next(row for row in doc_rows("apc40-mk2") if row.encoding)
    slow = replace(apc, bindings=tuple(replace(b, step=0.1) if b.encoder else b for b in apc.bindings))
    assert not check_row(apc, apc_device, tempo)
    assert check_row(slow, apc_device, tempo)  # not the documented step
