"""Which torch device and dtype a preset's `device: auto` and `dtype: auto` mean here."""

from __future__ import annotations

import torch

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def pick_device(name: str = "auto") -> torch.device:
    """auto: CUDA, else Apple's MPS, else the CPU. Asking for one that is absent is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "device cuda was asked for, but torch sees no CUDA GPU (is a CUDA build of torch installed?)"
        )
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError("device mps was asked for, but this torch has no Apple MPS support here")
    return torch.device(name)


def pick_dtype(name: str, device: torch.device) -> torch.dtype:
    """auto: half precision on GPUs (float16), full precision on the CPU (half is slow there)."""
    if name == "auto":
        return torch.float16 if device.type in ("cuda", "mps") else torch.float32
    return DTYPES[name]
