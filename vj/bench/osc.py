"""`vj bench osc`: does every OSC message of a burst arrive, and does a flood of them hurt?

A sender stand-in runs in its own process (this module, `python -m vj.bench.osc --sender`) and
sends plain UDP datagrams over loopback from a socket of its own; vj's real input path
(`OscServer`: its socket and thread, `osc_codec`, the `EventQueue`) receives them and the real
`MappingEngine`, with vj's built-in OSC address space, writes them into a `ParamState`. Every
message is `/vj/param/seed ,i INDEX`: the seed parameter takes any integer up to 2^31 - 1 in its
own units, so each message's value is its index, counted by vj (lost and duplicated ones too),
and right after its handling the parameter holds exactly that index when the write was done.
The sender writes when it sent each index to a file (`time.perf_counter`, the system-wide
monotonic clock on Linux); the message itself carries only the index because a `ControlEvent`
keeps only a message's first argument.

`/vj/param/seed` is a latest-wins address (vj.control.osc_space.latest_wins: only value bindings
listen to it), so `vj run`'s server drops a value superseded by a later one in the same batch.
Where every message must be checked by index, the bench tells its server that no address is
latest-wins (every message then becomes an event, as one to an action address does); where it
measures what `vj run` does, it gives the server vj's set and counts what the server received
separately from what was applied.

Phases, all in one run:

1. latency: 1,000 messages paced at 1,000/s (so queueing does not dominate) to a consumer
   thread that drains the queue as soon as anything is on it. `latency_*`: the sender's send
   to the parameter written (socket, vj's thread, parse, queue, wake-up, engine, write);
   `transport_*`: the send to the arrival stamp in vj (`ControlEvent.time`, taken when the
   datagram's batch was read).
2. burst: `messages` messages as fast as the sender can send them, to the same consumer, every
   message an event: `sent`, `received` (distinct indices seen by vj), `lost`, `duplicated`,
   `applied` (distinct indices whose write to the parameter was done), `burst_latency_*`
   (queueing included). Then the same burst with the address latest-wins: `coalescing_received`
   (messages the server read and parsed), `coalescing_lost`, `coalescing_coalesced` (values
   dropped for a later one), `coalescing_applied`, `coalescing_latest_applied` (the values
   applied came in order and the last one sent was among them). The baseline, right after: the
   same burst to python-osc's stock `ThreadingOSCUDPServer` with a dispatcher handler noting each
   index: `baseline_received`, `baseline_lost`, and `received_vs_baseline` = received /
   baseline_received.
3. render: a headless `Show` (EGL) drawing at 60 Hz drains the same queue once per frame, as
   `vj run` does. 1,000 paced messages give `frame_latency_*`; then, in rounds of `seconds`,
   idle (the baseline: no OSC traffic), spare (the sender floods a UDP socket nobody reads:
   what the sending process costs the shared cores), flood (`rate` messages per second into
   vj, the address latest-wins as in `vj run`) and each (the same, every message an event)
   alternate, and their p99 frame times are compared: `frame_p99_ratio` = flood / idle,
   `frame_p99_ratio_spare` = flood / spare, `frame_p99_ratio_each` = each / idle,
   `spare_p99_ratio` = spare / idle (the sender alone: how much the ratios move with no vj
   work at all). `flood_*` and `each_*` count the messages as the burst does (`flood_received`
   by the server, `flood_coalesced`, `flood_applied`, `flood_latest_applied`).

`receive_buffer` is what the kernel granted vj's socket (Linux: at most twice
net.core.rmem_max): a burst that outruns vj's thread is lost beyond it, so it is the first
thing to look at when `lost` is not 0.
"""

from __future__ import annotations

