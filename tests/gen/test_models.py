"""Model resolution and offline loading: tiny pipelines saved to folders, a fake hub cache, a single-file
checkpoint written in the original SD key layout, an LCM-LoRA fused in, and downloads planned offline."""

from __future__ import annotations

import io
import json
import logging
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import (
    AutoencoderTiny,
    AutoPipelineForImage2Image,
    LCMScheduler,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
)
from PIL import Image
from safetensors.torch import save_file

from tests.support.hub import empty_offline_cache, register_in_cache
from vj import hub
from vj.catalogue import CATALOGUE, DEFAULT_MODEL, LORA_WEIGHT_NAME, resolve_model
from vj.gen import lora as lora_fusion
from vj.gen.base import GeneratorUnavailable
from vj.gen.lora import fuse_lora_into_unet
from vj.gen.models import (
    DownloadItem,
    download_model,
    download_plan,
    list_models,
    load_pipeline,
    select_files,
)
from vj.gen.tiny import save_tiny, tiny_sd
from vj.hub import ModelDownloadError, ModelMissing
from vj.model_cli import cmd_models_download, cmd_models_list


@pytest.fixture(autouse=True)
def offline_empty_cache(tmp_path, monkeypatch):
    """Every test: offline, and a Hugging Face home of its own that starts empty."""
    return empty_offline_cache(tmp_path / "hf", monkeypatch)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("saved")
    return {"sd": save_tiny(root / "sd"), "sdxl": save_tiny(root / "sdxl", kind="sdxl")}


def img2img(pipe) -> np.ndarray:
    image = Image.new("RGB", (64, 64), (200, 60, 120))
    return AutoPipelineForImage2Image.from_pipe(pipe)(
        prompt="a neon tunnel", image=image, num_inference_steps=2, strength=0.5, guidance_scale=0.0,
        output_type="np", generator=torch.Generator().manual_seed(0),
    ).images


# --- resolution ----------------------------------------------------------------------------------


def test_catalogue_names_resolve():
    turbo = resolve_model("sd-turbo")
    assert (turbo.family, turbo.source, turbo.taesd, turbo.kind) == (
        "sd", "stabilityai/sd-turbo", "madebyollin/taesd", "hub")
    assert DEFAULT_MODEL == "sd-turbo"
    xl = resolve_model("SDXL-Turbo")
    assert (xl.family, xl.source, xl.taesd) == ("sdxl", "stabilityai/sdxl-turbo", "madebyollin/taesdxl")
    lora = resolve_model("lcm-lora")
    assert lora.lcm_lora == "latent-consistency/lcm-lora-sdv1-5" and lora.scheduler == "lcm"
    assert resolve_model("lcm").source == "SimianLuo/LCM_Dreamshaper_v7"
    assert resolve_model("tiny").kind == "builtin" and resolve_model("tiny-sdxl").family == "sdxl"
    assert resolve_model("stabilityai/sd-turbo") is CATALOGUE["sd-turbo"]  # a catalogue source is the entry


def test_hub_ids_guess_family_which_can_be_overridden():
    plain = resolve_model("someone/dreamy-v2")
    assert (plain.kind, plain.family, plain.taesd) == ("hub", "sd", "madebyollin/taesd")
    assert resolve_model("someone/juggernaut-XL-v9").family == "sdxl"
    forced = resolve_model("someone/dreamy-v2", family="sdxl")
    assert forced.family == "sdxl" and forced.taesd == "madebyollin/taesdxl"
    assert resolve_model("someone/my-lcm-model").scheduler == "lcm"


def test_bad_names_are_clear_errors():
    with pytest.raises(ValueError, match="sd-turbo, sdxl-turbo, lcm, lcm-lora, tiny, tiny-sdxl"):
        resolve_model("not a model")
    with pytest.raises(ValueError, match="empty model name"):
        resolve_model("  ")
    with pytest.raises(ValueError, match="does not exist"):
        resolve_model("./no/such/folder")
    with pytest.raises(ValueError, match="does not exist"):
        resolve_model("missing.safetensors")
    with pytest.raises(ValueError, match="'sd' or 'sdxl'"):
        resolve_model("someone/model", family="sd3")
    with pytest.raises(ValueError, match="is sd, not sdxl"):
        resolve_model("sd-turbo", family="sdxl")


