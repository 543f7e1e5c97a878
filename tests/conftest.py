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


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


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
        _stop(proc)


@pytest.fixture
def xvfb(xvfb_display: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """DISPLAY points at the test Xvfb for this test only."""
    monkeypatch.setenv("DISPLAY", xvfb_display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    return xvfb_display


@pytest.fixture(scope="session")
def jack_server() -> Iterator[str]:
    """A private JACK server (dummy driver: no sound card needed) for real MIDI and audio ports.

    It gets its own name, exported as JACK_DEFAULT_SERVER, so every client these tests start
    (vj's ports, the peer processes) talks to it and never to a JACK the user runs.
    """
    exe = shutil.which("jackd")
    if exe is None:
        pytest.fail("jackd is not installed, and the MIDI tests need a real JACK server (Debian: apt-get install jackd2)")
    name = f"vjtest{os.getpid()}"
    env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1", JACK_DEFAULT_SERVER=name)
    proc = subprocess.Popen(
        [exe, "-n", name, "--no-realtime", "-d", "dummy", "-r", "48000", "-p", "256"],
        env=env,
        preexec_fn=_die_with_parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jackd exited: {proc.stderr.read().decode(errors='replace')[-2000:] if proc.stderr else ''}")
        probe = subprocess.run(["jack_lsp"], env=env, capture_output=True, timeout=10)
        if probe.returncode == 0 and b"system:" in probe.stdout:
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("jackd did not come up within 15 s")
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "VJ_MIDI_API", "JACK_NO_AUDIO_RESERVATION")}
    os.environ.update(JACK_DEFAULT_SERVER=name, VJ_MIDI_API="jack", JACK_NO_AUDIO_RESERVATION="1")
    try:
        yield name
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _stop(proc)


def _named_segments() -> set[str]:
    """Shared memory vj could leave behind by name (its frame rings have none: memfd)."""
    try:
        return {n for n in os.listdir("/dev/shm") if n.startswith(("vj", "psm_"))}
    except FileNotFoundError:
        return set()


_SEGMENTS_BEFORE = _named_segments()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The whole suite leaves no shared-memory segment behind (issue 13): a leak fails the run."""
    from vj.proc.supervisor import shutdown

    shutdown()  # the process-wide supervisor's children end in order
    leaked = _named_segments() - _SEGMENTS_BEFORE
    if leaked:
        print(f"\nleaked shared memory in /dev/shm: {sorted(leaked)}")
        session.exitstatus = 1
