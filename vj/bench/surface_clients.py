"""The pages of `vj bench surface`: one process (this module) with websocket clients that play the
show's control surface as the page does (`{"type":"set","param":"zoom","value":v}`), each on its
own connection, in one asyncio loop. Every value sent is distinct (`value_of(index)`), so the show's
notes (vj.bench.surface_show) say which send each write was. The script, in order:

1. latency: one page moves the slider `latency_sets` times at RATE a second;
2. bursts: the same page sends `bursts` bursts of BURST sets as fast as it can, each ending in a
   distinct value, BURST_GAP seconds apart;
3. `rounds` times, three phases as long as each other: quiet (no page connected); moving (PAGES
   pages connect and each moves the slider at RATE a second in `sweeps` sweeps of SWEEP seconds,
   each followed by HOLD seconds still, to see every page converge); loaded (the same, the first
   page with the preview on, counting the JPEGs it gets).

It writes what it did and saw as JSON, every time `time.perf_counter()`: the system-wide
CLOCK_MONOTONIC on Linux, as the show's notes and its `--stats` frame starts (`time.monotonic()`).

    python -m vj.bench.surface_clients PORT OUT_JSON [--quick] [--lowest]
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from vj.priority import lowest

PARAM = "zoom"
RATE = 120.0  # sets a second from one page: a finger on a slider, at the page's own limit
BURST = 100
BURST_GAP = 0.6  # seconds between bursts: the page's rate bucket (60 at once, 120 a second) refills
PAGES = 8
SWEEP, HOLD = 1.0, 0.3  # seconds: the pages move the slider, then let it be
SETTLE = 0.5  # seconds after the pages connect (and the preview starts) before a loaded phase counts
# value_of(i) = BASE + i * STEP: distinct, in zoom's range for 260,000 sends (31 rounds take 240,000),
# and exact in the 6 decimals the surface sends values with (vj.surface.protocol)
BASE, STEP = -1.9, 1.5e-5


def value_of(index: int) -> float:
    return round(BASE + index * STEP, 6)


def index_of(value: float) -> int:
    return round((value - BASE) / STEP)


@dataclass(frozen=True)
class Script:
    latency_sets: int = 1000
    bursts: int = 10
    # The ratio is the median of the rounds' (vj.bench.surface): an odd count. A round's p99 is about
    # its third-worst frame, and its ratio has a standard deviation of 0.12 with nothing changed; the
    # median of 15 rounds moved by 0.038 from run to run, as that spread predicts. 31 rounds (about
    # 9,700 frames a case, some 10 minutes) narrow it to about 0.024 (docs/benchmarks.md).
    rounds: int = 31
    sweeps: int = 4  # per loaded phase

    @classmethod
    def quick(cls) -> Script:
        return cls(latency_sets=120, bursts=3, rounds=1, sweeps=2)


@dataclass(eq=False)
class Page:
    ws: aiohttp.ClientWebSocketResponse
    seen: list[tuple[float, float]] = field(default_factory=list)  # (received at, zoom) from `values`
    jpegs: list[float] = field(default_factory=list)  # when each preview frame came
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        async for message in self.ws:
            now = time.perf_counter()
            if message.type is aiohttp.WSMsgType.TEXT:
                data = json.loads(message.data)
                if data.get("type") == "values" and PARAM in data["values"]:
                    self.seen.append((now, data["values"][PARAM]))
            elif message.type is aiohttp.WSMsgType.BINARY:
                self.jpegs.append(now)

    async def set(self, index: int) -> float:
        """Sends value_of(index); when it was sent."""
        text = json.dumps({"type": "set", "param": PARAM, "value": value_of(index)})
        sent = time.perf_counter()
        await self.ws.send_str(text)
        return sent

    async def close(self) -> None:
        await self.ws.close()
        if self.reader is not None:
            await self.reader


class Counter:
    def __init__(self) -> None:
        self.next = 0

    def take(self) -> int:
        self.next += 1
        return self.next


async def open_page(session: aiohttp.ClientSession, port: int, preview: bool = False) -> Page:
    ws = await session.ws_connect(f"http://127.0.0.1:{port}/ws", max_msg_size=0)
    hello = json.loads((await ws.receive()).data)
    assert hello["type"] == "hello", hello
    page = Page(ws)
    page.reader = asyncio.get_running_loop().create_task(page.read())
    if preview:
        await ws.send_str(json.dumps({"type": "preview", "on": True}))
    return page


async def paced(page: Page, counter: Counter, seconds: float, offset: float = 0.0) -> list[tuple[int, float]]:
    """The page moves the slider at RATE a second for `seconds`: (index, sent at) per set."""
    sends = []
    start = time.perf_counter() + offset
    n = max(1, round(seconds * RATE))
    for k in range(n):
        await asyncio.sleep(max(0.0, start + k / RATE - time.perf_counter()))
        index = counter.take()
        sends.append((index, await page.set(index)))
    return sends


async def run(port: int, script: Script) -> dict[str, Any]:
    counter = Counter()
    out: dict[str, Any] = {"rate": RATE, "burst": BURST, "pages": PAGES, "sweep": SWEEP, "hold": HOLD}
    async with aiohttp.ClientSession() as session:
        page = await open_page(session, port)
        await paced(page, counter, 20 / RATE)  # warm-up: the first parse, the first writes
        await asyncio.sleep(0.3)
        out["latency"] = await paced(page, counter, script.latency_sets / RATE)
        await asyncio.sleep(BURST_GAP)
        bursts = []
        for _ in range(script.bursts):
            sends = []
            for _ in range(BURST):
                index = counter.take()
                sends.append((index, await page.set(index)))
            await asyncio.sleep(BURST_GAP)
            bursts.append(sends)
        out["bursts"] = bursts
        await page.close()
        out["burst_page_seen"] = page.seen
        out["rounds"] = [await _round(session, port, counter, script.sweeps) for _ in range(script.rounds)]
    return out


async def _round(session: aiohttp.ClientSession, port: int, counter: Counter, count: int) -> dict[str, Any]:
    """A quiet phase, the pages moving the slider, then the same with the preview on: `count` sweeps
    each (module docstring). Per phase: its window and this process's CPU seconds in it."""
    phases: dict[str, Any] = {}
    began, cpu = time.perf_counter(), time.process_time()
    await asyncio.sleep(count * (SWEEP + HOLD))
    phases["quiet"] = [began, time.perf_counter(), time.process_time() - cpu]
    pages = [await open_page(session, port) for _ in range(PAGES)]
    sweeps = []
    for phase in ("moving", "loaded"):
        if phase == "loaded":
            await pages[0].ws.send_str(json.dumps({"type": "preview", "on": True}))
        await asyncio.sleep(SETTLE)
        began, cpu = time.perf_counter(), time.process_time()
        for _ in range(count):
            sweeps.append(await _sweep(pages, counter))
        phases[phase] = [began, time.perf_counter(), time.process_time() - cpu]
    for p in pages:
        await p.close()
    return {**phases, "sweeps": sweeps, "seen": [p.seen for p in pages], "jpegs": pages[0].jpegs}


async def _sweep(pages: list[Page], counter: Counter) -> dict[str, Any]:
    """Every page moves the slider for SWEEP seconds (their sends interleaved), then HOLD still."""
    began = time.perf_counter()
    moved = await asyncio.gather(*(paced(p, counter, SWEEP, i / (RATE * len(pages))) for i, p in enumerate(pages)))
    ended = time.perf_counter()
    await asyncio.sleep(HOLD)
    return {"began": began, "ended": ended, "held": time.perf_counter(),
            "sends": [[[i, t] for i, t in sends] for sends in moved]}


def main(argv: list[str]) -> int:
    port, path, rest = int(argv[0]), Path(argv[1]), argv[2:]
    script = Script.quick() if "--quick" in rest else Script()
    # the pages stand in for other machines (vj.bench.surface)
    priority = lowest() if "--lowest" in rest else "as started"
    result = {**asyncio.run(run(port, script)), "priority": priority}
    path.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
