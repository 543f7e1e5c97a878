"""Shared real components for all tests: a private Xvfb display for window tests, private JACK
servers for MIDI and audio, a headless GL context for show tests. Helpers live in tests/support."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.support.display import XVFB_SCREEN
from tests.support.jack import start_jackd, stop_jackd
from tests.support.processes import die_with_parent, stop
from tests.support.show import SIZE
from vj.render.context import create_headless_context


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
        preexec_fn=die_with_parent,
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
        stop(proc)


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
    name = f"vjtest{os.getpid()}"
    proc = start_jackd(name)
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
        stop(proc)  # not stop_jackd: vj's supervised children may still be its clients until the session ends


@pytest.fixture(scope="module")
def live_jack(jack_server: str) -> Iterator[str]:
    """A JACK server of the module's own (synchronous: a busy machine delays cycles instead of
    losing them): `vj run` with its audio worker and the players come and go there, and whatever
    they leave behind cannot disturb the shared server's MIDI tests."""
    name = f"vjlive{os.getpid()}"
    saved = os.environ.get("JACK_DEFAULT_SERVER")
    server = start_jackd(name, "-S")
    os.environ["JACK_DEFAULT_SERVER"] = name
    try:
        yield name
    finally:
        os.environ["JACK_DEFAULT_SERVER"] = saved or jack_server
        stop_jackd(server)


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


# -- a headless GL context for show tests -------------------------------------------------------


@pytest.fixture(scope="module")
def egl():
    context = create_headless_context()
    with context:  # leaving the block unbinds it: window tests on this thread need GLX current later
        pass
    yield context
    context.release()


@pytest.fixture()
def ctx(egl):
    with egl:
        yield egl


@pytest.fixture()
def target(ctx):
    fbo = ctx.framebuffer(color_attachments=[ctx.texture(SIZE, 3)])
    yield fbo
    fbo.release()
