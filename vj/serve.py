"""`vj serve`: a generator node. It dreams headless (an EGL context, no window) with its preset,
takes parameters over vj's OSC address space and sends each generated frame as an NDI source, for
`vj run --node NAME` on another machine (vj.rig.node).

Inside it is a show like `vj run`'s, without a window: the same presets, mappings, parameter
smoothing, LFOs and OSC in, so a parameter sent by the performing show moves the node's dream
exactly as it would move a local one. Only the generator's frames leave (the performing show
crossfades, moves and colours them itself); the node's own compositing runs at a token size.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

from vj.gen.process import interim_worker, process_workers
from vj.rig.node import TapGenerator
from vj.rig.sink import SinkThread
from vj.session import load_session
from vj.show import Show, ShowLinks, ShowOptions

if TYPE_CHECKING:
    import moderngl

log = logging.getLogger(__name__)

TOKEN_SIZE = (64, 64)  # the node composites only because a show does; nobody sees it


@dataclass(frozen=True)
class ServeOptions:
    ndi_name: str = "vj node"  # the NDI source the frames go out as
    preset: str | None = None
    mapping: tuple[str, ...] = ()
    osc_host: str = "0.0.0.0"  # a node is played from another machine
    osc_port: int = 9000
    osc_allow: tuple[str, ...] = ()  # accept OSC only from these addresses (empty: any)
    fps: float = 60.0  # the node's show loop rate (the generator runs as fast as it can)
    gen_threads: int = 0
    compile: str | None = None
    seconds: float = 0.0  # 0: until stopped (SIGINT, SIGTERM)


def run_serve(options: ServeOptions) -> int:
    from vj.live import LiveOptions, start_osc
    from vj.render.context import create_headless_context
    from vj.rig.ndi import NdiSink
    from vj.vocabulary import EventQueue

    loaded = load_session(options.preset, options.mapping)
    events = EventQueue()
    osc_options = LiveOptions(osc_host=options.osc_host, osc_port=options.osc_port, osc_allow=options.osc_allow,
                              zeroconf=False)
    osc, query, _, osc_error = start_osc(osc_options, events)
    if osc is None:
        print(f"vj serve: OSC in failed: {osc_error}", file=sys.stderr)
        return 1
    output = SinkThread("ndi", lambda: NdiSink(options.ndi_name)).start()
    workers = process_workers(options.gen_threads, live=True, compile=options.compile)
    ctx = create_headless_context()
    show = Show(ctx, loaded.presets, loaded.mappings, events=events,
                links=ShowLinks(osc=osc, oscquery=query),
                options=ShowOptions(preset_index=loaded.index,
                                    worker_factory=lambda preset: TapGenerator(workers(preset), output),
                                    interim_factory=lambda: interim_worker(options.gen_threads)))
    target = ctx.framebuffer(color_attachments=[ctx.texture(TOKEN_SIZE, 4)])
    print(f"vj serve: NDI source '{options.ndi_name}', OSC in on {options.osc_host}:{osc.port} "
          f"(preset {show.preset.name})", flush=True)
    try:
        _loop(show, target, options)
    finally:
        show.close()
        output.stop()
        osc.stop()
        if query is not None:
            query.stop()
    return 0


def _loop(show: Show, target: moderngl.Framebuffer, options: ServeOptions) -> None:
    stopping = []

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    period = 1.0 / options.fps if options.fps > 0 else 0.0
    started = last = time.perf_counter()
    while not stopping and not show.quit_requested:
        now = time.perf_counter()
        try:
            show.frame(now - last, target)
        except Exception:  # noqa: BLE001 - a node keeps serving through anything
            log.exception("node frame failed (it goes on)")
        last = now
        if options.seconds and now - started >= options.seconds:
            break
        time.sleep(max(0.0, last + period - time.perf_counter()))
