"""How a frame runs: eagerly, compiled by torch.compile, or replayed as one captured CUDA graph.

Why: eagerly one sd-turbo frame is about 1,400 small op launches (sdxl-turbo about 3,700); on a
fast GPU the frame is bound by Python and launch overhead, not by the GPU. A CUDA graph replays
the whole frame (vj.gen.frame) with one launch; torch.compile fuses its small ops.

Modes (preset `compile:` and `--compile`):
- "off": eager.
- "default", "max-autotune": torch.compile of the whole frame, one compilation per layout
  (static shapes). "max-autotune" on CUDA also uses torch's own CUDA graphs.
- "reduce-overhead": torch.compile with torch's CUDA graphs (CUDA only).
- "graphs": the eager frame captured as one CUDA graph per layout (CUDA only).
- "compiled-graphs": the compiled frame captured as one CUDA graph per layout (CUDA only).
- "auto": the fastest mode that is correct on the device found: "graphs" on CUDA, else "off".

A graph mode asked for off CUDA runs the nearest mode that can ("graphs" -> "off", the others ->
"default"), with one warning. A capture that fails, or whose replay differs from the frame it
captured, gives the mode up for the uncaptured one and says why (`degraded`): the show goes on.

Graphs read static input buffers (`StaticInputs`): each frame copies its inputs into them (a
cached prompt or noise that has not changed is not copied again) and replays. All graphs share one memory pool,
which is safe because nothing reads a graph's outputs after another graph has replayed: the
frame is copied to the host and the feedback into the next graph's inputs first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import fields, replace
from functools import partial
from typing import Any

import torch

from vj.catalogue import COMPILE_MODES
from vj.gen.frame import FrameCore, FrameInputs, FrameOutputs, Layout, Mark

log = logging.getLogger(__name__)

GRAPH_MODES = ("graphs", "compiled-graphs")
TORCH_GRAPH_MODES = ("reduce-overhead", "max-autotune")  # torch.compile modes that capture graphs on CUDA
COMPILE_LIMIT = 64  # compilations of the frame function kept (torch's default, 8, runs the 9th layout eagerly)
WARM_RUNS = 3  # eager runs on a side stream before a capture (cuBLAS and cuDNN set themselves up)
MATCH_TOLERANCE = 2  # uint8 levels a replay may differ from the frame it captured (fp16 kernels' choices)


def resolve_mode(mode: str | bool, device: torch.device) -> str:
    """The mode that runs on `device` (see the module doc)."""
    if mode is True:
        mode = "default"
    elif mode is False:
        mode = "off"
    if mode not in COMPILE_MODES:
        raise ValueError(f"unknown compile mode {mode!r}: expected one of {', '.join(COMPILE_MODES)}")
    if mode == "auto":
        return "graphs" if device.type == "cuda" else "off"
    if device.type != "cuda" and (mode in GRAPH_MODES or mode == "reduce-overhead"):
        fallback = "off" if mode == "graphs" else "default"
        log.warning("compile: %s needs a CUDA GPU and this is %s: running %s", mode, device.type, fallback)
        return fallback
    return mode


class GraphMismatch(RuntimeError):
    """A captured frame's replay differs from the frame it captured."""


class StaticInputs:
    """A frame's inputs in buffers of their own, which a captured graph reads: `update` copies a
    frame's inputs in. Cached tensors (a prompt's embeddings, a seed's noise) are never changed in
    place, so one that was copied last time is not copied again; the rest (scalars, the previous
    frame, the warp, the camera) are copied every frame."""

    CACHED = frozenset({"noises", "prompt", "pooled", "time_ids", "guidance_embedding"})

    def __init__(self, inputs: FrameInputs) -> None:
        def clone(value: Any) -> Any:
            if isinstance(value, tuple):
                return tuple(v.clone() for v in value)
            return None if value is None else value.clone()

        self.inputs = replace(inputs, **{f.name: clone(getattr(inputs, f.name)) for f in fields(FrameInputs)})
        self._sources: dict[tuple[str, int], torch.Tensor] = {}  # the cached tensors last copied in

    def update(self, inputs: FrameInputs) -> int:
        """Copy `inputs` in; returns how many tensors were copied."""
        copies = 0
        for f in fields(FrameInputs):
            cached = f.name in self.CACHED
            for k, (src, dst) in enumerate(zip(_each(getattr(inputs, f.name)), _each(getattr(self.inputs, f.name)))):
                if cached and self._sources.get((f.name, k)) is src:
                    continue
                dst.copy_(src, non_blocking=True)
                copies += 1
                if cached:
                    self._sources[(f.name, k)] = src
        return copies