def test_local_folders_resolve_by_model_index(saved, tmp_path):
    sd, xl = resolve_model(str(saved["sd"])), resolve_model(str(saved["sdxl"]))
    assert (sd.kind, sd.family, sd.taesd) == ("folder", "sd", str(saved["sd"] / "taesd"))
    assert (xl.kind, xl.family, xl.taesd) == ("folder", "sdxl", str(saved["sdxl"] / "taesd"))
    with pytest.raises(ValueError, match="says sd, not sdxl"):
        resolve_model(str(saved["sd"]), family="sdxl")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no model_index.json"):
        resolve_model(str(tmp_path / "empty"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="not a checkpoint"):
        resolve_model(str(tmp_path / "notes.txt"))


# --- loading folders and the cache -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_saved_folder_loads_offline_with_its_taesd_and_runs_img2img(saved, kind):
    pipe = load_pipeline(resolve_model(str(saved[kind])))
    assert isinstance(pipe, StableDiffusionXLPipeline if kind == "sdxl" else StableDiffusionPipeline)
    assert isinstance(pipe.taesd, AutoencoderTiny)
    from_disk = AutoencoderTiny.from_pretrained(saved[kind] / "taesd")
    assert torch.equal(pipe.taesd.decoder.layers[0].weight, from_disk.decoder.layers[0].weight)
    out = img2img(pipe)
    assert out.shape == (1, 64, 64, 3) and np.isfinite(out).all()
    assert load_pipeline(resolve_model(str(saved[kind])), vae="full").taesd is None


def test_an_lcm_pipeline_folder_loads_as_stable_diffusion_with_its_lcm_scheduler(saved, tmp_path):
    folder = tmp_path / "lcm"
    for file in saved["sd"].rglob("*"):
        if file.is_file():
            (folder / file.relative_to(saved["sd"])).parent.mkdir(parents=True, exist_ok=True)
            (folder / file.relative_to(saved["sd"])).write_bytes(file.read_bytes())
    index = json.loads((folder / "model_index.json").read_text())
    index |= {"_class_name": "LatentConsistencyModelPipeline", "scheduler": ["diffusers", "LCMScheduler"]}
    (folder / "model_index.json").write_text(json.dumps(index))
    scheduler = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    scheduler["_class_name"] = "LCMScheduler"
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(scheduler))
    spec = resolve_model(str(folder))
    assert spec.scheduler == "lcm"
    pipe = load_pipeline(spec)
    assert isinstance(pipe, StableDiffusionPipeline) and isinstance(pipe.scheduler, LCMScheduler)


def test_builtin_tiny_loads_in_the_requested_dtype():
    pipe = load_pipeline(resolve_model("tiny"), dtype=torch.bfloat16)
    assert pipe.unet.dtype == torch.bfloat16 and pipe.taesd.dtype == torch.bfloat16
    assert load_pipeline(resolve_model("tiny-sdxl"), vae="full").taesd is None


def test_missing_hub_model_says_exactly_what_to_do(offline_empty_cache):
    with pytest.raises(ModelMissing) as caught:
        load_pipeline(resolve_model("sd-turbo"))
    message = str(caught.value)
    assert isinstance(caught.value, GeneratorUnavailable)  # the show falls back to procedural
    assert "stabilityai/sd-turbo" in message and str(offline_empty_cache) in message
    assert "`vj models download sd-turbo`" in message and "`model: /path/to/folder`" in message
    with pytest.raises(ModelMissing, match="vj models download someone/dreamy"):
        load_pipeline(resolve_model("someone/dreamy"))


