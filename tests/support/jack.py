"""JACK servers of the tests' own (dummy driver: no sound card needed) and the ports on them."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable

import pytest

from tests.support.processes import die_with_parent, stop
from tests.support.waiting import wait_for

RATE = 48000  # every test server's sample rate
PERIOD = 256  # and its frames per cycle


def ports(env: dict | None = None) -> list[str]:
    """Every port on the JACK server `env` names (JACK_DEFAULT_SERVER); none if it does not answer
    (or not within 30 s: a busy synchronous server can be that slow)."""
    try:
        done = subprocess.run(["jack_lsp"], env=env, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return []
    return done.stdout.split() if done.returncode == 0 else []


def start_jackd(name: str, *options: str) -> subprocess.Popen[bytes]:
    """A JACK server called `name`, up (its system ports listed) when this returns; `options` go
    before the driver's (`-S`: synchronous)."""
    exe = shutil.which("jackd")
    if exe is None:
        pytest.fail("jackd is not installed, and the MIDI and audio tests need a real JACK server "
                    "(Debian: apt-get install jackd2)")
    env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1", JACK_DEFAULT_SERVER=name)
    command = [exe, "-n", name, *options, "--no-realtime", "-d", "dummy", "-r", str(RATE), "-p", str(PERIOD)]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(command, env=env, preexec_fn=die_with_parent, stdout=subprocess.DEVNULL, stderr=log)
        try:
            wait_for(lambda: proc.poll() is not None or any(p.startswith("system:") for p in ports(env)), 15,
                     what=f"jackd {name} to come up", every=0.1)
        except AssertionError:
            stop(proc)
            raise
        if proc.poll() is not None:
            log.seek(0)
            pytest.fail(f"jackd {name} exited: {log.read().decode(errors='replace')[-2000:]}")
    return proc


def stop_jackd(proc: subprocess.Popen[bytes]) -> None:
    """Stops a server; fails if it had to be killed (a client of ours that left without closing
    makes jackd wait for it, and a killed jackd keeps its slot in JACK's registry of 8 servers)."""
    if not stop(proc, timeout=10):
        pytest.fail("jackd did not stop within 10 s of SIGTERM: is a client hanging?")


def vj_audio_port(env: dict | None = None, timeout: float = 30.0, said: Callable[[], str] = str) -> str:
    """vj's first capture port, once its audio worker has registered with JACK (`said`: vj's
    output so far, for the message when it never does)."""
    return wait_for(lambda: next((p for p in ports(env) if p.startswith("vj-audio") and p.endswith(":in_0")), None),
                    timeout, what=lambda: f"vj's audio input in JACK; ports {ports(env)}; vj said:\n{said()[-3000:]}",
                    every=0.2)
