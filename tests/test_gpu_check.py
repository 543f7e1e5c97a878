"""benchmarks/gpu_check.sh --cpu-smoke: the GPU check runs end to end on the CPU with the tiny models.

CI has no GPU, so this proves the script a GPU session will run: every check runs or says why
not, a CUDA-only check is "not run" (ok null), never passed, the JSON is written, and the exit
status says whether everything that ran passed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e

CPU_CHECKS = {
    "host-transfer-cpu", "sd-fp16-vs-fp32", "sd-scheduler-euler-a", "sd-scheduler-lcm", "sd-latent-feedback",
    "sdxl-full-vae",
    *(f"{model}-{what}" for model in ("sd", "sdxl") for what in (
        "frames-finite", "prompt-changes-frame", "seed-changes-frame", "cfg-negative", "prompt-bank-background",
        "pipelined-off")),
}
CUDA_CHECKS = {"sd-compile-graphs", "sdxl-compile-graphs", "sd-pipelined-graphs", "sdxl-pipelined-graphs",
               "sd-compile-compiled-graphs", "sd-compile-reduce-overhead"}
COMPILE_CHECKS = {"sd-compile-default"}  # runs on a CPU, but takes about a minute: the smoke skips it


def gpu_check(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = tmp_path / "x.json"
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    env.update(PYTHON=sys.executable, VJ_WHEELS=str(tmp_path / "no-wheels"))  # never this checkout's .whl/
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--cpu-smoke", "--out", str(out), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert out.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    return done, json.loads(out.read_text())


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    return gpu_check(tmp_path_factory.mktemp("gpu_check"))


def by_name(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in entries}


def test_the_smoke_exits_0_with_a_finished_json(smoke):
    done, report = smoke
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert report["summary"]["finished"] and report["summary"]["failed"] == 0
    assert report["meta"]["mode"] == "cpu-smoke" and report["meta"]["tolerances"]["fp16_mean_levels"] > 0
    assert "done:" in done.stdout and "check sd-frames-finite: ok" in done.stdout  # progress is printed


def test_every_cpu_check_ran_and_passed(smoke):
    checks = by_name(smoke[1]["checks"])
    assert set(checks) == CPU_CHECKS | CUDA_CHECKS | COMPILE_CHECKS
    for name in CPU_CHECKS:
        assert checks[name]["ok"] is True, checks[name]
        assert checks[name]["seconds"] > 0 and checks[name]["detail"]


def test_cuda_only_checks_are_recorded_as_not_run_never_as_passed(smoke):
    checks = by_name(smoke[1]["checks"])
    for name in CUDA_CHECKS:
        assert checks[name]["ok"] is None and checks[name]["detail"] == "not run: no CUDA"
    for name in COMPILE_CHECKS:
        assert checks[name]["ok"] is None and checks[name]["detail"].startswith("not run: --cpu-smoke")


def test_the_speed_section_measures_the_tiny_models_eagerly(smoke):
    speed = smoke[1]["speed"]
    eager = [e for e in speed if e["mode"] == "off" and not e["variant"]]
    assert {e["model"] for e in eager} == {"sd", "sdxl"}
    for e in eager:
        assert e["ok"] is True and e["engine_fps"] > 0 and e["baseline_fps"] > 0, e
        assert e["result"]["compile_resolved"] == "off" and e["result"]["size"] == "64x64"
    graphs = [e for e in speed if e["mode"] in ("graphs", "compiled-graphs")]
    assert graphs and all(e["ok"] is None and e["detail"] == "not run: no CUDA" for e in graphs)


def test_a_spent_budget_skips_every_item_with_a_note(tmp_path):
    done, report = gpu_check(tmp_path, "--budget-s", "0")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    entries = report["checks"] + report["speed"]
    assert entries and all(e["ok"] is None for e in entries)
    assert any(e["detail"].startswith("not run: time budget") for e in entries)


def test_a_run_stopped_at_the_hard_limit_leaves_its_json(tmp_path):
    done, report = gpu_check(tmp_path, "--hard-stop-s", "1")
    assert done.returncode == 1
    assert report["summary"]["finished"] is False
    assert any(note.startswith("stopped: the hard limit") for note in report["notes"])
    stopped = [e for e in report["checks"] + report["speed"] if e["ok"] is False]
    assert len(stopped) == 1 and stopped[0]["detail"].startswith("stopped: still running")
