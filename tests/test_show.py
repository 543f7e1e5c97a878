"""The whole display frame, headless on a real EGL context: keys -> parameters -> generator -> pixels."""

import threading
import time

import numpy as np
import pytest

from tests.support.generators import Flaky, Solid
from tests.support.show import make_show, preset, press, run
from vj.config.mapping import parse_mapping
from vj.config.preset import parse_preset
from vj.config.watch import ConfigWatcher
from vj.gen.worker import GeneratorWorker, GenFrame
from vj.render.textures import read_rgb
from vj.show import Show
from vj.vocabulary import ControlEvent, key_event


def test_procedural_show_renders_a_changing_dream(ctx, target):
    from vj.show import default_worker

    show = make_show(ctx, [preset(zoom=0.2, crossfade=0.1)], worker=default_worker)
    try:
        first = run(show, target, 6)
        later = run(show, target, 15)
        assert first.std() > 5 and later.std() > 5  # a picture, not a flat colour
        assert np.abs(first.astype(int) - later).mean() > 2  # and it moves
        assert show.crossfader.frames_shown >= 5  # one per 0.1 s crossfade
    finally:
        show.close()


def test_keys_drive_parameters_through_the_default_mapping(ctx, target):
    show = make_show(ctx)
    try:
        run(show, target, 1)
        press(show, "EQUAL")
        press(show, "EQUAL")
        press(show, "E")
        show.events.put(key_event("LEFT", True))
        run(show, target, 1)
        assert show.state.base["zoom"] == pytest.approx(0.1 + 0.0)  # preset zoom 0 + two steps
        assert show.state.base["rotate"] == 5.0
        assert show.state.base["pan.x"] == -0.25
        show.events.put(key_event("LEFT", False))
        press(show, "R")
        run(show, target, 1)
        assert show.state.base["pan.x"] == 0.0 and show.state.base["zoom"] == 0.0
    finally:
        show.close()


def test_blackout_fades_to_exact_black_and_back(ctx, target):
    show = make_show(ctx)
    try:
        assert run(show, target, 3).max() > 0
        press(show, "B")
        assert run(show, target, 60).max() == 0  # 2 s: the 0.15 s fade is long over
        press(show, "B")
        assert run(show, target, 60).max() > 0
    finally:
        show.close()


def test_freeze_holds_the_picture_while_motion_is_on(ctx, target):
    show = make_show(ctx, [preset(zoom=0.5, rotate=30.0)], worker=lambda p: GeneratorWorker(Stripes).start())
    try:
        run(show, target, 20)
        press(show, "SPACE")
        held = run(show, target, 1)
        assert np.array_equal(run(show, target, 10), held)
        press(show, "SPACE")
        assert not np.array_equal(run(show, target, 10), held)
    finally:
        show.close()


