"""The `vj` command as a user runs it: real processes, real files, a real X display."""

import json
import os
import time

import numpy as np
import pytest

from tests.support.display import press, screen_until, wait_for_window
from tests.support.netns import isolated, ndi_config
from tests.support.vj_process import ROOT, VJ, Log, vj, vj_run
from vj.params import REGISTRY
from vj.paths import MAPPING_DIR, PRESET_DIR
from vj.render.recorder import read_video

pytestmark = pytest.mark.e2e


def test_check_accepts_every_shipped_file():
    files = sorted(map(str, PRESET_DIR.glob("*.yaml"))) + sorted(map(str, MAPPING_DIR.glob("*.yaml")))
    result = vj("check", *files)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok: ") == len(files)


def test_check_names_file_line_and_key_and_fails(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Broken\nparams:\n  zoom: 9\n  feedbak: 0.5\n")
    good = PRESET_DIR / "1-endless-dreams.yaml"
    result = vj("check", str(good), str(bad))
    assert result.returncode == 1
    assert f"{bad}:3: params.zoom: expected a value in -2..2, got 9" in result.stderr
    assert f"{bad}:4: params.feedbak: unknown parameter" in result.stderr
    assert f"ok: {good}" in result.stdout


def test_params_lists_every_parameter_with_its_range():
    result = vj("params")
    assert result.returncode == 0
    for spec in REGISTRY:
        line = next(line for line in result.stdout.splitlines() if line.split()[0] == spec.name)
        assert spec.range_text() in line and spec.description in line


def test_render_writes_a_moving_deterministic_video(tmp_path):
    outs = [tmp_path / "a.mp4", tmp_path / "b.mp4"]
    for out in outs:
        result = vj("render", "--preset", "neon-tunnel", "--seconds", "1", "--fps", "12", "--size", "160x96",
                    "--out", str(out))
        assert result.returncode == 0, result.stderr
        assert f"wrote {out}: 12 frames, 160x96" in result.stdout
    count, size, frames = read_video(outs[0])
    assert count == 12 and size == (160, 96)
    assert all(f.std() > 5 for f in frames)  # a picture on every frame, not black
    changes = [np.abs(a.astype(int) - b).mean() for a, b in zip(frames, frames[1:])]
    assert min(changes) > 0.5  # it moves all the time
    _, _, again = read_video(outs[1])
    assert all(np.array_equal(a, b) for a, b in zip(frames, again))  # fixed seed -> the same video


def test_run_without_a_display_points_to_render():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = vj("run", env=env, timeout=60)
    assert result.returncode == 1
    assert "no display" in result.stderr.lower() and "vj render" in result.stderr


def test_run_opens_a_window_and_quits_on_escape(xvfb_display: str, tmp_path):
    env = {**os.environ, "DISPLAY": xvfb_display}
    with vj_run(env, "--hud", "--seconds", "60") as proc:
        window = wait_for_window(env, proc)
        screen_until(env, tmp_path / "screen.png", lambda px: px.std() > 5, what="the dream on screen")
        press(env, window, "Escape")
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "preset 0: Endless Dreams" in out



def test_a_missing_shader_is_named(tmp_path):
    env = {**os.environ, "VJ_SHADER_DIR": str(tmp_path)}
    result = vj("render", "--seconds", "0.1", "--fps", "10", "--size", "64x64", "--out", str(tmp_path / "x.mp4"),
                env=env)
    assert result.returncode == 2
    assert f"vj: shader file not found: {tmp_path}/" in result.stderr


def test_an_unknown_preset_lists_the_shipped_ones(tmp_path):
    result = vj("render", "--preset", "nope", "--out", str(tmp_path / "x.mp4"))
    assert result.returncode == 2
    assert "no such file or shipped name: 'nope'" in result.stderr and "neon-tunnel" in result.stderr


def test_devices_lists_the_monitor(xvfb_display: str, tmp_path):
    # In a loopback-only namespace: `vj devices` also looks for NDI sources, by multicast.
    env = {**os.environ, "DISPLAY": xvfb_display, "NDI_CONFIG_DIR": str(ndi_config(tmp_path))}
    result = isolated([*VJ, "devices"], env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "0: screen  1920x1080" in result.stdout


def test_bench_render_prints_one_json_object():
    result = vj("bench", "render", "--json", "--seconds", "2")  # enough frames for a crossfade to end at 1080p
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for size in ("1280x720", "1920x1080"):
        case = report["cases"][size]
        assert all(case[name]["frames"] > 0 for name in ("none", "busy_process", "busy_thread"))
        assert case["none"]["generated_frames_shown"] == 0 and case["busy_process"]["generated_frames_shown"] > 0
        assert case["p99_ratio"] == pytest.approx(case["busy_process"]["p99_ms"] / case["none"]["p99_ms"], abs=1e-3)
    assert report["p99_ratio"] == max(c["p99_ratio"] for c in report["cases"].values())


def test_bench_live_prints_the_issue_keys_and_sees_the_generator():
    result = vj("bench", "live", "--json", "--seconds", "1.5", "--size", "64x64", "--steps", "1", timeout=600)
    assert result.returncode == 0, result.stderr
    r = json.loads(result.stdout)
    assert r["gen_fps_alone"] > 0 and r["gen_fps_show"] > 0 and r["gen_fps_thread"] > 0
    assert r["gen_ratio"] == pytest.approx(r["gen_fps_show"] / r["gen_fps_alone"], abs=2e-3)
    assert r["display_p99_ratio"] == pytest.approx(r["display_p99_ms_gen"] / r["display_p99_ms_none"], abs=2e-3)
    assert 0 < r["display_fps"] <= r["display_cap"] * 1.02  # capped: no spinning loop
    assert r["cases"]["none"]["gen_fps"] == 0 and r["size"] == "64x64" and r["threads"] >= 1


def test_the_parameter_docs_are_up_to_date():
    result = vj("params", "--markdown")
    docs = (ROOT / "docs" / "params.md").read_text()
    assert result.stdout in docs, "docs/params.md is stale: regenerate it with `vj params --markdown`"


def test_the_osc_address_table_is_up_to_date_and_lists_every_parameter():
    result = vj("osc", "--markdown")
    docs = (ROOT / "docs" / "osc.md").read_text()
    assert result.stdout in docs, "docs/osc.md is stale: regenerate its table with `vj osc --markdown`"
    rows = [line.split(" | ") for line in result.stdout.splitlines()[2:]]
    listed = {row[0].strip("| `") for row in rows}
    assert {f"/vj/param/{spec.name}" for spec in REGISTRY} | {"/vj/tap", "/vj/preset", "/vj/prompt/3/text"} <= listed
    zoom = next(row for row in rows if row[0] == "| `/vj/param/zoom`")
    assert zoom[1:3] == ["f", "-2..2"]


def test_run_reloads_an_edited_mapping_and_survives_a_broken_edit(xvfb_display: str, tmp_path):
    mapping = tmp_path / "live.yaml"
    mapping.write_text("bindings:\n  - {key: ESCAPE, action: hud}\n")  # ESCAPE does not quit yet
    env = {**os.environ, "DISPLAY": xvfb_display}
    with vj_run(env, "--mapping", str(mapping), "--seconds", "60") as proc:
        log = Log(proc)
        window = wait_for_window(env, proc)
        mapping.write_text("bindings:\n  - {key: ESCAPE, action: quitt}\n")  # a typo: keep the old mapping
        log.expect(f"{mapping}:2: bindings[0].action: unknown action 'quitt'", timeout=20)
        press(env, window, "Escape")
        time.sleep(1.0)  # time to quit, if ESCAPE did quit: it must not
        assert proc.poll() is None  # still running: ESCAPE still only toggles the HUD
        mapping.write_text("bindings:\n  - {key: ESCAPE, action: quit}\n")
        log.expect(f"reloaded {mapping}", timeout=20)
        press(env, window, "Escape")
        proc.wait(timeout=20)
        out = log.join()
    assert proc.returncode == 0, out


def test_render_with_the_tiny_diffusion_preset_writes_diffusion_frames(tmp_path):
    out = tmp_path / "tiny.mp4"
    result = vj("render", "--preset", "tiny-diffusion", "--seconds", "1", "--fps", "6", "--size", "128x72",
                "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "(fallback)" not in result.stderr  # the diffusion backend itself made the frames
    count, size, frames = read_video(out)
    assert count == 6 and size == (128, 72)
    assert all(f.std() > 10 for f in frames)
    assert np.abs(frames[0].astype(int) - frames[-1]).mean() > 1  # the feedback loop moves
