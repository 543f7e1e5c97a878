"""`vj run` with the tiny diffusion model: it dreams in a child process of its own, its frames
change the window, and a kill -9 of that process is an ordinary fault (restarted, last frame kept)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np

from tests.test_cli import _press, _vj_run, _wait_for_window
from tests.test_run_midi import _screen


def child_pid(parent: int, name: str) -> int | None:
    """The supervised child of `parent` called `name` (its name is on its command line)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if b"vj.proc.child" in argv and name.encode() in argv and int(stat[1]) == parent and stat[0] != "Z":
            return int(entry.name)
    return None


class Output:
    """vj's log, read on a thread while it runs."""

    def __init__(self, proc) -> None:  # type: ignore[no-untyped-def]
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc) -> None:  # type: ignore[no-untyped-def]
        for line in proc.stdout:
            self.lines.append(line)

    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, what: str, count: int = 1, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while self.text().count(what) < count:
            assert time.monotonic() < deadline, f"no {what!r} x{count} in:\n{self.text()[-3000:]}"
            time.sleep(0.2)


def dream(px: np.ndarray) -> np.ndarray:
    """The window's picture below the HUD box."""
    return px[200:720, 500:1280, :3].astype(float)


def test_tiny_diffusion_dreams_in_its_own_process_and_survives_kill_9(xvfb_display, tmp_path):
    env = {**os.environ, "DISPLAY": xvfb_display}
    args = ("--preset", "tiny-diffusion", "--hud", "--osc-port", "0", "--no-zeroconf", "--seconds", "180")
    with _vj_run(env, *args) as proc:
        out = Output(proc)
        window = _wait_for_window(env, proc)
        out.wait_for("diffusion (tiny): ready")
        first = child_pid(proc.pid, "diffusion (tiny)")
        assert first is not None, out.text()[-3000:]
        time.sleep(1.0)
        a = dream(_screen(env, tmp_path / "a.png"))
        time.sleep(1.0)
        b = dream(_screen(env, tmp_path / "b.png"))
        assert a.std() > 10 and np.abs(a - b).mean() > 2  # diffusion frames keep changing the picture

        os.kill(first, signal.SIGKILL)
        out.wait_for("diffusion (tiny): killed by SIGKILL; restarting")
        kept = dream(_screen(env, tmp_path / "kept.png"))
        assert kept.std() > 10  # the last frame stays on screen (moving with the camera), never black
        out.wait_for("diffusion (tiny): ready", count=2)
        second = child_pid(proc.pid, "diffusion (tiny)")
        assert second is not None and second != first
        time.sleep(1.0)
        c = dream(_screen(env, tmp_path / "c.png"))
        time.sleep(1.0)
        d = dream(_screen(env, tmp_path / "d.png"))
        assert c.std() > 10 and np.abs(c - d).mean() > 2  # dreaming again
        _press(env, window, "Escape")
        proc.wait(timeout=30)
    assert proc.returncode == 0, out.text()[-3000:]
    time.sleep(0.5)
    assert child_pid(proc.pid, "diffusion (tiny)") is None and child_pid(proc.pid, "procedural") is None


def test_ctrl_c_stops_vj_and_its_children_in_order(xvfb_display, tmp_path):
    env = {**os.environ, "DISPLAY": xvfb_display}
    with _vj_run(env, "--osc-port", "0", "--no-zeroconf", "--seconds", "120") as proc:
        out = Output(proc)
        _wait_for_window(env, proc)
        out.wait_for("procedural: ready")
        child = child_pid(proc.pid, "procedural")
        assert child is not None
        for pid in (child, proc.pid):  # as a terminal's Ctrl-C reaches its whole process group
            os.kill(pid, signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 130, out.text()[-3000:]
    assert "Ctrl-C: stopping" in out.text() and "Traceback" not in out.text(), out.text()[-3000:]
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]