def test_cached_hub_model_loads_and_missing_taesd_means_full_vae(saved, offline_empty_cache, caplog):
    register_in_cache(offline_empty_cache, "stabilityai/sd-turbo", saved["sd"])
    with caplog.at_level(logging.WARNING, logger="vj.gen.models"):
        pipe = load_pipeline(resolve_model("sd-turbo"))
    assert isinstance(pipe, StableDiffusionPipeline) and pipe.taesd is None
    assert "madebyollin/taesd" in caplog.text and "full VAE" in caplog.text
    assert torch.equal(pipe.unet.conv_in.weight, tiny_sd().unet.conv_in.weight)

    info = {i.name: i for i in list_models()}["sd-turbo"]
    assert info.cached and info.size_bytes > 0 and info.missing == ("madebyollin/taesd",)

    register_in_cache(offline_empty_cache, "madebyollin/taesd", saved["sd"] / "taesd")
    assert isinstance(load_pipeline(resolve_model("sd-turbo")).taesd, AutoencoderTiny)
    info = {i.name: i for i in list_models()}["sd-turbo"]
    assert info.cached and info.missing == ()


def test_an_incomplete_cached_model_is_missing(saved, offline_empty_cache, tmp_path):
    partial = tmp_path / "partial"
    for file in saved["sd"].rglob("*"):
        if file.is_file() and not (file.parent.name == "unet" and file.suffix == ".safetensors"):
            (partial / file.relative_to(saved["sd"])).parent.mkdir(parents=True, exist_ok=True)
            (partial / file.relative_to(saved["sd"])).write_bytes(file.read_bytes())
    register_in_cache(offline_empty_cache, "someone/partial", partial)
    with pytest.raises(ModelMissing, match="no weights for unet"):
        load_pipeline(resolve_model("someone/partial"))


def test_unavailable_device_and_bad_vae_choice():
    if not torch.cuda.is_available():
        with pytest.raises(GeneratorUnavailable, match="CUDA is not available"):
            load_pipeline(resolve_model("tiny"), device="cuda")
    with pytest.raises(ValueError, match="'taesd' or 'full'"):
        load_pipeline(resolve_model("tiny"), vae="tiny")  # type: ignore[arg-type]


# --- single-file checkpoints -----------------------------------------------------------------------

