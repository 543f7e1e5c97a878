"""CPU priorities: who gets a core first when the cores are all busy.

1. The show (the render thread, the audio analysis, the inputs): the user's priority. Raising it
   needs privileges a VJ's laptop does not give, so everything else goes below it.
2. Generators (vj.gen.host's processes): GENERATOR_NICE. They take every cycle the show leaves
   (on a machine without a GPU, llvmpipe and torch would take all of them), but when the show
   wakes for a frame or an audio block it gets a core at once: a beat that comes late, or audio
   dropped because the analysis fell behind, cannot be made good; a dream frame a little later
   can. `below(nice)` at a child's start (vj.proc.child, from ChildSpec.nice), so that every
   thread it starts inherits it.
3. `lowest()`, for what must never cost the render thread a frame: the surface's preview
   process, and the pages of `vj bench surface` (which stand in for other machines).
   SCHED_IDLE: the kernel preempts such a task at once for any other task that wakes; a task at
   nice 19 may keep its core for the rest of its slice (a millisecond or more under the EEVDF
   scheduler) as the render thread wakes for a frame. Nice 19 where that policy is not had.
"""

from __future__ import annotations

import os

LOWEST_NICE = 19  # where SCHED_IDLE cannot be had
GENERATOR_NICE = 10  # about a tenth of a core's time against one busy task of the show (CFS/EEVDF weights)
NICE_ENV = "VJ_NICE"  # how a supervised child learns its ChildSpec.nice (vj.proc.child applies it first)


def below(nice: int) -> int:
    """This thread, and the threads it starts from now on, at niceness `nice` or lower in
    priority (never raised: a process started at a lower priority keeps it); the niceness now.
    Call it before a process starts threads: on Linux each thread has its own."""
    now = os.getpriority(os.PRIO_PROCESS, 0)  # on Linux: the calling thread's
    if nice > now:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    return os.getpriority(os.PRIO_PROCESS, 0)


def lowest() -> str:
    """This process (and the threads it starts from now on) at the lowest priority; says which."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return "SCHED_IDLE"
    except (AttributeError, OSError):
        os.nice(LOWEST_NICE)
        return f"nice {LOWEST_NICE}"
