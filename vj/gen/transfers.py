"""Host <-> device copies for one frame size.

To the device: the per-frame scalars, the warp matrix and the camera image, on CUDA through
pinned buffers and non-blocking copies. Back to the host: the finished uint8 RGBA frame (already
RGBA on the device: no host-side conversion) and its finite flag, in two halves (`start`, `wait`)
so a pipelined generator can queue the next frame in between. On CUDA that copy runs on a side
stream into one of two pinned buffers and the host waits only for that copy's event: the frame's
one host sync. Elsewhere (CPU, Apple's MPS) tensors go through `.cpu()`, which is free on
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
        self._frames: list[torch.Tensor] = []  # pinned host frames (CUDA)
        self._finite: list[torch.Tensor] = []
        self._staging: list[torch.Tensor] = []  # device copies the side stream reads (CUDA)
        self._staging_finite: list[torch.Tensor] = []
        self._copied: list[Any] = []  # per turn: an event recorded when its copy ended (CUDA)
        self._host: dict[int, tuple[np.ndarray, bool]] = {}  # finished frames by ticket (elsewhere)
        self._turn = 0
        self._pinned: dict[str, torch.Tensor] = {}  # small host staging buffers by name (CUDA)
        self._camera: torch.Tensor | None = None  # pinned camera image, allocated at its first shape
        self.done: Any = None  # CUDA: the event recorded when the last frame waited for was copied
        if self.cuda:
            turns = range(self.BUFFERS)
            self._frames = [torch.empty((h, w, 4), dtype=torch.uint8, pin_memory=True) for _ in turns]
            self._finite = [torch.empty((), dtype=torch.bool, pin_memory=True) for _ in turns]
            self._staging = [torch.empty((h, w, 4), dtype=torch.uint8, device=device) for _ in turns]
            self._staging_finite = [torch.empty((), dtype=torch.bool, device=device) for _ in turns]
            self._copied = [torch.cuda.Event(enable_timing=True) for _ in turns]
            self._stream = torch.cuda.Stream(device)

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

    def start(self, rgba: torch.Tensor, finite: torch.Tensor) -> int:
        """Start bringing a finished device frame to the host; `wait` with the returned ticket.

        On CUDA the frame is first copied into this turn's device staging buffer on the frame's
        stream (a few microseconds; a captured graph's next replay may then overwrite its own
        output), then to a pinned buffer on the side stream, so the next frame's work queued
        meanwhile runs alongside the copy. Elsewhere the copy happens here."""
        turn = self._turn
        self._turn = (turn + 1) % self.BUFFERS
        if not self.cuda:
            self._host[turn] = (rgba.cpu().numpy(), bool(finite.cpu()))
            return turn
        main = torch.cuda.current_stream(self.device)
        staged, staged_ok = self._staging[turn], self._staging_finite[turn]
        staged.copy_(rgba)
        staged_ok.copy_(finite)
        self._stream.wait_stream(main)
        with torch.cuda.stream(self._stream):
            self._frames[turn].copy_(staged, non_blocking=True)
            self._finite[turn].copy_(staged_ok, non_blocking=True)
            self._copied[turn].record(self._stream)
        return turn

    def wait(self, ticket: int) -> tuple[np.ndarray, bool]:
        """The frame of `ticket` on the host, and whether it was finite. On CUDA the array is a
        pinned buffer, valid until the frame after next starts: copy it out (vj.gen.host writes it
        into the frame ring)."""
        if not self.cuda:
            frame, ok = self._host.pop(ticket)
            return frame, ok
        self._copied[ticket].synchronize()  # the frame's only host sync
        self.done = self._copied[ticket]
        return self._frames[ticket].numpy(), bool(self._finite[ticket])
