"""The procedural generator: a shader dream that needs no weights and no CUDA.

It is the embedded default and the fallback when a diffusion model cannot run. Each frame is
drawn by `shaders/dream.frag` from the request (prompts -> look, seed walk, strength,
feedback, camera motion) and mixed with the previous frame moved by the camera, the same
img2img loop the diffusion backend runs. Everything is a pure function of the request
sequence: no wall clock, no unseeded randomness.

A request's `init_image` (the live camera) is dreamed over: cover-fit to the frame, warped a
little by the flow, partly recoloured by the palette and layered over the pattern, and the
feedback carry is pulled toward it by `init_mix` (0: the camera is ignored and the frame is
exactly the one without it; 1: the carry is the camera alone).
"""

from __future__ import annotations

import hashlib
import math

import moderngl
import numpy as np

from vj.audio.uniforms import audio_uniforms
from vj.gen.base import GenRequest, finite_number
from vj.gen.look import Look, blend_looks
from vj.motion import content_to_uv, cover_scale, flow_matrix, ndc_to_view
from vj.render.context import create_headless_context
from vj.render.shaders import ShaderLibrary, uniform

FRAGMENT = "dream.frag"
MAX_STEP_S = 1.0  # longest camera step between two frames; longer gaps are a pause, not motion

# content_to_uv puts v = 0 at the top row (uploaded frames); our own render targets have
# v = 0 at the bottom row, so flip v.
_FLIP_V = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 1.0], [0.0, 0.0, 1.0]])


