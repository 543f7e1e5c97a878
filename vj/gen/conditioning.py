"""What the UNet runs on besides the sampler: the autoencoder (TAESD or the full VAE) and the
conditioning (blended prompt embeddings, SDXL's added embeddings, an LCM UNet's guidance embedding).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from vj.gen.base import GenRequest
from vj.gen.prompts import Embeds, PromptBank


def place(module: Any, device: torch.device, dtype: torch.dtype, memory: torch.memory_format | None) -> None:
    """Move a module only as far as needed (a no-op `.to(dtype)` still makes diffusers warn)."""
    param = next(module.parameters(), None)
    if param is not None and param.device != device:
        module.to(device=device)
    if param is not None and param.dtype != dtype:
        module.to(dtype=dtype)
    if memory is not None:
        module.to(memory_format=memory)



class Autoencoder:
    """TAESD (`pipe.taesd`, when the config asks for it and the pipeline has one) or the full VAE:
    images in [-1, 1] to scaled latents and back, in the dtype the autoencoder needs."""

    def __init__(self, pipe: Any, vae: str, device: torch.device, dtype: torch.dtype,
                 memory: torch.memory_format) -> None:
        taesd = getattr(pipe, "taesd", None)
        self.module = taesd if vae == "taesd" and taesd is not None else pipe.vae
        self.tiny = self.module is taesd
        # SDXL's full VAE overflows in fp16: keep it in float32 when it says so, as diffusers does.
        force_upcast = bool(getattr(self.module.config, "force_upcast", False))
        upcast = not self.tiny and dtype == torch.float16 and force_upcast
        self.dtype = torch.float32 if upcast else dtype
        place(self.module, device, self.dtype, memory)
        cfg = self.module.config
        self._scale = float(getattr(cfg, "scaling_factor", 1.0) or 1.0)
        self._shift = float(getattr(cfg, "shift_factor", 0.0) or 0.0)
        self._memory = memory

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        image = image.contiguous(memory_format=self._memory)
        if self.tiny:
            latents = self.module.encode(image, return_dict=False)[0]
        else:
            # The posterior's mean, not a sample: the noise is ours (seeded, walked).
            latents = self.module.encode(image, return_dict=False)[0].mode()
        return (latents.float() - self._shift) * self._scale

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        z = (latents * (1.0 / self._scale) + self._shift).to(self.dtype)
        return self.module.decode(z.contiguous(memory_format=self._memory), return_dict=False)[0]


class Conditioning:
    """What the UNet is conditioned on besides the latents: the blended prompt embeddings (batched
    with the negative prompt's for classifier-free guidance), SDXL's added embeddings, and the
    guidance embedding of an LCM-distilled UNet. Caches what repeats from frame to frame."""

    def __init__(self, pipe: Any, device: torch.device, dtype: torch.dtype, blend: str, background: bool = False
                 ) -> None:
        unet_config = pipe.unet.config
        # background: a new prompt text is encoded on a thread, blended in when ready (vj.gen.prompts)
        self.bank = PromptBank(pipe, device, dtype, background=background)
        self.sdxl = getattr(unet_config, "addition_embed_type", None) == "text_time"
        self.time_cond_dim: int | None = getattr(unet_config, "time_cond_proj_dim", None)
        self.device = device
        self.dtype = dtype
        self.blend = blend
        self._guidance_emb: tuple[float, torch.Tensor] | None = None
        self._cfg_embeds: tuple[Embeds, Embeds, torch.Tensor, torch.Tensor | None] | None = None
        self._time_ids: torch.Tensor | None = None

    def resize(self, w: int, h: int) -> None:
        if self.sdxl:
            # SDXL micro-conditioning: original size, crop top-left (0, 0), target size, as (h, w) pairs.
            self._time_ids = torch.tensor([[h, w, 0, 0, h, w]], dtype=self.dtype, device=self.device)

    def forget(self) -> None:
        """Drop the per-size and per-prompt device tensors (a new size, or out of memory)."""
        self._time_ids = None
        self._cfg_embeds = None

    def clear(self) -> None:
        self.forget()
        self.bank.clear()
        self._guidance_emb = None

    def close(self) -> None:
        self.clear()
        self.bank.close()

    def cfg(self, guidance: float) -> bool:
        """Classifier-free guidance: above 1, unless the UNet takes guidance as an embedding."""
        return guidance > 1.0 and self.time_cond_dim is None

    def text(self, request: GenRequest, cfg: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The prompt embeddings and, for SDXL, the pooled ones (with cfg: negative, then prompt)."""
        cond = self.bank.blend(request.prompts, self.blend)
        if not cfg:
            return cond.prompt, cond.pooled
        neg = self.bank.negative(request.negative)
        cached = self._cfg_embeds
        if cached is None or cached[0] is not cond or cached[1] is not neg:
            prompt = torch.cat([neg.prompt, cond.prompt])
            pooled = None
            if cond.pooled is not None and neg.pooled is not None:
                pooled = torch.cat([neg.pooled, cond.pooled])
            cached = (cond, neg, prompt, pooled)
            self._cfg_embeds = cached
        return cached[2], cached[3]

    def time_ids(self) -> torch.Tensor | None:
        """SDXL's size conditioning for the current size (None for SD)."""
        return self._time_ids if self.sdxl else None

    def guidance_embedding(self, guidance: float) -> torch.Tensor | None:
        """LCM-distilled UNets take the guidance scale as an embedding (w = guidance - 1), not as CFG;
        None for other UNets."""
        if not self.time_cond_dim:
            return None
        if self._guidance_emb is not None and self._guidance_emb[0] == guidance:
            return self._guidance_emb[1]
        dim = int(self.time_cond_dim)
        half = dim // 2
        w = (max(guidance, 1.0) - 1.0) * 1000.0
        freqs = torch.exp(
            torch.arange(half, device=self.device, dtype=torch.float32) * (-math.log(10000.0) / (half - 1))
        )
        emb = torch.cat([torch.sin(freqs * w), torch.cos(freqs * w)]).unsqueeze(0)
        if dim % 2:
            emb = F.pad(emb, (0, 1))
        emb = emb.to(self.dtype)
        self._guidance_emb = (guidance, emb)
        return emb