import os
import platform
import socket
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from importlib.metadata import version
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from vj.bench import emit
from vj.bench.harness import (
    RENDER_SIZE,
    Consumer,
    Records,
    RenderLoop,
    Sender,
    SenderRun,
    TimedEngine,
    WaitQueue,
    frame_figures,
    ms_stats,
    paced_sends,
    percentile,
    serve_sender,
    settle,
    sleep_pump,
)
from vj.config.mapping import MappingConfig
from vj.control.osc_codec import encode_message
from vj.control.osc_server import OscServer, OscStatus
from vj.control.osc_space import address_space, latest_wins, param_address
from vj.params import ParamState
from vj.vocabulary import ControlEvent

HOST = "127.0.0.1"
PARAM = "seed"  # an integer parameter up to 2**31 - 1: it can hold every index
ADDRESS = param_address(PARAM)
SOURCE = ("osc", ADDRESS)
FIRST_INDEX = 1  # the seed starts at 0: index 0 would look written without a write
LATENCY_MESSAGES = 1000
LATENCY_RATE = 1000.0
ROUNDS = 3  # the render cases alternate in rounds, so drifts in machine load hit all alike
TARGETS = {"lost": 0, "frame_p99_ratio": 1.1}


# -- the sender process --------------------------------------------------------------------------


def sender_main() -> int:
    """The OSC sender stand-in (the protocol: vj.bench.harness); a target is a UDP port on HOST.
    One message, encoded once; each send writes its index into it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    datagram = bytearray(encode_message(ADDRESS, 0))
    at = len(datagram) - 4  # the int32 argument
    pack, sendto = struct.Struct(">i").pack_into, sock.sendto

    def run(n: int, rate: float, first: int, target: str) -> tuple[np.ndarray, int]:
        destination = (HOST, int(target))
        failed = 0

        def send(i: int) -> None:
            nonlocal failed
            pack(datagram, at, first + i)
            try:
                sendto(datagram, destination)
            except OSError:  # ENOBUFS and the like: the message never left
                failed += 1

        times = paced_sends(n, rate, send)
        return times, failed

    serve_sender(run)
    sock.close()
    return 0


# -- the consumer side ---------------------------------------------------------------------------


def index_of(event: ControlEvent) -> int | None:
    """The index a sender message carried (None: not one of ours)."""
    raw = event.raw
    return raw if event.source == SOURCE and isinstance(raw, int) and not isinstance(raw, bool) else None


class WriteCheckingEngine(TimedEngine):
    """The timed engine, also noting each of our messages whose value the parameter holds right
    after its handling: the write was done (not refused, not clamped, not lost on the way)."""

    def __init__(self, config: MappingConfig) -> None:
        super().__init__(config)
        self.written: list[int] = []

    def handle(self, event: ControlEvent, state: ParamState, sink: Any) -> None:
        super().handle(event, state, sink)
        raw = event.raw  # kept cheap (this runs inside the measured frames): distinct() keeps our indices
        if isinstance(raw, int) and state.base[PARAM] == raw:
            self.written.append(raw)

    def take_all(self) -> tuple[Records, list[int]]:
        written, self.written = self.written, []
        return self.take(), written


def account(indices: Iterable[int | None], first: int, n: int) -> tuple[int, int, int]:
    """(received, lost, duplicated) for messages first..first+n-1, by index: distinct ones
    seen, ones never seen, and extra copies plus strangers (a duplicate must not hide a loss)."""
    counts = np.zeros(n, dtype=np.int64)
    strangers = 0
    for i in indices:
        if i is not None and first <= i < first + n:
            counts[i - first] += 1
        else:
            strangers += 1
    received = int(np.count_nonzero(counts))
    return received, n - received, int(np.maximum(counts - 1, 0).sum()) + strangers


def delays(pairs: Iterable[tuple[int | None, float]], first: int, times: np.ndarray) -> list[float]:
    """Seconds from each message's send to `when`, for (index, when) pairs of a run at `first`."""
    return [when - float(times[i - first]) for i, when in pairs if i is not None and 0 <= i - first < len(times)]


def distinct(indices: Iterable[int], first: int, n: int) -> int:
    return len({i for i in indices if first <= i < first + n})


