"""Live reload: a thread that notices edited preset and mapping files, re-validates them
and posts the result on the event queue. The render thread decides what to keep."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from vj.config.source import ConfigError
from vj.vocabulary import ConfigChanged, EventQueue

log = logging.getLogger(__name__)

Parser = Callable[[Path], object]


class ConfigWatcher:
    def __init__(self, events: EventQueue, interval: float = 0.25) -> None:
        self._events = events
        self._interval = interval
        self._files: dict[Path, tuple[Parser, float | None]] = {}
        self._lock = threading.Lock()  # guards _files: watch() may be called from the render thread
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vj-config-watch", daemon=True)

    def watch(self, path: Path, parser: Parser) -> None:
        with self._lock:
            self._files[Path(path)] = (parser, _mtime(Path(path)))

    def start(self) -> ConfigWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)

    def poll(self) -> None:
        """Check every watched file once (the thread calls this; tests may too)."""
        with self._lock:
            files = list(self._files.items())
        for path, (parser, seen) in files:
            mtime = _mtime(path)
            if mtime == seen:
                continue
            with self._lock:
                self._files[path] = (parser, mtime)
            if mtime is None:
                continue  # deleted (or mid-save): keep the last good version silently
            try:
                config = parser(path)
            except ConfigError as exc:
                log.error("reload of %s failed; keeping the last good version:\n%s", path, exc)
                self._events.put(ConfigChanged(str(path), None, str(exc)))
                continue
            log.info("reloaded %s", path)
            self._events.put(ConfigChanged(str(path), config))

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - a watcher bug must not end the show
                log.exception("config watcher failed")


def _mtime(path: Path) -> float | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns + st.st_size * 1e-3  # size too: some editors keep the mtime within a tick
