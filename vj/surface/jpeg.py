"""The preview's picture as a small JPEG: its size and its encoding (vj.surface.preview on the
show's thread, vj.surface.window_preview in a process of its own)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from vj.vocabulary import PixelOrder, in_order

PREVIEW_WIDTH = 320  # pixels
PREVIEW_PERIOD = 0.1  # seconds between preview frames (10 a second)
JPEG_QUALITY = 70


def preview_size(picture: tuple[int, int], width: int = PREVIEW_WIDTH) -> tuple[int, int]:
    """The preview's size for a picture of `picture` size: `width` wide (never wider than the
    picture), the picture's aspect, even."""
    w, h = picture
    width = min(width, max(2, w))
    height = max(2, round(width * h / max(1, w)))
    return width - width % 2, height - height % 2


def encode_jpeg(pixels: np.ndarray, quality: int = JPEG_QUALITY, width: int | None = None,
                order: PixelOrder = "rgba") -> bytes:
    """RGBA (or BGRA: `order`) or RGB uint8, row 0 at the top, as a baseline JPEG, scaled to `width`
    (preview_size) when it is wider. A picture read back is a flipped view of GL's rows: Pillow
    takes those rows as they are and scales them (box-filtered by whole factors, then bilinear, the
    GIL released), and only the small image is flipped and put in order."""
    flipped = pixels.strides[0] < 0
    image = Image.fromarray(np.ascontiguousarray(pixels[::-1] if flipped else pixels))
    if width is not None and image.width > width:
        image = image.resize(preview_size(image.size, width), Image.Resampling.BILINEAR, reducing_gap=2.0)
    if flipped:
        image = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    small = np.asarray(image)
    if small.shape[2] == 4:
        small = in_order(small, order, "rgba")
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(small[..., :3])).save(out, "JPEG", quality=quality)
    return out.getvalue()
