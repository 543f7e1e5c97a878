"""Ships the repository's top-level shaders/, presets/ and mappings/ inside the package, as vj/data/.

The team edits those folders where they are; a built wheel (and so `pip install .`) gets a copy of
them in vj/data/, where vj.paths finds them through importlib.resources. An editable install
(`pip install -e .`) copies nothing: vj.paths then uses the top-level folders themselves.
Everything else about the package is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# folder -> the files of it that ship (mappings/my-controller.yaml is the user's MIDI learn file)
DATA = {"shaders": ("*.frag", "*.vert", "*.glsl"), "presets": ("*.yaml",), "mappings": ("*.yaml",)}
NOT_SHIPPED = {"my-controller.yaml"}


def data_files(folder: str) -> list[Path]:
    found = {p for pattern in DATA[folder] for p in (HERE / folder).glob(pattern)}
    return sorted(p for p in found if p.is_file() and p.name not in NOT_SHIPPED)


class BuildWithData(build_py):
    """build_py, then the shipped folders copied into the build's vj/data/ (a fresh copy each build)."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for folder in DATA:
            target = Path(self.build_lib) / "vj" / "data" / folder
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            for source in data_files(folder):
                shutil.copy2(source, target / source.name)


setup(cmdclass={"build_py": BuildWithData})
