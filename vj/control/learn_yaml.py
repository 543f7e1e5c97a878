"""Writing a learned binding into a YAML mapping file, keeping every other byte of the file.

`write_binding` adds the binding a `vj.control.learn.Learner` proposed, or replaces the binding
of the same control (re-learning), editing the file as text at the positions ruamel.yaml's
composer reports: comments, blank lines, key order, quoting and item styles stay as they were.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from vj.config.mapping import parse_mapping
from vj.config.midi import MIDI_KINDS
from vj.config.source import ConfigError
from vj.control.learn import LearnedBinding, LearnError, yaml_scalar


@dataclass(frozen=True)
class WriteResult:
    path: Path
    line: int  # 1-based line of the written item
    text: str  # the item as written (flow style)
    replaced: bool  # an existing binding of the same control was replaced (re-learn)
    created: bool  # the file did not exist


def write_binding(path: str | Path, learned: LearnedBinding, port_pattern: str = "") -> WriteResult:
    """Add `learned` to the mapping file at `path` (created when missing) and return where.

    An existing binding of the same control (same MIDI kind and number, overlapping channel;
    cc N and cc14 N share CC N) is replaced in place; otherwise the item goes after the last
    binding. The file is edited as text at the positions ruamel.yaml's composer reports, so
    everything outside the new or replaced item (comments, blank lines, order, quoting, the
    `midi:` section, keyboard bindings) stays byte for byte. A new file gets a header comment,
    a description, `midi: {input: PORT_PATTERN}` when a pattern is given, and `bindings:`.

    The result is written to a temporary file beside the original, validated with
    parse_mapping and then moved over it (os.replace), so a reader never sees half a file and
    an invalid result leaves the original untouched: LearnError says why.
    """
    path = Path(path)
    created = not path.exists()
    if created:
        new_text, index, replaced = _new_file(path, learned, port_pattern), -1, False
    else:
        with open(path, encoding="utf-8", newline="") as f:  # newline="": keep CRLF files CRLF
            text = f.read()
        try:
            parse_mapping(path, text)
        except ConfigError as exc:
            raise LearnError(f"{path} has problems already, so it was not changed; fix them first:\n{exc}") from None
        if not text.strip():
            new_text, index, replaced = _new_file(path, learned, port_pattern), -1, False
        else:
            new_text, index, replaced = _splice(text, learned)
    item = learned.text()
    if index < 0:
        index = new_text.index(item)
    _replace_validated(path, new_text, created)
    return WriteResult(path, new_text.count("\n", 0, index) + 1, item, replaced, created)


def _new_file(path: Path, learned: LearnedBinding, port_pattern: str) -> str:
    midi = f"midi:\n  input: {yaml_scalar(port_pattern)}\n" if port_pattern else ""
    return (
        "# A MIDI controller mapping, written by `vj learn`: edit it freely, learn keeps comments and order.\n"
        f"# Use it with `vj run --mapping {path}`; check it with `vj check {path}`.\n"
        f"description: {yaml_scalar(path.stem + ' (learned)')}\n"
        f"{midi}"
        "bindings:\n"
        f"  - {learned.text()}\n"
    )


def _splice(text: str, learned: LearnedBinding) -> tuple[str, int, bool]:
    """The edited text, the index where the item starts, and whether it replaced one."""
    newline = "\r\n" if "\r\n" in text else "\n"
    try:
        loader = YAML(typ="rt")
        root = loader.compose(text)
        data = YAML(typ="rt").load(text)
    except YAMLError as exc:  # parse_mapping accepted it, so this is a YAML 1.1/1.2 difference
        raise LearnError(f"cannot edit {exc}") from None
    item = learned.text()
    if not isinstance(root, MappingNode):  # comments only
        return _append_top(text, item, newline)
    bindings = next((v for k, v in root.value if isinstance(k, ScalarNode) and k.value == "bindings"), None)
    if bindings is None:
        return _append_top(text, item, newline)
    if isinstance(bindings, ScalarNode):  # `bindings:` with nothing under it
        key = next(k for k, v in root.value if v is bindings)
        # drop an explicit `~` or `null`, then the list goes on the lines below the key
        text = text[: bindings.start_mark.index] + text[bindings.end_mark.index:]
        at = _line_end(text, key.end_mark.index)
        prefix = " " * (key.start_mark.column + 2) + "- "
        return _insert_line(text, at, prefix + item, newline)
    assert isinstance(bindings, SequenceNode)
    device = data.get("midi") if isinstance(data.get("midi"), dict) else {}
    default_channel = device.get("channel") if isinstance(device, dict) else None
    items = list(data.get("bindings") or [])
    for node, value in zip(bindings.value, items):
        if isinstance(value, dict) and _same_control(value, learned, default_channel):
            start, end = node.start_mark.index, _content_end(node).end_mark.index
            return text[:start] + item + text[end:], start, True
    if bindings.flow_style:
        close = text.rindex("]", 0, bindings.end_mark.index)
        if bindings.value:
            at = bindings.value[-1].end_mark.index
            return text[:at] + ", " + item + text[at:], at + 2, False
        return text[:close] + item + text[close:], close, False
    at = _line_end(text, _content_end(bindings.value[-1]).end_mark.index)
    return _insert_line(text, at, " " * bindings.start_mark.column + "- " + item, newline)


def _append_top(text: str, item: str, newline: str) -> tuple[str, int, bool]:
    """A file without bindings: a `bindings:` section at the end."""
    if text and not text.endswith("\n"):
        text += newline
    head = text + "bindings:" + newline + "  - "
    return head + item + newline, len(head), False


def _insert_line(text: str, at: int, line: str, newline: str) -> tuple[str, int, bool]:
    """`line` as a new line starting at index `at` (a line start, or the end of a last line)."""
    if at == len(text) and text and not text.endswith("\n"):
        text += newline
        at = len(text)
    indent = len(line) - len(line.lstrip(" -"))
    return text[:at] + line + newline + text[at:], at + indent, False


def _line_end(text: str, index: int) -> int:
    """The index just after the end of the line holding `index` (its newline included)."""
    end = text.find("\n", index)
    return len(text) if end < 0 else end + 1


def _content_end(node: Node) -> Node:
    """The last node that ends where the item's text ends. A block collection's own end mark
    lies at the next token (after trailing comments and blank lines, which belong to what
    follows), so descend to its last scalar or flow collection."""
    while isinstance(node, (MappingNode, SequenceNode)) and not node.flow_style and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(last, tuple) else last
    return node


def _same_control(item: dict[str, Any], learned: LearnedBinding, default_channel: object) -> bool:
    """Whether an existing binding listens to the learned control (so re-learning replaces it)."""
    kinds = [k for k in MIDI_KINDS if k in item]
    if len(kinds) != 1:
        return False  # a keyboard binding (or an invalid one)
    kind, raw = kinds[0], item[kinds[0]]
    channel = item.get("channel", default_channel)
    if channel not in (None, "any") and channel != learned.channel:
        return False
    if {kind, learned.kind} <= {"cc", "cc14"}:  # cc14 N is CC N and N+32: the same physical control
        def ccs(k: str, n: object) -> set[object]:
            return {n, n + 32} if k == "cc14" and isinstance(n, int) else {n}

        return bool(ccs(kind, raw) & ccs(learned.kind, learned.number))
    if kind != learned.kind:
        return False
    if kind == "pitchbend" or raw == "any" or learned.number is None:
        return True
    return bool(raw == learned.number)


def _replace_validated(path: Path, text: str, created: bool) -> None:
    """Write `text` to a temporary file beside `path`, validate it, then move it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # a .tmp suffix, so a live reload watching *.yaml never picks up the half-done file
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        try:
            parse_mapping(path, tmp.read_text(encoding="utf-8"))  # errors name the real file
        except ConfigError as exc:
            raise LearnError(f"the learned binding would make {path} invalid, so it was not changed:\n{exc}") from None
        if created:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a new file gets the usual mode
        else:
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


