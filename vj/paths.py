"""Where vj finds its shipped files (shaders, presets, mappings). One place for each.

The team edits them in the repository's top-level folders. A built wheel (`pip install .`) carries
a copy inside the package, vj/data/<folder> (setup.py copies it at build time), found through
importlib.resources. An editable install or a plain checkout has no vj/data/: the top-level folders
are used. VJ_SHADER_DIR, VJ_PRESET_DIR and VJ_MAPPING_DIR override either.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

# The repository, when vj runs from a checkout (an editable install): the shipped folders sit here.
ROOT = Path(__file__).resolve().parent.parent


def shipped(folder: str) -> Path:
    """A shipped folder: the package's copy where vj was installed from a wheel, else the checkout's."""
    packaged = resources.files("vj") / "data" / folder
    if packaged.is_dir():
        return Path(str(packaged))  # a folder on disk: vj is not imported from a zip file
    return ROOT / folder


def _dir(env: str, folder: str) -> Path:
    return Path(os.environ[env]) if os.environ.get(env) else shipped(folder)


def _user_dir() -> Path:
    """vj's folder among the user's settings (XDG: ~/.config/vj)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "vj"


SHADER_DIR = _dir("VJ_SHADER_DIR", "shaders")
PRESET_DIR = _dir("VJ_PRESET_DIR", "presets")
MAPPING_DIR = _dir("VJ_MAPPING_DIR", "mappings")
# Where MIDI learn writes: among the mappings in a checkout or a chosen folder (the team's file), in
# the user's settings when vj is installed (a package's own folder may be read-only and is replaced
# on every upgrade). `--mapping my-controller` finds it in either place (vj.config.library.resolve).
_INSTALLED = MAPPING_DIR == shipped("mappings") and MAPPING_DIR != ROOT / "mappings"
LEARN_FILE = (_user_dir() / "mappings" if _INSTALLED else MAPPING_DIR) / "my-controller.yaml"
