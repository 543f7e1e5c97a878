"""Full-size sd-turbo and sdxl-turbo architectures with random weights, from configs written here.

Speed does not depend on weight values, so a GPU benchmark can run the real architectures without
downloading anything. The numbers below are those of the published diffusers configs
(stabilityai/sd-turbo and stabilityai/sdxl-turbo: unet, text_encoder(_2), vae, scheduler;
madebyollin/taesd(xl): the AutoencoderTiny defaults); tests check the parameter counts.

The tokenizer is vj.gen.tiny's byte-level one: its ids (< 514) differ from the real CLIP vocabulary
but fit the real 49408-entry embedding, and token ids do not change the cost of a forward pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

ARCHS = ("sd-turbo", "sdxl-turbo")

_CLIP_VOCAB = 49408
_CLIP_POSITIONS = 77

# stabilityai/sd-turbo unet/config.json (the SD 2.1 UNet at 512 px).
SD_TURBO_UNET: dict[str, Any] = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    attention_head_dim=(5, 10, 20, 20), cross_attention_dim=1024, use_linear_projection=True,
    norm_num_groups=32, norm_eps=1e-5, act_fn="silu", flip_sin_to_cos=True, freq_shift=0,
)

# stabilityai/sd-turbo text_encoder/config.json: OpenCLIP ViT-H/14 text tower, penultimate layer (23 of 24).
SD_TURBO_TEXT: dict[str, Any] = dict(
    vocab_size=_CLIP_VOCAB, max_position_embeddings=_CLIP_POSITIONS, hidden_size=1024, intermediate_size=4096,
    num_hidden_layers=23, num_attention_heads=16, hidden_act="gelu", layer_norm_eps=1e-5, projection_dim=512,
    bos_token_id=0, eos_token_id=2, pad_token_id=1,
)

# The SD KL autoencoder (sd-turbo vae/config.json).
SD_VAE: dict[str, Any] = dict(
    in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
    layers_per_block=2, norm_num_groups=32, act_fn="silu", sample_size=768, scaling_factor=0.18215,
    force_upcast=True,
)

# stabilityai/sdxl-turbo unet/config.json (the SDXL base UNet; turbo is trained at 512 px).
SDXL_TURBO_UNET: dict[str, Any] = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(320, 640, 1280),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), cross_attention_dim=2048,
    use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816,  # 1280 pooled text + 6 time ids x 256
    norm_num_groups=32, norm_eps=1e-5, act_fn="silu", flip_sin_to_cos=True, freq_shift=0,
)

# sdxl-turbo text_encoder: OpenAI CLIP ViT-L/14 text tower.
SDXL_TEXT_1: dict[str, Any] = dict(
    vocab_size=_CLIP_VOCAB, max_position_embeddings=_CLIP_POSITIONS, hidden_size=768, intermediate_size=3072,
    num_hidden_layers=12, num_attention_heads=12, hidden_act="quick_gelu", layer_norm_eps=1e-5,
    projection_dim=768,
    bos_token_id=0, eos_token_id=2, pad_token_id=1,
)

# sdxl-turbo text_encoder_2: OpenCLIP ViT-bigG/14 text tower with its 1280 projection (pooled embeds).
SDXL_TEXT_2: dict[str, Any] = dict(
    vocab_size=_CLIP_VOCAB, max_position_embeddings=_CLIP_POSITIONS, hidden_size=1280, intermediate_size=5120,
    num_hidden_layers=32, num_attention_heads=20, hidden_act="gelu", layer_norm_eps=1e-5, projection_dim=1280,
    bos_token_id=0, eos_token_id=2, pad_token_id=1,
)

SDXL_VAE: dict[str, Any] = {**SD_VAE, "sample_size": 1024, "scaling_factor": 0.13025}

# madebyollin/taesd and taesdxl share the AutoencoderTiny default architecture.
TAESD: dict[str, Any] = dict(
    in_channels=3, out_channels=3, encoder_block_out_channels=(64, 64, 64, 64),
    decoder_block_out_channels=(64, 64, 64, 64), act_fn="relu", upsample_fn="nearest", latent_channels=4,
    upsampling_scaling_factor=2, num_encoder_blocks=(1, 3, 3, 3), num_decoder_blocks=(3, 3, 3, 1),
    latent_magnitude=3, latent_shift=0.5, scaling_factor=1.0, force_upcast=False,
)

# Both turbo schedulers: scaled-linear betas, trailing timesteps (1 step starts at t=999), epsilon.
_SCHEDULER: dict[str, Any] = dict(
    num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
    timestep_spacing="trailing", steps_offset=1, prediction_type="epsilon",
)


@contextmanager
def _building(device: torch.device, dtype: torch.dtype) -> Iterator[None]:
    """Create parameters directly on `device` in `dtype`: no full-precision CPU copy of a 2.6B-param UNet."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(previous)


