"""The per-frame drawing: crossfade + motion, post effects, HUD.

Three passes, one shader file each:

1. `crossfade.frag`: the previous and newest frames, each seen through its own
   camera (NDC -> uv matrix from `vj.motion.ndc_to_uv`), mixed, into an
   intermediate texture the size of the target (straight into the target when
   the post settings are all neutral: one full-screen pass less).
2. `post.frag`: hue, saturation, contrast, brightness, blackout, into the target.
3. `hud.frag`: the HUD text texture, alpha-blended onto the target's top-left.

Everything GL is created up front (or when the target size changes), so a
frame is only uniform writes and three draws.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import moderngl
import numpy as np

from vj.audio.uniforms import audio_uniforms
from vj.motion import ViewTransform, ndc_to_uv
from vj.render.hud import Hud
from vj.render.shaders import ShaderLibrary, uniform

CROSSFADE_CURVES: tuple[str, ...] = ("linear", "smooth", "ease-in", "ease-out", "cut")


def crossfade_amount(curve: str, progress: float) -> float:
    """How much of the new frame shows at `progress` (0..1, clamped) through the crossfade."""
    t = min(1.0, max(0.0, float(progress)))
    if curve == "linear":
        return t
    if curve == "smooth":
        return t * t * (3.0 - 2.0 * t)
    if curve == "ease-in":
        return t * t
    if curve == "ease-out":
        return 1.0 - (1.0 - t) * (1.0 - t)
    if curve == "cut":
        return 1.0 if t >= 1.0 else 0.0
    raise ValueError(f"unknown crossfade curve {curve!r}: expected one of {', '.join(CROSSFADE_CURVES)}")


@dataclass(frozen=True, eq=False)
class LayerView:
    """A frame to draw and how it is seen: the camera that moves it and the frame's width / height.

    The texture should clamp to edge (FrameTexture's do): the shader does its own mirrored wrap.
    """

    texture: moderngl.Texture
    camera: ViewTransform
    frame_aspect: float


@dataclass(frozen=True)
class PostSettings:
    """Colour controls applied after the crossfade."""

    brightness: float = 0.0  # -1..1, added
    contrast: float = 1.0  # 0..3 around mid grey; 1 = unchanged
    hue: float = 0.0  # degrees of rotation around the grey axis
    saturation: float = 1.0  # 0..2; 1 = unchanged
    blackout: float = 0.0  # 0..1 fade to black; 1 = exactly black
    audio: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))  # live audio features
    audio_amount: float = 1.0  # the audio.amount parameter


NEUTRAL_POST = PostSettings()


def hue_rotation(degrees: float) -> np.ndarray:
    """3x3 rotation of RGB about the grey axis (1, 1, 1); +120 degrees turns red into green."""
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    k = 1.0 / math.sqrt(3.0)
    cross = np.array([[0.0, -k, k], [k, 0.0, -k], [-k, k, 0.0]])  # [axis]x
    # Rodrigues' formula.
    return c * np.eye(3) + s * cross + (1.0 - c) * np.full((3, 3), k * k)


def _mat3_bytes(matrix: np.ndarray) -> bytes:
    # GLSL matrices are column-major.
    return np.asarray(matrix, dtype="f4").T.tobytes()


_IDENTITY3 = _mat3_bytes(np.eye(3))
# v -> 1 - v: for a texture GL drew into (row 0 at the bottom), not one uploaded top row first
_FLIP_V = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 1.0], [0.0, 0.0, 1.0]])


class Compositor:
    """Draws one output frame from up to two layers, post settings and a HUD."""

    def __init__(self, ctx: moderngl.Context, shaders: ShaderLibrary) -> None:
        self.ctx = ctx
        self._shaders = shaders
        self._present: moderngl.VertexArray | None = None  # built when a video output needs it
        self._crossfade = shaders.quad(ctx, "crossfade.frag")
        self._post = shaders.quad(ctx, "post.frag")
        self._hud = shaders.quad(ctx, "hud.frag")

        xf = self._crossfade.program
        uniform(xf, "u_prev").value = 0
        uniform(xf, "u_new").value = 1
        self._u_prev_uv = uniform(xf, "u_prev_uv")
        self._u_new_uv = uniform(xf, "u_new_uv")
        self._u_mix = uniform(xf, "u_mix")
        self._u_has_prev = uniform(xf, "u_has_prev")

        post = self._post.program
        uniform(post, "u_image").value = 0
        self._u_hue = uniform(post, "u_hue")
        self._u_saturation = uniform(post, "u_saturation")
        self._u_contrast = uniform(post, "u_contrast")
        self._u_brightness = uniform(post, "u_brightness")
        self._u_blackout = uniform(post, "u_blackout")
        self._hue_degrees = 0.0
        self._u_hue.write(_IDENTITY3)

        uniform(self._hud.program, "u_hud").value = 0

        self._inter_tex: moderngl.Texture | None = None
        self._inter_fbo: moderngl.Framebuffer | None = None

    def _intermediate(self, size: tuple[int, int]) -> moderngl.Framebuffer:
        if self._inter_fbo is None or self._inter_fbo.size != size:
            self._release_intermediate()
            self._inter_tex = self.ctx.texture(size, 4)
            self._inter_tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
            self._inter_fbo = self.ctx.framebuffer(color_attachments=[self._inter_tex])
        return self._inter_fbo

    def render(
        self,
        target: moderngl.Framebuffer,
        prev: LayerView | None,
        new: LayerView | None,
        mix: float,
        post: PostSettings,
        hud: Hud | None = None,
    ) -> None:
        """Draw into `target`. `mix` is the shaped crossfade amount (see `crossfade_amount`)."""
        ctx = self.ctx
        width, height = size = target.size
        if width == 0 or height == 0:  # a minimised window
            return
        full = (0, 0, width, height)
        ctx.enable_only(moderngl.NOTHING)

        if new is None or (prev is not None and mix <= 0.0):  # only the previous frame shows
            new, prev = prev, None
        if new is None:  # nothing generated yet
            target.use()
            ctx.viewport = full
            target.clear(0.0, 0.0, 0.0, 1.0)
        elif post == NEUTRAL_POST:
            # Nothing to adjust: skip the post pass (a whole-screen pass is costly on software GL).
            self._draw_layers(target, size, prev, new, mix)
        else:
            self._draw_layers(self._intermediate(size), size, prev, new, mix)
            self._draw_post(target, full, post)

        if hud is not None:
            self._draw_hud(hud, full)

    def present(self, target: moderngl.Framebuffer, texture: moderngl.Texture) -> None:
        """Draw a picture rendered offscreen (row 0 at the bottom, as GL draws) to fill `target`,
        cropped where the aspects differ: the window showing a video output of another size."""
        if self._present is None:
            self._present = self._shaders.quad(self.ctx, "present.frag")
            uniform(self._present.program, "u_image").value = 0
        width, height = target.size
        target.use()
        self.ctx.enable_only(moderngl.NOTHING)
        self.ctx.viewport = (0, 0, width, height)
        uv = _FLIP_V @ ndc_to_uv(ViewTransform(), width / height, texture.width / texture.height)
        uniform(self._present.program, "u_uv").write(_mat3_bytes(uv))
        texture.use(0)
        self._present.render(moderngl.TRIANGLE_STRIP)

    def draw_hud(self, target: moderngl.Framebuffer, hud: Hud) -> None:
        """The HUD alone over what `target` shows (the picture went to the video outputs without it)."""
        width, height = target.size
        if width and height:
            target.use()
            self._draw_hud(hud, (0, 0, width, height))

    def _draw_layers(
        self,
        fbo: moderngl.Framebuffer,
        size: tuple[int, int],
        prev: LayerView | None,
        new: LayerView,
        mix: float,
    ) -> None:
        screen_aspect = size[0] / size[1]
        fbo.use()
        self.ctx.viewport = (0, 0, *size)
        self._u_new_uv.write(_mat3_bytes(ndc_to_uv(new.camera, screen_aspect, new.frame_aspect)))
        new.texture.use(1)
        if prev is not None:
            self._u_prev_uv.write(_mat3_bytes(ndc_to_uv(prev.camera, screen_aspect, prev.frame_aspect)))
            prev.texture.use(0)
        self._u_has_prev.value = prev is not None
        self._u_mix.value = min(1.0, max(0.0, float(mix)))
        self._crossfade.render(moderngl.TRIANGLE_STRIP)

    def _draw_post(self, target: moderngl.Framebuffer, full: tuple[int, int, int, int], post: PostSettings) -> None:
        target.use()
        self.ctx.viewport = full
        if post.hue != self._hue_degrees:
            self._hue_degrees = post.hue
            self._u_hue.write(_mat3_bytes(hue_rotation(post.hue)))
        self._u_saturation.value = post.saturation
        self._u_contrast.value = post.contrast
        self._u_brightness.value = post.brightness
        self._u_blackout.value = min(1.0, max(0.0, post.blackout))
        program = self._post.program
        for name, value in audio_uniforms(post.audio, post.audio_amount).items():
            if name in program:  # the shader declares the features it reacts to
                uniform(program, name).value = value
        assert self._inter_tex is not None
        self._inter_tex.use(0)
        self._post.render(moderngl.TRIANGLE_STRIP)

    def _draw_hud(self, hud: Hud, full: tuple[int, int, int, int]) -> None:
        tex = hud.prepare(full[3])
        if tex is None:
            return
        ctx = self.ctx
        w, h = tex.size
        margin = hud.margin
        # A viewport exactly the texture's size, top-left: 1:1 texels, and only those pixels are touched.
        ctx.viewport = (margin, full[3] - margin - h, w, h)
        ctx.enable(moderngl.BLEND)
        # Straight alpha over the colour; destination alpha is left as it is (opaque).
        # moderngl's stub types blend_func as a pair; its docs and runtime take this (rgb, alpha) 4-tuple too.
        ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA, moderngl.ZERO, moderngl.ONE  # type: ignore[assignment]
        tex.use(0)
        self._hud.render(moderngl.TRIANGLE_STRIP)
        ctx.disable(moderngl.BLEND)
        ctx.viewport = full

    def _release_intermediate(self) -> None:
        if self._inter_fbo is not None:
            self._inter_fbo.release()
            self._inter_fbo = None
        if self._inter_tex is not None:
            self._inter_tex.release()
            self._inter_tex = None

    def release(self) -> None:
        self._release_intermediate()
        for vao in (self._crossfade, self._post, self._hud, self._present):
            if vao is not None:
                vao.release()