_RESNET = (("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"),
           ("conv2", "out_layers.3"), ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection"))


def _resnet(rest: str) -> str:
    for new, old in _RESNET:
        if rest.startswith(new + "."):
            return old + rest[len(new):]
    return rest


def unet_to_original(state: dict, layers: int, up_has_attention: list[bool]) -> dict:
    """diffusers UNet keys -> the original LDM layout (model.diffusion_model.input_blocks...)."""
    top = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
           "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}
    out = {}
    for key, value in state.items():
        head, _, leaf = key.rpartition(".")
        if head in top:
            new = f"{top[head]}.{leaf}"
        elif m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
            index = 1 + int(m[1]) * (layers + 1) + int(m[3])
            new = f"input_blocks.{index}." + (f"0.{_resnet(m[4])}" if m[2] == "resnets" else f"1.{m[4]}")
        elif m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
            new = f"input_blocks.{(int(m[1]) + 1) * (layers + 1)}.0.op.{m[2]}"
        elif m := re.match(r"mid_block\.resnets\.(\d+)\.(.*)", key):
            new = f"middle_block.{2 * int(m[1])}.{_resnet(m[2])}"
        elif m := re.match(r"mid_block\.attentions\.0\.(.*)", key):
            new = f"middle_block.1.{m[1]}"
        elif m := re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", key):
            index = int(m[1]) * (layers + 1) + int(m[3])
            new = f"output_blocks.{index}." + (f"0.{_resnet(m[4])}" if m[2] == "resnets" else f"1.{m[4]}")
        elif m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", key):
            block = int(m[1])
            slot = 2 if up_has_attention[block] else 1  # after the attention when the block has one
            new = f"output_blocks.{block * (layers + 1) + layers}.{slot}.conv.{m[2]}"
        else:
            raise AssertionError(f"unmapped UNet key {key}")
        out["model.diffusion_model." + new] = value
    return out


def vae_to_original(state: dict, blocks: int) -> dict:
    out = {}
    for key, value in state.items():
        new = key.replace("conv_norm_out", "norm_out")
        if m := re.match(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", key):
            new = f"encoder.down.{m[1]}.block.{m[2]}.{m[3]}"
        elif m := re.match(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
            new = f"encoder.down.{m[1]}.downsample.conv.{m[2]}"
        elif m := re.match(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", key):
            new = f"decoder.up.{blocks - 1 - int(m[1])}.block.{m[2]}.{m[3]}"
        elif m := re.match(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", key):
            new = f"decoder.up.{blocks - 1 - int(m[1])}.upsample.conv.{m[2]}"
        elif m := re.match(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.*)", key):
            new = f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3]}"
        elif m := re.match(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.*)", key):
            rest = m[2]
            for ours, theirs in (("group_norm", "norm"), ("to_q", "q"), ("to_k", "k"), ("to_v", "v"),
                                 ("to_out.0", "proj_out")):
                if rest.startswith(ours + "."):
                    rest = theirs + rest[len(ours):]
            new = f"{m[1]}.mid.attn_1.{rest}"
            value = value[:, :, None, None] if value.ndim == 2 else value  # 1x1 convs in the original
        out["first_stage_model." + new.replace("conv_shortcut", "nin_shortcut")] = value
    return out


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """The tiny SD pipeline as one .safetensors file in the original (CompVis/LDM) key layout."""
    pipe = tiny_sd()
    state = unet_to_original(pipe.unet.state_dict(), layers=1, up_has_attention=[False, True])
    state |= vae_to_original(pipe.vae.state_dict(), blocks=4)
    state |= {"cond_stage_model.transformer.text_model." + k.removeprefix("text_model."): v
              for k, v in pipe.text_encoder.state_dict().items()}
    path = tmp_path_factory.mktemp("ckpt") / "tiny-v1.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def test_single_file_checkpoint_loads_offline_with_a_local_config(checkpoint, saved):
    spec = resolve_model(str(checkpoint))
    assert (spec.kind, spec.family, spec.config) == ("file", "sd", None)
    pipe = load_pipeline(replace(spec, config=str(saved["sd"])))
    original = tiny_sd()
    for name in ("unet", "vae", "text_encoder"):
        ours, theirs = getattr(pipe, name).state_dict(), getattr(original, name).state_dict()
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours), name
    assert img2img(pipe).shape == (1, 64, 64, 3)


def test_single_file_checkpoint_inside_a_diffusers_folder_uses_its_configs(checkpoint, saved, tmp_path):
    folder = tmp_path / "repo"
    for file in saved["sd"].rglob("*.json"):
        (folder / file.relative_to(saved["sd"])).parent.mkdir(parents=True, exist_ok=True)
        (folder / file.relative_to(saved["sd"])).write_bytes(file.read_bytes())
    for file in (saved["sd"] / "tokenizer").iterdir():
        (folder / "tokenizer" / file.name).write_bytes(file.read_bytes())
    (folder / "tiny.safetensors").write_bytes(checkpoint.read_bytes())
    spec = resolve_model(str(folder / "tiny.safetensors"))
    assert spec.config == str(folder)
    assert isinstance(load_pipeline(spec, vae="full"), StableDiffusionPipeline)


def test_single_file_checkpoint_without_configs_is_a_clear_model_missing(checkpoint, tmp_path):
    with pytest.raises(ModelMissing) as caught:
        load_pipeline(resolve_model(str(checkpoint)))
    message = str(caught.value)
    assert "stable-diffusion-v1-5/stable-diffusion-v1-5" in message
    assert "`vj models download lcm-lora`" in message
    assert "`model: /path/to/folder`" in message and "never" in message

    xl = tmp_path / "xl.safetensors"  # the keys that mark an SDXL checkpoint, tiny tensors
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(2, 4, 3, 3),
               "conditioner.embedders.1.model.ln_final.weight": torch.zeros(2)}, str(xl))
    assert resolve_model(str(xl)).family == "sdxl"
    with pytest.raises(ModelMissing, match="`vj models download sdxl-turbo`"):
        load_pipeline(resolve_model(str(xl)))

    legacy = tmp_path / "tiny.ckpt"  # the pickled format, read with weights_only
    torch.save({"state_dict": {"model.diffusion_model.out.2.weight": torch.zeros(4, 2, 3, 3)}}, legacy)
    assert resolve_model(str(legacy)).family == "sd"

    junk = tmp_path / "junk.safetensors"
    save_file({"weight": torch.zeros(2)}, str(junk))
    with pytest.raises(ValueError, match="not a Stable Diffusion checkpoint"):
        resolve_model(str(junk))