def latest_applied(written: list[int], first: int, last: int) -> bool:
    """With coalescing: the values applied (indices first..last) rose strictly, i.e. in the order
    sent, and the last one is `last`, the latest message sent."""
    ours = [i for i in written if first <= i <= last]
    return bool(ours) and ours[-1] == last and all(a < b for a, b in pairwise(ours))


def settle_received(server: OscServer, count: int, pump: Callable[[], None], quiet: float = 1.0) -> None:
    """Until the server has read `count` messages in all (its status), then a little longer so
    that their events are handled; or until none came for `quiet` seconds (the rest is lost)."""
    last, seen = time.monotonic(), -1
    while server.status().messages < count:
        pump()
        now = server.status().messages
        if now != seen:
            last, seen = time.monotonic(), now
        elif time.monotonic() - last > quiet:
            return
    end = time.monotonic() + 0.05
    while time.monotonic() < end:
        pump()


# -- the baseline --------------------------------------------------------------------------------


def baseline_burst(run: SenderRun, messages: int, quiet: float = 1.0) -> dict[str, Any]:
    """The same burst to python-osc's stock ThreadingOSCUDPServer (a thread per datagram, the
    kernel's default receive buffer), a dispatcher handler noting each index and when."""
    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import ThreadingOSCUDPServer

    seen: list[tuple[int, float]] = []

    def on_message(_address: str, *args: Any) -> None:
        seen.append((args[0], time.perf_counter()))  # one list.append: safe from many threads

    dispatcher = Dispatcher()
    dispatcher.map(ADDRESS, on_message)
    server = ThreadingOSCUDPServer((HOST, 0), dispatcher)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="bench-python-osc", daemon=True)
    thread.start()
    try:
        first, sent, dropped, _, times = run.send(messages, 0.0, str(server.server_address[1]))
        last, count = time.monotonic(), -1
        while len(seen) < messages and time.monotonic() - last < quiet:
            if len(seen) != count:
                last, count = time.monotonic(), len(seen)
            time.sleep(0.01)
        buffer = server.socket.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5.0)
    pairs = list(seen)
    received, lost, duplicated = account((i for i, _ in pairs), first, messages)
    latency = ms_stats(delays(pairs, first, times))
    return {
        "baseline": f"python-osc {version('python-osc')} ThreadingOSCUDPServer",
        "baseline_receive_buffer": buffer,
        "baseline_sent": sent - dropped,
        "baseline_received": received,
        "baseline_lost": lost,
        "baseline_duplicated": duplicated,
        "baseline_latency_p50_ms": latency["p50"],
        "baseline_latency_p99_ms": latency["p99"],
    }


# -- the benchmark -------------------------------------------------------------------------------


def rmem_max() -> int | None:
    """Linux's ceiling for a socket's receive buffer request (None elsewhere)."""
    try:
        return int(Path("/proc/sys/net/core/rmem_max").read_text())
    except (OSError, ValueError):
        return None