def _each(value: Any) -> tuple[torch.Tensor, ...]:
    """A field's tensors: a tuple's, one, or none."""
    if value is None:
        return ()
    return value if isinstance(value, tuple) else (value,)


class CapturedFrame:
    """One layout's frame captured as a CUDA graph over its static inputs; `run` replays it."""

    def __init__(self, fn: Callable[[FrameInputs], FrameOutputs], inputs: FrameInputs, pool: Any) -> None:
        self.static = StaticInputs(inputs)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARM_RUNS):
                reference = fn(self.static.inputs)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, pool=pool):
            self.out = fn(self.static.inputs)
        self.graph.replay()
        diff = (self.out.rgba.int() - reference.rgba.int()).abs().max()
        if int(diff) > MATCH_TOLERANCE:
            raise GraphMismatch(f"the replayed frame differs from the eager one by up to {int(diff)} levels")

    def run(self, inputs: FrameInputs) -> FrameOutputs:
        self.static.update(inputs)
        self.graph.replay()
        return self.out


def _raise_compile_limit() -> None:
    """Every layout (and every engine) compiles the same function, FrameCore.run; past torch's limit
    of compilations per function it would quietly run uncompiled. A show has a few layouts per size;
    a long one with size and step changes can have more."""
    config = torch._dynamo.config
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
    setattr(config, name, max(int(getattr(config, name)), COMPILE_LIMIT))


class FrameRunner:
    """Runs `FrameCore.run` for each layout in the resolved mode (see the module doc)."""

    def __init__(self, core: FrameCore, mode: str | bool, device: torch.device) -> None:
        self.core = core
        self.device = device
        self.asked = "default" if mode is True else "off" if mode is False else str(mode)
        self.mode = resolve_mode(mode, device)
        self.degraded: str | None = None  # why the mode asked for was given up, if it was
        self.captures = 0  # CUDA graphs captured so far
        self._compiled: dict[Layout, Callable[[FrameInputs], FrameOutputs]] = {}
        self._graphs: dict[Layout, CapturedFrame] = {}
        self._pool: Any = None

    def run(self, layout: Layout, inputs: FrameInputs, mark: Mark | None = None) -> FrameOutputs:
        if self.mode == "off":
            return self.core.run(layout, inputs, mark)
        if self.mode in GRAPH_MODES:
            graph = self._graphs.get(layout) or self._capture(layout, inputs)
            if graph is not None:
                return graph.run(inputs)
            return self.run(layout, inputs, mark)  # the capture failed: self.mode changed
        fn = self._function(layout)
        torch_graphs = self.mode in TORCH_GRAPH_MODES and self.device.type == "cuda"
        if torch_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        out = fn(inputs)
        if torch_graphs:  # torch's graphs overwrite their outputs on the next run: keep the feedback
            out = FrameOutputs(out.rgba, out.finite, out.feedback.clone())
        return out

    def _function(self, layout: Layout) -> Callable[[FrameInputs], FrameOutputs]:
        """The frame for `layout`: compiled (one compilation each) unless the mode is eager."""
        fn = self._compiled.get(layout)
        if fn is None:
            fn = partial(self.core.run, layout)
            if self.mode not in ("off", "graphs"):
                _raise_compile_limit()
                torch_mode = None if self.mode in ("default", "compiled-graphs") else self.mode
                # Static shapes: one graph per layout, no shape guards to re-check every frame.
                fn = torch.compile(fn, mode=torch_mode, dynamic=False)
            self._compiled[layout] = fn
        return fn

    def _capture(self, layout: Layout, inputs: FrameInputs) -> CapturedFrame | None:
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        try:
            graph = CapturedFrame(self._function(layout), inputs, self._pool)
        except Exception as exc:  # noqa: BLE001 - any capture failure: run uncaptured, never stop the show
            fallback = "off" if self.mode == "graphs" else "default"
            self.degraded = f"{self.mode} failed ({type(exc).__name__}: {exc}); running {fallback}"
            log.warning("compile: CUDA graph capture at %dx%d failed, running %s instead: %s",
                        layout.width, layout.height, fallback, exc)
            self.mode = fallback
            self._graphs.clear()
            return None
        self._graphs[layout] = graph
        self.captures += 1
        return graph

    def clear(self) -> None:
        """Forget every compiled function and captured graph (a new size, or out of memory)."""
        self._compiled.clear()
        self._graphs.clear()
        self._pool = None