# --- LCM-LoRA ------------------------------------------------------------------------------------


@pytest.fixture
def fusions(monkeypatch) -> list[int]:
    """How many layers each call of vj's own LoRA fusion changed (nothing when diffusers fused the file)."""
    calls: list[int] = []
    own = lora_fusion.fuse_lora_into_unet

    def counted(unet, state, scale=1.0):
        calls.append(own(unet, state, scale))
        return calls[-1]

    monkeypatch.setattr(lora_fusion, "fuse_lora_into_unet", counted)
    return calls


def kohya_lora(folder: Path, unet, layers: dict[str, int]) -> dict[str, torch.Tensor]:
    """A LoRA in kohya's layout (as the published LCM-LoRA files are) saved in `folder`, and the UNet
    weights (name -> tensor) fusing it must give."""
    torch.manual_seed(7)
    state, expected = {}, {}
    for name, rank in layers.items():
        weight = dict(unet.named_modules())[name].weight
        down = torch.randn(rank, *weight.shape[1:])
        up = torch.randn(weight.shape[0], rank, *([1] * (weight.ndim - 2)))
        key = "lora_unet_" + name.replace(".", "_")
        state |= {f"{key}.lora_down.weight": down, f"{key}.lora_up.weight": up}
        state[f"{key}.alpha"] = torch.tensor(2.0)
        expected[name] = weight + (2.0 / rank) * (up.flatten(1) @ down.flatten(1)).reshape(weight.shape)
    folder.mkdir()
    save_file(state, str(folder / LORA_WEIGHT_NAME))
    return expected


# diffusers fuses LoRAs through peft, part of the diffusion extra these tests run with
PEFT_MISSING = "peft is missing: install the diffusion extra (bash scripts/setup.sh does)"


@pytest.mark.parametrize("path", ["diffusers", "own"])
def test_lcm_lora_is_fused_and_the_scheduler_switched(saved, tmp_path, monkeypatch, fusions, path):
    if path == "diffusers":
        assert lora_fusion.peft_available(), PEFT_MISSING
    else:
        monkeypatch.setattr(lora_fusion, "peft_available", lambda: False)  # a machine without peft
    unet = tiny_sd().unet
    expected = kohya_lora(tmp_path / "lora", unet, {
        "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q": 4,  # linear
        "down_blocks.0.attentions.0.proj_in": 4,  # 1x1 conv
    })

    base = resolve_model(str(saved["sd"]))
    spec = replace(base, lcm_lora=str(tmp_path / "lora"), scheduler="lcm")
    pipe = load_pipeline(spec)
    assert isinstance(pipe.scheduler, LCMScheduler)
    assert fusions == ([] if path == "diffusers" else [2])
    fused = dict(pipe.unet.named_modules())
    for name, weight in expected.items():
        assert type(fused[name]) is type(dict(unet.named_modules())[name])  # no adapter layer left behind
        torch.testing.assert_close(fused[name].weight, weight)
    untouched = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_k"
    assert torch.equal(fused[untouched].weight, dict(unet.named_modules())[untouched].weight)

    with pytest.raises(ModelMissing, match="LCM-LoRA latent-consistency/lcm-lora-sdv1-5"):
        load_pipeline(replace(base, lcm_lora="latent-consistency/lcm-lora-sdv1-5"))


