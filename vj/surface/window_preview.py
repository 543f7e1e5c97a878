"""The surface's preview made by a process of its own at the lowest priority, from the X server's
copy of the window (vj.render.xgrab), on software GL under X.

On two cores the show's render thread and the generator's process keep both busy; the preview's
scaling and JPEG encoding on a thread of the show's took their share of the render thread's time
on the frames that made a preview, which is where a display p99 is decided. At the lowest
priority the same work waits for a core the show leaves idle (the render thread sleeps most of
each display frame at 60 Hz), and since the X server holds every swapped frame, the render thread
does nothing for the preview at all. A preview's frame needs no exact timing: whichever frame the
server holds when asked is the one shown.

The process is vj.surface.preview_process, at SCHED_IDLE (vj.priority.lowest; nice 19 where that cannot be had),
started the first time a page wants the preview (a show no page asks one of has no such process;
it holds some 30 MB). The show's side (`WindowPreview`) turns it on while a page wants the
preview and the HUD is off (the window then holds the clean picture; under the HUD the show draws
the preview itself, vj.surface.preview) and hands each JPEG to the surface. The process says on
its first line whether it can: not where another window may cover the show's (a window manager
without compositing: the server would copy what is on top), nor without MIT-SHM; the show then
makes the preview itself, as it does while the process starts and should it die.

Protocol: the show writes b"1" (make previews) or b"0" (stop) to the process's stdin and closes
it to end it; the process answers one line, `ready` or `unavailable: why`, then each JPEG as a
4-byte big-endian length and its bytes on stdout.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO

from vj.surface.jpeg import JPEG_QUALITY, PREVIEW_PERIOD, PREVIEW_WIDTH

log = logging.getLogger(__name__)

HEADER = 4  # bytes of a JPEG's length


class WindowPreview:
    """The show's side (module doc): `active(on)` once a display frame (it writes only when the
    answer changes), `usable` once the process said it can and while it runs; `deliver` gets each
    JPEG on a thread of this object's."""

    def __init__(self, window: int, deliver: Callable[[bytes], None], width: int = PREVIEW_WIDTH,
                 quality: int = JPEG_QUALITY, period: float = PREVIEW_PERIOD) -> None:
        self._deliver = deliver
        self._active = False
        self.usable = False
        self.why: str | None = None  # why the process cannot make the preview, once it said so or stopped
        self.encoded = 0
        self._command = [sys.executable, "-m", "vj.surface.preview_process", str(window), str(width), str(quality),
                         str(period)]
        self._process: subprocess.Popen[bytes] | None = None
        self._spawned = threading.Event()  # the process was started, or failed to
        self._stopping = threading.Event()
        # The thread starts the process (module doc) and reads it: the render thread never waits for it.
        self._thread = threading.Thread(target=self._read, name="vj-surface-preview", daemon=True)

    @property
    def started(self) -> bool:
        return self._thread.ident is not None

    def active(self, on: bool) -> None:
        """Render thread: whether previews are wanted from the process now; the first time they are,
        the process is started (and `usable` once it said it can)."""
        if on and not self.started:
            self._thread.start()
        if on == self._active or not self.usable:
            return
        self._active = on
        assert self._process is not None and self._process.stdin is not None  # usable: started and ready
        try:
            self._process.stdin.write(b"1" if on else b"0")
            self._process.stdin.flush()
        except OSError:  # the process is gone; the reader says so
            self.usable = False

    def _read(self) -> None:
        try:
            self._process = subprocess.Popen(self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        except OSError as exc:
            self.why = f"the preview process did not start: {exc}"
            log.warning("surface preview: %s; the show draws it", self.why)
            return
        finally:
            self._spawned.set()
        stdout = self._process.stdout
        assert stdout is not None
        first = stdout.readline().decode(errors="replace").strip()
        if first != "ready":
            self.why = first.removeprefix("unavailable: ") or "the preview process did not start"
            log.info("surface preview: the show draws it (%s)", self.why)
            return
        self.usable = not self._stopping.is_set()
        while (jpeg := _read_frame(stdout)) is not None:
            self.encoded += 1
            self._deliver(jpeg)
        if self.usable and not self._stopping.is_set():
            self.why = f"the preview process stopped (exit {self._process.poll()})"
            log.warning("surface preview: %s; the show draws the preview from now on", self.why)
        self.usable = False

    def stop(self) -> None:
        self._stopping.set()
        self.usable = False
        if not self.started:
            return
        self._spawned.wait(5.0)  # a process being started is ended below, not left behind
        process = self._process
        if process is not None:
            if process.stdin is not None:
                try:
                    process.stdin.close()
                except OSError:
                    pass
            try:
                process.wait(2.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._thread.join(2.0)


def _read_frame(stream: IO[bytes]) -> bytes | None:
    header = stream.read(HEADER)
    if len(header) < HEADER:
        return None
    data = stream.read(int.from_bytes(header, "big"))
    return data if data else None
