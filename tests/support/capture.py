"""Waiting on vj's audio input (vj.audio.capture) in tests: its status reaching a state."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.waiting import wait_for
from vj.audio.capture import AudioInput, InputStatus


def status_until(audio: AudioInput, test: Callable[[InputStatus], bool], what: str,
                 timeout: float = 15.0) -> InputStatus:
    """The input's first status that passes `test`; AssertionError naming `what` and the last status."""
    return wait_for(lambda: status if test(status := audio.status()) else None, timeout,
                    what=lambda: f"audio input: {what}; status: {audio.status()}")


def connected(audio: AudioInput) -> InputStatus:
    """The status once the input is connected to its device."""
    return status_until(audio, lambda s: s.connected, "connected")
