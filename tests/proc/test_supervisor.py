"""The supervisor on its own, with tiny real children (tests/support/children.py)."""

from __future__ import annotations

import logging
import os
import signal
import time

import pytest

from tests.support.children import Recorder
from tests.support.waiting import alive, wait_for
from vj.proc.supervisor import ChildSpec, Supervisor

pytestmark = pytest.mark.e2e  # real child processes


def spec(main: str, *args, **kw) -> ChildSpec:
    kw.setdefault("backoff", (0.2, 0.8))
    return ChildSpec(name=main.split(":")[1], main=f"tests.support.children:{main.split(':')[1]}", args=args, **kw)


@pytest.fixture
def sup():
    s = Supervisor()
    yield s
    s.close()


def test_a_child_starts_talks_and_becomes_ready(sup):
    rec = Recorder()
    child = sup.start(spec("x:echo", "hi there"), rec)
    greeting = rec.next("greeting")
    assert greeting[1] == "hi there" and greeting[2] == child.pid
    assert child.send(("echo", [1, 2, 3]))
    assert rec.next("echoed")[1] == [1, 2, 3]
    st = wait_for(lambda: child.status().state == "ready" and child.status(), what="ready")
    assert st.starts == 1 and st.failures == 0 and st.fault is None and st.detail == "echoing"


def test_kill_9_is_a_failure_and_the_child_is_restarted_after_the_backoff(sup):
    rec = Recorder()
    child = sup.start(spec("x:echo", backoff=(0.5, 4.0), stable=1.0), rec)
    first = rec.next("greeting")[2]
    os.kill(first, signal.SIGKILL)
    killed_at = time.monotonic()
    second = rec.next("greeting")[2]
    assert second != first and not alive(first)
    waiting = [s for _, s in rec.statuses if s.state == "waiting"]
    assert waiting and waiting[0].fault == "killed by SIGKILL" and waiting[0].failures == 1
    restarted_at = next(t for t, s in rec.statuses if s.state == "starting" and s.starts == 2)
    assert restarted_at - killed_at >= 0.45  # the back-off was waited
    wait_for(lambda: child.status().state == "ready", what="ready again")
    child.send(("echo", "still here"))
    assert rec.next("echoed")[2] == second
    time.sleep(1.2)  # ready for longer than `stable`: the earlier failure is forgiven
    os.kill(second, signal.SIGKILL)
    rec.next("greeting")
    waiting = [s for _, s in rec.statuses if s.state == "waiting"]
    assert waiting[-1].failures == 1  # counted afresh, and so the shortest back-off again


def test_a_child_that_fails_soon_after_ready_is_not_forgiven(sup):
    rec = Recorder()
    child = sup.start(spec("x:echo", backoff=(0.1, 0.2), stable=30.0, give_up_after=3), rec)
    for _ in range(3):
        pid = rec.next("greeting")[2]
        wait_for(lambda: child.status().state == "ready", what="ready")
        os.kill(pid, signal.SIGKILL)
    assert child.stopped.wait(10) and child.status().state == "failed" and child.status().failures == 3


def test_backoff_doubles_while_starts_keep_failing_then_it_gives_up(sup):
    rec = Recorder()
    child = sup.start(spec("x:crash_at_start", backoff=(0.2, 0.8), give_up_after=4), rec)
    assert child.stopped.wait(20.0)
    st = child.status()
    assert st.state == "failed" and st.failures == 4 and st.starts == 4
    assert "RuntimeError: no such device: /dev/nothing" in (st.fault or "")
    starts = [t for t, s in rec.statuses if s.state == "starting"]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert len(gaps) == 3
    assert gaps[0] >= 0.18 and gaps[1] >= 0.38 and gaps[2] >= 0.78  # 0.2, 0.4, 0.8 (capped)
    assert gaps[2] < 3.0


