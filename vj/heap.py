"""The garbage collector kept off what lives as long as the show.

A full collection walks every object the collector tracks, holding the GIL, so every thread of
the show stops meanwhile. What `vj run` made at the start (the imports, the show) lives as long as
the show, and so do the modules imported while it runs (the voice models' and torch's, loaded on
their threads in the first seconds: some 159,000 objects in a `vj bench soak` that full
collections walked for 48-105 ms of CPU, 64-312 ms of wall time, every minute or so).
`freeze_start` takes the first out of its sight; `ImportFreezer` does the same for the others
once no module has been imported for `SETTLE_S` (no collection first: that would be the very
pause avoided; the few cycles of garbage frozen with them stay).
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

SETTLE_S = 10.0  # seconds without a new module before the objects made meanwhile are frozen
CHECK_S = 1.0  # how often the modules are counted


def freeze_start() -> None:
    """At the start of the show: the garbage collected once, everything alive frozen."""
    gc.collect()
    gc.freeze()


class ImportFreezer:
    """Render thread, once a frame (`tick`): freezes again when modules were imported since the
    last freeze and then none for SETTLE_S. `freezes` counts them."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._modules = len(sys.modules)
        self._changed: float | None = None  # when the module count last changed since the last freeze
        self._next = 0.0
        self.freezes = 0

    def tick(self) -> None:
        now = self._clock()
        if now < self._next:
            return
        self._next = now + CHECK_S
        modules = len(sys.modules)
        if modules != self._modules:
            self._modules, self._changed = modules, now
        elif self._changed is not None and now - self._changed >= SETTLE_S:
            self._changed = None
            frozen = gc.get_freeze_count()
            gc.freeze()
            self.freezes += 1
            log.info("garbage collector: %d objects made since the last freeze (%d modules now) frozen",
                     gc.get_freeze_count() - frozen, modules)