def seed_key(seed: int) -> int:
    """A 32-bit lattice key for a seed, stable across processes and machines."""
    digest = hashlib.sha256(f"vj-dream-seed:{int(seed)}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def walk_uniforms(seed: int, walk: float) -> tuple[tuple[int, int], tuple[float, float], float]:
    """Keys and weights for a walk position: (keys of seed+k and seed+k+1, (cos, sin) weights, fraction).

    The (cos, sin) pair keeps the noise's variance constant along the walk (a slerp), and an
    integer position gives exactly (1, 0): the plain seed.
    """
    if not math.isfinite(walk):
        walk = 0.0
    k = math.floor(walk)
    frac = walk - k
    keys = (seed_key(seed + k), seed_key(seed + k + 1))
    weights = (math.cos(0.5 * math.pi * frac), math.sin(0.5 * math.pi * frac))
    return keys, weights, frac


def prev_frame_map(motion_step: np.ndarray, aspect: float) -> np.ndarray:
    """This frame's NDC -> previous frame's texture uv, for a camera step (view -> content).

    A pixel at view point p now shows what the previous frame showed at view point step @ p.
    """
    return _FLIP_V @ content_to_uv(aspect) @ motion_step @ ndc_to_view(aspect)


def camera_map(size: tuple[int, int], camera_size: tuple[int, int]) -> np.ndarray:
    """This frame's NDC -> camera texture uv (top row first): cover-fit, cropped at the centre."""
    aspect = size[0] / size[1]
    camera_aspect = camera_size[0] / camera_size[1]
    return content_to_uv(camera_aspect) @ cover_scale(aspect, camera_aspect) @ ndc_to_view(aspect)


def camera_pixels(image: np.ndarray) -> np.ndarray:
    """A camera frame as contiguous RGB uint8 (h, w, 3); ValueError for anything else."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.dtype != np.uint8 or 0 in arr.shape:
        raise ValueError(f"init_image must be RGB(A) uint8 (height, width, 3|4), got {arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr[:, :, :3])




class _Phase:
    """Animation phase = time * speed, kept continuous when the speed changes.

    While the speed is constant the phase is exactly time * speed (so a fresh generator and a
    long-running one agree); a speed change at time T adds T * (old - new) to an offset.
    """

    def __init__(self) -> None:
        self.speed: float | None = None
        self.offset = 0.0

    def at(self, time: float, speed: float) -> float:
        if self.speed is not None and speed != self.speed:
            self.offset += time * (self.speed - speed)
        self.speed = speed
        return time * speed + self.offset


class ProceduralGenerator:
    """Generator backend drawing the dream shader into its own offscreen EGL context."""

    name = "procedural"

    def __init__(self, shaders: ShaderLibrary | None = None) -> None:
        self._shaders = shaders if shaders is not None else ShaderLibrary()
        self._ctx: moderngl.Context | None = None
        self._vao: moderngl.VertexArray | None = None
        self._prog: moderngl.Program | None = None
        self._textures: list[moderngl.Texture] = []
        self._fbos: list[moderngl.Framebuffer] = []
        self._camera: moderngl.Texture | None = None  # the live camera frame, reused while its size holds
        self._front = 0  # index of the target holding the previous output
        self._size: tuple[int, int] | None = None
        self._has_prev = False
        self._prev_time: float | None = None
        self._phase = _Phase()

    # -- GL lifetime ---------------------------------------------------------------------

    def prepare(self) -> None:
        """Make the GL context and compile the shader now (on the thread that will draw), not at the first frame."""
        self._ensure_context()

    def _ensure_context(self) -> moderngl.Context:
        if self._ctx is None:
            # Created on the worker thread that calls generate: a GL context is current on
            # one thread, and that must be the one drawing.
            self._ctx = create_headless_context()
            self._vao = self._shaders.quad(self._ctx, FRAGMENT)
            self._prog = self._vao.program
        return self._ctx

    def _ensure_targets(self, size: tuple[int, int]) -> None:
        if self._size == size:
            return
        ctx = self._ensure_context()
        self._release_targets()
        for _ in range(2):
            # Half-float targets: the feedback loop re-reads its output every frame, and 8-bit
            # storage would stall slow fades on quantisation steps.
            tex = ctx.texture(size, 4, dtype="f2")
            tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
            tex.repeat_x = tex.repeat_y = False
            self._textures.append(tex)
            self._fbos.append(ctx.framebuffer(color_attachments=[tex]))
        self._size = size
        self._has_prev = False  # a new size starts a fresh dream

    def _release_targets(self) -> None:
        for fbo in self._fbos:
            fbo.release()
        for tex in self._textures:
            tex.release()
        self._fbos, self._textures = [], []
        self._size = None
        self._has_prev = False

    def close(self) -> None:
        if self._ctx is None:
            return
        ctx = self._ctx
        with ctx:  # current here, whichever thread closes (the worker has stopped drawing)
            self._release_targets()
            if self._camera is not None:
                self._camera.release()
                self._camera = None
            if self._vao is not None:
                self._vao.release()
        ctx.release()
        self._ctx = self._vao = self._prog = None
        self._prev_time = None

    # -- frames --------------------------------------------------------------------------

    def generate(self, request: GenRequest) -> np.ndarray:
        w, h = int(request.size[0]), int(request.size[1])
        if w <= 0 or h <= 0:
            raise ValueError(f"frame size must be positive, got {request.size}")
        ctx = self._ensure_context()
        # Make our context current for the draw: the thread may hold other GL contexts
        # (another backend, a test's second generator), and GL state is per current context.
        with ctx:
            return self._draw(request, (w, h))

    def _draw(self, request: GenRequest, size: tuple[int, int]) -> np.ndarray:
        w, h = size
        self._ensure_targets(size)
        ctx = self._ctx
        assert ctx is not None and self._vao is not None
        self._set_camera(request, size)  # first: a bad camera frame raises before any state moves

        time = finite_number(request.time, 0.0)
        dt = 0.0 if self._prev_time is None else time - self._prev_time
        dt = min(max(dt, 0.0), MAX_STEP_S)  # time going backwards is a jump, not motion
        self._prev_time = time

        look = blend_looks(request.prompts)
        speed = finite_number(request.params.get("speed", 1.0), 1.0) * look.speed
        self._set_uniforms(request, look, self._phase.at(time, speed), dt, (w, h))

        back = 1 - self._front
        self._textures[self._front].use(location=0)
        self._fbos[back].use()
        ctx.viewport = (0, 0, w, h)
        self._vao.render(moderngl.TRIANGLE_STRIP)
        data = self._fbos[back].read(components=3, dtype="f1", alignment=1)
        self._front = back
        self._has_prev = True
        # GL rows run bottom-up; frames are top row first.
        return np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3)[::-1].copy()

    def _set_camera(self, request: GenRequest, size: tuple[int, int]) -> None:
        """Upload the camera frame and set its uniforms; mix 0 when there is none (the shader skips it)."""
        prog = self._prog
        ctx = self._ctx
        assert prog is not None and ctx is not None
        mix = _clamp01(finite_number(request.init_mix, 1.0))
        if request.init_image is None or mix == 0.0:
            if "u_camera_mix" in prog:
                uniform(prog, "u_camera_mix").value = 0.0
            return
        pixels = camera_pixels(request.init_image)
        ch, cw = pixels.shape[:2]
        if self._camera is None or self._camera.size != (cw, ch):
            if self._camera is not None:
                self._camera.release()
            self._camera = ctx.texture((cw, ch), 3, alignment=1)
            self._camera.repeat_x = self._camera.repeat_y = False  # the warp may reach past an edge
        tex = self._camera
        tex.write(pixels, alignment=1)
        # A camera larger than the frame is minified: mipmaps keep its edges from shimmering.
        if cw > size[0] or ch > size[1]:
            tex.build_mipmaps()
            tex.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        else:
            tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
        tex.use(location=1)
        values: dict[str, object] = {
            "u_camera": 1,
            # GLSL matrices are column-major.
            "u_camera_map": tuple(float(x) for x in camera_map(size, (cw, ch)).T.flatten()),
            "u_camera_mix": mix,
        }
        for name, value in values.items():
            if name in prog:
                uniform(prog, name).value = value

    def _set_uniforms(
        self, request: GenRequest, look: Look, phase: float, dt: float, size: tuple[int, int]
    ) -> None:
        prog = self._prog
        assert prog is not None

        def put(name: str, value: object) -> None:
            if name in prog:  # the GLSL compiler drops uniforms a shader edit stops using
                uniform(prog, name).value = value

        w, h = size
        keys, weights, frac = walk_uniforms(int(request.seed), float(request.seed_walk))
        prev_map = prev_frame_map(flow_matrix(request.motion, dt), w / h)
        put("u_resolution", (float(w), float(h)))
        put("u_time", phase)
        put("u_seed_key", keys)
        put("u_seed_w", weights)
        put("u_seed_t", frac)
        put("u_pal_a", look.palette_a)
        put("u_pal_b", look.palette_b)
        put("u_pal_c", look.palette_c)
        put("u_pal_d", look.palette_d)
        put("u_forms", look.form_weights())
        put("u_kaleido", _clamp01(look.kaleido))
        put("u_folds", max(2.0, look.folds))
        put("u_tunnel", _clamp01(look.tunnel))
        put("u_swirl", look.swirl)
        put("u_scale", max(0.1, look.scale))
        put("u_flow", max(0.0, look.flow))
        put("u_depth", _clamp01(look.depth))
        put("u_stars", _clamp01(look.stars))
        put("u_glow", _clamp01(look.glow))
        put("u_hue_flow", _clamp01(look.hue_flow))
        put("u_strength", _clamp01(finite_number(request.strength, 0.5)))
        put("u_feedback", _clamp01(finite_number(request.feedback, 0.0)))
        put("u_prev", 0)
        # GLSL matrices are column-major.
        put("u_prev_map", tuple(float(x) for x in prev_map.T.flatten()))
        put("u_has_prev", 1.0 if self._has_prev else 0.0)
        amount = finite_number(request.params.get("audio.amount", 1.0), 1.0)
        for name, value in audio_uniforms(request.audio, amount).items():
            put(name, value)


def _clamp01(x: float) -> float:
    return min(1.0, max(0.0, x))