def bench_osc(messages: int = 10_000, rate: float = 20_000.0, seconds: float = 2.0) -> dict[str, Any]:
    """Runs every phase (module docstring)."""
    mapping = address_space()
    coalesce = latest_wins(mapping)  # what `vj run` tells its server (Show._set_mapping)
    assert ADDRESS in coalesce
    events = WaitQueue()
    server = OscServer(events, HOST, 0).start()  # no latest-wins address: every message an event
    port = str(server.port)
    sender: Sender | None = None
    consumer: Consumer | None = None
    scratch = tempfile.TemporaryDirectory(prefix="vj-bench-osc-")
    try:
        sender = Sender("vj.bench.osc", (), "OSC")
        run = SenderRun(sender, Path(scratch.name), FIRST_INDEX)
        engine = WriteCheckingEngine(mapping)
        consumer = Consumer(events, engine)

        run.send(20, 1000.0, port)  # warm-up: the first parse and engine calls
        settle(engine, 20, sleep_pump)
        engine.take_all()

        latency = _latency_phase(run, engine, port)  # 1.
        burst = _burst_phase(run, engine, port, messages)  # 2., every message an event...
        coalescing = _coalescing_phase(run, engine, server, coalesce, messages)  # ...then latest-wins...
        consumer.stop()
        consumer = None
        result: dict[str, Any] = {
            "benchmark": "osc",
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "rmem_max": rmem_max(),
            "receive_buffer": server.receive_buffer,
            **latency,
            **burst,
            **coalescing,
        }
        # ...then the baseline's.
        result.update(baseline_burst(run, messages))
        base = result["baseline_received"]
        result["received_vs_baseline"] = round(result["received"] / base, 3) if base else None

        # 3. render: events reach the parameter once per display frame.
        try:
            loop = RenderLoop(events, mapping, WriteCheckingEngine(mapping))
        except Exception as exc:  # noqa: BLE001 - no EGL here: the OSC figures still stand
            result["render_error"] = f"{type(exc).__name__}: {exc}"
        else:
            try:
                result.update(_render_phases(loop, run, server, rate, seconds, coalesce))
            finally:
                loop.close()
        result["targets"] = TARGETS
        result["met"] = _met(result)
        return result
    finally:
        if consumer is not None:
            consumer.stop()
        server.stop()
        if sender is not None:
            sender.close()
        scratch.cleanup()


def _latency_phase(run: SenderRun, engine: WriteCheckingEngine, port: str) -> dict[str, Any]:
    """Phase 1: paced messages to a consumer that drains at once (send to write, send to arrival)."""
    first, _, _, _, times = run.send(LATENCY_MESSAGES, LATENCY_RATE, port)
    settle(engine, LATENCY_MESSAGES, sleep_pump)
    records, _ = engine.take_all()
    latency = ms_stats(delays(((index_of(e), w) for e, w in records), first, times))
    wire = ms_stats(delays(((index_of(e), e.time) for e, _ in records), first, times))
    _, lost, _ = account((index_of(e) for e, _ in records), first, LATENCY_MESSAGES)
    return {
        "latency_messages": LATENCY_MESSAGES,
        "latency_rate_per_s": LATENCY_RATE,
        "latency_p50_ms": latency["p50"],
        "latency_p99_ms": latency["p99"],
        "latency_max_ms": latency["max"],
        "transport_p50_ms": wire["p50"],
        "transport_p99_ms": wire["p99"],
        "latency_lost": lost,
    }


def _burst_phase(run: SenderRun, engine: WriteCheckingEngine, port: str, messages: int) -> dict[str, Any]:
    """Phase 2: a burst as fast as the sender can, every message an event (checked by index)."""
    first, sent, dropped, send_seconds, times = run.send(messages, 0.0, port)
    settle(engine, messages, sleep_pump)
    records, written = engine.take_all()
    received, _, duplicated = account((index_of(e) for e, _ in records), first, messages)
    burst = ms_stats(delays(((index_of(e), w) for e, w in records), first, times))
    return {
        "messages": messages,
        "sent": sent - dropped,
        "sender_failed": dropped,  # sendto refused them: never sent, not counted in sent
        "send_rate_per_s": round((sent - 1) / send_seconds, 1) if send_seconds > 0 else None,
        "received": received,
        "lost": (sent - dropped) - received,
        "duplicated": duplicated,
        "applied": distinct(written, first, messages),
        "burst_latency_p50_ms": burst["p50"],
        "burst_latency_p99_ms": burst["p99"],
    }


