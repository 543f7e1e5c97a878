"""A ring of frame slots in shared memory: a generator child writes RGBA frames, the render
process uploads them straight from the slot (no pickling, no copy through a pipe).

The memory is an anonymous file (Linux `memfd_create`; elsewhere a temporary file unlinked at
once) whose descriptor the child inherits. It has no name in /dev/shm, so nothing can leak: the
kernel frees it when the last process holding it ends or unmaps it, whatever way it ends (a
normal stop, a crash, kill -9, Ctrl-C). Each slot holds the largest frame a preset allows; pages
cost memory only once written, so a 256x256 dream commits 256 KB a slot, not the maximum.

Who may touch which slot is decided by messages, never by shared flags: a slot belongs to the
child until it sends the slot's number with a frame, and to the parent until it sends the
number back (vj.gen.process). With three slots the child always has one to write: the parent
holds at most the frame on screen and the newest one not yet taken.

Why not multiprocessing.shared_memory: it needs names in /dev/shm, and on Python 3.11 its
resource tracker unlinks a segment when any attaching process exits. Frames are RGBA because an
RGB texture upload cost about 1 ms per frame on the render thread (a per-pixel conversion in the
driver), RGBA about 0.05 ms.
"""

from __future__ import annotations

import mmap
import os
import sys
import tempfile

import numpy as np

SLOTS = 3
MAX_SIDE = 4096  # vj.config.preset allows 64..4096 pixels a side


class FrameRing:
    """`slots` RGBA frame buffers of `capacity` bytes each, then one RGB input area of
    `input_capacity` bytes (the parent's camera frame going the other way), mapped here."""

    def __init__(self, fd: int, slots: int, capacity: int, input_capacity: int = 0) -> None:
        self.slots = slots
        self.capacity = capacity
        self.input_capacity = input_capacity
        self._map = mmap.mmap(fd, slots * capacity + input_capacity)  # mmap keeps its own duplicate of fd

    @classmethod
    def create(cls, slots: int = SLOTS, capacity: int = MAX_SIDE * MAX_SIDE * 4,
               input_capacity: int = MAX_SIDE * MAX_SIDE * 3) -> tuple[FrameRing, int]:
        """A new ring and the descriptor to hand to the child (the caller closes it after the spawn)."""
        fd = _anonymous_file(slots * capacity + input_capacity)
        return cls(fd, slots, capacity, input_capacity), fd

    def input_view(self, height: int, width: int) -> np.ndarray:
        """The input area as an (height, width, 3) uint8 array (no copy)."""
        if height <= 0 or width <= 0 or height * width * 3 > self.input_capacity:
            raise ValueError(f"a {width}x{height} input does not fit {self.input_capacity} bytes")
        return np.ndarray((height, width, 3), np.uint8, buffer=self._map, offset=self.slots * self.capacity)

    def write_input(self, image: np.ndarray) -> tuple[int, int]:
        """Copy an RGB uint8 image into the input area; returns (h, w)."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected a uint8 (h, w, 3) image, got {image.dtype} {image.shape}")
        h, w = image.shape[:2]
        self.input_view(h, w)[...] = image
        return h, w

    def view(self, slot: int, height: int, width: int) -> np.ndarray:
        """Slot `slot` as an (height, width, 4) uint8 array (no copy)."""
        if not 0 <= slot < self.slots:
            raise ValueError(f"slot {slot} is not in 0..{self.slots - 1}")
        if height <= 0 or width <= 0 or height * width * 4 > self.capacity:
            raise ValueError(f"a {width}x{height} frame does not fit a {self.capacity}-byte slot")
        return np.ndarray((height, width, 4), np.uint8, buffer=self._map, offset=slot * self.capacity)

    def write(self, slot: int, image: np.ndarray) -> tuple[int, int]:
        """Copy an RGB or RGBA uint8 (h, w, 3|4) image into `slot` as RGBA; returns (h, w)."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
            raise ValueError(f"expected a uint8 (h, w, 3) or (h, w, 4) image, got {image.dtype} {image.shape}")
        h, w = image.shape[:2]
        out = self.view(slot, h, w)
        if image.shape[2] == 4:
            out[...] = image
        else:  # the alpha is added here, in the child: RGBA uploads cost the render thread ~20x less
            out[..., :3] = image
            out[..., 3] = 255
        return h, w


def _anonymous_file(size: int) -> int:
    if sys.platform == "win32":  # pragma: no cover - vj's children inherit descriptors (POSIX only)
        raise OSError("frame rings need POSIX file descriptors")
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("vj-frames", os.MFD_CLOEXEC)
    else:  # macOS and other POSIX systems: a file with no name left once it is open
        where = "/dev/shm" if os.path.isdir("/dev/shm") else None
        fd, path = tempfile.mkstemp(prefix="vj-frames-", dir=where)
        os.unlink(path)
    try:
        os.ftruncate(fd, size)  # sparse: pages are allocated when first written
    except OSError:
        os.close(fd)
        raise
    return fd