def test_a_child_that_hangs_is_killed_and_restarted_within_its_silence(sup):
    rec = Recorder()
    child = sup.start(spec("x:echo", silence=1.5), rec)
    first = rec.next("greeting")[2]
    time.sleep(2.0)  # idle but healthy: recv sends heartbeats
    assert child.pid == first and child.status().failures == 0
    child.send(("hang",))
    hung_at = time.monotonic()
    second = rec.next("greeting", timeout=10)[2]
    assert second != first and not alive(first)
    fault = next(s.fault for _, s in rec.statuses if s.state == "waiting")
    assert fault is not None and fault.startswith("hung: silent for")
    detected = next(t for t, s in rec.statuses if s.state == "waiting")
    assert 1.0 <= detected - hung_at <= 3.0


def test_a_child_silent_from_the_start_is_hung_after_the_start_timeout(sup):
    rec = Recorder()
    child = sup.start(spec("x:silent", start_timeout=1.0, give_up_after=1), rec)
    assert child.stopped.wait(10)
    assert child.status().state == "failed"
    assert "no sign of life" in (child.status().fault or "")


def test_a_child_may_ask_for_patience_while_it_loads(sup):
    rec = Recorder()
    child = sup.start(spec("x:slow_start", 2.5, silence=1.0), rec)
    assert rec.next("greeting", timeout=15)[1] == "loaded"
    st = child.status()
    assert st.starts == 1 and st.failures == 0
    assert any(s.progress == "loading a big model" for _, s in rec.statuses)


def test_stop_is_orderly_and_final(sup):
    rec = Recorder()
    child = sup.start(spec("x:echo"), rec)
    pid = rec.next("greeting")[2]
    started = time.monotonic()
    child.stop()
    assert child.stopped.is_set() and time.monotonic() - started < 2.0
    assert not alive(pid) and child.status().state == "stopped"
    time.sleep(1.0)  # longer than the back-off: time for a restart, which must not come
    assert child.status().starts == 1  # no restart after a stop
    assert not child.send(("echo", 1))


def test_a_child_that_ignores_stop_is_killed_after_the_stop_timeout(sup):
    rec = Recorder()
    child = sup.start(spec("x:stubborn", stop_timeout=0.5), rec)
    wait_for(lambda: child.status().state == "ready", what="ready")
    pid = child.pid
    child.stop(timeout=5)
    assert child.stopped.is_set() and not alive(pid)


def test_close_stops_every_child():
    sup = Supervisor()
    recs = [Recorder() for _ in range(3)]
    for rec in recs:
        sup.start(spec("x:echo"), rec)
    pids = [rec.next("greeting")[2] for rec in recs]
    sup.close()
    assert not any(alive(p) for p in pids)


def test_environment_and_log_lines_reach_across(sup, caplog):
    rec = Recorder()
    sup.start(spec("x:env", "VJ_TEST_THREADS", env={"VJ_TEST_THREADS": "3"}), rec)
    assert rec.next("env")[1] == "3"
    with caplog.at_level(logging.WARNING, logger="vj.test.child"):
        child = sup.start(spec("x:warn"), Recorder())
        wait_for(lambda: child.status().state == "ready", what="ready")
        wait_for(lambda: "the lens cap is on" in caplog.text, what="the warning")
    assert "[warn]" in caplog.text


