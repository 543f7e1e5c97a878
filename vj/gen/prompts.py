"""Prompt embeddings, cached per text, and their weighted blend.

Every prompt text is tokenised and encoded once (one call per text encoder) and kept on
the device; a blend is then a few tensor operations, so moving a weight never touches the
text encoder. SD pipelines give `prompt` embeddings (1, 77, D); SDXL pipelines give the
two encoders' penultimate hidden states concatenated (1, 77, D1 + D2) plus the second
encoder's pooled projection (1, P), exactly as diffusers' `encode_prompt` builds them.

Blend modes:
- "lerp": the weighted mean with normalised weights.
- "slerp": pairwise-sequential spherical interpolation, per token vector (last dimension):
  acc = e1; for each next prompt i: acc = slerp(acc, e_i, w_i / (w_1 + ... + w_i)). For two
  prompts that is slerp(a, b, w_b / (w_a + w_b)); for more it depends on the slot order (a
  spherical blend of N points has no closed form; this one is cheap and exact at the
  endpoints). Per token, because CLIP's start token is the same in every prompt and has a
  much larger norm than the rest: a slerp of the flattened tensor would be steered by it.
  Nearly parallel token vectors fall back to lerp.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from vj.gen.base import Prompt

log = logging.getLogger(__name__)

BLEND_MODES = ("lerp", "slerp")
CACHE_ENTRIES = 256  # distinct prompt texts kept (a set list rarely has more)


@dataclass(frozen=True)
class Embeds:
    """Text conditioning for one frame: prompt embeddings and, for SDXL, pooled embeddings."""

    prompt: torch.Tensor  # (1, tokens, D)
    pooled: torch.Tensor | None = None  # (1, P) for SDXL, else None


class PromptBank:
    """Text-encoder outputs cached per prompt text, blended by weight without re-encoding."""

    def __init__(
        self,
        pipe: Any,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        entries: int = CACHE_ENTRIES,
    ) -> None:
        encoders = [getattr(pipe, "text_encoder", None), getattr(pipe, "text_encoder_2", None)]
        tokenizers = [getattr(pipe, "tokenizer", None), getattr(pipe, "tokenizer_2", None)]
        pairs = [(t, e) for t, e in zip(tokenizers, encoders) if t is not None and e is not None]
        if not pairs:
            raise ValueError("the pipeline has no text encoder and tokenizer")
        unet = getattr(pipe, "unet", None)
        unet_cfg = getattr(unet, "config", None)
        self.sdxl = (
            getattr(unet_cfg, "addition_embed_type", None) == "text_time"
            or getattr(pipe, "text_encoder_2", None) is not None
        )
        self._pairs = pairs
        pipe_cfg = getattr(pipe, "config", None)
        self._zero_negative = bool(getattr(pipe_cfg, "force_zeros_for_empty_prompt", False))
        first = pairs[0][1]
        self.device = torch.device(device) if device is not None else first.device
        self.dtype = dtype if dtype is not None else (unet.dtype if unet is not None else first.dtype)
        self._entries = max(1, int(entries))
        self._cache: OrderedDict[str, Embeds] = OrderedDict()
        self._negatives: dict[str, Embeds] = {}
        self._last_blend: tuple[tuple, Embeds] | None = None
        self._warned_zero = False
        self.encoder_calls = 0  # text-encoder forward calls made (one per encoder per new text)

    # -- encoding ------------------------------------------------------------------------

    def _tokens(self, tokenizer: Any, text: str) -> torch.Tensor:
        ids = tokenizer(
            text, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
            return_tensors="pt",
        ).input_ids
        return ids

    @torch.inference_mode()
    def _encode(self, text: str) -> Embeds:
        if not self.sdxl:
            tokenizer, encoder = self._pairs[0]
            ids = self._tokens(tokenizer, text).to(encoder.device)
            mask = None
            if getattr(encoder.config, "use_attention_mask", False):
                mask = tokenizer(
                    text, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt",
                ).attention_mask.to(encoder.device)
            self.encoder_calls += 1
            hidden = encoder(ids, attention_mask=mask)[0]
            return Embeds(hidden.to(self.device, self.dtype))
        hiddens, pooled = [], None
        for tokenizer, encoder in self._pairs:
            ids = self._tokens(tokenizer, text).to(encoder.device)
            self.encoder_calls += 1
            out = encoder(ids, output_hidden_states=True)
            # SDXL conditions on the penultimate layer; the pooled vector is the last
            # encoder's projected output (a 2-d first output, as diffusers picks it).
            if out[0].ndim == 2:
                pooled = out[0]
            hiddens.append(out.hidden_states[-2])
        if pooled is None:
            raise ValueError("SDXL pipeline: the last text encoder gives no pooled (projected) output")
        return Embeds(
            torch.cat(hiddens, dim=-1).to(self.device, self.dtype), pooled.to(self.device, self.dtype)
        )

    def encode(self, text: str) -> Embeds:
        """The embeddings of one prompt text (cached: a new text costs one call per text encoder)."""
        hit = self._cache.get(text)
        if hit is not None:
            self._cache.move_to_end(text)
            return hit
        embeds = self._encode(text)
        self._cache[text] = embeds
        while len(self._cache) > self._entries:
            self._cache.popitem(last=False)
        return embeds

    def negative(self, text: str) -> Embeds:
        """The unconditional side of classifier-free guidance for a negative prompt.

        An empty negative on an SDXL pipeline configured with `force_zeros_for_empty_prompt`
        is all zeros, as diffusers does; otherwise the text (possibly "") is encoded.
        """
        hit = self._negatives.get(text)
        if hit is not None:
            return hit
        if text == "" and self.sdxl and self._zero_negative:
            ref = self.encode("")
            embeds = Embeds(
                torch.zeros_like(ref.prompt), None if ref.pooled is None else torch.zeros_like(ref.pooled)
            )
        else:
            embeds = self.encode(text)
        if len(self._negatives) >= 16:  # negatives change rarely; keep the dict small
            self._negatives.clear()
        self._negatives[text] = embeds
        return embeds

    # -- blending ------------------------------------------------------------------------

    def _weights(self, prompts: Sequence[Prompt]) -> list[tuple[str, float]]:
        live = []
        for p in prompts:
            if not p.text.strip():
                continue  # an empty slot is not a prompt
            w = float(p.weight)
            live.append((p.text, w if math.isfinite(w) and w > 0.0 else 0.0))
        if not live:
            return [("", 1.0)]
        total = sum(w for _, w in live)
        if total <= 0.0:
            if not self._warned_zero:
                log.warning("all prompt weights are zero: using the first prompt (%r)", live[0][0])
                self._warned_zero = True
            return [(live[0][0], 1.0)]
        self._warned_zero = False  # warn again the next time the weights all fall to zero
        return [(t, w / total) for t, w in live if w > 0.0]

    def blend(self, prompts: Sequence[Prompt], mode: str = "lerp") -> Embeds:
        """The weighted blend of the prompts' embeddings (weights normalised; empty texts skipped)."""
        if mode not in BLEND_MODES:
            raise ValueError(f"unknown blend mode {mode!r}: expected one of {', '.join(BLEND_MODES)}")
        key = (tuple((p.text, float(p.weight)) for p in prompts), mode)
        if self._last_blend is not None and self._last_blend[0] == key:
            return self._last_blend[1]
        # Encode every slot's text, weighted or not, so that raising a weight from zero
        # later costs no encoder call either.
        for p in prompts:
            if p.text.strip():
                self.encode(p.text)
        weighted = [(self.encode(t), w) for t, w in self._weights(prompts)]
        out = _lerp_all(weighted) if mode == "lerp" else _slerp_all(weighted)
        self._last_blend = (key, out)
        return out

    def clear(self) -> None:
        self._cache.clear()
        self._negatives.clear()
        self._last_blend = None


