"""One supervisor for every child process vj runs: start, health, restart with back-off, stop.

Generators, the audio capture and the voice recognizer each run in a process of their own (a
GL driver, torch's per-op dispatch, pocketsphinx and PortAudio's callbacks all hold the GIL or
can abort the process; each module says why). One thread, `vj-supervisor`, watches all of
them: it reads every child's messages and hands them to the child's `ChildHandler`, notices a
child that exited, or went silent for longer than its spec allows (hung: it is killed), and
starts a new one after a back-off that doubles while starts keep failing. A child that says
`ready` is healthy again: its next failure waits the shortest back-off. After `give_up_after`
failures in a row the supervisor stops trying and says so (the generator then falls back to
its next backend; audio and voice keep trying forever).

Each child is `python -m vj.proc.child FD PID` with one end of a socket pair as FD (see
vj.proc.child); its stderr is read into the debug log, and its last lines name what went wrong
when it dies. Spawning happens on the supervisor's thread only: on Linux a child dies with the
thread that started it (PR_SET_PDEATHSIG), so no child outlives vj, even after a kill -9.

Threads: handlers are called on the supervisor thread and must not block (put into a queue or
a latest-value slot). `Child.send` may be called from any thread.

Why one supervisor: four mechanisms had grown (Popen with framed stdout for audio, Popen with a
Connection for the procedural dream, multiprocessing spawn for voice, each with its own restart
loop). A fresh interpreter per child (not a fork) carries no forked GL context or threads and
does not re-import the parent's main script. Failures are forgiven once a child has been ready
for `stable` seconds, so a generator that dies right after every start falls back, while one that
dies once an hour is restarted forever.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from vj.priority import NICE_ENV
from vj.proc.child import InheritedFd

log = logging.getLogger(__name__)

STDERR_LINES = 20  # a child's last stderr lines kept for the message when it dies


@dataclass(frozen=True)
class ChildSpec:
    """What to run and how to look after it."""

    name: str  # for the HUD and the log: "diffusion", "audio in", "voice"
    main: str  # "module:function", called in the child as function(link, *args)
    args: tuple[Any, ...] = ()  # picklable
    env: Mapping[str, str] = field(default_factory=dict)  # added to the child's environment
    start_timeout: float = 30.0  # seconds from the start to its first message
    silence: float = 5.0  # seconds without a message that mean it hangs (a child may ask for more)
    backoff: tuple[float, float] = (0.5, 8.0)  # seconds before a restart: first, doubling up to
    give_up_after: int | None = None  # failures in a row before it stops trying (None: never)
    stable: float = 30.0  # seconds a ready child must run before its earlier failures are forgiven
    stop_timeout: float = 2.0  # seconds an orderly stop may take before the child is killed
    spare: bool = False  # keep an interpreter started, main's module imported, for the next restart
    nice: int = 0  # the child's CPU niceness, set before it starts a thread (vj.priority)


@dataclass(frozen=True)
class ChildStatus:
    """A snapshot for the HUD, the log and tests."""

    name: str
    state: str  # "starting", "ready", "waiting" (to restart), "stopped", "failed" (gave up)
    pid: int | None
    starts: int  # processes started so far
    failures: int  # in a row (a child that ran ready for `stable` seconds starts the count again)
    fault: str | None  # the last failure, e.g. "exited with code -9", "hung: silent for 5.0 s"
    progress: str  # the child's newest progress line ("loading sd-turbo")
    since: float  # time.monotonic() when the state or the progress line last changed
    detail: str = ""  # what the child said with `ready`


class ChildHandler:
    """What the owner of a child hears. Called on the supervisor thread: return quickly."""

    def starting(self, child: Child) -> tuple[tuple[Any, ...], tuple[int, ...]]:
        """Before each start of `child`: (args, file descriptors the child inherits, which the
        supervisor closes here once it started). Default: the spec's args, none."""
        return child.spec.args, ()

    def message(self, message: tuple[Any, ...]) -> None:
        """A message of the child's own (anything but the supervisor's beat/ready/progress/log)."""

    def changed(self, status: ChildStatus) -> None:
        """The state, progress line or fault changed."""


class _StartError(Exception):
    """A child process that could not be started (the message says why)."""


