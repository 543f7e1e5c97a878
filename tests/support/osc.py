"""OSC in tests: a free UDP port to listen on, and show frames run until what was sent has arrived."""

from __future__ import annotations

import socket
from collections.abc import Callable

from tests.support.waiting import wait_for


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing listens on (just now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settle(show, until: Callable[[], object], timeout: float = 5.0, what: str = "OSC to arrive") -> None:
    """Runs show frames until `until()` holds (events arrive from the server thread)."""

    def frame() -> object:
        show.update(1 / 60)
        return until()

    wait_for(frame, timeout, what=what)
