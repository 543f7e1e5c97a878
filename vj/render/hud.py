"""The HUD: a few lines of status text (and errors) drawn over the output.

Text is rasterised with Pillow's built-in font (no system font needed) into a
small RGBA texture, top-left, on a translucent dark box. Rasterising costs
milliseconds, so it happens only when the text or the output height changes;
every other frame the compositor just draws the cached texture.
"""

from __future__ import annotations

from collections.abc import Sequence

import moderngl
import numpy as np
from PIL import Image, ImageDraw, ImageFont

TEXT_COLOR = (235, 235, 235, 255)
ERROR_COLOR = (255, 96, 48, 255)  # orange-red: readable on the dark box, unmistakable as an error
BOX_COLOR = (0, 0, 0, 190)

# 1080 px high output -> 20 px text; never smaller than this, even in a tiny preview.
_HEIGHT_PER_FONT_PX = 54
_MIN_FONT_PX = 10


def font_px_for(target_height: int) -> int:
    """The HUD's font size for an output `target_height` pixels high."""
    return max(_MIN_FONT_PX, round(target_height / _HEIGHT_PER_FONT_PX))


class Hud:
    """Status lines and errors as a texture; the compositor draws it in its last pass."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self.visible = True
        self._lines: tuple[str, ...] = ()
        self._errors: tuple[str, ...] = ()
        self._dirty = False
        self._font_px = 0
        self._texture: moderngl.Texture | None = None
        self._fonts: dict[int, ImageFont.FreeTypeFont] = {}
        self._qr: tuple[np.ndarray, str] | None = None  # a QR code's modules (True: dark) and its caption

    @property
    def lines(self) -> tuple[str, ...]:
        return self._lines

    @property
    def errors(self) -> tuple[str, ...]:
        return self._errors

    def set_text(self, lines: Sequence[str], errors: Sequence[str] = ()) -> None:
        """Replace the text. Cheap when nothing changed (the usual case: called every frame)."""
        lines, errors = tuple(lines), tuple(errors)
        if lines != self._lines or errors != self._errors:
            self._lines, self._errors = lines, errors
            self._dirty = True

    def set_qr(self, modules: np.ndarray | None, caption: str = "") -> None:
        """A QR code (bool modules, its quiet zone included) drawn under the text with its caption
        (the control surface's pairing URL); None removes it."""
        self._qr = None if modules is None else (np.asarray(modules, dtype=bool), caption)
        self._dirty = True

    @property
    def texture(self) -> moderngl.Texture | None:
        """The last rasterised text, or None when there is nothing to show."""
        return self._texture

    @property
    def margin(self) -> int:
        """Pixels between the HUD box and the output's top-left corner."""
        return self._font_px

    def prepare(self, target_height: int) -> moderngl.Texture | None:
        """The texture to draw over an output `target_height` pixels high, re-rasterised only if needed."""
        if not self.visible:
            return None
        font_px = font_px_for(target_height)
        if self._dirty or font_px != self._font_px:
            self._font_px = font_px
            self._dirty = False
            self._upload(self.rasterise(font_px))
        return self._texture

    def rasterise(self, font_px: int) -> np.ndarray | None:
        """The text as an RGBA uint8 image (row 0 at the top), or None when there is no text."""
        entries = [(line, TEXT_COLOR) for line in self._lines] + [(err, ERROR_COLOR) for err in self._errors]
        entries += [(self._qr[1], TEXT_COLOR)] if self._qr is not None and self._qr[1] else []
        if not entries:
            return None
        font = self._font(font_px)
        ascent, descent = font.getmetrics()
        line_h = ascent + descent + max(1, font_px // 5)
        pad = max(2, font_px // 2)
        width = max(int(font.getlength(text)) for text, _ in entries) + 2 * pad
        height = line_h * len(entries) - (line_h - ascent - descent) + 2 * pad
        image = Image.new("RGBA", (width, height), BOX_COLOR)
        draw = ImageDraw.Draw(image)
        for i, (text, color) in enumerate(entries):
            draw.text((pad, pad + i * line_h), text, font=font, fill=color)
        return np.asarray(self._with_qr(image, font_px, pad) if self._qr is not None else image)

    def _with_qr(self, text: Image.Image, font_px: int, pad: int) -> Image.Image:
        """The text box with the QR code under it: dark modules on white, in its white quiet zone."""
        assert self._qr is not None
        modules = self._qr[0]
        scale = max(3, font_px // 3)  # pixels a module
        code = Image.fromarray(np.where(modules, 0, 255).astype(np.uint8)).convert("RGBA")
        code = code.resize((modules.shape[1] * scale, modules.shape[0] * scale), Image.Resampling.NEAREST)
        image = Image.new("RGBA", (max(text.width, code.width + 2 * pad), text.height + code.height + pad), BOX_COLOR)
        image.paste(text, (0, 0))
        image.paste(code, (pad, text.height))
        return image

    def _font(self, font_px: int) -> ImageFont.FreeTypeFont:
        if font_px not in self._fonts:
            font = ImageFont.load_default(size=font_px)
            # Given a size, Pillow always loads its built-in FreeType font, never the bitmap fallback.
            assert isinstance(font, ImageFont.FreeTypeFont)
            self._fonts[font_px] = font
        return self._fonts[font_px]

    def _upload(self, image: np.ndarray | None) -> None:
        if image is None:
            self._drop_texture()
            return
        height, width = image.shape[:2]
        if self._texture is None or self._texture.size != (width, height):
            self._drop_texture()
            self._texture = self.ctx.texture((width, height), 4)
            # Drawn 1:1 onto the output: nearest keeps glyph edges crisp.
            self._texture.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._texture.write(np.ascontiguousarray(image), alignment=1)

    def _drop_texture(self) -> None:
        if self._texture is not None:
            self._texture.release()
            self._texture = None

    def release(self) -> None:
        """Free the GL texture; the next `prepare` rasterises again."""
        self._drop_texture()
        self._dirty = True
