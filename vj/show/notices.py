"""What the HUD's error panel says besides the generator: errors that last until fixed (a device
gone, a file that does not parse) and notices that expire (a reload, a refused tap)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from vj.vocabulary import DeviceStatus

log = logging.getLogger("vj.show")

NOTICE_SECONDS = 6.0
ANNOUNCED = ("midi in", "audio in", "camera in")  # inputs whose connecting is worth a notice


class Notices:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock  # show time
        self.errors: dict[str, str] = {}  # where -> message, shown in the HUD until fixed
        self._notices: list[tuple[float, str]] = []  # (expires at, message)

    def notice(self, message: str, seconds: float = NOTICE_SECONDS) -> None:
        log.warning(message)
        self._notices.append((self._clock() + seconds, message))

    def device(self, event: DeviceStatus) -> None:
        """A device came (a notice, and its error goes) or went (an error until it is back)."""
        key = f"{event.role} {event.device}"
        if event.connected:
            if self.errors.pop(key, None) is not None or event.role in ANNOUNCED:
                self.notice(event.message)
        else:
            self.errors[key] = event.message
            log.warning(event.message)

    def current(self, now: float) -> list[str]:
        """The errors, then the notices not yet expired at show time `now` (expired ones go)."""
        self._notices = [(t, m) for t, m in self._notices if t > now]
        return list(self.errors.values()) + [m for _, m in self._notices]
