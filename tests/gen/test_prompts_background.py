"""Background prompt encoding: a new text is encoded off the frame's thread, and a frame never waits for it.

The encoder is the real tiny text encoder; a forward pre-hook holds it (or makes it raise) on
the test's word, so "the frame did not wait" is shown by order of events, never by timing. The
CUDA side (the encoder's own stream, the frame stream's wait on its event) is checked by
benchmarks/gpu_check.sh on a GPU machine.
"""

import gc
import logging
import threading
import time

import pytest
import torch

from vj.gen.base import Prompt
from vj.gen.prompts import PromptBank

A, B, C = "a neon cathedral", "a forest of glass", "a storm over the sea"
THREAD = "vj-prompt-encoder"
DEADLINE_S = 60.0  # only a guard against a hung test: nothing here measures time


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):
    """Every test here runs torch on one thread (see conftest)."""


class Gate:
    """A forward pre-hook on real encoders: holds every forward while closed, raises while failing."""

    def __init__(self, *modules):
        self.open = threading.Event()
        self.open.set()
        self.entered = threading.Event()  # a forward reached the hook while the gate was closed
        self.failing = False
        self._handles = [m.register_forward_pre_hook(self._hook) for m in modules]

    def _hook(self, module, args):
        if not self.open.is_set():
            self.entered.set()
            assert self.open.wait(DEADLINE_S), "the test never opened the gate"
        if self.failing:
            raise RuntimeError("the encoder fails on purpose")

    def remove(self):
        self.open.set()
        for h in self._handles:
            h.remove()


@pytest.fixture
def gate(sd):
    g = Gate(sd.text_encoder)
    yield g
    g.remove()


@pytest.fixture
def bank(sd):
    b = PromptBank(sd, background=True)
    yield b
    b.close()


def wait_until(condition, what):
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.002)


def in_thread(fn):
    """Runs fn in another thread; returns its result, or None if it did not return in time."""
    out = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    t.join(DEADLINE_S)
    return out[0] if out else None


def encoder_threads():
    return [t for t in threading.enumerate() if t.name == THREAD]


def test_a_new_text_never_blocks_the_frame(sd, gate, bank):
    sync = PromptBank(sd)
    a = bank.blend([Prompt(A, 1.0)]).prompt  # the very first frame: encoded in the frame
    assert torch.equal(a, sync.encode(A).prompt)
    two = [Prompt(A, 0.3), Prompt(B, 0.7)]

    gate.open.clear()  # from now on the encoder is held until the test opens the gate
    held = in_thread(lambda: bank.blend(two))
    assert held is not None and not gate.open.is_set()  # blend returned while the encoder was held
    assert torch.equal(held.prompt, a)  # the ready text alone, renormalised to weight 1
    assert gate.entered.wait(DEADLINE_S)  # the encoder thread really is inside B's forward
    assert bank.pending == 1
    for mode in ("lerp", "slerp"):  # more frames while B is pending: still A, B queued only once
        assert torch.equal(in_thread(lambda m=mode: bank.blend(two, m)).prompt, a)
    assert bank.pending == 1

    gate.open.set()
    wait_until(lambda: bank.pending == 0, "B encoded")
    ready = bank.blend(two)
    assert not torch.equal(ready.prompt, a)
    b = sync.encode(B).prompt
    assert torch.equal(ready.prompt, torch.add(a * 0.3, b, alpha=0.7))
    assert torch.equal(ready.prompt, sync.blend(two).prompt)
    assert torch.equal(bank.blend(two, "slerp").prompt, sync.blend(two, "slerp").prompt)
    assert bank.encoder_calls == 2  # A in the frame, B once in the thread


def test_the_first_blend_is_encoded_in_the_frame_like_the_synchronous_bank(sd, bank):
    first = [Prompt(A, 1.0), Prompt(B, 0.0)]
    out = bank.blend(first)
    assert torch.equal(out.prompt, PromptBank(sd).blend(first).prompt)
    wait_until(lambda: bank.pending == 0, "the weight-0 slot encoded too")
    assert bank.encoder_calls == 2  # B, at weight 0, was queued so raising it later is free
    assert torch.equal(bank.blend([Prompt(A, 0.0), Prompt(B, 1.0)]).prompt, PromptBank(sd).encode(B).prompt)
    assert bank.encoder_calls == 2


