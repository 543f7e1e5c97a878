"""`vj` as a user runs it, from a test: the command, `vj run` as a process, and its log as it comes."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]  # the checkout
VJ = [sys.executable, "-m", "vj"]


def vj(*args: str, env: dict | None = None, timeout: float = 300, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`vj ARGS` run to its end, its output captured as text."""
    return subprocess.run([*VJ, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


@contextlib.contextmanager
def vj_run(env: dict, *args: str) -> Iterator[subprocess.Popen]:
    """`vj run ARGS` as a user starts it (stdout and stderr together on `stdout`); killed on the way
    out if a test left it running. Without audio unless the test asks for it: a test's JACK server
    is no sound card to listen to, and an audio client on it would only load the machine
    (tests/audio cover audio in `vj run`)."""
    if not any(arg.startswith("--audio") for arg in args):
        args = (*args, "--no-audio")
    proc = subprocess.Popen([*VJ, "run", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


class Log:
    """A process's output, read on a thread while it runs: `Log(proc).expect("ready")`."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line)

    def text(self) -> str:
        return "".join(self.lines)

    def expect(self, text: str, count: int = 1, timeout: float = 90.0) -> None:
        """Until `text` has appeared `count` times."""
        wait_for(lambda: self.text().count(text) >= count, timeout,
                 what=lambda: f"{text!r} x{count} in:\n{self.text()[-3000:]}")

    def join(self, timeout: float = 10.0) -> str:
        """The whole output, once the process has closed it."""
        self._thread.join(timeout)
        return self.text()
