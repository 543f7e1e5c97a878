"""The show with its generators in child processes (the way `vj run` plays): the HUD names a
fault and the restart, the last frame stays, and a diffusion model loading is covered by the
procedural dream until its first frame."""

from __future__ import annotations

import os
import signal
import time

import pytest

from vj.config.mapping import parse_mapping
from vj.config.preset import Preset, PromptSpec
from vj.gen.handover import Handover
from vj.gen.process import GeneratorProcess
from vj.paths import MAPPING_DIR
from vj.proc.supervisor import supervisor
from vj.render.textures import read_rgb
from vj.show import Show, ShowLinks

pytestmark = pytest.mark.e2e  # the supervisor's child processes


def preset(name: str, **kw) -> Preset:
    return Preset(name=name, path=f"{name}.yaml", size=(64, 64), max_fps=0.0, crossfade=0.0,
                  prompts=(PromptSpec("glowing nebula over a neon city", 1.0),), params={"zoom": 0.2}, **kw)


def play(show: Show, target, until, timeout: float = 90.0, what: str = "condition"):  # noqa: F811
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        show.frame(1 / 60, target)
        value = until()
        if value:
            return value
        time.sleep(1 / 60)
    raise AssertionError(f"timed out waiting for {what}; HUD: {show.hud_errors(show.state.tick(0.0))}")


def hud(show: Show) -> str:
    snap = show.state.tick(0.0)
    return "\n".join(show.hud_lines(snap) + show.hud_errors(snap))


def test_kill_9_of_the_generator_is_named_in_the_hud_and_the_picture_stays(ctx, target):  # noqa: F811
    show = Show(ctx, [preset("procedural")], parse_mapping(MAPPING_DIR / "default.yaml"),
                links=ShowLinks(processes=supervisor()))
    try:
        worker = show.generator.worker
        assert isinstance(worker, GeneratorProcess)
        play(show, target, lambda: show.crossfader.frames_shown >= 3, what="procedural frames")
        pid = worker.pid
        os.kill(pid, signal.SIGKILL)
        play(show, target, lambda: worker.status().restarts >= 1, what="the restart")
        assert "generator: procedural: killed by SIGKILL" in hud(show)
        play(show, target, lambda: "procedural ready (restarts 1)" in hud(show), what="the procs line")
        assert read_rgb(target).std() > 5  # the last frame, still moving with the camera: not black
        shown = show.crossfader.frames_shown
        play(show, target, lambda: show.crossfader.frames_shown > shown + 3, what="frames from the new process")
        assert worker.pid != pid and not worker.status().fell_back
    finally:
        show.close()


def test_a_diffusion_model_loads_behind_the_procedural_dream(ctx, target):  # noqa: F811
    tiny = preset("tiny", generator="diffusion", model="tiny", steps=1, vae="full")
    show = Show(ctx, [preset("procedural"), tiny], parse_mapping(MAPPING_DIR / "default.yaml"))
    try:
        play(show, target, lambda: show.crossfader.frames_shown >= 2, what="procedural frames")
        show.action("preset.select", 1)
        show.frame(1 / 60, target)
        assert isinstance(show.generator.worker, Handover)
        shown = show.crossfader.frames_shown
        play(show, target, lambda: "loads" in hud(show), timeout=10, what="the loading line")
        assert "procedural while tiny loads" in hud(show)
        play(show, target, lambda: show.crossfader.frames_shown > shown + 3, timeout=10, what="frames meanwhile")
        # the old generator dreamed on meanwhile; then the model's first frame takes over
        def model_plays() -> bool:
            status = show.generator.worker.status()
            return status.interim == "" and status.frames > 0

        play(show, target, model_plays, what="the model's first frame")
        assert "tiny" in show.generator.worker.status().backend and "loads" not in hud(show)
    finally:
        show.close()
