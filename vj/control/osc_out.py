"""OSC out: vj's state to TouchDesigner, control surfaces and anything that wants to follow.

At `rate` times a second the render thread compares the parameters with what it last sent and
hands the changes to a sender thread, which sends them as plain messages to every target:
`/vj/param/<name>` (floats as f, whole numbers and choices' indexes as i, on/off as i 0/1, so
faders and toggles on a surface follow), `/vj/prompt/<i>/text s` when a prompt changes,
`/vj/bpm f`, `/vj/phase f` (0..1 within the beat), `/vj/beat i N` once per beat, and the live
analysis features the show passes in (`/vj/audio/level f` and the rest, every update). A target
that is unreachable costs nothing and is never retried differently: UDP does not know.
"""

from __future__ import annotations

import logging
import math
import queue
import socket
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vj.control.osc_codec import encode_message
from vj.params import REGISTRY, Registry
from vj.vocabulary import ClockState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OscTarget:
    host: str
    port: int

    @staticmethod
    def parse(text: str) -> OscTarget:
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected HOST:PORT such as 127.0.0.1:9001, got {text!r}")
        return OscTarget(host or "127.0.0.1", int(port))


def _wire(value: object, kind: str, choices: tuple[str, ...]) -> int | float | None:
    if kind == "bool":
        return int(bool(value))
    if kind == "enum":
        return choices.index(str(value)) if str(value) in choices else None
    if kind == "int":
        return int(value)  # type: ignore[call-overload]
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


class OscOut:
    def __init__(self, targets: Sequence[OscTarget], rate: float = 30.0, registry: Registry = REGISTRY) -> None:
        self.targets = tuple(targets)
        self.period = 1.0 / rate if rate > 0 else 0.0
        self.registry = registry
        self._sent: dict[str, int | float] = {}
        self._texts: dict[int, str] = {}
        self._beat: int | None = None
        self._next = 0.0
        self._queue: queue.SimpleQueue[list[bytes] | None] = queue.SimpleQueue()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._thread = threading.Thread(target=self._run, name="vj-osc-out", daemon=True)
        self.sent = 0

    def start(self) -> OscOut:
        self._thread.start()
        log.info("OSC out: %s at %g Hz", ", ".join(f"{t.host}:{t.port}" for t in self.targets),
                 1.0 / self.period if self.period else 0)
        return self

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(2.0)
        self._sock.close()

    def frame(self, time: float, values: Mapping[str, object], clock: ClockState, texts: Sequence[str] = (),
              features: Mapping[str, float] | None = None) -> None:
        """Render thread, once per display frame: queue what changed, at most `rate` times a second.
        `texts`: the playing preset's prompts; `features`: live analysis values (audio) sent as
        /vj/<name> every time (they move continuously; a follower wants a steady stream)."""
        if time < self._next:
            return
        self._next = max(self._next + self.period, time) if self.period else time
        out: list[bytes] = []
        for spec in self.registry:
            wire = _wire(values[spec.name], spec.kind, spec.choices)
            if wire is not None and self._sent.get(spec.name) != wire:
                self._sent[spec.name] = wire
                out.append(encode_message(f"/vj/param/{spec.name}", wire))
        for i, text in enumerate(texts, 1):
            if self._texts.get(i) != text:
                self._texts[i] = text
                out.append(encode_message(f"/vj/prompt/{i}/text", text))
        for name, value in (features or {}).items():
            if math.isfinite(value):
                out.append(encode_message(f"/vj/{name}", float(value)))
        beat = math.floor(clock.beats)
        if beat != self._beat:
            self._beat = beat
            out.append(encode_message("/vj/beat", beat))
            out.append(encode_message("/vj/bpm", float(clock.bpm)))
        out.append(encode_message("/vj/phase", float(clock.phase)))
        self._queue.put(out)

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            for data in batch:
                for target in self.targets:
                    try:
                        self._sock.sendto(data, (target.host, target.port))
                        self.sent += 1
                    except OSError as exc:  # no route, a name that does not resolve: keep going
                        log.debug("OSC out %s:%d: %s", target.host, target.port, exc)
