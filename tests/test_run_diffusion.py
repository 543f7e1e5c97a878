"""`vj run` with the tiny diffusion model: it dreams in a child process of its own, its frames
change the window, and a kill -9 of that process is an ordinary fault (restarted, last frame kept)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from tests.support.display import press, screen, screen_until, wait_for_window
from tests.support.vj_process import Log, vj_run
from tests.support.waiting import wait_for
from vj.proc.child import SPARE_NAME

pytestmark = pytest.mark.e2e


def child_pid(parent: int, name: str) -> int | None:
    """The supervised child of `parent` called `name` (its name is on its command line). Not a
    spare waiting to stand in: one was started with a module to preload (a fifth argument) and
    names itself `name` only once it runs; until then its /proc/PID/comm is "vj-spare", or still
    the interpreter's while it starts (then, after a pid wrap-around, it can be listed first)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if b"vj.proc.child" not in argv or name.encode() not in argv or int(stat[1]) != parent or stat[0] == "Z":
            continue
        preloaded = len([a for a in argv[argv.index(b"vj.proc.child") + 1:] if a]) > 3
        if comm == SPARE_NAME or (preloaded and comm != name[:15]):
            continue
        return int(entry.name)
    return None


def dream(px: np.ndarray) -> np.ndarray:
    """The window's picture below the HUD box."""
    return px[200:720, 500:1280, :3].astype(float)


def dreaming(env: dict, path: Path) -> None:
    """Until diffusion frames change the picture (a picture, not black, that moves)."""
    before = dream(screen(env, path))
    screen_until(env, path, lambda px: (d := dream(px)).std() > 10 and np.abs(d - before).mean() > 2,
                 timeout=30, what="diffusion frames changing the picture")


def test_tiny_diffusion_dreams_in_its_own_process_and_survives_kill_9(xvfb_display, tmp_path):
    env = {**os.environ, "DISPLAY": xvfb_display}
    args = ("--preset", "tiny-diffusion", "--hud", "--osc-port", "0", "--no-zeroconf", "--seconds", "180")
    with vj_run(env, *args) as proc:
        out = Log(proc)
        window = wait_for_window(env, proc)
        out.expect("diffusion (tiny): ready")
        first = child_pid(proc.pid, "diffusion (tiny)")
        assert first is not None, out.text()[-3000:]
        dreaming(env, tmp_path / "first.png")

        os.kill(first, signal.SIGKILL)
        out.expect("diffusion (tiny): killed by SIGKILL; restarting")
        kept = dream(screen(env, tmp_path / "kept.png"))
        assert kept.std() > 10  # the last frame stays on screen (moving with the camera), never black
        out.expect("diffusion (tiny): ready", count=2)
        second = child_pid(proc.pid, "diffusion (tiny)")
        assert second is not None and second != first
        dreaming(env, tmp_path / "second.png")  # dreaming again
        press(env, window, "Escape")
        proc.wait(timeout=30)
    assert proc.returncode == 0, out.text()[-3000:]
    wait_for(lambda: child_pid(proc.pid, "diffusion (tiny)") is None and child_pid(proc.pid, "procedural") is None,
             5, what="vj's children to end with it")


def test_ctrl_c_stops_vj_and_its_children_in_order(xvfb_display, tmp_path):
    env = {**os.environ, "DISPLAY": xvfb_display}
    with vj_run(env, "--osc-port", "0", "--no-zeroconf", "--seconds", "120") as proc:
        out = Log(proc)
        wait_for_window(env, proc)
        out.expect("procedural: ready")
        child = child_pid(proc.pid, "procedural")
        assert child is not None
        for pid in (child, proc.pid):  # as a terminal's Ctrl-C reaches its whole process group
            os.kill(pid, signal.SIGINT)
        proc.wait(timeout=30)
        text = out.join()
    assert proc.returncode == 130, text[-3000:]
    assert "Ctrl-C: stopping" in text and "Traceback" not in text, text[-3000:]
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]
