"""Host <-> device copies for one frame size.

To the device: the per-frame scalars, the warp matrix and the camera image, on CUDA through
pinned buffers and non-blocking copies. Back to the host: the finished uint8 RGBA frame (already
RGBA on the device: no host-side conversion) and its finite flag. On CUDA that copy runs on a
side stream into one of two pinned buffers and the host waits only for that copy's event: the
frame's one host sync. Elsewhere (CPU, Apple's MPS) tensors go through `.cpu()`, which is free on
the CPU and the one right way off an MPS device.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


def cover_crop(image: np.ndarray, aspect: float) -> np.ndarray:
    """The centred crop of an HWC image with the given width / height (a view, no copy).

    Resizing it to the frame then covers the frame without stretching (as vj.camera.cover_crop,
    to the nearest whole source pixel).
    """
    ih, iw = image.shape[:2]
    if iw > ih * aspect:
        cw = min(iw, max(1, round(ih * aspect)))
        left = (iw - cw) // 2
        return image[:, left : left + cw]
    ch = min(ih, max(1, round(iw / aspect)))
    top = (ih - ch) // 2
    return image[top : top + ch]


class Transfers:
    """The copies of one frame size (see the module doc)."""

    BUFFERS = 2  # pinned frame buffers on CUDA: a returned frame stays valid through the next frame

    def __init__(self, device: torch.device, w: int, h: int) -> None:
        self.device = device
        self.cuda = device.type == "cuda"
        self._frames: list[torch.Tensor] = []
        self._finite: list[torch.Tensor] = []
        self._turn = 0
        self._pinned: dict[str, torch.Tensor] = {}  # small host staging buffers by name (CUDA)
        self._camera: torch.Tensor | None = None  # pinned camera image, allocated at its first shape
        self.done: Any = None  # CUDA: an event, recorded when the last frame's copy ended
        if self.cuda:
            self._frames = [torch.empty((h, w, 4), dtype=torch.uint8, pin_memory=True) for _ in range(self.BUFFERS)]
            self._finite = [torch.empty((), dtype=torch.bool, pin_memory=True) for _ in range(self.BUFFERS)]
            self._stream = torch.cuda.Stream(device)
            self.done = torch.cuda.Event(enable_timing=True)

    def upload(self, name: str, values: np.ndarray) -> torch.Tensor:
        """A small float32 host array on the device (no sync)."""
        if not self.cuda:
            return torch.from_numpy(np.array(values, np.float32)).to(self.device)
        staged = self._pinned.get(name)
        if staged is None or tuple(staged.shape) != values.shape:
            staged = self._pinned[name] = torch.empty(values.shape, dtype=torch.float32, pin_memory=True)
        staged.numpy()[...] = values
        return staged.to(self.device, non_blocking=True)

    def image(self, image: np.ndarray, w: int, h: int, dtype: torch.dtype) -> torch.Tensor:
        """An RGB uint8 HWC host image -> NCHW [-1, 1] on the device at (h, w), cover-fit."""
        arr = np.asarray(image)
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.dtype != np.uint8 or 0 in arr.shape:
            raise ValueError(
                f"init_image must be RGB(A) uint8 (height, width, 3|4), got {arr.dtype} {arr.shape}"
            )
        arr = cover_crop(arr[:, :, :3], w / h)  # crop on the host: less to copy, then one resize
        if self.cuda:
            if self._camera is None or tuple(self._camera.shape) != arr.shape:
                self._camera = torch.empty(arr.shape, dtype=torch.uint8, pin_memory=True)
            self._camera.numpy()[...] = arr
            dev = self._camera.to(self.device, non_blocking=True)
        else:
            arr = np.ascontiguousarray(arr)
            dev = torch.from_numpy(arr if arr.flags.writeable else arr.copy()).to(self.device)
        img = dev.permute(2, 0, 1).unsqueeze(0).to(torch.float32).mul_(2.0 / 255.0).sub_(1.0)
        if img.shape[-2:] != (h, w):
            img = F.interpolate(img, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        return img.to(dtype)

    def frame(self, rgba: torch.Tensor, finite: torch.Tensor) -> tuple[np.ndarray, bool]:
        """The device frame on the host, and its finite flag. On CUDA the array is a pinned buffer,
        valid until the frame after next: copy it out (vj.gen.host writes it into the frame ring)."""
        if not self.cuda:
            return rgba.cpu().numpy(), bool(finite.cpu())
        out, ok = self._frames[self._turn], self._finite[self._turn]
        self._turn = (self._turn + 1) % self.BUFFERS
        self._stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self._stream):
            out.copy_(rgba, non_blocking=True)
            ok.copy_(finite, non_blocking=True)
            self.done.record(self._stream)
        self.done.synchronize()  # the frame's only host sync
        return out.numpy(), bool(ok)
