"""The lowest CPU priority, for what must never cost the render thread a frame: the surface's
preview process, and the pages of `vj bench surface` (which stand in for other machines).

SCHED_IDLE: the kernel preempts such a task at once for any other task that wakes; a task at
nice 19 may keep its core for the rest of its slice (a millisecond or more under the EEVDF
scheduler) as the render thread wakes for a frame. Nice 19 where that policy is not had. The
render thread itself stays at the user's priority: raising it needs privileges a VJ's laptop does
not give.
"""

from __future__ import annotations

import os

LOWEST_NICE = 19  # where SCHED_IDLE cannot be had


def lowest() -> str:
    """This process (and the threads it starts from now on) at the lowest priority; says which."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return "SCHED_IDLE"
    except (AttributeError, OSError):
        os.nice(LOWEST_NICE)
        return f"nice {LOWEST_NICE}"
