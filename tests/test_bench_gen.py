"""`vj bench gen` on the tiny model: every figure there, sane and consistent with the others.

Real diffusers pipelines, no mocks, a few frames per side. No time is asserted (shared machines
are too noisy): only that each figure was measured and agrees with the figures it is made of.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from tests.support.vj_process import vj
from vj.bench.gen import GenBenchOptions, bench_gen
from vj.gen.diffusion import STAGES

# diffusers' scheduler constructors trip a numpy 2 deprecation inside diffusers itself.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

SIDES = ("engine", "baseline", "baseline_same_vae")
KEYS = {
    "benchmark", "same_vae_baseline", "ratio", "ratio_same_vae", "stages_ms", "warmup_s", "compile_mode",
    "compile_resolved", "degraded", "device", "device_name", "dtype", "model", "size", "steps", "strength",
    "baseline_inference_steps", "vae", "feedback_space", "fuse_qkv", "channels_last", "frames", "torch", "diffusers",
    *(f"{side}_{figure}" for side in SIDES for figure in ("fps", "ms_p50", "ms_p99")),
}


def positive(value: Any) -> bool:
    return isinstance(value, float | int) and not isinstance(value, bool) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def default() -> dict[str, Any]:
    return bench_gen(GenBenchOptions(frames=5, device="cpu"))


@pytest.fixture(scope="module")
def full_vae() -> dict[str, Any]:
    return bench_gen(GenBenchOptions(frames=4, device="cpu", vae="full"))


def test_every_figure_is_there_and_measured(default: dict[str, Any]) -> None:
    r = default
    assert set(r) == KEYS
    assert json.loads(json.dumps(r)) == r  # plain JSON values only
    for side in SIDES:
        fps, p50, p99 = (r[f"{side}_{figure}"] for figure in ("fps", "ms_p50", "ms_p99"))
        assert positive(fps) and positive(p50) and positive(p99)
        assert p99 >= p50
        assert fps == pytest.approx(1000.0 / p50, rel=1e-3)
    assert positive(r["warmup_s"]) and r["frames"] == 5  # 5 frames split over the blocks, none lost
    assert r["benchmark"] == "gen" and r["device"] == "cpu" and r["dtype"] == "float32" and r["model"] == "tiny"
    assert r["size"] == "64x64" and r["steps"] == 1 and r["strength"] == 0.5
    assert r["baseline_inference_steps"] == 2  # 2 inference steps at strength 0.5: one UNet call, as the engine
    assert r["vae"] == "taesd" and r["feedback_space"] == "pixels" and r["fuse_qkv"] is False
    assert r["channels_last"] is True
    assert isinstance(r["torch"], str) and isinstance(r["diffusers"], str) and isinstance(r["device_name"], str)


def test_the_ratios_are_the_fps_figures_divided(default: dict[str, Any]) -> None:
    r = default
    assert r["ratio"] == pytest.approx(r["engine_fps"] / r["baseline_fps"], rel=2e-3)
    assert r["ratio_same_vae"] == pytest.approx(r["engine_fps"] / r["baseline_same_vae_fps"], rel=2e-3)


def test_the_engine_stages_come_from_an_eager_profiled_engine(default: dict[str, Any]) -> None:
    r = default
    assert r["compile_mode"] == "off" and r["compile_resolved"] == "off" and r["degraded"] is None
    assert set(r["stages_ms"]) == {"text", "encode", "unet", "decode", "copy", "overhead", "total"}
    assert set(r["stages_ms"]) - {"total"} <= set(STAGES)
    assert all(ms >= 0 for ms in r["stages_ms"].values()) and r["stages_ms"]["total"] > 0


def test_the_same_vae_baseline_decodes_with_taesd_by_default(default: dict[str, Any]) -> None:
    assert default["same_vae_baseline"] == "taesd"


def test_a_full_vae_engine_is_compared_with_the_plain_pipeline_itself(full_vae: dict[str, Any]) -> None:
    r = full_vae
    assert r["vae"] == "full" and r["same_vae_baseline"] == "full"
    for figure in ("fps", "ms_p50", "ms_p99"):
        assert r[f"baseline_same_vae_{figure}"] == r[f"baseline_{figure}"]
    assert r["ratio_same_vae"] == r["ratio"] and positive(r["ratio"])


def test_a_graph_mode_on_the_cpu_runs_eagerly_with_the_other_engine_options() -> None:
    r = bench_gen(GenBenchOptions(frames=4, device="cpu", compile="graphs", feedback="latents", fuse_qkv=True,
                                  channels_last=False))
    assert r["compile_mode"] == "graphs" and r["compile_resolved"] == "off"
    assert r["feedback_space"] == "latents" and r["fuse_qkv"] is True and r["channels_last"] is False
    assert positive(r["engine_fps"]) and positive(r["ratio_same_vae"]) and r["frames"] == 4


@pytest.mark.e2e
def test_the_command_prints_one_json_object() -> None:
    result = vj("bench", "gen", "--json", "--frames", "4", "--device", "cpu", "--compile", "auto")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    r = json.loads(lines[0])
    assert set(r) == KEYS and r["frames"] == 4 and positive(r["ratio_same_vae"])
    assert r["compile_mode"] == "auto" and r["compile_resolved"] == "off"  # auto: graphs on CUDA only
