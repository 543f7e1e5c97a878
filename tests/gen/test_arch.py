"""Full-size architectures from configs in the code, counted on the meta device (nothing allocated).

The expected counts are those of the published models: the SD 2.1 / sd-turbo UNet (865.9M), the SDXL
UNet (2.567B), the OpenCLIP ViT-H text tower cut at 23 layers (340.4M), CLIP ViT-L (123.1M), OpenCLIP
bigG with its projection (694.7M), the KL VAE (83.7M) and TAESD (2.4M).
"""

import pytest
import torch
from diffusers import (
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
)

from vj.gen.arch import build_architecture, parameter_counts


@pytest.fixture(scope="module")
def sd_turbo():
    return build_architecture("sd-turbo", device="meta", dtype=torch.float16)


@pytest.fixture(scope="module")
def sdxl_turbo():
    return build_architecture("sdxl-turbo", device="meta", dtype=torch.float16)


def test_sd_turbo_parameter_counts(sd_turbo):
    assert isinstance(sd_turbo, StableDiffusionPipeline)
    assert parameter_counts(sd_turbo) == {
        "unet": 865_910_724, "vae": 83_653_863, "text_encoder": 340_387_840, "taesd": 2_445_063,
    }


def test_sdxl_turbo_parameter_counts(sdxl_turbo):
    assert isinstance(sdxl_turbo, StableDiffusionXLPipeline)
    assert parameter_counts(sdxl_turbo) == {
        "unet": 2_567_463_684, "vae": 83_653_863, "text_encoder": 123_060_480,
        "text_encoder_2": 694_659_840, "taesd": 2_445_063,
    }


def test_weights_are_made_on_the_target_device_in_the_target_dtype(sd_turbo, sdxl_turbo):
    for pipe in (sd_turbo, sdxl_turbo):
        for name in ("unet", "vae", "text_encoder", "taesd"):
            params = list(getattr(pipe, name).parameters())
            assert {p.device.type for p in params} == {"meta"}
            assert {p.dtype for p in params} == {torch.float16}
    assert torch.get_default_dtype() == torch.float32  # restored after building


def test_configs_match_the_real_models(sd_turbo, sdxl_turbo):
    unet = sd_turbo.unet.config
    assert (unet.cross_attention_dim, tuple(unet.attention_head_dim), unet.use_linear_projection) == (
        1024, (5, 10, 20, 20), True)
    assert sd_turbo.vae.config.scaling_factor == 0.18215 and sdxl_turbo.vae.config.scaling_factor == 0.13025
    xl = sdxl_turbo.unet.config
    assert (xl.addition_embed_type, xl.addition_time_embed_dim, xl.projection_class_embeddings_input_dim) == (
        "text_time", 256, 2816)
    assert tuple(xl.transformer_layers_per_block) == (1, 2, 10) and xl.cross_attention_dim == 2048
    # the UNet's added conditioning = pooled text (bigG projection) + 6 time ids
    assert sdxl_turbo.text_encoder_2.config.projection_dim + 6 * 256 == 2816
    assert sdxl_turbo.text_encoder.config.hidden_size + sdxl_turbo.text_encoder_2.config.hidden_size == 2048
    assert isinstance(sd_turbo.scheduler, EulerDiscreteScheduler)
    assert isinstance(sdxl_turbo.scheduler, EulerAncestralDiscreteScheduler)
    for pipe in (sd_turbo, sdxl_turbo):
        assert pipe.scheduler.config.timestep_spacing == "trailing"


def test_tokenizer_ids_fit_the_real_vocabulary(sd_turbo, sdxl_turbo):
    for tokenizer, encoder in ((sd_turbo.tokenizer, sd_turbo.text_encoder),
                               (sdxl_turbo.tokenizer_2, sdxl_turbo.text_encoder_2)):
        ids = tokenizer("a neon tunnel ✨", padding="max_length", max_length=77).input_ids
        assert len(ids) == 77 and max(ids) < encoder.config.vocab_size == 49408
        assert len(tokenizer) <= encoder.config.vocab_size


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(ValueError, match="sd-turbo, sdxl-turbo"):
        build_architecture("sd3", device="meta")
    with pytest.raises(ValueError, match="floating point"):
        build_architecture("sd-turbo", device="meta", dtype=torch.int8)