@dataclass
class _Run:
    """One process of a child: how it is started, its pipes and health clock, and how it ends."""

    proc: subprocess.Popen[bytes]
    conn: Connection
    stderr: socket.socket | None
    started: float
    deadline: float  # it is hung if no message arrives before this
    heard: float  # when its last message arrived
    stderr_tail: deque[str] = field(default_factory=lambda: deque(maxlen=STDERR_LINES))
    stderr_partial: bytes = b""
    ready_at: float | None = None  # when it said it was ready
    crash: str | None = None  # what the child said before it died
    ending: str | None = None  # why the supervisor is ending it (a restart, a hang)
    inherited: tuple[int, ...] = ()

    @classmethod
    def launch(cls, spec: ChildSpec, args: tuple[Any, ...], fds: tuple[int, ...]) -> _Run:
        """Start `python -m vj.proc.child` on one end of a socket pair, its output into another, and
        send it what to run. The inherited `fds` are closed here whatever happens; _StartError
        when the process cannot be started."""
        try:
            run = cls._start(spec, fds)
        finally:
            for fd in fds:
                _close_fd(fd)
        run.begin(spec, args, (), ())
        return run

    @classmethod
    def spare(cls, spec: ChildSpec) -> _Run:
        """A process that imports the module of `spec.main` and waits for `begin` (vj.proc.child)."""
        return cls._start(spec, (), preload=spec.main.partition(":")[0])

    @classmethod
    def _start(cls, spec: ChildSpec, fds: tuple[int, ...], preload: str | None = None) -> _Run:
        parent_sock, child_sock = socket.socketpair()
        err_r, err_w = socket.socketpair()
        env = dict(os.environ, **spec.env)
        if spec.nice:
            env[NICE_ENV] = str(spec.nice)
        env["PYTHONPATH"] = _import_root() + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        try:
            proc = subprocess.Popen(
                # the name only shows in `ps`: which python process is which
                [sys.executable, "-m", "vj.proc.child", str(child_sock.fileno()), str(os.getpid()), spec.name,
                 *([preload] if preload else [])],
                pass_fds=(child_sock.fileno(), *fds), env=env, stdin=subprocess.DEVNULL,
                stdout=err_w.fileno(), stderr=err_w.fileno(),
            )
        except OSError as exc:
            for s in (parent_sock, child_sock, err_r, err_w):
                s.close()
            raise _StartError(str(exc)) from exc
        child_sock.close()
        err_w.close()
        conn = Connection(os.dup(parent_sock.fileno()))
        parent_sock.close()
        err_r.setblocking(False)
        now = time.monotonic()
        return cls(proc, conn, err_r, now, now + spec.start_timeout, now)

    def begin(self, spec: ChildSpec, args: tuple[Any, ...], fds: tuple[int, ...], positions: tuple[int, ...]) -> None:
        """Send what to run: `args`, with the descriptors `fds` (sent over the socket: a spare was
        started before they existed) standing at `positions` of them. Closes `fds` here."""
        now = time.monotonic()
        self.started = self.heard = now
        self.deadline = now + spec.start_timeout
        try:
            self.conn.send((spec.main, tuple(args), positions))  # first, before any other thread can send to it
            if fds:
                with socket.socket(fileno=os.dup(self.conn.fileno())) as sock:
                    socket.send_fds(sock, [b"f"], list(fds))
        except OSError:
            pass  # it died at once: the EOF tells
        finally:
            for fd in fds:
                _close_fd(fd)

    def stderr_lines(self, data: bytes) -> list[str]:
        """The complete, non-blank lines in `data` (a partial last line waits for the rest); the
        last STDERR_LINES of them are kept for the message when it dies."""
        lines = (self.stderr_partial + data).split(b"\n")
        self.stderr_partial = lines.pop()[-4096:]
        out = [line for line in (raw.decode(errors="replace").rstrip() for raw in lines) if line]
        self.stderr_tail.extend(out)
        return out

    def fault(self, code: int) -> str:
        """Why it ended, in words: what ended it, what it said when it crashed, or its exit."""
        if self.ending is not None:
            return self.ending
        if self.crash is not None:
            return f"crashed: {self.crash}"
        why = _describe_exit(code)
        tail = [line for line in self.stderr_tail if line.strip()]
        if tail and code > 0:  # what it said before it gave up (a signal leaves no last words)
            why += f" ({tail[-1][:200]})"
        return why

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()

    def wait(self) -> int:
        try:
            return self.proc.wait(2.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def close(self) -> None:
        self.conn.close()
        if self.stderr is not None:
            self.stderr.close()


class Child:
    """A supervised child. Create it with `Supervisor.start`."""

    def __init__(self, supervisor: Supervisor, spec: ChildSpec, handler: ChildHandler) -> None:
        self.spec = spec
        self.handler = handler
        self._supervisor = supervisor
        self._send_lock = threading.Lock()
        self._status = ChildStatus(spec.name, "starting", None, 0, 0, None, "", time.monotonic())
        self._status_lock = threading.Lock()
        # supervisor-thread state
        self.run: _Run | None = None
        self.spare: _Run | None = None  # started ahead for the next restart (ChildSpec.spare)
        self.restart_at: float | None = None
        self.stopping = False
        self.stopped = threading.Event()

    # -- any thread -------------------------------------------------------------------------------

    def send(self, message: tuple[Any, ...]) -> bool:
        """To the running process; False (dropped) if none runs or it went away. Never raises."""
        run = self.run
        if run is None:
            return False
        try:
            with self._send_lock:
                run.conn.send(message)
            return True
        except (OSError, ValueError):
            return False

    def status(self) -> ChildStatus:
        with self._status_lock:
            return self._status

    @property
    def pid(self) -> int | None:
        return self.status().pid

    def restart(self, reason: str) -> None:
        """End the running process and start a new one after the back-off (a failure)."""
        self._supervisor._command(("restart", self, reason))

    def stop(self, timeout: float | None = None) -> None:
        """Orderly: "stop", then terminate, then kill. Waits up to `timeout` (default: the
        spec's stop_timeout plus a second) for it to end; no restart follows."""
        self._supervisor._command(("stop", self, None))
        self.stopped.wait(self.spec.stop_timeout + 1.0 if timeout is None else timeout)

    # -- supervisor thread ------------------------------------------------------------------------

    def _set(self, **changes: Any) -> None:
        with self._status_lock:
            old = self._status
            new = replace(old, **changes)
            if new.state != old.state or new.progress != old.progress:
                new = replace(new, since=time.monotonic())
            self._status = new
        if (new.state, new.progress, new.fault, new.pid) != (old.state, old.progress, old.fault, old.pid):
            try:
                self.handler.changed(new)
            except Exception:  # noqa: BLE001 - an owner's bug must not stop the supervisor
                log.exception("%s: the status handler failed", self.spec.name)

    def _heard(self, run: _Run, message: Any) -> None:
        """A message from `run`: it is alive. The supervisor's own (beat, ready, progress, patience,
        log, crash) update its deadline and status; anything else goes to the handler."""
        run.heard = time.monotonic()
        if not self.stopping:  # a stop's deadline stands, whatever the child still says
            run.deadline = run.heard + self.spec.silence
        kind = message[0] if isinstance(message, tuple) and message else None
        if kind == "beat":
            return
        if kind == "ready":
            if run.ready_at is None:
                log.info("%s: ready%s", self.spec.name, f" ({message[1]})" if message[1] else "")
            run.ready_at = run.ready_at or time.monotonic()
            self._set(state="ready", detail=str(message[1]))
            if self.spec.spare and self.spare is None and not self.stopping:
                self._supervisor._make_spare(self)
        elif kind == "progress":
            _, text, patience = message
            if patience and not self.stopping:
                run.deadline = time.monotonic() + float(patience)
            log.info("%s: %s", self.spec.name, text)
            self._set(progress=str(text))
        elif kind == "patience" and not self.stopping:
            run.deadline = time.monotonic() + max(self.spec.silence, float(message[1]))
        elif kind == "log":
            _, level, name, text = message
            logging.getLogger(name).log(level, "[%s] %s", self.spec.name, text)
        elif kind == "crash":
            run.crash = str(message[1])
            log.debug("%s crashed:\n%s", self.spec.name, message[2])
        else:
            try:
                self.handler.message(message)
            except Exception:  # noqa: BLE001 - an owner's bug must not stop the supervisor
                log.exception("%s: the message handler failed on %r", self.spec.name, kind)


class Supervisor:
    """Starts and watches children on one thread. `close()` stops them all."""

    def __init__(self) -> None:
        self._commands: queue.Queue[tuple[str, Child, str | None]] = queue.Queue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._children: list[Child] = []
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="vj-supervisor", daemon=True)
        self._thread.start()

    def start(self, spec: ChildSpec, handler: ChildHandler | None = None) -> Child:
        child = Child(self, spec, handler or ChildHandler())
        self._command(("start", child, None))
        return child

    def children(self) -> list[Child]:
        return [c for c in list(self._children) if not c.stopped.is_set()]

    def close(self, timeout: float = 5.0) -> None:
        """Stops every child (in parallel, each in order) and the supervisor thread."""
        if self._closed:
            return
        self._command(("close", None, None))
        self._thread.join(timeout)
        self._closed = True

    # -- commands from other threads --------------------------------------------------------------

    def _command(self, command: tuple[str, Any, str | None]) -> None:
        if self._closed:
            if command[0] == "stop":
                command[1].stopped.set()
            return
        self._commands.put(command)
        try:
            self._wake_w.send(b"x")
        except (BlockingIOError, OSError):
            pass  # already woken

    # -- the supervisor thread --------------------------------------------------------------------

    def _loop(self) -> None:
        closing = False
        while True:
            now = time.monotonic()
            waits = [0.25]
            for child in self._children:
                if child.run is not None:
                    waits.append(child.run.deadline - now)
                elif child.restart_at is not None:
                    waits.append(child.restart_at - now)
            for key, _ in self._selector.select(max(0.0, min(waits))):
                if key.data is None:
                    try:
                        while self._wake_r.recv(4096):
                            pass
                    except (BlockingIOError, OSError):
                        pass
                else:
                    child, what = key.data
                    if what == "conn":
                        self._read(child)
                    else:
                        self._read_stderr(child)
            while True:
                try:
                    command, child, reason = self._commands.get_nowait()
                except queue.Empty:
                    break
                if command == "start":
                    self._children.append(child)
                    self._spawn(child)
                elif command == "restart" and child.run is not None and not child.stopping:
                    child.run.ending = reason
                    self._end(child, kill=True)
                elif command == "stop":
                    self._stop(child)
                elif command == "close":
                    closing = True
                    for c in list(self._children):
                        self._stop(c)
            self._check(time.monotonic())
            if closing and not self._children:
                break
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _check(self, now: float) -> None:
        for child in list(self._children):
            run = child.run
            if run is not None and now > run.deadline:
                if child.stopping:
                    run.kill()  # an orderly stop that took too long
                    self._reap(child, "stopped")
                else:
                    silent = now - run.heard
                    run.ending = (f"hung: no sign of life {silent:.1f} s after starting" if run.heard == run.started
                                  else f"hung: silent for {silent:.1f} s")
                    self._end(child, kill=True)
            elif run is None and child.restart_at is not None and now >= child.restart_at and not child.stopping:
                child.restart_at = None
                self._spawn(child)

    def _spawn(self, child: Child) -> None:
        spec = child.spec
        try:
            args, fds = child.handler.starting(child)
        except Exception as exc:  # noqa: BLE001 - a failed preparation is a failed start
            self._failed(child, f"could not prepare: {type(exc).__name__}: {exc}")
            return
        spare, child.spare = child.spare, None
        positions = tuple(i for i, arg in enumerate(args) if isinstance(arg, InheritedFd))
        if spare is not None and spare.proc.poll() is None and len(positions) == len(fds):
            run = spare
            run.begin(spec, args, fds, positions)
            how = "spare"
        else:
            if spare is not None:
                _discard(spare)
            try:
                run = _Run.launch(spec, args, fds)
            except _StartError as exc:
                self._failed(child, f"could not start: {exc}")
                return
            how = "new"
        child.run = run
        assert run.stderr is not None  # a new run reads its stderr
        self._selector.register(run.conn.fileno(), selectors.EVENT_READ, (child, "conn"))
        self._selector.register(run.stderr, selectors.EVENT_READ, (child, "stderr"))
        st = child.status()
        child._set(state="starting", pid=run.proc.pid, starts=st.starts + 1, progress="")
        log.debug("%s: started process %d (%s)", spec.name, run.proc.pid, how)

    def _make_spare(self, child: Child) -> None:
        try:
            child.spare = _Run.spare(child.spec)
        except _StartError as exc:
            log.debug("%s: no spare process: %s", child.spec.name, exc)

    def _read(self, child: Child) -> None:
        run = child.run
        assert run is not None
        try:
            while run.conn.poll():
                message = run.conn.recv()
                child._heard(run, message)
                if child.run is not run:
                    return
        except (EOFError, OSError):
            self._end(child, kill=False)

    def _read_stderr(self, child: Child) -> None:
        run = child.run
        if run is None or run.stderr is None:
            return
        try:
            data = run.stderr.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._selector.unregister(run.stderr)
            run.stderr.close()
            run.stderr = None
            return
        for line in run.stderr_lines(data):
            log.debug("%s: %s", child.spec.name, line)

    def _end(self, child: Child, kill: bool) -> None:
        """The running process is over (it exited, or is killed now): count it and plan a restart."""
        run = child.run
        assert run is not None
        if kill:
            run.kill()
        code = run.wait()
        if child.stopping:
            self._reap(child, "stopped")
            return
        why = run.fault(code)
        self._close_run(child)
        stable = run.ready_at is not None and time.monotonic() - run.ready_at >= child.spec.stable
        self._failed(child, why, forgiven=stable)

    def _failed(self, child: Child, why: str, forgiven: bool = False) -> None:
        st = child.status()
        failures = 1 if forgiven else st.failures + 1
        spec = child.spec
        if spec.give_up_after is not None and failures >= spec.give_up_after:
            log.error("%s: %s; giving up after %d failures in a row", spec.name, why, failures)
            child._set(state="failed", failures=failures, fault=why, pid=None)
            child.stopping = True
            child.stopped.set()
            self._children.remove(child)
            return
        delay = min(spec.backoff[1], spec.backoff[0] * 2 ** (failures - 1))
        # the same fault again (a device still missing): once at warning level, then quietly
        log.log(logging.DEBUG if why == st.fault else logging.WARNING, "%s: %s; restarting in %.1f s",
                spec.name, why, delay)
        child.restart_at = time.monotonic() + delay
        child._set(state="waiting", failures=failures, fault=why, pid=None)

    def _stop(self, child: Child) -> None:
        if child.stopping:
            return
        child.stopping = True
        child.restart_at = None
        run = child.run
        if run is None:
            self._reap(child, "stopped")
            return
        child.send(("stop",))
        run.deadline = time.monotonic() + child.spec.stop_timeout  # then _check kills it

    def _reap(self, child: Child, state: str) -> None:
        if child.spare is not None:
            _discard(child.spare)
            child.spare = None
        if child.run is not None:
            child.run.kill()
            child.run.wait()
            self._close_run(child)
        child._set(state=state, pid=None)
        child.handler = ChildHandler()  # no more callbacks: let the owner (and its memory) go
        if child in self._children:
            self._children.remove(child)
        child.stopped.set()

    def _close_run(self, child: Child) -> None:
        run = child.run
        assert run is not None
        child.run = None
        for obj in (run.conn.fileno(), run.stderr):
            if obj is not None:
                try:
                    self._selector.unregister(obj)
                except (KeyError, ValueError):
                    pass
        run.close()