def _coalescing_phase(run: SenderRun, engine: WriteCheckingEngine, server: OscServer, coalesce: frozenset[str],
                      messages: int) -> dict[str, Any]:
    """Phase 2, again with the address latest-wins as `vj run` has it: received is counted by the
    server (each message read and parsed), since coalesced values never become events."""
    server.set_latest_wins(coalesce)
    before = server.status()
    first, sent, dropped, _, _ = run.send(messages, 0.0, str(server.port))
    settle_received(server, before.messages + sent - dropped, sleep_pump)
    after = server.status()
    _, written = engine.take_all()
    server.set_latest_wins(())
    last = first + messages - 1 if not dropped else max(written, default=first)
    received = after.messages - before.messages
    return {
        "coalescing_sent": sent - dropped,
        "coalescing_received": received,
        "coalescing_lost": (sent - dropped) - received,
        "coalescing_coalesced": after.coalesced - before.coalesced,
        "coalescing_applied": distinct(written, first, messages),
        "coalescing_latest_applied": latest_applied(written, first, last),
    }


def _met(result: dict[str, Any]) -> dict[str, bool | None]:
    """Each target, met or not (None: not measured, as the frame ratio without EGL)."""
    ratio = result.get("frame_p99_ratio")
    return {
        "lost": (result["lost"] == 0 and result["duplicated"] == 0 and result["sender_failed"] == 0
                 and result["coalescing_lost"] == 0 and result["coalescing_latest_applied"]),
        "frame_p99_ratio": None if ratio is None else bool(
            ratio <= TARGETS["frame_p99_ratio"] and result["flood_lost"] == 0 and result["flood_latest_applied"]),
    }


LOAD_CASES = ("idle", "spare", "flood", "each")
FLOOD_CASES = ("flood", "each")  # the cases whose messages reach vj, counted


@dataclass
class _LoadRounds:
    """What the render rounds under load measured: frame times and CPU per case, and the
    messages of the cases that reach vj, counted as the burst counts them."""

    frames: dict[str, list[float]] = field(default_factory=lambda: {case: [] for case in LOAD_CASES})
    # this process's CPU seconds (all its threads), wall seconds
    cpu: dict[str, list[float]] = field(default_factory=lambda: {case: [0.0, 0.0] for case in LOAD_CASES})
    counts: dict[str, dict[str, int]] = field(default_factory=lambda: {
        case: {"sent": 0, "received": 0, "lost": 0, "duplicated": 0, "coalesced": 0, "applied": 0}
        for case in FLOOD_CASES})
    latest: bool = True  # every flood round's latest value was applied, the values applied in order
    send_seconds: float = 0.0

    def count(self, case: str, before: OscStatus, after: OscStatus, records: Records, written: list[int],
              first: int, sent: int, dropped: int, n: int) -> None:
        """One round of `case`: `before` and `after` are the server's status around it."""
        c = self.counts[case]
        c["sent"] += sent - dropped
        if case == "flood":  # counted by the server: the values coalesced never became events
            received = after.messages - before.messages
            duplicated = account(written, first, n)[2]  # among the values applied
            last = first + n - 1 if not dropped else max(written, default=first)
            self.latest = self.latest and latest_applied(written, first, last)
        else:  # by index, as the burst
            received, _, duplicated = account((index_of(e) for e, _ in records), first, n)
        c["received"] += received
        c["lost"] += sent - dropped - received
        c["duplicated"] += duplicated
        c["coalesced"] += after.coalesced - before.coalesced
        c["applied"] += distinct(written, first, n)

    def figures(self) -> dict[str, Any]:
        result = frame_figures(self.frames)
        result.update({f"cpu_percent_{case}": round(100 * used / wall, 1) for case, (used, wall) in self.cpu.items()})
        p99 = {case: percentile(times, 99) for case, times in self.frames.items()}
        sent = self.counts["flood"]["sent"] + self.counts["each"]["sent"]
        result.update(
            frame_p99_ratio=round(p99["flood"] / p99["idle"], 3),
            frame_p99_ratio_spare=round(p99["flood"] / p99["spare"], 3),
            frame_p99_ratio_each=round(p99["each"] / p99["idle"], 3),
            spare_p99_ratio=round(p99["spare"] / p99["idle"], 3),  # the sender alone: the noise to read ratios against
            **{f"{case}_{key}": value for case, c in self.counts.items() for key, value in c.items()},
            flood_latest_applied=self.latest,
            flood_send_rate_per_s=round((sent - 2 * ROUNDS) / self.send_seconds, 1) if self.send_seconds > 0 else None,
        )
        return result


