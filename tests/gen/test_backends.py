"""A diffusion preset whose model is missing: a clear message, and the procedural dream takes over."""

import pytest

from tests.support.waiting import wait_for
from vj.config.preset import Preset, PromptSpec
from vj.gen.base import GenRequest, Prompt
from vj.gen.process import GeneratorProcess
from vj.show import default_worker


@pytest.mark.e2e  # the generator runs in a child process
def test_a_missing_model_says_what_to_do_and_falls_back_to_procedural(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    preset = Preset(name="sd", path="sd.yaml", generator="diffusion", model="sd-turbo", size=(64, 64),
                    prompts=(PromptSpec("a glowing reef", 1.0),))
    worker = default_worker(preset)
    assert isinstance(worker, GeneratorProcess)
    try:
        request = GenRequest(time=0.0, size=(64, 64), prompts=(Prompt("a glowing reef", 1.0),), seed=0,
                             seed_walk=0.0, strength=0.5, feedback=0.5)
        frame = wait_for(lambda: worker.generate_blocking(request, timeout=30), 60, what="a frame")
        status = worker.status()
        assert frame.backend == "procedural" and status.fell_back
        assert "stabilityai/sd-turbo" in status.last_error and "vj models download sd-turbo" in status.last_error
        assert frame.image.shape == (64, 64, 4) and frame.image[..., :3].std() > 5
    finally:
        worker.stop()
