"""Moving pixels between numpy and GL: frame uploads and framebuffer read-back.

Convention everywhere in vj: an image array has row 0 at the TOP. Uploads keep
that order (so texture v = 0 is the top, as `vj.motion.content_to_uv` expects);
read-back flips GL's bottom-up rows so callers never see them.
"""

from __future__ import annotations

import moderngl
import numpy as np


class FrameTexture:
    """One texture that successive frames are uploaded into; re-created only when the size changes."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self._texture: moderngl.Texture | None = None

    def upload(self, image: np.ndarray) -> moderngl.Texture:
        """Upload a uint8 (h, w, 3) or (h, w, 4) image, row 0 at the top."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
            raise ValueError(f"expected a uint8 (h, w, 3) or (h, w, 4) image, got {image.dtype} {image.shape}")
        height, width, components = image.shape
        tex = self._texture
        if tex is None or tex.size != (width, height) or tex.components != components:
            if tex is not None:
                tex.release()
            tex = self.ctx.texture((width, height), components)
            tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
            # Clamp to edge: the crossfade shader mirrors uv itself, and GL_REPEAT would bleed the
            # opposite edge into the border texels under linear filtering.
            tex.repeat_x = False
            tex.repeat_y = False
            self._texture = tex
        tex.write(np.ascontiguousarray(image), alignment=1)
        return tex

    @property
    def texture(self) -> moderngl.Texture:
        if self._texture is None:
            raise RuntimeError("FrameTexture has no texture yet: call upload() first")
        return self._texture

    @property
    def aspect(self) -> float:
        """Width / height of the last uploaded frame."""
        width, height = self.texture.size
        return width / height

    def release(self) -> None:
        if self._texture is not None:
            self._texture.release()
            self._texture = None


def read_rgb(fbo: moderngl.Framebuffer) -> np.ndarray:
    """The framebuffer's colour as uint8 (h, w, 3), row 0 at the top."""
    width, height = fbo.size
    data = fbo.read(components=3, alignment=1)
    # GL returns the bottom row first.
    return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)[::-1].copy()