def _render_phases(loop: RenderLoop, run: SenderRun, server: OscServer, rate: float, seconds: float,
                   coalesce: frozenset[str]) -> dict[str, Any]:
    engine = loop.engine
    assert isinstance(engine, WriteCheckingEngine)
    port = str(server.port)

    def pump() -> None:
        loop.frame()

    # Paced messages into the 60 Hz loop: each waits for the next frame's update.
    first, _, _, _, times = run.send(LATENCY_MESSAGES, LATENCY_RATE, port,
                                     during=lambda: loop.run(LATENCY_MESSAGES / LATENCY_RATE))
    settle(engine, LATENCY_MESSAGES, pump)
    records, _ = engine.take_all()
    frame_latency = ms_stats(delays(((index_of(e), w) for e, w in records), first, times))
    rounds = _load_rounds(loop, run, server, rate, seconds, coalesce)
    return {
        "requested_rate_per_s": rate,
        "render_round_seconds": round(seconds, 3),
        "render_size": f"{RENDER_SIZE[0]}x{RENDER_SIZE[1]}",
        "gl_renderer": loop.ctx.info.get("GL_RENDERER", "?"),
        "frame_latency_p50_ms": frame_latency["p50"],
        "frame_latency_p99_ms": frame_latency["p99"],
        **rounds.figures(),
    }


def _load_rounds(loop: RenderLoop, run: SenderRun, server: OscServer, rate: float, seconds: float,
                 coalesce: frozenset[str]) -> _LoadRounds:
    """Four cases per round, alternating: idle (the baseline), spare (the same flood to a socket
    nobody reads: what the sending process costs this machine's cores, since here the
    "controller" shares them), flood (vj receives it all, its address latest-wins as in `vj
    run`) and each (the same with nothing coalesced: every message an event, as for an action)."""
    engine = loop.engine
    assert isinstance(engine, WriteCheckingEngine)
    port = str(server.port)
    rounds = _LoadRounds()

    def pump() -> None:
        loop.frame()

    def render(case: str) -> None:
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        loop.extend(rounds.frames[case], seconds)
        rounds.cpu[case][0] += time.process_time() - cpu_start
        rounds.cpu[case][1] += time.perf_counter() - wall_start

    per_round = max(1, int(rate * seconds))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as spare:
        spare.bind((HOST, 0))
        spare_port = str(spare.getsockname()[1])
        for _ in range(ROUNDS):
            render("idle")
            for target, case in ((spare_port, "spare"), (port, "flood"), (port, "each")):
                server.set_latest_wins(coalesce if case == "flood" else ())
                before = server.status()
                first, sent, dropped, took, _ = run.send(per_round, rate, target, during=partial(render, case))
                if case == "spare":
                    continue
                # the tail drains in frames that are not counted
                settle_received(server, before.messages + sent - dropped, pump)
                after = server.status()
                records, written = engine.take_all()
                rounds.count(case, before, after, records, written, first, sent, dropped, per_round)
                rounds.send_seconds += took
    server.set_latest_wins(())
    return rounds


