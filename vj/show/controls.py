"""The mappings and what they compile to: the engine that turns input events into parameter
changes and actions, MIDI learn, a mapping file reloaded or just learned, and the triggers
that fire on their own (audio events, beat divisions)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from vj.config.mapping import MappingConfig, merge_mappings, parse_mapping
from vj.config.source import ConfigError
from vj.control.engine import MappingEngine, Pickup
from vj.control.learn_mode import LEARN_DEVICE, LearnMode
from vj.params import ParamState
from vj.show.notices import Notices
from vj.vocabulary import ActionSink, ClockState, ControlEvent, SourceKey

PICKUP_HINT = 3.0  # seconds a "turn the knob to catch the value" hint stays in the HUD

MappingChanged = Callable[[MappingConfig, bool], None]  # (the merged mapping, learning): ports, LEDs


class Controls:
    def __init__(self, mappings: Sequence[MappingConfig], state: ParamState, sink: ActionSink,
                 notices: Notices, learn_file: Path, on_change: MappingChanged) -> None:
        self.mappings = list(mappings)
        self._state = state
        self._sink = sink
        self._notices = notices
        self.learn_file = learn_file
        self._on_change = on_change
        self.learning: LearnMode | None = None
        self._hud_before_learn = False
        self._pickup: tuple[Pickup, float] | None = None  # the hint shown, and since when
        self.rebuild()

    def rebuild(self) -> None:
        """(Re)compile the mappings: the engine, then whoever listens (MIDI ports, LED feedback)."""
        self.mapping = merge_mappings(self.mappings)
        self.engine = MappingEngine(self.mapping)
        self._on_change(self.mapping, self.learning is not None)

    def reload(self, config: MappingConfig) -> None:
        """A watched mapping file changed: it replaces its old self."""
        self.mappings = [config if m.path == config.path else m for m in self.mappings]
        self.rebuild()

    def handle(self, event: ControlEvent) -> None:
        if self.learning is not None and self._handle_learning(event, self.learning):
            return
        self.engine.handle(event, self._state, self._sink)

    def trigger(self, source: SourceKey, now: float) -> None:
        """A one-shot press from `source` (an audio event, a beat division) through the mapping."""
        self.engine.handle(ControlEvent(source, 1.0, True, None, now, one_shot=True), self._state, self._sink)

    def beat_triggers(self, before: ClockState, after: ClockState) -> None:
        """`beat: N` sources fire when the clock passes a multiple of N beats (running forward)."""
        if not after.running or after.beats <= before.beats or after.beats - before.beats > 4.0:
            return  # stopped, moved back (a MIDI Start) or jumped (a Song Position): no burst of triggers
        now = time.perf_counter()
        for n in self.mapping.beat_divisions:
            if math.floor(after.beats / n) > math.floor(before.beats / n):
                self.trigger(("beat", n), now)

    def pickup_hint(self, now: float) -> Pickup | None:
        """The knob to turn to catch its value, for the first PICKUP_HINT seconds it waits."""
        pickup = self.engine.pickup
        if pickup is None:
            return None
        if self._pickup is None or self._pickup[0] is not pickup:
            self._pickup = (pickup, now)
        return pickup if now - self._pickup[1] < PICKUP_HINT else None

    # -- MIDI learn ----------------------------------------------------------------------------

    def learn(self, on: bool) -> None:
        s = self._state
        if on:
            self.learning = LearnMode(self.learn_file)
            self._hud_before_learn = bool(s.base["hud"])
            s.set_base("hud", True)  # learning happens in the HUD
            self._notices.notice(f"MIDI learn: bindings go to {self.learn_file}")
        else:
            self.learning = None
            s.set_base("hud", self._hud_before_learn)
        self.rebuild()  # the ports listen to every input while learning

    def _handle_learning(self, event: ControlEvent, learning: LearnMode) -> bool:
        """Learn mode gets navigation keys and the learn device's MIDI; True when it used the event."""
        kind = event.source[0]
        if kind == "key":
            used = learning.key(str(event.source[1]), event.value > 0.5)
            if used == "leave":
                self.learn(False)
            return used is not None
        if kind == "midi" and event.source[1] == LEARN_DEVICE:
            learned = learning.feed(event)
            if learned is not None:
                self._notices.notice(f"learned {learned.description}")
                self._reload_file(learned.result.path)
            elif learning.last and learning.last.startswith("not written"):
                self._notices.notice(learning.last)
            return True
        return False

    def _reload_file(self, path: Path) -> None:
        """A mapping file learn just wrote: replace it among the loaded mappings, or add it."""
        try:
            config = parse_mapping(path)
        except ConfigError as exc:
            self._notices.notice(str(exc))
            return
        if any(Path(m.path).resolve() == path.resolve() for m in self.mappings):
            self.mappings = [config if Path(m.path).resolve() == path.resolve() else m for m in self.mappings]
        else:
            self.mappings.append(config)
        self.rebuild()
