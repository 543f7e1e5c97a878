"""`vj render`: the same show, headless, on a simulated clock, into an mp4.

Generation runs in lockstep with the simulated clock (the render waits for each
frame), so a render is deterministic for a fixed seed, whatever the machine's speed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from vj.session import load_session
from vj.show import Show

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderOptions:
    out: Path
    preset: str | None = None
    mapping: tuple[str, ...] = ()  # added to the default mapping (their LFOs apply)
    seconds: float = 10.0
    fps: int = 30
    size: tuple[int, int] = (1280, 720)
    hud: bool = False


def render_video(options: RenderOptions) -> int:
    from vj.render.context import create_headless_context
    from vj.render.recorder import VideoRecorder
    from vj.render.textures import read_rgb

    loaded = load_session(options.preset, options.mapping)
    ctx = create_headless_context()
    show = Show(ctx, loaded.presets, loaded.mappings, preset_index=loaded.index, lockstep=True, hud=options.hud)
    target = ctx.framebuffer(color_attachments=[ctx.texture(options.size, 3)])
    count = max(1, round(options.seconds * options.fps))
    try:
        with VideoRecorder(options.out, options.size, options.fps) as recorder:
            for index in range(count):
                show.frame(1.0 / options.fps, target)
                recorder.write(read_rgb(target))
                if index % max(1, options.fps) == 0:
                    log.info("rendered %d/%d frames", index, count)
    finally:
        show.close()
    print(f"wrote {options.out}: {count} frames, {options.size[0]}x{options.size[1]} at {options.fps} fps "
          f"(preset {show.preset.name})")
    return 0
