"""The tiny random pipelines: real diffusers architectures in miniature, saved and loaded offline."""

import numpy as np
import torch
from diffusers import AutoPipelineForImage2Image, StableDiffusionPipeline, StableDiffusionXLPipeline
from PIL import Image

from vj.gen.tiny import save_tiny, tiny_sd, tiny_sdxl, tiny_tokenizer


def test_tokenizer_takes_any_text():
    tok = tiny_tokenizer()
    ids = tok("Neon synthwave tunnel, ünïcode ✨", padding="max_length", max_length=77).input_ids
    assert len(ids) == 77 and ids[0] == tok.bos_token_id


def test_tiny_pipelines_run_img2img_and_are_seeded():
    image = Image.new("RGB", (64, 64), (120, 40, 200))
    for build in (tiny_sd, tiny_sdxl):
        a, b = build(), build()
        for name, pa in a.unet.named_parameters():
            assert torch.equal(pa, dict(b.unet.named_parameters())[name])
        out = AutoPipelineForImage2Image.from_pipe(a)(
            prompt="a cat", image=image, num_inference_steps=2, strength=0.5, guidance_scale=0.0, output_type="np"
        ).images
        assert out.shape == (1, 64, 64, 3) and np.isfinite(out).all()
        assert a.taesd.encode(torch.zeros(1, 3, 64, 64)).latents.shape == (1, 4, 8, 8)


def test_saved_tiny_pipelines_load_back_offline(tmp_path):
    save_tiny(tmp_path / "sd")
    save_tiny(tmp_path / "sdxl", kind="sdxl")
    sd = StableDiffusionPipeline.from_pretrained(tmp_path / "sd", local_files_only=True)
    xl = StableDiffusionXLPipeline.from_pretrained(tmp_path / "sdxl", local_files_only=True)
    original = tiny_sd()
    assert torch.equal(sd.unet.conv_in.weight, original.unet.conv_in.weight)
    assert xl.text_encoder_2.config.projection_dim == 32
    assert (tmp_path / "sd" / "taesd" / "config.json").exists()
