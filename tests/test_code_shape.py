"""The code stays learnable: no class over 250 lines and no function over 80 in vj/."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_CLASS = 250
MAX_FUNCTION = 80


def sizes(path: Path, root: Path = ROOT) -> list[tuple[str, str, int]]:
    """(kind, where, lines) of every class and function in a file, nested ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            assert node.end_lineno is not None
            kind = "class" if isinstance(node, ast.ClassDef) else "function"
            where = f"{path.relative_to(root)}:{node.lineno} {node.name}"
            found.append((kind, where, node.end_lineno - node.lineno + 1))
    return found


def too_long(found: list[tuple[str, str, int]]) -> list[str]:
    return [f"{kind} {where}: {lines} lines" for kind, where, lines in found
            if lines > (MAX_CLASS if kind == "class" else MAX_FUNCTION)]


def test_the_measure_sees_a_long_function(tmp_path):
    long = tmp_path / "long.py"
    long.write_text("class C:\n    pass\n\n\ndef f():\n" + "    x = 1\n" * MAX_FUNCTION)
    found = sizes(long, tmp_path)
    assert ("class", "long.py:1 C", 2) in found and ("function", "long.py:5 f", MAX_FUNCTION + 1) in found
    assert too_long(found) == [f"function long.py:5 f: {MAX_FUNCTION + 1} lines"]


def test_no_class_or_function_in_vj_is_too_long():
    found = [entry for path in sorted((ROOT / "vj").rglob("*.py")) for entry in sizes(path)]
    assert len(found) > 500  # the walk saw the code
    assert too_long(found) == []
