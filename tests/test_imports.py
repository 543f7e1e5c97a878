"""Validating files stays light: `vj check` and the config layer load neither torch nor glfw."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in ('torch', 'glfw', 'diffusers') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split("\n")[-2].split()) if done.stdout.strip() else set()


def test_the_config_layer_imports_no_torch_or_glfw():
    assert loaded_after("import vj.config.preset, vj.config.mapping") == set()


def test_vj_check_on_every_shipped_file_imports_no_torch_or_glfw():
    files = [str(p) for p in sorted((ROOT / "presets").glob("*.yaml")) + sorted((ROOT / "mappings").glob("*.yaml"))]
    assert any("diffusion" in f for f in files)
    code = f"from vj.cli import main\nassert main(['check', *{files!r}]) == 0"
    assert loaded_after(code) == set()


# -- the layers import only downward ----------------------------------------------------------


def layer_of(module: str) -> str:
    """A module's layer: its subpackage (`vj.gen.models` -> `vj.gen`) or itself at the top (`vj.show`)."""
    return ".".join(module.split(".")[:2])


def imports_of(path: Path, module: str) -> set[str]:
    """Every vj module `path` imports, at the top or inside a function (a lazy import still depends)."""
    found: set[str] = set()
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            # `from vj import show` names a module; `from vj.gen import models` may too
            found.update([base] + [f"{base}.{alias.name}" for alias in node.names])
    return {m for m in found if m.startswith("vj.")}


def layer_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted((ROOT / "vj").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        here = layer_of(module)
        targets = {layer_of(m) for m in imports_of(path, module)} - {here, "vj.__init__"}
        graph.setdefault(here, set()).update(t for t in targets if t != "vj")
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_import_cycle_between_vj_layers():
    graph = layer_graph()
    assert {"vj.gen", "vj.config", "vj.show", "vj.vocabulary"} <= graph.keys()  # the walk saw the code
    found = cycles(graph)
    detail = [" <-> ".join(c) + ": " + "; ".join(f"{a} -> {b}" for a in c for b in sorted(graph[a]) if b in c)
              for c in found]
    assert not found, "import cycles between layers:\n" + "\n".join(detail)


def test_the_vocabulary_imports_nothing_from_vj():
    assert imports_of(ROOT / "vj" / "vocabulary.py", "vj.vocabulary") == set()


# -- tests share helpers through tests/support, never through another test module ---------------


TEST_MODULE = re.compile(r"^tests(\.\w+)*\.(test_\w+|conftest)$")
IMPORT_IN_TEXT = re.compile(r"\b(?:from|import)\s+(tests(?:\.\w+)+)")  # in code run by a subprocess


def imported_test_modules(source: str, package: str = "tests") -> set[str]:
    """The test modules (test_*, conftest) that `source`, a file in `package`, imports: at the top,
    inside a function, or in a string of code it runs in another interpreter."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found.update([base] + [f"{base}.{alias.name}" for alias in node.names])  # `from tests import test_x`
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.update(IMPORT_IN_TEXT.findall(node.value))
    return {m for m in found if TEST_MODULE.match(m)}


def test_the_test_import_finder_sees_each_form():
    assert imported_test_modules("from tests.render.test_window import paint") == {"tests.render.test_window"}
    assert imported_test_modules("def f():\n    from tests.audio import test_capture") == {"tests.audio.test_capture"}
    assert imported_test_modules("import tests.conftest") == {"tests.conftest"}
    assert imported_test_modules("from .test_engine import Actions", "tests.control") == {"tests.control.test_engine"}
    assert imported_test_modules('CODE = "from tests.proc.test_supervisor import Recorder"') == {
        "tests.proc.test_supervisor"}
    assert imported_test_modules("from tests.support.waiting import wait_for\nimport vj.show") == set()


def test_no_test_module_imports_another():
    """Shared helpers live in tests/support (and fixtures in conftest.py, which pytest loads itself)."""
    files = sorted((ROOT / "tests").rglob("*.py"))
    assert len(files) > 50  # the walk saw the tests
    found = {}
    for path in files:
        if path == Path(__file__):
            continue  # the finder's examples above
        package = ".".join(path.relative_to(ROOT).parent.parts)
        if imported := imported_test_modules(path.read_text(), package):
            found[str(path.relative_to(ROOT))] = sorted(imported)
    assert not found, f"test modules imported by others (move what they share to tests/support): {found}"
