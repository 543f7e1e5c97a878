"""A mapping file's `outputs:` section: the video outputs a rig starts with every show.

    outputs:
      ndi: vj main                   # or {name: vj main, format: uyvy}   (--ndi-out, --ndi-format)
      virtual_camera: true           # or /dev/video10, or {device: /dev/video10}   (--virtual-camera)
      syphon: vj                     # macOS   (--syphon)
      spout: vj                      # Windows (--spout)
      record: sets/{date}-{time}.mp4 # or {file: ..., fps: 30}   (--record, --record-fps)
      size: [1280, 720]              # or 1280x720   (--output-size)
      fps: 30                        # the most frames a second for NDI, the camera, Syphon, Spout (--output-fps)

The same options as `vj run`'s flags (vj.rig.outputs_cli), which override them one by one. A
relative recording path is the mapping file's folder's; `{date}` and `{time}` become the show's
start. A wrong entry is a problem with the file's name and line, kept apart from the mapping's
own: the show starts without that output, and says why (vj.config.mapping logs it, so `vj check`
shows it too).

The rules every output setting follows, wherever it comes from, live here too.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal, get_args

from vj.config.source import Problem, Section, is_choice, is_int, is_number, is_str, type_name

ReadMode = Literal["auto", "pbo", "direct", "thread", "server"]  # how the picture leaves the GPU (vj.render.readback)
READ_MODES: tuple[ReadMode, ...] = get_args(ReadMode)
NDI_FORMATS = ("native", "rgba", "bgra", "uyvy")  # native: the picture as it is read, RGBA or BGRA
RECORD_SUFFIXES = (".mp4", ".mov", ".m4v")
RECORD_FPS = (1, 240)
RECORD_FIELDS = ("date", "time")  # what a recording path's {...} may name
OUTPUT_KEYS = ("ndi", "virtual_camera", "syphon", "spout", "record", "size", "fps")


def size_problem(size: tuple[int, int]) -> str | None:
    """What is wrong with an output picture size (None: nothing)."""
    if min(size) < 2 or size[0] % 2 or size[1] % 2:
        return f"must be even and at least 2x2 (video encoders need that), got {size[0]}x{size[1]}"
    return None


def record_problem(path: Path) -> str | None:
    """What is wrong with a recording's file (or its {date}/{time} template): None if nothing."""
    if path.suffix.lower() not in RECORD_SUFFIXES:
        return f"writes MP4: give a file ending in .mp4, got {path}"
    try:
        named = [name for _, name, _, _ in string.Formatter().parse(str(path)) if name is not None]
    except ValueError as exc:
        return f"{exc} in {path} (write {{{{ and }}}} for a brace)"
    unknown = sorted(set(named) - set(RECORD_FIELDS))
    if unknown:
        return f"unknown {{{unknown[0]}}} in {path}; a recording's name may hold {{date}} and {{time}}"
    return None


@dataclass(frozen=True)
class OutputSettings:
    """What an `outputs:` section says, each None where it says nothing (the fields and their
    meaning are vj.rig.outputs_cli.OutputOptions'), and the entries left out for being wrong."""

    ndi_out: str | None = None
    ndi_format: str | None = None
    record: Path | None = None
    record_fps: int | None = None
    virtual_camera: str | None = None  # "": the first device
    syphon: str | None = None
    spout: str | None = None
    size: tuple[int, int] | None = None
    fps: float | None = None
    problems: tuple[Problem, ...] = ()  # each one an output the show starts without

    def said(self) -> dict[str, object]:
        """The settings given, by field name."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "problems" and getattr(self, f.name) is not None}


NO_OUTPUTS = OutputSettings()


def merge_outputs(settings: list[OutputSettings]) -> OutputSettings:
    """Several files' settings as one: a later file's setting replaces an earlier one's."""
    said: dict[str, object] = {}
    for one in settings:
        said.update(one.said())
    return OutputSettings(**said, problems=tuple(p for one in settings for p in one.problems))  # type: ignore[arg-type]