def _text_encoder(config: dict[str, Any], projection: bool):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    cls = CLIPTextModelWithProjection if projection else CLIPTextModel
    return cls(CLIPTextConfig(**config)).eval()


def build_architecture(
    arch: str, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32, seed: int = 0
):
    """A full-size random-weight pipeline for `arch` ("sd-turbo" | "sdxl-turbo") with `.taesd` attached.

    Parameters are created on `device` in `dtype`. Use device="meta" to inspect shapes and counts
    without allocating (the pipeline then cannot run).
    """
    from diffusers import (
        AutoencoderKL,
        AutoencoderTiny,
        EulerAncestralDiscreteScheduler,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )

    from vj.gen.tiny import tiny_tokenizer

    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}: choose one of {', '.join(ARCHS)}")
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating point type, not {dtype}")
    device = torch.device(device)
    if device.type != "meta":
        torch.manual_seed(seed)  # seeds every device's generator: the same call builds the same weights

    unet: Any
    vae: Any
    taesd: Any
    with _building(device, dtype):
        if arch == "sd-turbo":
            unet = UNet2DConditionModel(**SD_TURBO_UNET)
            vae = AutoencoderKL(**SD_VAE)
            text_encoder = _text_encoder(SD_TURBO_TEXT, projection=False)
        else:
            unet = UNet2DConditionModel(**SDXL_TURBO_UNET)
            vae = AutoencoderKL(**SDXL_VAE)
            text_encoder = _text_encoder(SDXL_TEXT_1, projection=False)
            text_encoder_2 = _text_encoder(SDXL_TEXT_2, projection=True)
        taesd = AutoencoderTiny(**TAESD)
    for model in (unet, vae, taesd):
        model.eval()

    tokenizer = tiny_tokenizer()
    if len(tokenizer) > _CLIP_VOCAB:  # cannot happen with the byte tokenizer; guards a future change
        raise ValueError(f"tokenizer has {len(tokenizer)} ids, more than the {_CLIP_VOCAB}-entry embedding")

    pipe: Any
    if arch == "sd-turbo":
        pipe = StableDiffusionPipeline(
            unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
            scheduler=EulerDiscreteScheduler(**_SCHEDULER), safety_checker=None, feature_extractor=None,
            requires_safety_checker=False,
        )
    else:
        pipe = StableDiffusionXLPipeline(
            unet=unet, vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
            tokenizer=tokenizer, tokenizer_2=tiny_tokenizer(),
            scheduler=EulerAncestralDiscreteScheduler(**_SCHEDULER),
        )
    pipe.taesd = taesd
    pipe.set_progress_bar_config(disable=True)
    return pipe


def parameter_counts(pipe) -> dict[str, int]:
    """Parameters per model component (unet, vae, text encoders, taesd)."""
    names = ("unet", "vae", "text_encoder", "text_encoder_2", "taesd")
    return {
        name: sum(p.numel() for p in getattr(pipe, name).parameters())
        for name in names
        if getattr(pipe, name, None) is not None
    }
