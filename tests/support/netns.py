"""The loopback-only network namespace (vj.bench.netns) for tests: every process started in one
dies with pytest."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.support.processes import die_with_parent
from vj.bench import netns
from vj.bench.netns import NDI_CONFIG, NoNamespace, ndi_config, wrap

__all__ = ["NDI_CONFIG", "NoNamespace", "isolated", "isolated_python", "ndi_config", "wrap"]


def isolated(argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 60.0,
             cwd: str | Path | None = None) -> subprocess.CompletedProcess[str]:
    """`vj.bench.netns.isolated`, the process dying with pytest."""
    return netns.isolated(argv, env=env, timeout=timeout, cwd=cwd, preexec_fn=die_with_parent)


def isolated_python(script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 60.0) -> Any:
    """`vj.bench.netns.isolated_python`, the process dying with pytest."""
    return netns.isolated_python(script, *args, env=env, timeout=timeout, preexec_fn=die_with_parent)
