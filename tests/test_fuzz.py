"""Every parser at vj's edge fed hostile input (vj.bench.fuzz) at a modest count, and the bugs the
fuzzer found, each kept as a regression test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vj.bench.fuzz import bench_fuzz
from vj.config.library import check_file
from vj.config.source import ConfigError

COUNTS = {"yaml": 400, "osc": 50_000, "osc-server": 5_000, "http": 150, "midi": 50_000, "audio": 600, "camera": 8}


@pytest.mark.parametrize("target", list(COUNTS))
def test_no_parser_at_the_edge_raises_on_hostile_input(target: str) -> None:
    result = bench_fuzz([target], COUNTS[target], seed=11)
    figures = result[target]
    assert figures["cases"] == COUNTS[target]
    assert figures["failed"] == 0, "\n\n".join(figures["failures"])


def test_the_fuzzer_sees_what_it_guards_against() -> None:
    """Hostile input mostly gets refused (a fuzzer whose cases all pass cleanly tests nothing)."""
    result = bench_fuzz(["yaml", "osc", "midi"], 300, seed=3)
    assert result["yaml"]["rejected"] > 100
    assert result["osc"]["rejected"] > 100
    assert result["midi"]["invalid"] > 100


def test_a_preset_that_is_not_utf8_names_its_file_and_line(tmp_path: Path) -> None:
    """Found by the fuzzer: bytes that are not UTF-8 raised UnicodeDecodeError out of `vj check`."""
    folder = tmp_path / "presets"
    folder.mkdir()
    path = folder / "broken.yaml"
    path.write_bytes(b"name: broken\ngenerator: procedural\nprompts:\n  - caf\xe9 lights\n")
    with pytest.raises(ConfigError) as caught:
        check_file(path)
    [problem] = caught.value.problems
    assert (problem.file, problem.line) == (str(path), 4)
    assert "not UTF-8 text: byte 0xe9" in problem.message
    done = subprocess.run([sys.executable, "-m", "vj", "check", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{path}:4: not UTF-8 text" in done.stderr


def test_a_control_character_in_yaml_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "presets" / "ctrl.yaml"
    path.parent.mkdir()
    path.write_text("name: x\ngenerator: procedural\nprompts: [a\x07b]\n")
    with pytest.raises(ConfigError) as caught:
        check_file(path)
    [problem] = caught.value.problems
    assert problem.line == 3 and "is not allowed" in problem.message


def test_a_model_name_too_long_for_the_file_system_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    """Found by the fuzzer: a 5,000-character model name raised OSError (file name too long)."""
    path = tmp_path / "presets" / "long.yaml"
    path.parent.mkdir()
    path.write_text("name: long\ngenerator: diffusion\nmodel: " + "x" * 5000 + "\nprompts: [a]\n")
    with pytest.raises(ConfigError) as caught:
        check_file(path)
    assert any(p.key == "model" and "cannot look up" in p.message and p.line == 3 for p in caught.value.problems)


def test_a_video_file_whose_frames_are_all_damaged_says_so(tmp_path: Path) -> None:
    """Found by the fuzzer: a file whose frames were zeroed opened, said "playing" and showed
    nothing, forever; now its status names the file and says no frame decodes."""
    from tests.support.waiting import wait_for
    from vj.bench.fuzz import _video
    from vj.camera import CameraConfig, CameraInput

    good = _video(tmp_path / "good.mp4")
    assert good.index(b"moov") > good.index(b"mdat")  # the index last: its sample tables end the file
    path = tmp_path / "zeroed.mp4"
    path.write_bytes(good[:-200] + bytes(200))  # the sample tables zeroed: a stream, no frames
    camera = CameraInput(CameraConfig(str(path))).start()
    try:
        wait_for(lambda: "could be decoded" in camera.status().message, 5.0,
                 what=lambda: f"the damage reported: {camera.status()}")
        status = camera.status()
        assert "zeroed.mp4" in status.message and not status.connected and status.frames == 0
    finally:
        camera.stop()