def _discard(spare: _Run) -> None:
    spare.kill()
    spare.wait()
    spare.close()


def _describe_exit(code: int) -> str:
    if code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"killed by {name}"
    return f"exited with code {code}"


def _close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _import_root() -> str:
    """The folder vj is imported from, so the child imports this same vj (a checkout or an install)."""
    return str(Path(__file__).resolve().parent.parent.parent)


class ChildFailed(RuntimeError):
    """A child ended without the answer asked of it; the message says how (its fault)."""


class _Answer(ChildHandler):
    def __init__(self) -> None:
        self.answers: queue.Queue[tuple[Any, ...] | ChildStatus] = queue.Queue()

    def message(self, message: tuple[Any, ...]) -> None:
        self.answers.put(message)

    def changed(self, status: ChildStatus) -> None:
        if status.state == "failed":
            self.answers.put(status)


def ask(spec: ChildSpec, timeout: float, sup: Supervisor | None = None) -> tuple[Any, ...]:
    """Run `spec` once (no restart) and return the first message of its own it sends; the child
    is stopped then. Raises ChildFailed if it ends first, TimeoutError after `timeout` seconds."""
    handler = _Answer()
    child = (sup or supervisor()).start(replace(spec, give_up_after=1), handler)
    try:
        answer = handler.answers.get(timeout=timeout)
    except queue.Empty:
        raise TimeoutError(f"{spec.name} did not answer within {timeout:g} s") from None
    finally:
        child.stop(timeout=0.0)
    if isinstance(answer, ChildStatus):
        raise ChildFailed(f"{spec.name}: {answer.fault}")
    return answer


_default: Supervisor | None = None
_default_lock = threading.Lock()


def supervisor() -> Supervisor:
    """The process's supervisor (started on first use; `shutdown()` stops it and its children)."""
    global _default
    with _default_lock:
        if _default is None or _default._closed:
            _default = Supervisor()
        return _default


def shutdown() -> None:
    global _default
    with _default_lock:
        sup, _default = _default, None
    if sup is not None:
        sup.close()


atexit.register(shutdown)  # children end in order when vj exits normally; PR_SET_PDEATHSIG otherwise


