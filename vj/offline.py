"""`vj render`: the same show, headless, on a simulated clock, into an mp4.

Generation runs in lockstep with the simulated clock (the render waits for each
frame), so a render is deterministic for a fixed seed, whatever the machine's speed.

With `--audio FILE` the file is analysed by the live show's own analysis (vj.audio.offline) and
the frame shown at video time t gets the features as of t and the events since the previous
frame, through the same slot the live analysis thread fills; the sound is muxed into the mp4.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from vj.audio.analysis import AnalysisConfig
from vj.audio.feed import AudioSlot
from vj.audio.offline import AudioFileError, analyze_samples, load_audio
from vj.gen.process import process_workers
from vj.session import load_session
from vj.show import Show, ShowLinks, ShowOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderOptions:
    out: Path
    preset: str | None = None
    mapping: tuple[str, ...] = ()  # added to the default mapping (their LFOs apply)
    seconds: float | None = 10.0  # None: as long as the audio
    fps: int = 30
    size: tuple[int, int] = (1280, 720)
    hud: bool = False
    audio: Path | None = None  # a sound file the video reacts to (and carries)
    analysis: AnalysisConfig = AnalysisConfig()
    compile: str | None = None  # diffusion compile mode over the presets' (vj.catalogue.COMPILE_MODES)


def render_video(options: RenderOptions) -> int:
    from vj.render.context import create_headless_context
    from vj.render.recorder import VideoRecorder
    from vj.render.textures import read_rgb

    loaded = load_session(options.preset, options.mapping)
    samples, track = None, None
    if options.audio is not None:
        try:
            samples = load_audio(options.audio, options.analysis.sample_rate)
        except AudioFileError as exc:
            print(f"vj render: {exc}", file=sys.stderr)
            return 1
        track = analyze_samples(samples, options.analysis, str(options.audio))
        log.info("analysed %s: %.1f s, %d beats (%s beat tracker)", options.audio, track.duration,
                 sum(1 for _, name in track.events if name == "beat"), track.tracker)
    ctx = create_headless_context()
    slot = AudioSlot() if track is not None else None
    show = Show(ctx, loaded.presets, loaded.mappings, links=ShowLinks(audio=slot),
                options=ShowOptions(preset_index=loaded.index, lockstep=True, hud=options.hud,
                                    worker_factory=process_workers(compile=options.compile)))
    target = ctx.framebuffer(color_attachments=[ctx.texture(options.size, 3)])
    seconds = options.seconds if options.seconds is not None else (track.duration if track is not None else 10.0)
    count = max(1, round(seconds * options.fps))
    try:
        with VideoRecorder(options.out, options.size, options.fps) as recorder:
            if samples is not None:
                recorder.add_audio(samples[: round(count / options.fps * options.analysis.sample_rate)],
                                   options.analysis.sample_rate)
            for index in range(count):
                if slot is not None and track is not None:
                    slot.put(track.at(index / options.fps))
                show.frame(1.0 / options.fps, target)
                recorder.write(read_rgb(target))
                if index % max(1, options.fps) == 0:
                    log.info("rendered %d/%d frames", index, count)
    finally:
        show.close()
    sound = f", with the sound of {options.audio}" if options.audio else ""
    print(f"wrote {options.out}: {count} frames, {options.size[0]}x{options.size[1]} at {options.fps} fps "
          f"(preset {show.preset.name}){sound}")
    return 0
