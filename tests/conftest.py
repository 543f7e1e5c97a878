"""Shared real components for all tests: a private Xvfb display for window tests."""

from __future__ import annotations

import ctypes
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

XVFB_SCREEN = (1920, 1080)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when pytest dies, so a crashed run leaves no Xvfb behind."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@pytest.fixture(scope="session")
def xvfb_display() -> Iterator[str]:
    """A private Xvfb on a display number it picks itself (-displayfd); yields ':N'."""
    exe = shutil.which("Xvfb")
    if exe is None:
        pytest.fail("Xvfb is not installed, and the window tests need a real X server (Debian: apt-get install xvfb)")
    read_fd, write_fd = os.pipe()
    width, height = XVFB_SCREEN
    proc = subprocess.Popen(
        [exe, "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        preexec_fn=_die_with_parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.close(write_fd)
    number = b""
    deadline = time.monotonic() + 15
    while not number.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([read_fd], [], [], 0.1)
        if ready:
            chunk = os.read(read_fd, 16)
            if not chunk:
                break
            number += chunk
    os.close(read_fd)
    if not number.strip().isdigit():
        proc.kill()
        _, err = proc.communicate(timeout=5)
        pytest.fail(f"Xvfb did not start: {err.decode(errors='replace')[-2000:]}")
    try:
        yield f":{int(number)}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def xvfb(xvfb_display: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """DISPLAY points at the test Xvfb for this test only."""
    monkeypatch.setenv("DISPLAY", xvfb_display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    return xvfb_display
