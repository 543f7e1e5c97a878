"""vj.priority: `lowest()` puts a whole process, and the threads it starts, at SCHED_IDLE; `below()`
lowers them to a niceness."""

from __future__ import annotations

import subprocess
import sys


def test_lowest_puts_the_process_and_its_later_threads_at_sched_idle():
    code = ("import os, threading; from vj.priority import lowest; said = lowest(); "
            "t = threading.Thread(target=lambda: print(os.sched_getscheduler(threading.get_native_id()))); "
            "t.start(); t.join(); print(said, os.sched_getscheduler(0) == os.SCHED_IDLE, os.SCHED_IDLE)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    thread_policy, said, idle, idle_value = done.stdout.split()
    assert (said, idle) == ("SCHED_IDLE", "True")
    assert thread_policy == idle_value


def test_below_lowers_this_thread_and_later_threads_and_never_raises():
    code = ("import os, threading; from vj.priority import below; "
            "first = below(3); second = below(1); seen = []; "
            "nice = lambda: seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())); "
            "t = threading.Thread(target=nice); "
            "t.start(); t.join(); print(first, second, seen[0])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "3", "3"]
