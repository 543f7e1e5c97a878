"""The show under soak: `vj run` as a process, its log as it comes (each line stamped with
`time.monotonic()` when it arrived), its child processes, and what /proc says it holds.

Nothing here reads the show's insides: what it says (its log lines, its `--stats` file at exit)
and what the kernel says about it (/proc) are the whole view.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vj.proc.child import SPARE_NAME

TRACEBACK = "Traceback (most recent call last)"


@dataclass(frozen=True)
class Line:
    at: float  # time.monotonic() when it arrived here
    text: str


class ShowProcess:
    """`vj run ARGS` with its stdout and stderr read on a thread; `wait_for` finds what it said."""

    def __init__(self, command: Sequence[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(list(command), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.started = time.monotonic()
        self.lines: list[Line] = []
        self.asked_to_stop = False
        self.hang_dump = ""  # every thread's stack (faulthandler; py-spy where installed) if it would not stop
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for text in self.proc.stdout:
            with self._changed:
                self.lines.append(Line(time.monotonic(), text.rstrip("\n")))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def stamped_text(self) -> str:
        """The whole log, each line after the seconds since the show started when it arrived."""
        return "".join(f"{line.at - self.started:9.3f} {line.text}\n" for line in self.lines)

    def find(self, pattern: str, after: float = 0.0) -> Line | None:
        """The first line since `after` (monotonic) that matches the regular expression."""
        compiled = re.compile(pattern)
        for line in list(self.lines):
            if line.at >= after and compiled.search(line.text):
                return line
        return None

    def wait_for(self, pattern: str, after: float = 0.0, timeout: float = 30.0) -> Line | None:
        """The first matching line since `after`, waiting up to `timeout` s; None if it never came
        (or the show ended)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = self.find(pattern, after)
                if found is not None or not self.running():
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(min(left, 0.2))

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 60.0) -> int:
        """Ctrl-C (an orderly stop, as a user's), then a kill if it does not end; its exit code."""
        self.asked_to_stop = True
        if self.running():
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            said = len(self.lines)
            self.proc.send_signal(signal.SIGUSR2)  # vj's faulthandler writes every thread's Python stack
            time.sleep(2.0)
            stacks = "\n".join(line.text for line in self.lines[said:])
            self.hang_dump = f"{stacks}\n{thread_dump(self.pid)}"
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(10.0)
        return code

    def tracebacks(self) -> list[str]:
        """Every Python traceback in its log, each with the lines that follow it."""
        texts = [line.text for line in self.lines]
        return ["\n".join(texts[i:i + 12]) for i, t in enumerate(texts) if TRACEBACK in t]


def thread_dump(pid: int) -> str:
    """Every thread's stack as py-spy sees it, native frames too where it can unwind them (when
    py-spy is installed): where a show that will not stop is waiting, even inside a C library."""
    exe = shutil.which("py-spy")
    if exe is None:
        return "(py-spy is not installed: no native stacks)"
    out = ""
    for extra in (["--native"], []):
        try:
            done = subprocess.run([exe, "dump", *extra, "--pid", str(pid)], capture_output=True, text=True,
                                  timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"(py-spy failed: {exc})"
        out = (done.stdout + done.stderr).strip()
        if done.returncode == 0:
            break
    return out


# -- /proc ---------------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def children_of(pid: int) -> list[int]:
    """Every process whose parent is `pid` (Linux: /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _read(f"/proc/{entry}/stat")
            after = stat.rsplit(")", 1)[-1].split()
            if len(after) > 1 and after[1] == str(pid):
                found.append(int(entry))
    return found


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for child in children_of(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def child_named(pid: int, name: str) -> int | None:
    """vj's supervised child called `name` (its command line is `python -m vj.proc.child FD PID NAME`)."""
    return child_names(pid).get(name)


def child_names(pid: int) -> dict[str, int]:
    """Every running supervised child of `pid` by name (not the spares waiting to stand in: vj.proc.child)."""
    out = {}
    for child in children_of(pid):
        args = _read(f"/proc/{child}/cmdline").split("\0")
        spare = _read(f"/proc/{child}/comm").strip() == SPARE_NAME
        if "vj.proc.child" in args and len(args) > args.index("vj.proc.child") + 3 and not spare:
            out[args[args.index("vj.proc.child") + 3]] = child
    return out


def rss_mb(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", _read(f"/proc/{pid}/status"))
    return int(match.group(1)) / 1024 if match else 0.0


@dataclass(frozen=True)
class Holdings:
    """What the show holds at one moment."""

    at: float  # time.monotonic()
    rss_mb: float  # vj and every process under it, summed (shared pages counted in each)
    rss_mb_vj: float  # the vj process alone
    threads: int  # the vj process's threads
    fds: int  # the vj process's open file descriptors
    processes: int  # processes under vj
    fd_kinds: dict[str, int]  # those descriptors by what they are: a file's path, else its kind (socket, pipe...)


def fd_kinds(pid: int) -> dict[str, int]:
    """The process's descriptors counted by target: a path, or a kind without its inode ("socket", "pipe",
    "anon_inode:[eventfd]", "/memfd:..."), so two moments can be compared."""
    kinds: dict[str, int] = {}
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return kinds
    for name in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        kind = re.sub(r":\[\d+\]$", "", target)  # socket:[123] -> socket
        kind = re.sub(r" \(deleted\)$", "", kind)
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def holdings(pid: int) -> Holdings:
    below = descendants(pid)
    own = rss_mb(pid)
    kinds = fd_kinds(pid)
    try:
        threads = len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        threads = 0
    return Holdings(time.monotonic(), round(own + sum(rss_mb(p) for p in below), 1), round(own, 1), threads,
                    sum(kinds.values()), len(below), kinds)


def free_port() -> int:
    """A port number free for both UDP (OSC) and TCP (OSCQuery) on loopback right now."""
    import socket

    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port for OSC and OSCQuery on 127.0.0.1")


def stats_file(path: Path) -> dict[str, object]:
    import json

    return json.loads(path.read_text()) if path.exists() else {}
