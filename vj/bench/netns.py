"""A private network namespace that holds only loopback, for everything that finds peers by
multicast on every interface (Ableton Link, NDI, zeroconf): benchmarks (`vj bench rig`) and tests
must never send beyond this machine.

`isolated(argv)` runs a command in a fresh namespace (`unshare -n` as root, else in a user
namespace that maps us to root, `unshare -rn`) after bringing `lo` up. Processes that must find
each other run in the same namespace: start them from one `isolated` command (a Python script
that starts both ends, say). Where no namespace can be made this raises, naming why: a test that
needs one fails loudly rather than skipping or leaking multicast onto the network.

NDI has no mDNS here (no avahi): `ndi_config(folder)` writes the config that makes NDI find
sources on 127.0.0.1 directly; point `NDI_CONFIG_DIR` at the folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

NDI_CONFIG = {"ndi": {"networks": {"ips": "127.0.0.1"}}}


class NoNamespace(RuntimeError):
    """A loopback-only network namespace cannot be made on this machine."""


def _unshare() -> list[str]:
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if unshare is None or ip is None:
        raise NoNamespace("a private network namespace needs `unshare` (util-linux) and `ip` (iproute2): "
                          "install them (scripts/setup.sh does)")
    return [unshare, "-n"] if os.geteuid() == 0 else [unshare, "-r", "-n"]


def wrap(argv: list[str]) -> list[str]:
    """`argv` as a command that runs inside a fresh loopback-only namespace."""
    return [*_unshare(), "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *argv]


def isolated(argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 60.0,
             cwd: str | Path | None = None, preexec_fn: Callable[[], None] | None = None
             ) -> subprocess.CompletedProcess[str]:
    """Run `argv` in a fresh loopback-only namespace and wait; raises NoNamespace if none can be made."""
    try:
        done = subprocess.run(wrap(argv), env=env, timeout=timeout, cwd=cwd, capture_output=True, text=True,
                              preexec_fn=preexec_fn)
    except subprocess.TimeoutExpired as exc:
        output = "".join(_text(part) for part in (exc.stdout, exc.stderr))
        raise TimeoutError(f"{argv} in a loopback namespace ran past {timeout} s; output:\n{output}") from None
    if done.returncode != 0 and ("unshare" in done.stderr and ("Operation not permitted" in done.stderr
                                                                or "failed" in done.stderr)):
        raise NoNamespace(f"cannot make a network namespace here: {done.stderr.strip()}")
    return done


def _text(part: str | bytes | None) -> str:
    if isinstance(part, bytes):
        return part.decode(errors="replace")
    return part or ""


def isolated_python(script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 60.0,
                    preexec_fn: Callable[[], None] | None = None) -> Any:
    """Run a Python script (source text) in a fresh namespace; returns the JSON object its last stdout
    line prints. The script runs with this interpreter, and vj importable as it is here."""
    root = str(Path(__file__).resolve().parents[2])  # the checkout (or site-packages) holding vj
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": path}
    done = isolated([sys.executable, "-c", script, *args], env=full_env, timeout=timeout, cwd=root,
                    preexec_fn=preexec_fn)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        raise AssertionError(f"the isolated script failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return json.loads(lines[-1])


def ndi_config(folder: Path) -> Path:
    """A folder with an NDI config that finds sources on 127.0.0.1 without mDNS (NDI_CONFIG_DIR)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ndi-config.v1.json").write_text(json.dumps(NDI_CONFIG))
    return folder