def test_a_child_dies_with_its_supervisor_thread_even_without_a_stop():
    """kill -9 of vj: simulated by a supervisor in a process of its own that is killed."""
    import subprocess
    import sys

    script = (
        "import sys, time; sys.path.insert(0, '.');"
        "from vj.proc.supervisor import Supervisor, ChildSpec;"
        "from tests.support.children import Recorder;"
        "r = Recorder(); s = Supervisor();"
        "s.start(ChildSpec('echo', 'tests.support.children:echo'), r);"
        "print(r.next('greeting')[2], flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(proc.stdout.readline())
        assert alive(pid)
    finally:
        proc.kill()
        proc.wait()
    wait_for(lambda: not alive(pid), timeout=5, what="the orphan to die")


def test_ask_runs_a_child_once_for_its_answer(sup):
    from vj.proc.supervisor import ChildFailed, ask

    assert ask(spec("x:answer", "which inputs?"), timeout=20, sup=sup) == ("answer", "WHICH INPUTS?")
    with pytest.raises(ChildFailed, match="exited with code 7"):
        ask(spec("x:answer", "die"), timeout=20, sup=sup)
    with pytest.raises(TimeoutError, match="did not answer within 1 s"):
        ask(spec("x:silent"), timeout=1, sup=sup)
    wait_for(lambda: not sup.children(), timeout=5, what="every child stopped")


def comm(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def test_a_spare_stands_in_at_once_and_gets_the_new_descriptors(sup):
    from tests.support.children import PipeHandler
    from vj.proc.child import SPARE_NAME

    rec = PipeHandler()
    child = sup.start(spec("x:read_fd", backoff=(0.05, 1.0), spare=True), rec)
    _, data, first = rec.next("read")
    assert data == "start 1"
    spare = wait_for(lambda: child.spare is not None and child.spare.proc.pid, what="a spare started once ready")
    wait_for(lambda: comm(spare) == SPARE_NAME, what="the spare named vj-spare while it waits")
    assert comm(first) != SPARE_NAME
    cmdline = open(f"/proc/{spare}/cmdline").read().split("\0")[:-1]  # NUL-terminated
    assert cmdline[-2:] == ["read_fd", "tests.support.children"]  # its name, and the module it imported
    time.sleep(0.5)  # the spare has its imports done
    os.kill(first, signal.SIGKILL)
    _, data, second = rec.next("read")
    assert second == spare and data == "start 2"  # the pipe made after the spare started, sent across
    assert comm(second) == "read_fd"  # named as the child it stands in for
    child.send(("echo", "spare at work"))
    assert rec.next("echoed")[1:] == ("spare at work", spare)
    third = wait_for(lambda: child.spare is not None and child.spare.proc.pid, what="the next spare")
    assert third not in (first, second)
    child.stop()
    wait_for(lambda: not alive(third), what="the spare gone with the child")


def test_a_dead_spare_is_passed_over(sup):
    from tests.support.children import PipeHandler

    rec = PipeHandler()
    child = sup.start(spec("x:read_fd", backoff=(0.05, 1.0), spare=True), rec)
    first = rec.next("read")[2]
    spare = wait_for(lambda: child.spare is not None and child.spare.proc.pid, what="a spare")
    os.kill(spare, signal.SIGKILL)
    wait_for(lambda: not alive(spare), what="the spare dead")
    os.kill(first, signal.SIGKILL)
    _, data, second = rec.next("read")
    assert second not in (first, spare) and data == "start 2"  # a new interpreter instead


def test_a_generator_spare_has_the_procedural_dream_built_before_it_is_needed():
    """vj.gen.host.warm, as a spare calls it: the dream's GL context made ahead, and taken by the
    next procedural start (a spare that serves another backend closes it)."""
    import subprocess
    import sys

    probe = (
        "from vj.gen import host\n"
        "from vj.gen.backends import PROCEDURAL, GRADIENT\n"
        "host.warm()\n"
        "warm = host._warmed['procedural']\n"
        "assert warm._ctx is not None\n"
        "assert host._built(PROCEDURAL, print) is warm and not host._warmed\n"
        "host.warm()\n"
        "other = host._warmed['procedural']\n"
        "built = host._built(GRADIENT, print)\n"
        "assert built is not other and other._ctx is None and not host._warmed\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr


def test_a_child_and_its_spare_run_at_the_niceness_their_spec_names(sup):
    rec = Recorder()
    child = sup.start(spec("x:echo", nice=7, spare=True), rec)
    pid = rec.next("greeting")[2]
    spare = wait_for(lambda: child.spare is not None and child.spare.proc.pid, what="a spare")
    wait_for(lambda: comm(spare) == "vj-spare", what="the spare's imports done")
    assert os.getpriority(os.PRIO_PROCESS, pid) == 7 and os.getpriority(os.PRIO_PROCESS, spare) == 7
    plain = sup.start(spec("x:echo"), Recorder())
    assert wait_for(lambda: plain.pid, what="a child") and os.getpriority(os.PRIO_PROCESS, plain.pid) == 0