def _lerp_all(weighted: list[tuple[Embeds, float]]) -> Embeds:
    if len(weighted) == 1:
        return weighted[0][0]  # exactly the prompt's own embeddings, no arithmetic
    (first, w0), rest = weighted[0], weighted[1:]
    prompt = first.prompt * w0
    pooled = None if first.pooled is None else first.pooled * w0
    for e, w in rest:
        prompt = torch.add(prompt, e.prompt, alpha=w)
        if pooled is not None and e.pooled is not None:
            pooled = torch.add(pooled, e.pooled, alpha=w)
    return Embeds(prompt, pooled)


def _slerp_all(weighted: list[tuple[Embeds, float]]) -> Embeds:
    acc, total = weighted[0]
    for e, w in weighted[1:]:
        total += w
        t = w / total
        acc = Embeds(
            slerp(acc.prompt, e.prompt, t),
            None if acc.pooled is None or e.pooled is None else slerp(acc.pooled, e.pooled, t),
        )
    return acc


def slerp(a: torch.Tensor, b: torch.Tensor, t: float, dot_threshold: float = 0.9995) -> torch.Tensor:
    """Spherical interpolation of the vectors along the last dimension; t=0 is exactly a, t=1 exactly b."""
    if t <= 0.0:
        return a
    if t >= 1.0:
        return b
    a32, b32 = a.float(), b.float()
    na = a32.norm(dim=-1, keepdim=True)
    nb = b32.norm(dim=-1, keepdim=True)
    cos = ((a32 * b32).sum(dim=-1, keepdim=True) / (na * nb).clamp_min(1e-12)).clamp(-1.0, 1.0)
    theta = torch.acos(cos)
    sin = torch.sin(theta).clamp_min(1e-12)
    c0 = torch.sin((1.0 - t) * theta) / sin
    c1 = torch.sin(t * theta) / sin
    spherical = c0 * a32 + c1 * b32
    linear = torch.lerp(a32, b32, t)
    return torch.where(cos.abs() > dot_threshold, linear, spherical).to(a.dtype)