def parse_outputs(top: Section) -> OutputSettings:
    """The `outputs:` section of a mapping file (`top` is the file); its problems go on the
    settings, never on `top`'s list: a wrong output must not take the mapping down with it."""
    data = top.raw("outputs")
    if data is None:
        return NO_OUTPUTS
    line = top.line_of("outputs")
    if not isinstance(data, dict):
        return OutputSettings(problems=(Problem(top.file, line, "outputs", f"expected a mapping of outputs "
                                                f"({', '.join(OUTPUT_KEYS)}), got {type_name(data)}"),))
    problems: list[Problem] = []
    sec = Section(top.file, data, "outputs", problems, line)
    folder = Path(top.file).parent
    said: dict[str, object] = {}
    for key in [k for k in data if k in _READERS]:  # in the file's order, as its problems are told
        start = len(problems)
        values = _READERS[key](sec, folder)
        if len(problems) == start:  # an output with a wrong setting is left out whole
            said.update(values)
    sec.finish(OUTPUT_KEYS)
    return OutputSettings(**said, problems=tuple(problems))  # type: ignore[arg-type]


# -- each key ----------------------------------------------------------------------------------


def _name(kind: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        text = is_str(value).strip()
        if not text:
            raise ValueError(f"the {kind} name is empty")
        return text

    return check


def _off(sec: Section, key: str) -> bool:
    """`key: false` (or nothing) turns an output off: easier than deleting it for a night."""
    return sec.raw(key) is None or sec.raw(key) is False


def _ndi(sec: Section, folder: Path) -> dict[str, object]:
    if _off(sec, "ndi"):
        return {}
    if not isinstance(sec.raw("ndi"), dict):
        return {"ndi_out": sec.get("ndi", _name("NDI source"), "")}
    ndi = sec.section("ndi")
    said: dict[str, object] = {"ndi_out": ndi.get("name", _name("NDI source"), "", required=True),
                               "ndi_format": ndi.get("format", is_choice(*NDI_FORMATS), None)}
    ndi.finish(("name", "format"))
    return said


def _device(value: object) -> str:
    if value is True:
        return ""  # the first device
    text = is_str(value).strip()
    if not text:
        raise ValueError("the device is empty: give /dev/videoN, or true for the first one")
    return text


def _virtual_camera(sec: Section, folder: Path) -> dict[str, object]:
    if _off(sec, "virtual_camera"):
        return {}
    if not isinstance(sec.raw("virtual_camera"), dict):
        return {"virtual_camera": sec.get("virtual_camera", _device, "")}
    camera = sec.section("virtual_camera")
    device = camera.get("device", _device, "")
    camera.finish(("device",))
    return {"virtual_camera": device}


Reader = Callable[[Section, Path], "dict[str, object]"]  # one key's settings (none when it is wrong)


def _shared_texture(key: str, what: str) -> Reader:
    def read(sec: Section, folder: Path) -> dict[str, object]:
        return {} if _off(sec, key) else {key: sec.get(key, _name(what), "")}

    return read


def _record_file(folder: Path) -> Callable[[object], Path]:
    def check(value: object) -> Path:
        path = Path(is_str(value).strip()).expanduser()
        problem = record_problem(path) if path.name else "the file is empty"
        if problem:
            raise ValueError(problem)
        return path if path.is_absolute() else folder / path

    return check


def _record(sec: Section, folder: Path) -> dict[str, object]:
    if _off(sec, "record"):
        return {}
    if not isinstance(sec.raw("record"), dict):
        return {"record": sec.get("record", _record_file(folder), None)}
    record = sec.section("record")
    said: dict[str, object] = {"record": record.get("file", _record_file(folder), None, required=True),
            "record_fps": record.get("fps", is_int(*RECORD_FPS), None)}
    record.finish(("file", "fps"))
    return said


def _size(value: object) -> tuple[int, int]:
    if isinstance(value, str) and (m := re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", value)):
        size = int(m.group(1)), int(m.group(2))
    elif isinstance(value, list) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        size = int(value[0]), int(value[1])
    else:
        raise ValueError(f"expected [width, height] or WIDTHxHEIGHT such as 1280x720, got {type_name(value)}")
    problem = size_problem(size)
    if problem:
        raise ValueError(problem)
    return size


def _read_size(sec: Section, folder: Path) -> dict[str, object]:
    return {"size": sec.get("size", _size, None)}


def _read_fps(sec: Section, folder: Path) -> dict[str, object]:
    return {"fps": sec.get("fps", is_number(0.0, 1000.0), None)}


_READERS: dict[str, Reader] = {
    "ndi": _ndi,
    "virtual_camera": _virtual_camera,
    "syphon": _shared_texture("syphon", "Syphon server"),
    "spout": _shared_texture("spout", "Spout sender"),
    "record": _record,
    "size": _read_size,
    "fps": _read_fps,
}
