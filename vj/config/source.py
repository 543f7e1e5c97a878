"""Safe YAML loading that remembers where every key and item came from.

Config parsers read through a `Section`, which knows the file and line of each
key, so every error can say `presets/dream.yaml:12: params.zoom: expected ...`.
Only YAML's safe constructors are used: no tags, no code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    file: str
    line: int  # 1-based; 0 when unknown
    key: str  # dotted path of the key, e.g. "bindings[3].curve"
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(Exception):
    """One or more problems in one config file."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class LocDict(dict):
    """A mapping from YAML with the line of each key."""

    line: int = 0
    key_lines: dict[str, int]


class LocList(list):
    """A sequence from YAML with the line of each item."""

    line: int = 0
    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LocDict:
        out = LocDict()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                raise yaml.constructor.ConstructorError(
                    None, None, "keys must be plain scalars", key_node.start_mark
                )
            skey = str(key)
            if skey in out:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {skey!r}", key_node.start_mark
                )
            out[skey] = self.construct_object(value_node, deep=True)
            out.key_lines[skey] = key_node.start_mark.line + 1
        return out

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LocList:
        out = LocList(self.construct_object(child, deep=True) for child in node.value)
        out.line = node.start_mark.line + 1
        out.item_lines = [child.start_mark.line + 1 for child in node.value]
        return out


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_sequence)


def load_yaml(path: Path, text: str | None = None) -> Any:
    """Parse a YAML file; syntax errors become a ConfigError with the file and line."""
    name = str(path)
    try:
        if text is None:
            text = read_text(path)
    except OSError as exc:
        raise ConfigError([Problem(name, 0, "", f"cannot read file: {exc.strerror or exc}")]) from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        what = " ".join(x for x in (exc.context, exc.problem) if x)
        raise ConfigError([Problem(name, line, "", f"invalid YAML: {what}")]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (a control character)
        line = text.count("\n", 0, exc.position) + 1
        what = f"invalid YAML: character {exc.character!r} is not allowed"
        raise ConfigError([Problem(name, line, "", what)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(name, 1, "", f"invalid YAML: {exc}")]) from None


def read_text(path: Path) -> str:
    """A config file's text; bytes that are not UTF-8 are a ConfigError naming the line."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError([Problem(str(path), line, "", f"not UTF-8 text: byte 0x{data[exc.start]:02x} "
                                   "(save the file as UTF-8)")]) from None


def type_name(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


class Section:
    """A mapping being validated: typed getters that record problems with file, line and key path.

    Problems accumulate on a shared list so one `vj check` shows every error in a file.
    """

    def __init__(self, file: str, data: object, path: str, problems: list[Problem], line: int = 0) -> None:
        self.file = file
        self.path = path
        self.problems = problems
        self.ok = isinstance(data, dict)
        self.data: LocDict = data if isinstance(data, LocDict) else LocDict()
        self.line = getattr(data, "line", line) or line
        self._read: set[str] = set()
        if not self.ok:
            self.problem("", f"expected a mapping of keys, got {type_name(data)}", line)

    def key_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path and key else (key or self.path)

    def line_of(self, key: str) -> int:
        return getattr(self.data, "key_lines", {}).get(key, self.line)

    def problem(self, key: str, message: str, line: int | None = None) -> None:
        self.problems.append(
            Problem(self.file, self.line_of(key) if line is None else line, self.key_path(key), message)
        )

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: object = None) -> object:
        self._read.add(key)
        return self.data.get(key, default)

    def get(self, key: str, check: Callable[[object], T], default: T, required: bool = False) -> T:
        """Read one key through `check` (which raises ValueError with what was expected)."""
        self._read.add(key)
        if key not in self.data:
            if required:
                self.problem(key, "is required", self.line)
            return default
        try:
            return check(self.data[key])
        except ValueError as exc:
            self.problem(key, str(exc))
            return default

    def section(self, key: str) -> Section:
        self._read.add(key)
        return Section(self.file, self.data.get(key, LocDict()), self.key_path(key), self.problems, self.line_of(key))

    def items(self, key: str) -> Iterator[tuple[int, int, object]]:
        """(index, line, item) for a list-valued key; a non-list is a problem."""
        self._read.add(key)
        value = self.data.get(key)
        if value is None:
            return
        if not isinstance(value, list):
            self.problem(key, f"expected a list, got {type_name(value)}")
            return
        lines = getattr(value, "item_lines", [self.line_of(key)] * len(value))
        for index, item in enumerate(value):
            yield index, lines[index], item

    def finish(self, allowed: tuple[str, ...] | None = None) -> None:
        """Every key not read is unknown: report it with the keys that are allowed here."""
        known = tuple(allowed) if allowed is not None else tuple(sorted(self._read))
        for key in self.data:
            if key not in self._read:
                self.problem(key, f"unknown key; expected one of: {', '.join(known)}")


# Checks: each returns the value or raises ValueError saying what was expected.


def is_str(value: object) -> str:
    if isinstance(value, str):
        return value
    raise ValueError(f"expected a string, got {type_name(value)}")


def is_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected true or false, got {type_name(value)}")


def is_number(lo: float = float("-inf"), hi: float = float("inf")) -> Callable[[object], float]:
    def check(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {type_name(value)}")
        if not lo <= value <= hi:
            raise ValueError(f"expected a number in {lo:g}..{hi:g}, got {value!r}")
        return float(value)

    return check


def is_int(lo: int, hi: int) -> Callable[[object], int]:
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {type_name(value)}")
        if not lo <= value <= hi:
            raise ValueError(f"expected a whole number in {lo}..{hi}, got {value!r}")
        return value

    return check


def is_choice(*choices: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        if isinstance(value, str) and value in choices:
            return value
        raise ValueError(f"expected one of {', '.join(choices)}, got {type_name(value)}")

    return check
