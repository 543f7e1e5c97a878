"""The command recognizer in a process of its own: `serve`, a child of vj.proc.supervisor.

Why a process: pocketsphinx keeps Python's global lock while it decodes: 50-70 ms for a command
and about a second for long out-of-grammar chatter, during which every thread of the process
stands still, the render loop and the audio analysis included. In its own process it stalls
nothing.

How it runs: vj.voice.listener starts `serve(link, options)` as one supervised child
(`python -m vj.proc.child`, see vj.proc.supervisor), which restarts it when it dies or goes
silent, and stops it with the listener. Its messages:

    parent -> child   ("audio", bytes)             16 kHz mono int16, in stream order
                      ("hold", pressed, dictate)   push-to-talk changed
                      ("flush",)                   decode whatever speech is in progress
    child -> parent   ("heard", Heard)             an utterance decoded (commands and rejects)
                      ("listening", bool)          after every hold or flush
                      ("unavailable", message)     the recognizer cannot be built here: a restart
                                                   would fail the same way (the parent stops it)

It says `ready` once the model has loaded. `link.recv` keeps the heartbeat going under a steady
stream of audio; a long decode keeps it silent for about a second (the listener's spec allows
much more).
"""

from __future__ import annotations

from typing import Any

from vj.extras import MissingExtra
from vj.proc.child import ChildLink
from vj.voice.commands import CommandRecognizer

LOAD_PATIENCE = 60.0  # seconds the model may take to load on a busy machine


def serve(link: ChildLink, options: dict[str, Any]) -> None:
    """The child: CommandRecognizer(**options); recognizer calls in the order they came, every
    result sent back at once."""
    import numpy as np

    link.progress("loading the command recognizer", patience=LOAD_PATIENCE)
    try:
        rec = CommandRecognizer(**options)
    except Exception as exc:  # noqa: BLE001 - the parent reports it, and does not restart this
        # a missing extra (no pocketsphinx) is said as it is: its message names what to install
        link.send(("unavailable", str(exc) if isinstance(exc, MissingExtra) else f"{type(exc).__name__}: {exc}"))
        while True:
            link.recv()  # until the parent stops this process (Stopped ends it)
    link.ready("pocketsphinx")
    while True:
        message = link.recv()
        if message is None:
            continue
        kind = message[0]
        if kind == "audio":
            heard = rec.feed(np.frombuffer(message[1], dtype=np.int16))
        elif kind == "hold":
            heard = rec.hold(message[1], dictate=message[2])
        elif kind == "flush":
            heard = rec.flush()
        else:
            continue
        for h in heard:
            link.send(("heard", h))
        if kind != "audio":
            link.send(("listening", rec.listening))
