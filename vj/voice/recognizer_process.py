"""The command recognizer in a process of its own.

pocketsphinx keeps Python's global lock while it decodes: 50-70 ms for a command and about a
second for long out-of-grammar chatter, during which every thread of the process stands still,
the render loop and the audio analysis included. In its own process it stalls nothing. Audio goes
in (16 kHz int16 bytes) and push-to-talk changes too, through one pipe; `Heard` results come back
through another, so the sending and the receiving thread never share a connection.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from typing import Any

from vj.voice.commands import CommandRecognizer, Heard


def _serve(inbox: Connection, outbox: Connection, options: dict[str, Any]) -> None:
    """The child: recognizer calls in the order they came, every result sent back at once."""
    import numpy as np

    try:
        rec = CommandRecognizer(**options)
    except Exception as exc:  # noqa: BLE001 - the parent reports it
        outbox.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    outbox.send(("ready", ""))
    while True:
        try:
            message = inbox.recv()
        except EOFError:  # the parent went away
            return
        kind = message[0]
        if kind == "audio":
            heard = rec.feed(np.frombuffer(message[1], dtype=np.int16))
        elif kind == "hold":
            heard = rec.hold(message[1], dictate=message[2])
        elif kind == "flush":
            heard = rec.flush()
        else:  # "stop"
            return
        for h in heard:
            outbox.send(("heard", h))
        if kind != "audio":
            outbox.send(("listening", rec.listening))


class RecognizerProcess:
    """A CommandRecognizer(**options) in a child process: `send_*` from one thread, `receive`
    from another. A dead child shows as EOFError from `receive` / BrokenPipeError from `send_*`."""

    def __init__(self, **options: Any) -> None:
        ctx = multiprocessing.get_context("spawn")  # never fork a process with GL and audio threads
        child_in, self._inbox = ctx.Pipe(duplex=False)
        self._outbox, child_out = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_serve, args=(child_in, child_out, options), name="vj-voice-recognizer",
                                 daemon=True)
        self._proc.start()
        child_in.close()
        child_out.close()

    def send_audio(self, samples_int16: bytes) -> None:
        self._inbox.send(("audio", samples_int16))

    def send_hold(self, pressed: bool, dictate: bool) -> None:
        self._inbox.send(("hold", pressed, dictate))

    def receive(self, timeout: float) -> tuple[str, Heard | str | bool] | None:
        """The next message ("ready" | "error" | "heard" | "listening", payload), or None after timeout."""
        if not self._outbox.poll(timeout):
            return None
        return self._outbox.recv()  # type: ignore[no-any-return]

    @property
    def exitcode(self) -> int | None:
        return self._proc.exitcode

    def close(self, timeout: float = 2.0) -> None:
        try:
            self._inbox.send(("stop",))
        except (OSError, ValueError):
            pass
        self._proc.join(timeout)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(timeout)
        self._inbox.close()
        self._outbox.close()