class Stripes(Solid):
    """Vertical stripes, so motion is visible."""

    name = "stripes"

    def generate(self, req):
        x = np.arange(req.size[0])
        row = np.where((x // 8) % 2 == 0, 230, 20).astype(np.uint8)
        return np.repeat(np.repeat(row[None, :, None], req.size[1], 0), 3, 2)


def test_number_keys_switch_presets(ctx, target):
    show = make_show(ctx, [preset("a", zoom=0.1), preset("b", zoom=-0.3, strength=0.9)])
    try:
        press(show, "2")
        run(show, target, 1)
        assert show.preset.name == "b"
        assert show.state.base["zoom"] == -0.3 and show.state.base["strength"] == 0.9
        press(show, "9")  # there is no tenth preset: a notice, no change
        run(show, target, 1)
        assert show.preset.name == "b"
        assert any("no preset number 8" in e for e in show.hud_errors(show.state.tick(0.0)))
    finally:
        show.close()


def test_a_generator_that_raises_keeps_frames_flowing(ctx, target):
    fail = threading.Event()

    def worker(p):
        return GeneratorWorker(lambda: Flaky(fail), fallbacks=[Solid], max_faults=3,
                               backoff=(0.01, 0.02)).start()

    show = make_show(ctx, [preset(seed=200, crossfade=0.0)], worker=worker)
    show.generator.lockstep = False  # live mode: the render loop never waits for the generator
    try:
        deadline = time.monotonic() + 15
        while show.generator.worker.status().frames == 0 and time.monotonic() < deadline:
            show.frame(1 / 60, target)
        good = run(show, target, 2, dt=1 / 60)
        assert good.mean() == pytest.approx(200, abs=2)
        fail.set()
        shown = show.crossfader.frames_shown
        deadline = time.monotonic() + 15
        while not show.generator.worker.status().fell_back and time.monotonic() < deadline:
            show.frame(1 / 60, target)
            assert read_rgb(target).mean() == pytest.approx(200, abs=2)  # the last frame stays on screen
        status = show.generator.worker.status()
        assert status.fell_back and status.faults == 3 and "illegal memory access" in status.last_error
        deadline = time.monotonic() + 15
        while show.crossfader.frames_shown == shown and time.monotonic() < deadline:
            show.frame(1 / 60, target)
        assert show.crossfader.frames_shown > shown  # the fallback's frames arrive
        assert any("illegal memory access" in e for e in show.hud_errors(show.state.tick(0.0)))
    finally:
        show.close()


def frame(grey: int) -> GenFrame:
    return GenFrame(np.full((64, 64, 3), grey, np.uint8), None, 0.0, "test", 0)  # type: ignore[arg-type]


def draw_after(show: Show, target, seconds: float) -> np.ndarray:
    show.draw(target, show.state.tick(seconds))
    return read_rgb(target)


def test_a_frame_arriving_mid_crossfade_waits_its_turn_without_a_pop(ctx, target):
    show = make_show(ctx)
    show.state.set_base("crossfade", 1.0, jump=True)
    show.state.set_base("crossfade.curve", "linear", jump=True)
    try:
        show.accept_frame(frame(40))
        draw_after(show, target, 2.0)
        show.accept_frame(frame(70))
        before = draw_after(show, target, 0.3)  # 30% of the way from 40 to 70
        assert before.mean() == pytest.approx(49, abs=1)
        show.accept_frame(frame(90))  # arrives mid-fade: waits...
        show.accept_frame(frame(100))  # ...and a newer one replaces it (latest wins)
        assert draw_after(show, target, 0.0).mean() == pytest.approx(before.mean(), abs=0.5)  # no pop
        assert draw_after(show, target, 0.5).mean() == pytest.approx(64, abs=1)  # the running fade goes on
        assert draw_after(show, target, 0.2).mean() == pytest.approx(70, abs=1)  # done: 100 starts from 0%
        assert draw_after(show, target, 0.5).mean() == pytest.approx(85, abs=1)
        assert draw_after(show, target, 0.5).mean() == pytest.approx(100, abs=1)
        assert show.crossfader.frames_shown == 3 and show.crossfader.frames_skipped == 1
    finally:
        show.close()


def test_a_frame_arriving_after_the_fade_was_shortened_replaces_the_waiting_one(ctx, target):
    """Found by `vj bench soak`: a frame waiting its turn, the fade made shorter (a preset switch)
    so it is complete before the waiting frame started, then a new frame: all three upload slots
    were taken and the frame failed (StopIteration). The newer frame replaces the waiting one."""
    show = make_show(ctx)
    show.state.set_base("crossfade", 1.0, jump=True)
    show.state.set_base("crossfade.curve", "linear", jump=True)
    try:
        show.accept_frame(frame(40))
        draw_after(show, target, 2.0)
        show.accept_frame(frame(70))
        draw_after(show, target, 0.3)
        show.accept_frame(frame(90))  # waits its turn
        show.state.set_base("crossfade", 0.0, jump=True)
        show.state.tick(0.0)  # the fade is complete now; the waiting frame has not started
        show.accept_frame(frame(100))
        assert draw_after(show, target, 0.0).mean() == pytest.approx(100, abs=1)
        assert show.crossfader.frames_skipped == 1 and show.crossfader.pending is None
    finally:
        show.close()


def test_a_bad_live_edit_keeps_the_old_mapping(ctx, target, tmp_path):
    path = tmp_path / "live.yaml"
    path.write_text("bindings:\n  - {key: A, param: strength, mode: trigger, value: 0.9}\n")
    show = make_show(ctx, mapping=parse_mapping(path))
    watcher = ConfigWatcher(show.events)
    watcher.watch(path, parse_mapping)
    try:
        time.sleep(0.01)
        path.write_text("bindings:\n  - {key: A, param: strenght, mode: trigger, value: 0.9}\n")
        watcher.poll()
        press(show, "A")
        run(show, target, 1)
        assert show.state.base["strength"] == 0.9  # the old binding still works
        errors = show.hud_errors(show.state.tick(0.0))
        assert any(f"{path}:2: bindings[0].param: unknown parameter 'strenght'" in e for e in errors)
        path.write_text("bindings:\n  - {key: A, param: strength, mode: trigger, value: 0.2}\n\n")
        watcher.poll()
        press(show, "A")
        run(show, target, 1)
        assert show.state.base["strength"] == 0.2  # the fixed edit is live
        assert not show.notices.errors
    finally:
        show.close()


def test_a_live_preset_edit_applies_to_the_running_preset(ctx, target, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: live\nsize: 64x64\nparams: {zoom: 0.1}\nprompts: [a]\n")
    show = make_show(ctx, [parse_preset(path)])
    watcher = ConfigWatcher(show.events)
    watcher.watch(path, parse_preset)
    try:
        time.sleep(0.01)
        path.write_text("name: live\nsize: 64x64\nparams: {zoom: 0.7}\nprompts: [a]\n")
        watcher.poll()
        run(show, target, 1)
        assert show.state.base["zoom"] == 0.7
        path.write_text("name: live\nsize: 64x64\nparams: {zoom: 70}\nprompts: [a]\n")
        watcher.poll()
        run(show, target, 1)
        assert show.state.base["zoom"] == 0.7
        assert any(":3: params.zoom: expected a value in -2..2, got 70" in e for e in show.notices.errors.values())
    finally:
        show.close()


def test_unknown_sources_and_garbage_values_change_nothing(ctx, target):
    show = make_show(ctx)
    try:
        run(show, target, 1)
        before = dict(show.state.base)
        show.events.put(ControlEvent(("midi", "nowhere", 1, "cc", 7), 0.3))
        show.events.put(ControlEvent(("key", "NOT_A_KEY"), float("nan")))
        run(show, target, 1)
        assert show.state.base == before and show.engine.unmapped == 2
    finally:
        show.close()


def test_hud_shows_rates_and_values(ctx, target):
    show = make_show(ctx, hud=True)
    try:
        plain = make_show(ctx)
        with_hud = run(show, target, 5)
        without = run(plain, target, 5)
        plain.close()
        lines = show.hud_lines(show.state.tick(0.0))
        assert lines[0].startswith("vj  display") and "gen" in lines[0]
        assert any("zoom" in line for line in lines)
        assert np.abs(with_hud.astype(int) - without).sum() > 0
    finally:
        show.close()



def test_the_seed_walks_per_second_or_per_beat(ctx, target):
    show = make_show(ctx, [preset(**{"seed.rate": 0.5, "crossfade": 0.0})])
    try:
        run(show, target, 30, dt=1 / 30)  # 1 s at 0.5 seeds/s
        assert show.state.base["seed.walk"] == pytest.approx(0.5, abs=0.02)
        show.state.set_base("seed.sync", True)
        show.state.set_base("bpm", 120.0, jump=True)
        run(show, target, 30, dt=1 / 30)  # 1 s = 2 beats at 0.5 seeds/beat
        assert show.state.base["seed.walk"] == pytest.approx(1.5, abs=0.05)
    finally:
        show.close()


def test_a_stand_in_keeps_the_screen_alive_while_the_backend_starts(ctx, target):
    release = threading.Event()

    class SlowStart(Solid):
        def generate(self, req):
            release.wait(10)  # a model loading
            return super().generate(req)

    show = make_show(ctx, [preset(seed=200, crossfade=0.0)], worker=lambda p: GeneratorWorker(SlowStart).start())
    show.generator.lockstep = False
    try:
        screen = run(show, target, 10)
        assert screen.std() > 5  # the stand-in gradient, not black
        assert any("stand-in" in e for e in show.hud_errors(show.state.tick(0.0)))
        release.set()
        deadline = time.monotonic() + 15
        while show.generator.worker.status().frames == 0 and time.monotonic() < deadline:
            show.frame(1 / 30, target)
            time.sleep(0.01)
        screen = run(show, target, 5)
        assert screen.mean() == pytest.approx(200, abs=2) and screen.std() < 2  # the backend's own frame
    finally:
        release.set()
        show.close()
