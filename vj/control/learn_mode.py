"""MIDI learn inside `vj run`: F2 (the `learn` action) and the show keeps playing while you bind.

In learn mode the HUD shows a target (a parameter or an action). UP/DOWN choose it (PAGE_UP /
PAGE_DOWN jump by ten), moving a MIDI control binds it: the binding is written to the learn file
(vj.control.learn_yaml.write_binding keeps its comments and order) and takes effect at once. F2 or
ESCAPE leaves learn mode (ESCAPE does not quit while learning). Other keys and controls keep
working: the show goes on.

While learning, the MIDI ports also listen to every input under the device name LEARN_DEVICE;
only those events reach the learner, so a control bound already still does its job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vj.control.learn import Learner, LearnError
from vj.control.learn_yaml import WriteResult, write_binding
from vj.params import REGISTRY
from vj.vocabulary import ACTIONS, TEXT_ACTIONS, ControlEvent

LEARN_DEVICE = "learn"
_LEAVE = ("F2", "ESCAPE")
_MOVE = {"UP": -1, "DOWN": 1, "PAGE_UP": -10, "PAGE_DOWN": 10}


def learn_targets() -> list[str]:
    """Every parameter, then every action a control can play except quitting (not something to put
    on a pad by accident)."""
    return [spec.name for spec in REGISTRY] + [name for name in ACTIONS if name != "quit" and name not in TEXT_ACTIONS]


@dataclass(frozen=True)
class Learned:
    result: WriteResult
    description: str


class LearnMode:
    def __init__(self, file: Path, targets: list[str] | None = None) -> None:
        self.file = Path(file)
        self.targets = targets or learn_targets()
        self.index = 0
        self.learner = Learner(self.targets[0])
        self.last: str | None = None  # what was learned last, or why writing failed

    @property
    def target(self) -> str:
        return self.targets[self.index]

    def key(self, name: str, pressed: bool) -> str | None:
        """A key while learning: "leave", "used" (navigation), or None (not ours: the show handles it)."""
        if name in _LEAVE:
            return "leave" if pressed else "used"
        if name in _MOVE:
            if pressed:
                self.index = max(0, min(len(self.targets) - 1, self.index + _MOVE[name]))
                self.learner = Learner(self.target)
            return "used"
        return None

    def feed(self, event: ControlEvent) -> Learned | None:
        """A MIDI event heard on the learn device; returns what was written once a gesture binds."""
        learned = self.learner.feed(event)
        if learned is None:
            return None
        self.learner = Learner(self.target)  # ready for the next control (or the same, to re-learn)
        try:
            result = write_binding(self.file, learned)
        except LearnError as exc:
            self.last = f"not written: {exc}"
            return None
        self.last = f"{learned.describe()}  ({result.path.name}:{result.line})"
        return Learned(result, learned.describe())

    def hud_lines(self) -> list[str]:
        hint = self.learner.hint or "move a MIDI control to bind it"
        lines = [
            f"LEARN  target: {self.target}   (UP/DOWN choose, F2 or ESC leaves)",
            f"       {hint}   -> {self.file}",
        ]
        if self.last:
            lines.append(f"       last: {self.last}")
        return lines
