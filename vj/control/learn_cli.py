"""`vj learn TARGET`: open the MIDI inputs, wait for one gesture, write its binding, and say so
on the terminal (the learner is vj.control.learn, the file editing vj.control.learn_yaml)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from vj.config.mapping import parse_mapping
from vj.config.midi import port_matches
from vj.config.source import ConfigError
from vj.control.learn import LearnedBinding, Learner, LearnError
from vj.control.learn_yaml import write_binding
from vj.paths import LEARN_FILE
from vj.vocabulary import DeviceStatus


def run_learn(
    target: str,
    mapping: str = str(LEARN_FILE),
    port: str = "",
    timeout: float = 30.0,
    value: float | None = None,
) -> int:
    """`vj learn`: 0 when a binding was written, 1 on timeout or a write error, 2 on bad input
    (unknown target, invalid mapping file, no MIDI system), 130 when cancelled with Ctrl-C."""
    from vj.config.midi import MidiDevice
    from vj.control.midi_ports import MidiPorts, MidiUnavailable, list_ports
    from vj.vocabulary import EventQueue

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
