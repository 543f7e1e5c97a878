"""Benchmarks shipped with vj: `vj bench render|midi|osc|audio|gen`. Each compares against a named
baseline in the same run and reports ratios (these machines are too noisy for absolute targets)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def emit(result: dict[str, Any], as_json: bool, table: Callable[[dict[str, Any]], None]) -> int:
    """Print a benchmark's result as one JSON object or as its table; the command's exit code."""
    if as_json:
        print(json.dumps(result))
    else:
        table(result)
    return 0
