"""Where vj finds its shipped files (shaders, presets, mappings). One place for each."""

from __future__ import annotations

import os
from pathlib import Path

# vj is installed editable (pip install -e .): shipped folders sit beside the package.
ROOT = Path(__file__).resolve().parent.parent


def _dir(env: str, name: str) -> Path:
    return Path(os.environ[env]) if os.environ.get(env) else ROOT / name


SHADER_DIR = _dir("VJ_SHADER_DIR", "shaders")
PRESET_DIR = _dir("VJ_PRESET_DIR", "presets")
MAPPING_DIR = _dir("VJ_MAPPING_DIR", "mappings")
