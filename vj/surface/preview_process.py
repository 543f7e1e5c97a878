"""The surface's preview process (vj.surface.window_preview says why and how it is used): at the
lowest priority (vj.priority.lowest: SCHED_IDLE, or nice 19), it makes a JPEG of the X server's copy of the show
window every period while the show asks for previews. Run by the show as `python -m
vj.surface.preview_process WINDOW WIDTH QUALITY PERIOD`; nothing imports it, so that it runs as
itself."""

from __future__ import annotations

import argparse
import logging
import os
import select
import sys
import time
from collections.abc import Sequence
from typing import IO

from vj.priority import lowest
from vj.render.xgrab import GrabError, WindowGrab
from vj.surface.jpeg import encode_jpeg
from vj.surface.window_preview import HEADER

log = logging.getLogger(__name__)

def _say(out: IO[bytes], line: str) -> None:
    out.write(line.encode() + b"\n")
    out.flush()


def serve(window: int, width: int, quality: int, period: float, control: int, out: IO[bytes]) -> int:
    """Makes a preview every `period` seconds while the last byte read from `control` is b"1";
    returns when `control` closes."""
    try:
        grab = WindowGrab(None, window, segments=1)
    except GrabError as exc:
        _say(out, f"unavailable: {exc}")
        return 1
    if not grab.own_pixels:
        grab.close()
        _say(out, "unavailable: a window manager without compositing may put other windows over the show's")
        return 1
    _say(out, "ready")
    active, due = False, 0.0
    try:
        while True:
            wait = max(0.0, due - time.monotonic()) if active else None
            if select.select([control], [], [], wait)[0]:
                said = os.read(control, 64)
                if not said:
                    return 0
                active = said.endswith(b"1")
                continue
            due = time.monotonic() + period
            grab = _fit(grab)
            requested = grab.request()
            if requested is None:
                continue
            pixels = grab.receive(requested)
            jpeg = encode_jpeg(pixels, quality, width, "bgra")
            del pixels, requested
            out.write(len(jpeg).to_bytes(HEADER, "big") + jpeg)
            out.flush()
    except (GrabError, BrokenPipeError) as exc:
        log.warning("surface preview process: %s", exc)
        return 1
    finally:
        grab.close()


def _fit(grab: WindowGrab) -> WindowGrab:
    """The grab, made again for the window's size when it changed (a resize, fullscreen)."""
    size = grab.window_size()
    if size == grab.size:
        return grab
    grab.close()
    return WindowGrab(None, grab.window, segments=1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vj.surface.preview_process", description=__doc__)
    parser.add_argument("window", type=int, help="the X window's id")
    parser.add_argument("width", type=int)
    parser.add_argument("quality", type=int)
    parser.add_argument("period", type=float)
    args = parser.parse_args(argv)
    lowest()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return serve(args.window, args.width, args.quality, args.period, sys.stdin.fileno(), sys.stdout.buffer)


if __name__ == "__main__":
    sys.exit(main())