def test_an_encoder_error_skips_that_text_and_the_thread_keeps_serving(sd, gate, bank, caplog):
    threads = encoder_threads()
    a = bank.blend([Prompt(A, 1.0)]).prompt
    with caplog.at_level(logging.WARNING, logger="vj.gen.prompts"):
        gate.failing = True
        bank.blend([Prompt(A, 0.5), Prompt(C, 0.5)])
        wait_until(lambda: bank.pending == 0, "C tried")
        gate.failing = False
        for _ in range(3):
            out = bank.blend([Prompt(A, 0.5), Prompt(C, 0.5)])
            assert torch.equal(out.prompt, a)  # C is left out
        later = [Prompt(A, 0.5), Prompt(B, 0.5)]
        bank.blend(later)
        wait_until(lambda: bank.pending == 0, "B encoded after C failed")
    assert torch.equal(bank.blend(later).prompt, PromptBank(sd).blend(later).prompt)
    assert threads and all(t.is_alive() for t in threads)
    logged = [r for r in caplog.records if repr(C) in r.getMessage()]
    assert [r.levelno for r in logged] == [logging.ERROR, logging.WARNING]  # once each, naming C
    assert logged[0].exc_info is not None


def started(before):
    return [t for t in encoder_threads() if t not in before]


def test_close_ends_the_thread_and_is_idempotent(sd):
    before = encoder_threads()
    bank = PromptBank(sd, background=True)
    (thread,) = started(before)
    assert thread.daemon
    bank.blend([Prompt(A, 1.0)])
    bank.close()
    assert not thread.is_alive() and bank.pending == 0
    bank.close()
    # Closed, the bank encodes in the caller, like the synchronous one.
    two = [Prompt(A, 0.5), Prompt(B, 0.5)]
    assert torch.equal(bank.blend(two).prompt, PromptBank(sd).blend(two).prompt)


def test_a_bank_dropped_without_close_ends_its_thread(sd):
    before = encoder_threads()
    bank = PromptBank(sd, background=True)
    (thread,) = started(before)
    bank.blend([Prompt(A, 0.5), Prompt(B, 0.5)])
    del bank
    gc.collect()
    thread.join(DEADLINE_S)
    assert not thread.is_alive()


def test_clear_and_negative_in_background_mode(sd, bank):
    bank.blend([Prompt(A, 1.0)])
    calls = bank.encoder_calls
    assert torch.equal(bank.negative(A).prompt, bank.encode(A).prompt)
    assert bank.encoder_calls == calls  # the negative comes from the cache
    bank.clear()
    assert torch.equal(bank.blend([Prompt(A, 1.0)]).prompt, PromptBank(sd).encode(A).prompt)
    assert bank.encoder_calls == calls + 1  # cleared: encoded again, in the frame (nothing ready)


def test_sdxl_pooled_embeddings_in_background_mode(sdxl):
    gate = Gate(sdxl.text_encoder, sdxl.text_encoder_2)
    bank = PromptBank(sdxl, background=True)
    sync = PromptBank(sdxl)
    try:
        a = bank.blend([Prompt(A, 1.0)])
        two = [Prompt(A, 0.5), Prompt(B, 0.5)]
        gate.open.clear()
        held = in_thread(lambda: bank.blend(two))
        assert held is not None and not gate.open.is_set()
        assert torch.equal(held.prompt, a.prompt) and torch.equal(held.pooled, a.pooled)
        gate.open.set()
        wait_until(lambda: bank.pending == 0, "B encoded")
        out, ref = bank.blend(two), sync.blend(two)
        assert out.pooled.shape == (1, 32)
        assert torch.equal(out.prompt, ref.prompt) and torch.equal(out.pooled, ref.pooled)
        assert bank.encoder_calls == 4  # two texts, two encoders
    finally:
        gate.remove()
        bank.close()
