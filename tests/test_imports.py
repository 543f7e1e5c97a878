"""Validating files stays light: `vj check` and the config layer load neither torch nor glfw."""

from __future__ import annotations

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
