"""Fixtures for the control surface's tests: a stage (tests/support/surface.py) on loopback, or on
any host a test names."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest

from tests.support.surface import Stage, open_stage


@pytest.fixture
def stage(ctx) -> Iterator[Stage]:
    yield from open_stage(ctx)


@pytest.fixture
def open_stage_on(ctx) -> Callable[[str], AbstractContextManager[Stage]]:
    """`with open_stage_on("0.0.0.0") as stage:` a stage whose surface listens there."""
    return lambda host: contextmanager(open_stage)(ctx, host)
