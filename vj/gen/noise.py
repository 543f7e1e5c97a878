"""Deterministic starting noise for diffusion frames: one noise per seed, and the seed walk between seeds.

Noise is drawn by a CPU `torch.Generator`, so a seed gives the same noise on every device
and machine, then moved to the device. The seed walk slerps between the noises of
consecutive seeds: position 2.25 is a quarter of the way from seed+2 to seed+3. An
integer position is exactly that seed's noise, and the slerp keeps the noise's norm (and
so its statistics: a linear mix of two independent noises would shrink it by up to
sqrt(2) half way, and the model would paint a washed-out frame there).

Endpoint noises are cached (a small LRU), so a walk moving a little every frame only pays
for one multiply-add on the device; a new seed pair costs one CPU draw and one copy.
Returned tensors are shared with the cache: treat them as read-only.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence

import torch

CACHE_ENTRIES = 16  # endpoint noises kept per process (a walk needs 2, ancestral steps a few more)


def _torch_seed(seed: int, stream: int) -> int:
    # The CPU generator (mt19937) only uses the low 32 bits of its seed, so streams cannot
    # live in the high bits: stream j > 0 hashes (seed, j) into 32 bits instead.
    if stream == 0:
        return int(seed) % (1 << 32)  # wraps negative seeds instead of failing
    digest = hashlib.blake2b(f"{int(seed)}:{int(stream)}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little")


def _host_noise(seed: int, shape: tuple[int, ...], stream: int) -> torch.Tensor:
    gen = torch.Generator(device="cpu")
    gen.manual_seed(_torch_seed(seed, stream))
    return torch.randn(shape, generator=gen, dtype=torch.float32)


def _to_device(host: torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    if device.type == "cuda":
        # Pinned + non_blocking: no host sync on the render path (the caching host allocator
        # keeps the pinned block alive until the copy has run).
        return host.pin_memory().to(device=device, dtype=dtype, non_blocking=True)
    return host.to(device=device, dtype=dtype)


def seed_noise(
    seed: int,
    shape: Sequence[int],
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    *,
    stream: int = 0,
) -> torch.Tensor:
    """Standard normal noise of `shape` for `seed`, the same on every device.

    `stream` selects an independent noise for the same seed (used for per-step noise of
    ancestral samplers); stream 0 is the seed's own noise.
    """
    return _to_device(_host_noise(seed, tuple(int(s) for s in shape), stream), torch.device(device), dtype)


class NoiseWalk:
    """The seed walk with its cache of endpoint noises (thread-safe)."""

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self._entries = max(2, int(entries))
        # key -> (host noise, device noise); host copies give the slerp angle without a device sync
        self._noises: OrderedDict[tuple, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self._angles: OrderedDict[tuple, float] = OrderedDict()
        self._last: tuple[tuple, torch.Tensor] | None = None
        self._lock = threading.Lock()
        self.draws = 0  # endpoint noises drawn so far (a steady walk draws one per seed crossed)

    def _endpoint(
        self, seed: int, shape: tuple[int, ...], device: torch.device, dtype: torch.dtype, stream: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        key = (seed, shape, str(device), dtype, stream)
        hit = self._noises.get(key)
        if hit is not None:
            self._noises.move_to_end(key)
            return hit
        host = _host_noise(seed, shape, stream)
        self.draws += 1
        entry = (host, _to_device(host, device, dtype))
        self._noises[key] = entry
        while len(self._noises) > self._entries:
            self._noises.popitem(last=False)
        return entry

    def _angle(self, key: tuple, a: torch.Tensor, b: torch.Tensor) -> float:
        angle = self._angles.get(key)
        if angle is None:
            a64, b64 = a.double().flatten(), b.double().flatten()
            cos = float(torch.dot(a64, b64) / (a64.norm() * b64.norm()).clamp_min(1e-30))
            angle = math.acos(min(1.0, max(-1.0, cos)))
            self._angles[key] = angle
            while len(self._angles) > self._entries:
                self._angles.popitem(last=False)
        return angle

    def noise(
        self,
        seed: int,
        walk: float,
        shape: Sequence[int],
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        *,
        stream: int = 0,
    ) -> torch.Tensor:
        walk = float(walk) if math.isfinite(float(walk)) else 0.0
        shape_t = tuple(int(s) for s in shape)
        dev = torch.device(device)
        base = int(seed) + math.floor(walk)
        frac = walk - math.floor(walk)
        key = (base, frac, shape_t, str(dev), dtype, stream)
        with self._lock:
            if self._last is not None and self._last[0] == key:
                return self._last[1]
            host_a, a = self._endpoint(base, shape_t, dev, dtype, stream)
            if frac == 0.0:
                out = a  # an integer position is exactly the seed's own noise
            else:
                host_b, b = self._endpoint(base + 1, shape_t, dev, dtype, stream)
                out = _slerp(a, b, frac, self._angle((base, shape_t, stream), host_a, host_b))
            self._last = (key, out)
            return out

    def clear(self) -> None:
        with self._lock:
            self._noises.clear()
            self._angles.clear()
            self._last = None


def _slerp(a: torch.Tensor, b: torch.Tensor, t: float, angle: float) -> torch.Tensor:
    sin = math.sin(angle)
    if sin < 1e-6:  # (anti)parallel endpoints: nothing to bend around
        return torch.lerp(a, b, t)
    c0 = math.sin((1.0 - t) * angle) / sin
    c1 = math.sin(t * angle) / sin
    return torch.add(a * c0, b, alpha=c1)


_DEFAULT_WALK = NoiseWalk()


def walk_noise(
    seed: int,
    walk: float,
    shape: Sequence[int],
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    *,
    stream: int = 0,
) -> torch.Tensor:
    """The noise at walk position `walk` from `seed`: slerp(noise(seed+k), noise(seed+k+1), frac).

    k = floor(walk). Uses a process-wide cache (see `NoiseWalk` for a private one); the
    result may be shared with the cache, so do not modify it in place.
    """
    return _DEFAULT_WALK.noise(seed, walk, shape, device, dtype, stream=stream)
