"""The garbage collector kept off what lives as long as the show (vj.heap): objects made while
modules are still being imported are frozen once the imports have settled, not before."""

from __future__ import annotations

import gc
import sys
import types
from collections.abc import Iterator

import pytest

from vj.heap import CHECK_S, SETTLE_S, ImportFreezer


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process's objects back in the collector's sight
    sys.modules.pop("vj_test_heap_late", None)


def test_objects_made_while_modules_are_imported_are_frozen_once_the_imports_settle(unfrozen):
    now = [100.0]
    freezer = ImportFreezer(clock=lambda: now[0])
    for _ in range(3):  # no new module: nothing frozen, however long
        freezer.tick()
        now[0] += SETTLE_S
    assert freezer.freezes == 0 and gc.get_freeze_count() == 0
    sys.modules["vj_test_heap_late"] = types.ModuleType("vj_test_heap_late")  # a module loaded while the show runs
    kept = [{"made": i} for i in range(1000)]  # and what it made that lives on
    freezer.tick()
    now[0] += SETTLE_S - CHECK_S
    freezer.tick()
    assert freezer.freezes == 0, "frozen before the imports settled"
    now[0] += CHECK_S
    freezer.tick()
    assert freezer.freezes == 1 and gc.get_freeze_count() >= len(kept)
    now[0] += 10 * SETTLE_S
    freezer.tick()
    assert freezer.freezes == 1  # nothing imported since: no second freeze
