"""`vj bench rig`: vj with the rest of the rig, each case against its target, one JSON object.

- `ndi`: 600 frames at 1280x720 sent by the show's NDI output (the render thread only offers them)
  and received by a separate NDI receiver process over loopback (vj.bench.rig_ndi). Targets:
  nothing lost, render-thread cost p99 <= 1 ms. This is the sink path alone, from a synthetic 60 fps
  loop: `render_thread_ms_*` is only the `offer` call, without the picture's read-back.
- `ndi_show`: the same measured in a real show: a 30 s `vj run --ndi-out --output-size 1280x720`
  under a private Xvfb (a real GLFW window, the procedural dream, no audio) read by a separate
  receiver process over loopback (vj.bench.rig_ndi_show). `render_thread_ms_*` is the whole
  hand-off inside the running loop, the read-back and the offer (`readback_ms_p99`, `offer_ms_p99`
  apart); on software GL the read-back is a synchronous read on the render thread. Frames sent
  before the receiver connected are counted apart, not as lost. Targets: as `ndi`.
- `link`: vj's Link session against a separate Link peer process (vj.bench.rig_tempo). Targets:
  tempo error <= 0.01 bpm, phase error <= 5 ms after 2 s.
- `midi_clock_out`: vj's MIDI clock read by a JACK MIDI peer (vj.bench.rig_tempo). Target: +-0.1 bpm.
- `record`: a 10 s `vj run --record` at 1280x720, 30 fps, under a private Xvfb
  (vj.bench.rig_record). Target: dropped = 0.
- `node`: `vj serve` sending NDI, read the way `vj run --node` reads it, then killed
  (vj.bench.rig_node). Target: fallback <= 1 s.

NDI and Link run inside a private network namespace holding only loopback (vj.bench.netns):
nothing leaves the machine. A case that cannot run says why in its entry (`{"error": ...}`) and
the others still run; `--only ndi,link` runs some of them.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

CASES = ("ndi", "ndi_show", "link", "midi_clock_out", "record", "node")


def _cases(quick: bool) -> dict[str, Callable[[], dict[str, Any]]]:
    from vj.bench.rig_ndi import bench_ndi
    from vj.bench.rig_ndi_show import bench_ndi_show
    from vj.bench.rig_node import bench_node
    from vj.bench.rig_record import bench_record
    from vj.bench.rig_tempo import bench_link, bench_midi_clock_out

    return {
        "ndi": lambda: bench_ndi(frames=120 if quick else 600),
        "ndi_show": lambda: bench_ndi_show(seconds=4.0 if quick else 30.0),
        "link": bench_link,
        "midi_clock_out": bench_midi_clock_out,
        "record": lambda: bench_record(seconds=3.0 if quick else 10.0),
        "node": lambda: bench_node(play_s=2.0 if quick else 5.0),
    }


def bench_rig(only: Sequence[str] = (), quick: bool = False) -> dict[str, Any]:
    unknown = [name for name in only if name not in CASES]
    if unknown:
        raise ValueError(f"unknown case {', '.join(unknown)}: expected some of {', '.join(CASES)}")
    result: dict[str, Any] = {"benchmark": "rig"}
    for name, case in _cases(quick).items():
        if only and name not in only:
            continue
        started = time.perf_counter()
        try:
            figures = case()
        except Exception as exc:  # noqa: BLE001 - one case failing must not hide the others' figures
            figures = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc(limit=3)}
        figures["seconds"] = round(time.perf_counter() - started, 1)
        result[name] = figures
    return result


def run_rig_bench(only: Sequence[str] = (), quick: bool = False, as_json: bool = False) -> int:
    result = bench_rig(only, quick)
    failed = any(isinstance(v, dict) and "error" in v for v in result.values())
    if as_json:
        print(json.dumps(result))
        return 1 if failed else 0
    for name in CASES:
        if name in result:
            print(f"{name:15s} {json.dumps(result[name])}")
    return 1 if failed else 0
