"""The show under `vj bench surface`: `vj run` itself (`python -m vj`, every flag as given), in a
process whose mapping engine also notes each control-surface set of the bench's slider: when its
parameter write was done (`time.perf_counter()` right after `MappingEngine.handle`, on the render
thread), when the event reached the show's queue (`ControlEvent.time`, taken by the surface on
the web loop), the value sent and the base value the parameter then held. Nothing else changes;
the notes go to a JSON file when the show stops.

    python -m vj.bench.surface_show WRITES_JSON run ARGS...
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from vj.control.engine import MappingEngine
from vj.params import ParamState
from vj.surface.space import param_source
from vj.vocabulary import ControlEvent

PARAM = "zoom"  # the slider the bench moves: a float in -2..2, smoothed (its base is written at once)
SOURCE = param_source(PARAM)

Write = tuple[float, float, Any, Any]  # (written at, arrived at, value sent, base value after)


class NotingEngine(MappingEngine):
    """The mapping engine, noting each surface set of PARAM (module docstring)."""

    writes: list[Write] = []  # one list for every engine the show compiles (a mapping reload makes a new one)

    def handle(self, event: ControlEvent, state: ParamState, sink: Any) -> None:
        super().handle(event, state, sink)
        if event.source == SOURCE:
            self.writes.append((time.perf_counter(), event.time, event.raw, state.base[PARAM]))


def main(argv: list[str]) -> int:
    import vj.show.controls
    from vj.bench.harness import run_vj

    path = Path(argv[0])
    vj.show.controls.MappingEngine = NotingEngine  # type: ignore[misc]  # where the show makes its engine
    try:
        return run_vj(argv[1:])
    finally:
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps({"param": PARAM, "writes": NotingEngine.writes}))
        partial.replace(path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
