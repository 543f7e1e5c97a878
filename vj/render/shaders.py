"""GLSL loading: shader files live in `shaders/` and are read at run time.

A missing file or a compile error is a ShaderError that names the file, so a
broken shader never turns into an anonymous GL traceback.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import moderngl
import numpy as np

from vj.paths import SHADER_DIR

# Two triangles as one strip, covering NDC -1..1.
QUAD = np.array([-1.0, -1.0, 1.0, -1.0, -1.0, 1.0, 1.0, 1.0], dtype="f4")


class ShaderError(RuntimeError):
    """A shader file is missing or does not compile, or a program lacks a uniform the code sets."""


def uniform(program: moderngl.Program, name: str) -> moderngl.Uniform:
    """The program's uniform `name` (moderngl's `program[name]` may also be a block, attribute or varying)."""
    try:
        member = program[name]
    except KeyError:
        raise ShaderError(
            f"shader program has no uniform {name!r} (the GLSL compiler drops uniforms the shader does not use)"
        ) from None
    if not isinstance(member, moderngl.Uniform):
        raise ShaderError(f"shader member {name!r} is not a uniform (moderngl.{type(member).__name__})")
    return member


class ShaderLibrary:
    """Reads shader sources from one folder and caches compiled programs per context."""

    def __init__(self, root: Path = SHADER_DIR) -> None:
        self.root = Path(root)
        # Keyed by the context itself (weakly): an id() could be reused by a later context.
        self._programs: weakref.WeakKeyDictionary[moderngl.Context, dict[tuple[str, str], moderngl.Program]] = (
            weakref.WeakKeyDictionary()
        )

    def source(self, name: str) -> str:
        path = self.root / name
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ShaderError(f"shader file not found: {path}") from None
        except OSError as exc:
            raise ShaderError(f"cannot read shader file {path}: {exc}") from None

    def program(self, ctx: moderngl.Context, vertex: str, fragment: str) -> moderngl.Program:
        programs = self._programs.setdefault(ctx, {})
        key = (vertex, fragment)
        if key not in programs:
            vs, fs = self.source(vertex), self.source(fragment)
            try:
                programs[key] = ctx.program(vertex_shader=vs, fragment_shader=fs)
            except moderngl.Error as exc:
                raise ShaderError(f"shader {self.root / fragment} (with {vertex}) failed to compile:\n{exc}") from None
        return programs[key]

    def quad(self, ctx: moderngl.Context, fragment: str) -> moderngl.VertexArray:
        """A full-screen quad drawn with `fullscreen.vert` and the given fragment shader."""
        prog = self.program(ctx, "fullscreen.vert", fragment)
        vbo = ctx.buffer(QUAD.tobytes())
        return ctx.vertex_array(prog, [(vbo, "2f", "in_pos")])
