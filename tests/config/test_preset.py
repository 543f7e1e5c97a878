from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from vj.config.preset import PERFORMANCE_PARAMS, parse_preset
from vj.config.source import ConfigError
from vj.paths import PRESET_DIR


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    if "prompts" not in text:
        text += "prompts: [a glowing test prompt]\n"  # appended, so the lines above keep their numbers
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_preset(path)
    return [str(p) for p in info.value.problems]


def test_shipped_presets_are_valid_and_have_real_prompts():
    paths = sorted(PRESET_DIR.glob("*.yaml"))
    assert len(paths) >= 3
    for path in paths:
        preset = parse_preset(path)
        assert preset.prompts and all(len(p.text.split()) >= 4 for p in preset.prompts)


def test_preset_values_fill_defaults_and_prompt_weights(tmp_path):
    preset = parse_preset(write(tmp_path, "prompts:\n  - {text: a b, weight: 0.3}\n  - c d\nparams: {zoom: 0.5}\n"))
    values = preset.values()
    assert values["zoom"] == 0.5
    assert values["prompt.1.weight"] == 0.3
    assert values["prompt.2.weight"] == 0.0  # plain-string prompts after the first start silent
    assert values["strength"] == 0.5  # a default
    assert not PERFORMANCE_PARAMS & set(values)


def test_preset_is_frozen(tmp_path):
    preset = parse_preset(write(tmp_path, "name: x\n"))
    with pytest.raises(FrozenInstanceError):
        preset.name = "y"  # type: ignore[misc]
    with pytest.raises(TypeError):
        preset.params["zoom"] = 1.0  # type: ignore[index]


def test_unknown_key_names_file_line_and_key(tmp_path):
    path = write(tmp_path, "name: x\nsize: 512x512\ncolour: red\n")
    assert problems(path) == [
        f"{path}:3: colour: unknown key; expected one of: name, description, generator, model, size, steps, "
        "guidance, scheduler, blend, vae, mode, device, dtype, compile, feedback_space, max_fps, prompts, negative, "
        "params, transition"
    ]


def test_wrong_type_says_what_was_expected(tmp_path):
    path = write(tmp_path, "name: x\nsteps: many\n")
    assert problems(path) == [f"{path}:2: steps: expected a whole number, got a string ('many')"]


def test_out_of_range_and_unknown_parameter_with_lines(tmp_path):
    path = write(tmp_path, "params:\n  zoom: 5\n  zooom: 1\n  blackout: 1\nprompts:\n  - text: a\n    wieght: 1\n")
    assert problems(path) == [
        f"{path}:7: prompts[0].wieght: unknown key; expected one of: text, weight",
        f"{path}:2: params.zoom: expected a value in -2..2, got 5",
        f"{path}:3: params.zooom: unknown parameter (see `vj params` for the list)",
        f"{path}:4: params.blackout: is a performance control, not part of a preset",
    ]


def test_size_must_be_multiples_of_eight(tmp_path):
    assert "multiples of 8, got 500x512" in problems(write(tmp_path, "size: 500x512\n"))[0]


def test_malformed_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "name: x\nprompts: [\n  - a\n")
    (message,) = problems(path)
    assert message.startswith(f"{path}:3: invalid YAML")


def test_diffusion_needs_a_model(tmp_path):
    path = write(tmp_path, "generator: diffusion\n")
    assert problems(path) == [f"{path}:1: model: is required when generator is diffusion (a hub id or a local folder)"]


def test_missing_file_is_a_config_error(tmp_path):
    (message,) = problems(tmp_path / "nope.yaml")
    assert "nope.yaml" in message and "cannot read file" in message


def test_duplicate_keys_are_errors(tmp_path):
    (message,) = problems(write(tmp_path, "name: a\nname: b\n"))
    assert ":2:" in message and "duplicate key 'name'" in message


def test_yaml_tags_cannot_run_code(tmp_path):
    (message,) = problems(write(tmp_path, "name: !!python/object/apply:os.system ['true']\n"))
    assert "invalid YAML" in message


def test_prompts_are_required_and_need_a_weight(tmp_path):
    path = write(tmp_path, "name: x\nprompts: []\n")
    assert problems(path) == [f"{path}:2: prompts: at least one prompt is required (a list of {{text, weight}})"]
    path = write(tmp_path, "prompts:\n  - {text: a, weight: 0}\n  - {text: b, weight: 0.0}\n")
    assert problems(path) == [
        f"{path}:1: prompts: the prompt weights sum to zero: give at least one prompt a weight above 0"
    ]


def test_diffusion_options_are_validated(tmp_path):
    path = write(tmp_path, "generator: diffusion\nmodel: tiny\nscheduler: ddim\nsteps: 5\nguidance: 40\nvae: huge\n")
    assert [m.split(": ", 2)[1] for m in problems(path)] == ["steps", "guidance", "scheduler", "vae"]
    preset = parse_preset(write(tmp_path, "generator: diffusion\nmodel: tiny\nsteps: 2\nguidance: 1.5\nblend: slerp\n"))
    assert (preset.steps, preset.guidance, preset.blend) == (2, 1.5, "slerp")
    assert preset.values()["steps"] == 2 and preset.values()["guidance"] == 1.5