def test_a_lora_layout_diffusers_cannot_read_is_fused_by_vj(saved, tmp_path, fusions):
    assert lora_fusion.peft_available(), PEFT_MISSING
    name = "mid_block.attentions.0.proj_out"
    weight = dict(tiny_sd().unet.named_modules())[name].weight.detach().clone()
    lora = tmp_path / "bare.safetensors"  # peft keys without the "unet." prefix: diffusers skips them all
    save_file({f"{name}.lora_A.weight": torch.ones(2, weight.shape[1], 1, 1),
               f"{name}.lora_B.weight": torch.ones(weight.shape[0], 2, 1, 1)}, str(lora))
    pipe = load_pipeline(replace(resolve_model(str(saved["sd"])), lcm_lora=str(lora)), vae="full")
    assert fusions == [1]
    torch.testing.assert_close(dict(pipe.unet.named_modules())[name].weight, weight + 2.0)

    nowhere = tmp_path / "nowhere.safetensors"  # diffusers refuses it, and so does vj, saying why
    save_file({"lora_unet_nowhere.lora_down.weight": torch.ones(2, 3),
               "lora_unet_nowhere.lora_up.weight": torch.ones(3, 2)}, str(nowhere))
    with pytest.raises(GeneratorUnavailable, match="cannot fuse LoRA .*matches no layer"):
        load_pipeline(replace(resolve_model(str(saved["sd"])), lcm_lora=str(nowhere)), vae="full")


def test_peft_layout_lora_and_unmatched_keys():
    unet = tiny_sd().unet
    name = "mid_block.attentions.0.proj_out"
    weight = dict(unet.named_modules())[name].weight.detach().clone()
    down, up = torch.ones(2, weight.shape[1], 1, 1), torch.ones(weight.shape[0], 2, 1, 1)
    peft = {f"unet.{name}.lora_A.weight": down, f"unet.{name}.lora_B.weight": up}
    assert fuse_lora_into_unet(unet, peft) == 1
    torch.testing.assert_close(dict(unet.named_modules())[name].weight, weight + 2.0)  # alpha = rank: scale 1
    attn = "down_blocks.0.attentions.0.transformer_blocks.0.attn2"
    out_weight = dict(unet.named_modules())[f"{attn}.to_out.0"].weight.detach().clone()
    procs = {f"unet.{attn}.processor.to_out_lora.down.weight": torch.ones(1, out_weight.shape[1]),
             f"unet.{attn}.processor.to_out_lora.up.weight": torch.ones(out_weight.shape[0], 1)}
    assert fuse_lora_into_unet(unet, procs, scale=0.5) == 1  # the attention-processor layout
    torch.testing.assert_close(dict(unet.named_modules())[f"{attn}.to_out.0"].weight, out_weight + 0.5)
    with pytest.raises(ValueError, match="matches no layer"):
        fuse_lora_into_unet(unet, {"lora_unet_nowhere.lora_down.weight": down,
                                   "lora_unet_nowhere.lora_up.weight": up})
    with pytest.raises(ValueError, match="unrecognised LoRA key 'lora_unet_x.dora_scale'"):
        fuse_lora_into_unet(unet, {"lora_unet_x.dora_scale": down})


# --- listing and downloading ---------------------------------------------------------------------

SD_TURBO_FILES = [
    ".gitattributes", "README.md", "model_index.json", "sd_turbo.safetensors",
    "scheduler/scheduler_config.json", "text_encoder/config.json", "text_encoder/model.safetensors",
    "text_encoder/model.fp16.safetensors", "tokenizer/merges.txt", "tokenizer/special_tokens_map.json",
    "tokenizer/tokenizer_config.json", "tokenizer/vocab.json", "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors",
    "vae/config.json", "vae/diffusion_pytorch_model.safetensors",
    "vae/diffusion_pytorch_model.fp16.safetensors",
]


def test_download_plan_names_the_pipeline_its_taesd_and_its_lora():
    assert download_plan(resolve_model("sd-turbo")) == (
        DownloadItem("stabilityai/sd-turbo", "pipeline"), DownloadItem("madebyollin/taesd", "taesd"))
    assert download_plan(resolve_model("sdxl-turbo"))[1] == DownloadItem("madebyollin/taesdxl", "taesd")
    assert download_plan(resolve_model("lcm-lora")) == (
        DownloadItem("stable-diffusion-v1-5/stable-diffusion-v1-5", "pipeline"),
        DownloadItem("madebyollin/taesd", "taesd"),
        DownloadItem("latent-consistency/lcm-lora-sdv1-5", "lora"),
    )
    assert download_plan(resolve_model("tiny")) == ()


