"""The tests' X display (a private Xvfb, see the xvfb fixtures): its screen, a vj window on it,
keys sent to that window and screenshots of it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from tests.support.waiting import wait_for

XVFB_SCREEN = (1920, 1080)  # the test display's one monitor


def wait_for_window(env: dict, proc: subprocess.Popen, timeout: float = 60.0) -> str:
    """The X id of the `vj run` window once `proc` has opened it; fails at once if `proc` ends."""

    def window() -> str | None:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        found = subprocess.run(["xdotool", "search", "--name", "^vj"], env=env, capture_output=True, text=True)
        return found.stdout.split()[0] if found.returncode == 0 and found.stdout.strip() else None

    return wait_for(window, timeout, what="the vj window", every=0.2)


def press(env: dict, window: str, key: str) -> None:
    """Presses and releases `key` (an X keysym: Escape, space, F11) in `window`."""
    subprocess.run(["xdotool", "key", "--window", window, key], env=env, check=True, timeout=10)


def screen(env: dict, path: Path) -> np.ndarray:
    """A screenshot of the whole display (saved at `path`), as float RGB."""
    subprocess.run(["import", "-window", "root", str(path)], env=env, check=True, timeout=30)
    return np.asarray(Image.open(path).convert("RGB")).astype(float)


def screen_until(env: dict, path: Path, ok: Callable[[np.ndarray], object], timeout: float = 20.0,
                 what: str = "the picture on screen") -> np.ndarray:
    """Screenshots until one passes `ok` (a window's first frames take a moment under Xvfb); that one."""

    def shot() -> tuple[np.ndarray] | None:
        pixels = screen(env, path)
        return (pixels,) if ok(pixels) else None

    return wait_for(shot, timeout, what=what, every=0.3)[0]
