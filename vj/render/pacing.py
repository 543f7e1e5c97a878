"""The display loop's pace where vsync does not hold it (Xvfb, some projectors and drivers).

With vsync in effect `swap` waits for the monitor and the loop runs at its refresh rate. Where
it does not, the loop would spin as fast as it can (195 fps was seen under Xvfb), taking the
cores and the GIL that generators and inputs need, for frames nobody sees. `FramePacer` sleeps
until the next frame is due (time.sleep releases the GIL) at `max_fps` if one is given; else,
once the loop is seen running well above the monitor's refresh rate, at that rate.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable

DEFAULT_REFRESH = 60.0  # when the system does not say
WATCH_FRAMES = 30  # frames looked at before deciding that vsync does not hold the loop
TOO_FAST = 1.1  # a loop this much faster than the refresh rate is not waiting for vsync (it cannot be faster)


class FramePacer:
    """Call `wait()` once per display frame, after the swap."""

    def __init__(self, max_fps: float = 0.0, refresh_hz: float = 0.0, vsync: bool = True,
                 clock: Callable[[], float] = time.perf_counter, sleep: Callable[[float], None] = time.sleep) -> None:
        self.refresh = refresh_hz if refresh_hz > 0 else DEFAULT_REFRESH
        self._clock = clock
        self._sleep = sleep
        self._watch: deque[float] | None = None
        self.cap = 0.0  # frames a second the pacer holds the loop to (0: vsync does)
        if max_fps > 0:
            self.cap = max_fps
        elif not vsync:
            self.cap = self.refresh
        else:
            self._watch = deque(maxlen=WATCH_FRAMES)  # vsync asked for: pace only if it turns out absent
        self._next = 0.0
        self._last = 0.0

    @property
    def mode(self) -> str:
        """For the HUD: how the loop is paced."""
        return f"capped {self.cap:g}" if self.cap else "vsync"

    def wait(self) -> None:
        now = self._clock()
        if self._watch is not None:
            if self._last:
                self._watch.append(now - self._last)
            self._last = now
            if len(self._watch) == WATCH_FRAMES and statistics.median(self._watch) * self.refresh * TOO_FAST < 1.0:
                self.cap, self._watch = self.refresh, None  # vsync is not in effect here
            return
        period = 1.0 / self.cap
        self._next = self._next + period if self._next else now + period
        if now > self._next:  # behind (a slow frame): start again from now, never a burst to catch up
            self._next = now
            return
        self._sleep(self._next - now)