def _print_table(r: dict[str, Any]) -> None:
    def f(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    limit = f", rmem_max {r['rmem_max']}" if r["rmem_max"] is not None else ""
    print(f"osc benchmark: UDP over loopback; vj's receive buffer {r['receive_buffer']} bytes{limit}; "
          f"{r['cores']} cores")
    print(f"  send -> parameter written, consumer draining continuously ({r['latency_messages']} at "
          f"{r['latency_rate_per_s']:g}/s): p50 {f(r['latency_p50_ms'])} ms  p99 {f(r['latency_p99_ms'])} ms  "
          f"({r['latency_lost']} lost)")
    print(f"  send -> arrival in vj (socket and thread wake-up): p50 {f(r['transport_p50_ms'])} ms  "
          f"p99 {f(r['transport_p99_ms'])} ms")
    print(f"  burst of {r['messages']} as fast as possible ({r['send_rate_per_s']}/s sent):")
    print(f"    vj          sent {r['sent']}  received {r['received']}  lost {r['lost']}  "
          f"duplicated {r['duplicated']}  applied {r['applied']}  latency p99 {f(r['burst_latency_p99_ms'])} ms")
    print(f"    {r['baseline']} (receive buffer {r['baseline_receive_buffer']} bytes):")
    print(f"                sent {r['baseline_sent']}  received {r['baseline_received']}  "
          f"lost {r['baseline_lost']}  latency p99 {f(r['baseline_latency_p99_ms'])} ms")
    print(f"    received vs the baseline: {r['received_vs_baseline']}x  (target: none lost)")
    print(f"    vj, its address latest-wins (as `vj run`): sent {r['coalescing_sent']}  "
          f"received {r['coalescing_received']}  lost {r['coalescing_lost']}  coalesced {r['coalescing_coalesced']}  "
          f"applied {r['coalescing_applied']}  latest applied, in order: {r['coalescing_latest_applied']}")
    if "frame_p99_ratio" in r:
        print(f"  event -> parameter in the 60 Hz render loop: p50 {f(r['frame_latency_p50_ms'])} ms  "
              f"p99 {f(r['frame_latency_p99_ms'])} ms  (the next display frame)")
        print(f"  render {r['render_size']} at 60 Hz ({r['gl_renderer']}), frame work (update, draw, glFinish):")
        for case, label in (("idle", "idle  "), ("spare", "spare "), ("flood", "flood "), ("each", "each  ")):
            print(f"    {label} p50 {r[f'frame_p50_ms_{case}']:7.3f} ms  p99 {r[f'frame_p99_ms_{case}']:7.3f} ms  "
                  f"({r[f'frames_{case}']} frames, {r[f'frames_late_{case}']} over 16.7 ms)")
        print(f"    vj's CPU (all its threads, % of one core): idle {r['cpu_percent_idle']}  "
              f"spare {r['cpu_percent_spare']}  flood {r['cpu_percent_flood']}  each {r['cpu_percent_each']}")
        for case, how in (("flood", "latest-wins"), ("each", "every message an event")):
            print(f"    {case} at {r['requested_rate_per_s']:g}/s ({how}): {r[f'{case}_sent']} sent, "
                  f"{r[f'{case}_received']} received, {r[f'{case}_lost']} lost, {r[f'{case}_coalesced']} coalesced, "
                  f"{r[f'{case}_applied']} applied")
        print(f"    frame_p99_ratio flood/idle: {r['frame_p99_ratio']:.3f}  (target <= 1.1, no loss, latest applied: "
              f"{r['flood_latest_applied']}); flood/spare: {r['frame_p99_ratio_spare']:.3f}; "
              f"each/idle: {r['frame_p99_ratio_each']:.3f}; spare/idle: {r['spare_p99_ratio']:.3f}")
    elif "render_error" in r:
        print(f"  render part skipped: {r['render_error']}")
    met = ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in r["met"].items() if v is not None)
    print(f"  targets: {met}")


def run_osc_bench(as_json: bool = False, messages: int = 10_000, rate: float = 20_000.0,
                  seconds: float = 2.0) -> int:
    if messages < 2 or not rate > 0 or not seconds > 0:
        print("vj bench osc: --messages must be at least 2, --rate and --seconds positive", file=sys.stderr)
        return 2
    result = bench_osc(messages, rate, seconds)
    return emit(result, as_json, _print_table)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--sender"]:  # the OSC sender stand-in (see vj.bench.harness.Sender)
        sys.exit(sender_main())
    sys.exit(run_osc_bench(as_json="--json" in sys.argv))
