"""Prompt embeddings: cached per text, blended by weight without text-encoder calls, equal to diffusers'."""

import logging

import pytest
import torch

from vj.gen.base import Prompt
from vj.gen.prompts import PromptBank, slerp

A, B, C = "a neon cathedral", "a forest of glass", "a storm over the sea"


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):
    """Every test here runs torch on one thread (see conftest)."""


class CallCounter:
    """Counts a real module's forward calls with a forward hook."""

    def __init__(self, *modules):
        self.calls = 0
        self._handles = [m.register_forward_hook(self._hook) for m in modules]

    def _hook(self, module, args, output):
        self.calls += 1

    def remove(self):
        for h in self._handles:
            h.remove()


def test_embeddings_match_diffusers_encode_prompt(sd, sdxl):
    bank = PromptBank(sd)
    ref = sd.encode_prompt(A, "cpu", 1, False)[0]
    assert bank.encode(A).prompt.shape == (1, 77, 32) and bank.encode(A).pooled is None
    assert torch.allclose(bank.encode(A).prompt, ref, atol=1e-6)

    xl = PromptBank(sdxl)
    prompt, _, pooled, _ = sdxl.encode_prompt(
        A, device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=False
    )
    got = xl.encode(A)
    assert got.prompt.shape == (1, 77, 64) and got.pooled.shape == (1, 32)
    assert torch.allclose(got.prompt, prompt, atol=1e-6) and torch.allclose(got.pooled, pooled, atol=1e-6)


def test_lerp_blend_endpoints_and_midpoint(sd):
    bank = PromptBank(sd)
    a, b = bank.encode(A).prompt, bank.encode(B).prompt
    assert torch.equal(bank.blend([Prompt(A, 1.0), Prompt(B, 0.0)]).prompt, a)
    assert torch.equal(bank.blend([Prompt(A, 0.0), Prompt(B, 0.7)]).prompt, b)
    mid = bank.blend([Prompt(A, 0.5), Prompt(B, 0.5)]).prompt
    assert torch.equal(mid, (a + b) / 2)
    # Weights are normalised: 2:2 is the same blend as 0.5:0.5.
    assert torch.allclose(bank.blend([Prompt(A, 2.0), Prompt(B, 2.0)]).prompt, mid, atol=1e-7)


def test_slerp_blend_endpoints_and_norm(sd):
    bank = PromptBank(sd)
    a, b = bank.encode(A).prompt, bank.encode(B).prompt
    assert torch.equal(bank.blend([Prompt(A, 1.0), Prompt(B, 0.0)], "slerp").prompt, a)
    assert torch.equal(bank.blend([Prompt(A, 0.0), Prompt(B, 1.0)], "slerp").prompt, b)
    mid = bank.blend([Prompt(A, 0.5), Prompt(B, 0.5)], "slerp").prompt
    lerp = (a + b) / 2
    # Per token, the spherical midpoint is no shorter than the straight one, and strictly longer
    # where the prompts differ.
    assert bool((mid.norm(dim=-1) >= lerp.norm(dim=-1) - 1e-5).all())
    assert float((mid.norm(dim=-1) - lerp.norm(dim=-1)).max()) > 1e-4
    assert torch.allclose(mid[0, 0], a[0, 0])  # the start token is the same in every prompt
    # The slerp itself: endpoints exact, half way equidistant.
    x, y = torch.randn(3, 16), torch.randn(3, 16)
    y = y * (x.norm(dim=-1, keepdim=True) / y.norm(dim=-1, keepdim=True))  # equal norms: a true arc
    assert torch.equal(slerp(x, y, 0.0), x) and torch.equal(slerp(x, y, 1.0), y)
    h = slerp(x, y, 0.5)
    assert torch.allclose((h - x).norm(dim=-1), (h - y).norm(dim=-1), rtol=1e-4)


def test_weight_changes_make_no_encoder_calls(sd):
    bank = PromptBank(sd)
    counter = CallCounter(sd.text_encoder)
    try:
        bank.blend([Prompt(A, 1.0), Prompt(B, 0.0)])
        assert counter.calls == 2  # both slots encoded once, even the one at weight 0
        for wa, wb in [(0.3, 0.7), (0.0, 1.0), (0.5, 0.5), (1.0, 0.0)]:
            for mode in ("lerp", "slerp"):
                bank.blend([Prompt(A, wa), Prompt(B, wb)], mode)
        assert counter.calls == 2
        bank.blend([Prompt(A, 0.5), Prompt(C, 0.5)])
        assert counter.calls == 3  # a new text costs exactly one call
        assert bank.encoder_calls == 3
    finally:
        counter.remove()


def test_sdxl_blends_pooled_embeddings_with_one_call_per_encoder(sdxl):
    bank = PromptBank(sdxl)
    counter = CallCounter(sdxl.text_encoder, sdxl.text_encoder_2)
    try:
        a, b = bank.encode(A), bank.encode(B)
        assert counter.calls == 4  # two texts, two encoders
        one = bank.blend([Prompt(A, 1.0), Prompt(B, 0.0)])
        assert torch.equal(one.prompt, a.prompt) and torch.equal(one.pooled, a.pooled)
        mid = bank.blend([Prompt(A, 0.5), Prompt(B, 0.5)])
        assert torch.equal(mid.pooled, (a.pooled + b.pooled) / 2)
        smid = bank.blend([Prompt(A, 0.5), Prompt(B, 0.5)], "slerp")
        assert smid.pooled.shape == (1, 32) and not torch.equal(smid.pooled, mid.pooled)
        assert counter.calls == 4
    finally:
        counter.remove()
    # SDXL's empty negative prompt is zeros (force_zeros_for_empty_prompt), as diffusers does.
    neg = bank.negative("")
    assert not neg.prompt.any() and not neg.pooled.any()


def test_zero_weights_use_the_first_prompt_with_one_warning(sd, caplog):
    bank = PromptBank(sd)
    with caplog.at_level(logging.WARNING, logger="vj.gen.prompts"):
        for _ in range(3):
            out = bank.blend([Prompt(A, 0.0), Prompt(B, 0.0)])
            out = bank.blend([Prompt(A, 0.0), Prompt(B, -0.0)])
    assert torch.equal(out.prompt, bank.encode(A).prompt)
    assert len([r for r in caplog.records if "zero" in r.getMessage()]) == 1


def test_empty_texts_are_skipped(sd):
    bank = PromptBank(sd)
    assert torch.equal(bank.blend([Prompt("", 1.0), Prompt(B, 0.2)]).prompt, bank.encode(B).prompt)
    assert torch.equal(bank.blend([]).prompt, bank.encode("").prompt)
    with pytest.raises(ValueError, match="blend mode"):
        bank.blend([Prompt(A, 1.0)], "cubic")
