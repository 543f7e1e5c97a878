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

Background encoding (`background=True`): a new prompt must not stall a live frame, and
encoding one is a text-encoder forward (on CUDA also a blocking copy). So `blend` never
encodes a text it has not cached: it queues it to one daemon thread and blends the texts
already encoded, their weights renormalised among them; the new text joins the blend on the
first frame after it is ready (Show's weight ramps fade it in). Only when none of the
blend's weighted texts is ready (the very first frame) is one encoded in the frame. On CUDA
the thread encodes on its own stream and records an event; the frame's stream waits on that
event on the device (no host sync) the first time it uses the embeddings. The bank itself
is used from one thread (the frame's): the encoder thread only takes texts from one queue
and hands the results back through another, and one lock keeps the text encoders (and their
tokenizers) to one thread at a time.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
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
        *,
        background: bool = False,
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
        self._encoder_lock = threading.Lock()  # one thread at a time runs a tokenizer or encoder
        # Background mode; all of these but the worker's queues belong to the frame's thread.
        self._worker = _EncoderThread(self._encode, self.device) if background else None
        if self._worker is not None:
            weakref.finalize(self, self._worker.stop)  # a bank dropped without close() ends it too
        self._queued: set[str] = set()  # given to the worker, result not collected yet
        self._failed: set[str] = set()  # the worker's encoder raised for these; blends skip them
        self._warned_failed: set[str] = set()
        self._unwaited: dict[str, torch.cuda.Event] = {}  # events the frame's stream has not waited on

    # -- encoding ------------------------------------------------------------------------

    def _tokens(self, tokenizer: Any, text: str) -> torch.Tensor:
        ids = tokenizer(
            text, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
            return_tensors="pt",
        ).input_ids
        return ids

    def _encode(self, text: str) -> Embeds:
        with self._encoder_lock, torch.inference_mode():
            return self._encode_locked(text)

    def _encode_locked(self, text: str) -> Embeds:
        if not self.sdxl:
            tokenizer, encoder = self._pairs[0]
            ids = self._tokens(tokenizer, text).to(encoder.device)
            mask = None
            if getattr(encoder.config, "use_attention_mask", False):
                mask = tokenizer(
                    text, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt",
                ).attention_mask.to(encoder.device)
            self.encoder_calls += 1  # under the encoder lock, whichever thread encodes
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
        """The embeddings of one prompt text (cached: a new text costs one call per text encoder).

        Always synchronous: in background mode too, a text not ready yet is encoded here.
        """
        self._collect()
        if text in self._cache:
            return self._take(text)
        embeds = self._encode(text)
        self._failed.discard(text)
        self._store(text, embeds)
        return embeds

    def _store(self, text: str, embeds: Embeds) -> None:
        self._cache[text] = embeds
        while len(self._cache) > self._entries:
            evicted, _ = self._cache.popitem(last=False)
            self._unwaited.pop(evicted, None)

    def _take(self, text: str) -> Embeds:
        """A cached text's embeddings, once the frame's CUDA stream waits for the encoder thread's."""
        embeds = self._cache[text]
        self._cache.move_to_end(text)
        event = self._unwaited.pop(text, None)
        if event is not None:
            _wait_for(event, embeds, self.device)
        return embeds

    def _collect(self) -> None:
        """Move the encoder thread's finished texts into the cache (failures into `_failed`)."""
        if self._worker is None:
            return
        for text, embeds, event in self._worker.finished():
            if text not in self._queued:
                continue  # cleared since: drop it
            self._queued.discard(text)
            if text in self._cache:
                continue  # encoded in the frame meanwhile (nothing else was ready)
            if embeds is None:
                self._failed.add(text)
            else:
                self._store(text, embeds)
                if event is not None:
                    self._unwaited[text] = event

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
        """The weighted blend of the prompts' embeddings (weights normalised; empty texts skipped).

        In background mode, of the texts already encoded only (see the module docstring).
        """
        if mode not in BLEND_MODES:
            raise ValueError(f"unknown blend mode {mode!r}: expected one of {', '.join(BLEND_MODES)}")
        if self._worker is not None:
            return self._blend_ready(prompts, mode)
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

    def _blend_ready(self, prompts: Sequence[Prompt], mode: str) -> Embeds:
        """`blend` in background mode: the ready texts, renormalised; the missing ones queued."""
        assert self._worker is not None
        self._collect()
        weights = self._weights(prompts)
        ready = [(t, w) for t, w in weights if t in self._cache]
        if not ready:  # a frame must have something: encode one text here
            first = next((t for t, _ in weights if t not in self._failed), weights[0][0])
            self.encode(first)
            ready = [(first, 1.0)]
        for text in [p.text for p in prompts if p.text.strip()] + [t for t, _ in weights]:
            if text not in self._cache and text not in self._queued and text not in self._failed:
                self._queued.add(text)
                self._worker.submit(text)
        for text, _ in weights:
            if text in self._failed and text not in self._warned_failed:
                log.warning("prompt %r could not be encoded: it is left out of the blend", text)
                self._warned_failed.add(text)
        # The ready texts are part of the key: a text that becomes ready changes the blend.
        key = (tuple((p.text, float(p.weight)) for p in prompts), mode, frozenset(t for t, _ in ready))
        if self._last_blend is not None and self._last_blend[0] == key:
            return self._last_blend[1]
        if len(ready) < len(weights):  # renormalise among the ready texts
            total = sum(w for _, w in ready)
            ready = [(t, w / total) for t, w in ready]
        weighted = [(self._take(t), w) for t, w in ready]
        out = _lerp_all(weighted) if mode == "lerp" else _slerp_all(weighted)
        self._last_blend = (key, out)
        return out

    @property
    def pending(self) -> int:
        """Texts queued to the encoder thread or being encoded there (0 without one)."""
        return 0 if self._worker is None else self._worker.pending

    def close(self) -> None:
        """Stop and join the encoder thread (idempotent); the bank then encodes in the caller."""
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def clear(self) -> None:
        self._cache.clear()
        self._negatives.clear()
        self._last_blend = None
        self._queued.clear()  # a result still on its way is dropped; the text is queued again
        self._failed.clear()
        self._warned_failed.clear()
        self._unwaited.clear()


_Finished = tuple[str, Embeds | None, torch.cuda.Event | None]  # text, embeddings (None: failed), event


class _EncoderThread:
    """One daemon thread that encodes queued texts and hands the results back through a queue.

    On CUDA it encodes on its own stream and records an event after the embeddings are on
    the device; the consumer's stream must wait on that event before reading them. It holds
    the bank's encode method weakly, so that a bank nobody closed can still be collected.
    """

    def __init__(self, encode: Callable[[str], Embeds], device: torch.device) -> None:
        self._encode = weakref.WeakMethod(encode)
        self._device = device
        self._todo: queue.Queue[str | None] = queue.Queue()
        self._done: queue.Queue[_Finished] = queue.Queue()
        self._lock = threading.Lock()
        self._pending = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vj-prompt-encoder", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    def submit(self, text: str) -> None:
        with self._lock:
            self._pending += 1
        self._todo.put(text)

    def finished(self) -> list[_Finished]:
        """The results ready now (never blocks)."""
        out = []
        while True:
            try:
                out.append(self._done.get_nowait())
            except queue.Empty:
                return out

    def stop(self) -> None:
        """Ask the thread to end after the text it is encoding, if any (does not wait)."""
        self._stop.set()
        self._todo.put(None)

    def close(self) -> None:
        self.stop()
        self._thread.join()

    def _run(self) -> None:
        stream = torch.cuda.Stream(self._device) if self._device.type == "cuda" else None
        with torch.inference_mode():  # thread-local: the frame thread's mode does not reach here
            while (text := self._todo.get()) is not None and not self._stop.is_set():
                self._done.put(self._one(text, stream))
                with self._lock:
                    self._pending -= 1

    def _one(self, text: str, stream: torch.cuda.Stream | None) -> _Finished:
        encode = self._encode()
        if encode is None:  # the bank is gone; its finalizer stops this thread
            return text, None, None
        try:
            if stream is None:
                return text, encode(text), None
            with torch.cuda.stream(stream):
                embeds = encode(text)
                event = torch.cuda.Event()
                event.record(stream)
            return text, embeds, event
        except Exception:
            log.exception("the prompt encoder thread could not encode %r; blends leave it out", text)
            return text, None, None


def _wait_for(event: torch.cuda.Event, embeds: Embeds, device: torch.device) -> None:
    """The current CUDA stream waits for another stream's embeddings: on the device, not the host."""
    stream = torch.cuda.current_stream(device)
    stream.wait_event(event)
    for t in (embeds.prompt, embeds.pooled):
        if t is not None:
            t.record_stream(stream)  # its memory is not reused by the encoder's stream while this one reads


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
