"""Voice and camera in the show, headless on a real EGL context: spoken commands through
mappings/voice.yaml, a spoken prompt blending in, and a video file as the camera changing the
procedural dream's frames."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest

from tests.support.show import make_show, preset, run
from tests.support.video import write_video
from tests.support.waiting import wait_for
from vj.camera import CameraConfig, open_camera
from vj.config.mapping import merge_mappings, parse_mapping
from vj.paths import MAPPING_DIR
from vj.render.textures import read_rgb
from vj.show import default_worker
from vj.vocabulary import ControlEvent, Notice, SpokenPrompt
from vj.voice.listener import VoiceStatus

# the EGL context fixtures of the show tests


def voice_mapping():
    return merge_mappings([parse_mapping(MAPPING_DIR / "default.yaml"), parse_mapping(MAPPING_DIR / "voice.yaml")])


def say(show, command: str) -> None:
    show.events.put(ControlEvent(("voice", command), 1.0, True, None, time.perf_counter(), one_shot=True))


def test_spoken_commands_drive_the_show_through_the_voice_mapping(ctx, target):
    show = make_show(ctx, [preset("a"), preset("b")], mapping=voice_mapping())
    try:
        run(show, target, 2)
        # a preset sets every value: first
        for command in ("preset.next", "zoom.in", "zoom.in", "pan.left", "faster", "freeze"):
            say(show, command)
            run(show, target, 1)
        base = show.state.base
        assert base["zoom"] == pytest.approx(0.30)
        assert base["pan.x"] == pytest.approx(-0.15)
        assert base["speed"] == pytest.approx(1.25)
        assert show.preset.name == "b"
        assert base["freeze"] is True
        say(show, "resume")  # a one-shot: saying it twice works twice, no release needed
        say(show, "blackout")
        run(show, target, 1)
        assert base["freeze"] is False and base["blackout"] == 1.0
        say(show, "lights.on")
        say(show, "stop")
        run(show, target, 1)
        assert base["blackout"] == 0.0 and base["zoom"] == 0.0 and base["pan.x"] == 0.0
    finally:
        show.close()


class HeldKeys:
    """The show's side of the voice link: records the push-to-talk states it is told."""

    def __init__(self) -> None:
        self.held: list[tuple[bool, bool]] = []

    def hold(self, talk: bool, dictate: bool) -> None:
        if not self.held or self.held[-1] != (talk, dictate):
            self.held.append((talk, dictate))

    def status(self) -> VoiceStatus:
        return VoiceStatus("push", False, 0, 0, 0, 0, 0.0, "", "")


def test_push_to_talk_keys_reach_the_voice_thread(ctx, target):
    from vj.vocabulary import key_event

    voice = HeldKeys()
    show = make_show(ctx, mapping=voice_mapping(), voice=voice)
    try:
        run(show, target, 1)
        show.events.put(key_event("M", True))
        run(show, target, 1)
        show.events.put(key_event("M", False))
        show.events.put(key_event("P", True))
        run(show, target, 1)
        show.events.put(key_event("P", False))
        run(show, target, 1)
        assert voice.held == [(False, False), (True, False), (False, True), (False, False)]
    finally:
        show.close()


def test_a_spoken_prompt_blends_in_over_the_transition(ctx, target):
    p = preset("ocean", **{"prompt.transition": 2.0})
    show = make_show(ctx, [p], worker=default_worker)
    try:
        before = run(show, target, 5).reshape(-1, 3).mean(axis=0)
        show.events.put(SpokenPrompt("fire lava inferno flames", "Dream of fire, lava, inferno flames.", 0.0))
        run(show, target, 3)
        assert show.prompts.texts() == (p.prompts[0].text, "fire lava inferno flames")  # the preset's prompt kept
        w1, w2 = show.state.base["prompt.1.weight"], show.state.base["prompt.2.weight"]
        assert 0.0 < w2 < 0.2 and w1 > 0.8  # a blend has begun, not a cut
        run(show, target, 27)  # half way
        mid = show.state.base["prompt.2.weight"]
        assert 0.3 < mid < 0.7
        after = run(show, target, 60).reshape(-1, 3).mean(axis=0)
        assert show.state.base["prompt.2.weight"] == 1.0 and show.state.base["prompt.1.weight"] == 0.0
        assert after[0] > before[0] + 15 and after[0] > after[2] + 20, (before, after)  # fire is red
        # the next spoken prompt takes the other free slot, and the first fades out
        show.events.put(SpokenPrompt("deep ocean underwater waves", "dream of deep ocean underwater waves", 0.0))
        run(show, target, 70)
        assert show.prompts.texts()[1:] == ("fire lava inferno flames", "deep ocean underwater waves")
        assert show.state.base["prompt.3.weight"] == 1.0 and show.state.base["prompt.2.weight"] == 0.0
        blue = read_rgb(target).reshape(-1, 3).mean(axis=0)
        assert blue[2] > blue[0] + 20, blue
    finally:
        show.close()


def test_voice_notices_reach_the_hud(ctx, target):
    show = make_show(ctx, hud=True)
    try:
        show.events.put(Notice("spoken prompts unavailable: model 'tiny.en' is missing"))
        snap = show.update(1 / 30)
        assert any("spoken prompts unavailable" in line for line in show.hud_errors(snap))
    finally:
        show.close()


def bright_square_x(frame: np.ndarray) -> float:
    """The mean column of the pixels far redder than the frame's average: the camera's square."""
    red = frame[:, :, 0].astype(float)
    cols = np.nonzero(red > red.mean() + 50)[1]
    # A dreamed-over square keeps about 1-3% of the frame far redder than average (0.97% seen when the
    # dream tints it most); without the camera no pixel is.
    assert cols.size > 0.005 * red.size, "no square from the camera in the frame"
    return float(cols.mean())


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("camera") / "square.mp4")


def test_a_video_file_as_camera_reaches_the_generator_and_changes_the_frames(ctx, target, video):
    # 4:3 like the video, so the square is never cropped away at the sides
    p = replace(preset("cam", **{"camera.mix": 1.0, "crossfade": 0.0, "zoom": 0.0}), size=(96, 72))
    plain = make_show(ctx, [p], worker=default_worker)
    try:
        without = run(plain, target, 4)
    finally:
        plain.close()
    camera = open_camera(CameraConfig(str(video)))
    try:
        assert wait_for(lambda: camera.latest() is not None, 10.0), camera.status()
        show = make_show(ctx, [p], worker=default_worker, camera=camera, hud=False)
        try:
            first = run(show, target, 4)
            assert np.abs(first.astype(int) - without).mean() > 10  # the camera changed the dream
            # the video's red square is in the picture (dreamed over, so tinted), and it moves
            xs = []
            for _ in range(3):
                time.sleep(0.3)
                xs.append(bright_square_x(run(show, target, 2)))
            assert max(xs) - min(xs) > 10, xs
            show.state.set_base("camera.mix", 0.0, jump=True)
            run(show, target, 2)
            assert show.generator.worker.status().frames > 0
            lines = [line for line in show.hud_lines(show.state.tick(0.0)) if line.startswith("camera")]
            assert lines and lines[0].startswith("camera  video file") and "mix 0.00" in lines[0]
        finally:
            show.close()
    finally:
        camera.stop()
