"""Tiny random diffusion pipelines, built in-process: no download, a few MB, fast on a CPU.

They have the real architectures' shapes in miniature (a UNet with cross-attention, a KL VAE
and a tiny autoencoder with the real 8x downscale, a CLIP text encoder and tokenizer), so the
whole diffusion path runs for real in tests and CPU demos. `save_tiny` writes one with
`save_pretrained`, so the real loading path (`from_pretrained`, offline) is tested too.
Weights are random but seeded: the same call builds the same model.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch

from vj.bpe import bytes_to_unicode

SEED = 1234
TEXT_DIM = 32


def tiny_tokenizer(folder: Path | None = None):
    """A CLIP tokenizer whose vocabulary is every byte (alone and word-final): no merges, any text."""
    from transformers import CLIPTokenizer

    folder = Path(folder or tempfile.mkdtemp(prefix="vj-tiny-tokenizer-"))
    folder.mkdir(parents=True, exist_ok=True)
    chars = list(bytes_to_unicode().values())
    vocab = {tok: i for i, tok in enumerate(chars + [c + "</w>" for c in chars])}
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)


def _text_encoder(projection: bool = False, hidden: int = TEXT_DIM):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        bos_token_id=512, eos_token_id=513, pad_token_id=513, hidden_size=hidden, intermediate_size=37,
        layer_norm_eps=1e-5, num_attention_heads=4, num_hidden_layers=2, vocab_size=1000,
        projection_dim=hidden,
    )
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config).eval()


def _schedulers():
    from diffusers import EulerDiscreteScheduler

    # sd-turbo's own scheduler setup: Euler, trailing timesteps (1 step starts at t=999).
    return EulerDiscreteScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        timestep_spacing="trailing", steps_offset=1, prediction_type="epsilon",
    )


def _vaes():
    from diffusers import AutoencoderKL, AutoencoderTiny

    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8, 16, 16),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1, norm_num_groups=4, sample_size=64,
    ).eval()  # diffusers' model mixins hide nn.Module's methods from mypy
    taesd = AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1), num_decoder_blocks=(1, 1, 1, 1), latent_channels=4,
    ).eval()  # diffusers' model mixins hide nn.Module's methods from mypy
    return vae, taesd


def tiny_sd(folder: Path | None = None):
    """A tiny random StableDiffusionPipeline (with a tiny TAESD in `.taesd`)."""
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=TEXT_DIM, attention_head_dim=8, norm_num_groups=8,
    ).eval()  # type: ignore[attr-defined]  # diffusers' model mixins hide nn.Module's methods from mypy
    vae, taesd = _vaes()
    pipe = StableDiffusionPipeline(
        unet=unet, vae=vae, text_encoder=_text_encoder(), tokenizer=tiny_tokenizer(folder),
        scheduler=_schedulers(), safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.taesd = taesd  # type: ignore[attr-defined]
    pipe.set_progress_bar_config(disable=True)  # type: ignore[attr-defined]  # (the same, for the pipeline mixin)
    return pipe


def tiny_sdxl(folder: Path | None = None):
    """A tiny random StableDiffusionXLPipeline: two text encoders, pooled embeddings, time ids."""
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel

    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=2 * TEXT_DIM, attention_head_dim=(2, 4), norm_num_groups=8,
        addition_embed_type="text_time", addition_time_embed_dim=8, transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=TEXT_DIM + 6 * 8, use_linear_projection=True,
    ).eval()  # type: ignore[attr-defined]  # diffusers' model mixins hide nn.Module's methods from mypy
    vae, taesd = _vaes()
    pipe = StableDiffusionXLPipeline(
        unet=unet, vae=vae, text_encoder=_text_encoder(), text_encoder_2=_text_encoder(projection=True),
        tokenizer=tiny_tokenizer(folder), tokenizer_2=tiny_tokenizer(folder), scheduler=_schedulers(),
    )
    pipe.taesd = taesd  # type: ignore[attr-defined]
    pipe.set_progress_bar_config(disable=True)  # type: ignore[attr-defined]  # (the same, for the pipeline mixin)
    return pipe


def save_tiny(folder: Path, kind: str = "sd") -> Path:
    """Build a tiny pipeline and `save_pretrained` it (TAESD in `folder/taesd`); returns the folder."""
    folder = Path(folder)
    pipe = tiny_sdxl() if kind == "sdxl" else tiny_sd()
    pipe.save_pretrained(folder, safe_serialization=True)
    pipe.taesd.save_pretrained(folder / "taesd", safe_serialization=True)
    return folder