def test_select_files_takes_one_weight_set_and_no_extras():
    chosen = select_files("pipeline", SD_TURBO_FILES)
    assert "model_index.json" in chosen and "tokenizer/merges.txt" in chosen
    assert "unet/diffusion_pytorch_model.fp16.safetensors" in chosen
    sharded = ["model_index.json", "unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
               "unet/diffusion_pytorch_model-00001-of-00002.safetensors"]
    assert select_files("pipeline", sharded) == sharded[:2]
    assert not {"unet/diffusion_pytorch_model.safetensors", "sd_turbo.safetensors", "README.md"} & set(chosen)

    no_fp16 = [f for f in SD_TURBO_FILES if f != "vae/diffusion_pytorch_model.fp16.safetensors"]
    no_fp16 += ["safety_checker/config.json", "safety_checker/model.safetensors",
                "unet/diffusion_flax_model.msgpack"]
    chosen = select_files("pipeline", no_fp16)
    full = {"unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors"}
    assert full <= set(chosen)
    assert not any(".fp16." in f or f.startswith("safety_checker/") or f.endswith(".msgpack") for f in chosen)

    taesd = ["config.json", "diffusion_pytorch_model.safetensors", "taesd_decoder.pth", "README.md"]
    assert select_files("taesd", taesd) == ["config.json", "diffusion_pytorch_model.safetensors"]
    lora = ["README.md", "pytorch_lora_weights.safetensors"]
    assert select_files("lora", lora) == ["pytorch_lora_weights.safetensors"]


def test_download_model_fetches_each_repo_with_its_allow_patterns(monkeypatch, offline_empty_cache):
    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE")
    listings = {"stabilityai/sd-turbo": SD_TURBO_FILES,
                "madebyollin/taesd": ["config.json", "diffusion_pytorch_model.safetensors", "taesd.pth"]}
    calls = []
    monkeypatch.setattr(hub, "_list_repo_files", lambda repo: listings[repo])

    def fake_snapshot_download(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        return str(offline_empty_cache / repo_id)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    assert download_model("sd-turbo") == offline_empty_cache / "stabilityai/sd-turbo"
    assert [repo for repo, _ in calls] == ["stabilityai/sd-turbo", "madebyollin/taesd"]
    assert calls[0][1]["allow_patterns"] == select_files("pipeline", SD_TURBO_FILES)
    assert calls[1][1]["allow_patterns"] == ["config.json", "diffusion_pytorch_model.safetensors"]
    assert all(kwargs["cache_dir"] == offline_empty_cache for _, kwargs in calls)

    def unreachable(repo):
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(hub, "_list_repo_files", unreachable)
    with pytest.raises(ModelDownloadError, match="cannot download stabilityai/sd-turbo.*ConnectionError"):
        download_model("sd-turbo")


def test_download_offline_is_a_clear_error_and_a_nonzero_exit():
    with pytest.raises(ModelDownloadError, match="HF_HUB_OFFLINE=1"):
        download_model("sdxl-turbo")
    out, err = io.StringIO(), io.StringIO()
    assert cmd_models_download("sdxl-turbo", out=out, err=err) == 1
    assert "offline mode" in err.getvalue() and "stabilityai/sdxl-turbo" in err.getvalue()
    err = io.StringIO()
    assert cmd_models_download("no-such-model", out=out, err=err) == 2
    assert "unknown model" in err.getvalue() and "sd-turbo" in err.getvalue()
    assert cmd_models_download("tiny", out=out, err=err) == 0 and "built in" in out.getvalue()


def test_models_list_prints_a_table(saved, offline_empty_cache):
    register_in_cache(offline_empty_cache, "someone/other-xl", saved["sdxl"])
    out = io.StringIO()
    assert cmd_models_list(out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["NAME", "FAMILY", "CACHED", "SIZE", "SOURCE"]
    table = [line.split() for line in lines[1:] if line and not line.startswith(("cache", "download"))]
    rows = {row[0]: row for row in table}
    assert rows["sd-turbo"][1:3] == ["sd", "no"] and rows["sd-turbo"][-1] == "stabilityai/sd-turbo"
    assert rows["tiny"][2] == "built-in"
    assert rows["someone/other-xl"][1:3] == ["sdxl", "yes"]  # any other cached SD/SDXL pipeline is listed
    assert str(offline_empty_cache) in out.getvalue()
