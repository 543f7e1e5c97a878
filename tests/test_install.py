"""vj installed as a user installs it: a wheel (not editable) in a fresh virtual environment,
with the base dependencies only, run from an empty folder.

The wheel is built the way a release would be, offline: the sdist from a copy of the sources
(so the work tree gets no build/ folder), then `pip wheel` from the unpacked sdist, so the sdist's
MANIFEST.in is tested too.

How the fresh environment gets vj's dependencies without a network: they are already installed in
the environment running the tests (.venv), so the test links them in. From the wheel's metadata
it takes vj's base requirements (no extras), follows them through the installed distributions'
own requirements, and symlinks every file of each distribution in that closure (its RECORD,
dist-info included) into the new environment's site-packages. Then `pip install --no-index` of
the wheel, with dependency resolution on: pip finds every requirement already installed, or fails
naming the one that is not, so a base dependency missing from pyproject.toml fails here. Nothing
outside the closure is linked (not --system-site-packages, not .venv's whole site-packages), so
torch, diffusers and pocketsphinx are not importable there: the extras split is real.
"""

from __future__ import annotations

import email.parser
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from vj.render.recorder import read_video

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "vj", "shaders", "presets", "mappings")
SHIPPED = {"shaders": ("*.frag", "*.vert", "*.glsl"), "presets": ("*.yaml",), "mappings": ("*.yaml",)}
USER_FILE = "my-controller.yaml"  # the user's MIDI learn file: never shipped
EXTRA_MODULES = ("torch", "diffusers", "transformers", "pocketsphinx")


def shipped_names(folder: str) -> list[str]:
    """The repository's files that the package must carry in vj/data/<folder>."""
    names = {p.name for pattern in SHIPPED[folder] for p in (REPO / folder).glob(pattern)}
    return sorted(names - {USER_FILE})


def run(*cmd: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{done.stdout}\n{done.stderr}"
    return done


@dataclass(frozen=True)
class Built:
    src: Path  # the copy of the sources it was built from
    sdist: Path
    wheel: Path


@dataclass(frozen=True)
class Installed:
    root: Path  # the virtual environment
    site: Path  # its site-packages
    env: dict[str, str]  # the environment to run it in: its bin/ first, no VJ_* overrides

    def bin(self, name: str) -> Path:
        return self.root / "bin" / name


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("build")
    src = root / "src"
    src.mkdir()
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        else:
            shutil.copy2(source, src / name)
    (src / "mappings" / USER_FILE).write_text("name: mine\n")  # a user's file in the checkout
    dist = root / "dist"
    sdist_name = run(sys.executable, "-c", "import sys; from setuptools import build_meta; "
                     "print(build_meta.build_sdist(sys.argv[1]))", dist, cwd=src).stdout.split()[-1]
    sdist = dist / sdist_name
    with tarfile.open(sdist) as tar:
        tar.extractall(root / "unpacked", filter="data")
    (unpacked,) = (root / "unpacked").iterdir()
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--no-cache-dir",
        "--disable-pip-version-check", "-q", "-w", dist, unpacked)
    (wheel,) = dist.glob("vj-*.whl")
    return Built(src, sdist, wheel)


def base_requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        meta = email.parser.Parser().parsestr(zf.read(name).decode())
    return [Requirement(r) for r in meta.get_all("Requires-Dist") or []]


def closure(requirements: list[Requirement]) -> dict[str, metadata.Distribution]:
    """Every installed distribution the requirements need, with extras: no extra of vj's own."""
    found: dict[str, metadata.Distribution] = {}
    extras_of: dict[str, set[str]] = {}
    todo = [(r, "") for r in requirements]  # (requirement, the extra of its parent it came with)
    while todo:
        req, parent_extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": parent_extra}):
            continue
        name = canonicalize_name(req.name)
        wanted = set(req.extras)
        if name in found and wanted <= extras_of[name]:
            continue
        extras_of.setdefault(name, set()).update(wanted)
        found[name] = metadata.distribution(name)
        todo += [(Requirement(r), extra) for r in found[name].requires or [] for extra in ("", *extras_of[name])]
    return found


def link_distributions(dists: dict[str, metadata.Distribution], site: Path) -> int:
    """Symlinks each distribution's installed files into `site`; returns how many."""
    count = 0
    for dist in dists.values():
        for file in dist.files or []:
            source = Path(str(dist.locate_file(file)))
            if file.parts[0] == ".." or not source.is_file():  # scripts in bin/, stale RECORD lines
                continue
            target = site / file
            if target.exists() or target.is_symlink():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source)
            count += 1
    return count


def fresh_venv(root: Path, requirements: list[Requirement], *pip_install: str | Path) -> Installed:
    """A new virtual environment holding the installed distributions `requirements` need (linked
    from this one), then `pip install --no-index` of `pip_install`, run by this environment's pip."""
    run(sys.executable, "-m", "venv", "--without-pip", root)
    python = root / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    assert link_distributions(closure(requirements), site) > 0
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-index", "--no-cache-dir",
        "--disable-pip-version-check", "-q", *pip_install, timeout=180)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("VJ_") and k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return Installed(root, site, env)


@pytest.fixture(scope="module")
def installed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return fresh_venv(tmp_path_factory.mktemp("venv") / "env", base_requirements(built.wheel), built.wheel)


def test_the_sdist_and_the_wheel_carry_the_shaders_presets_and_mappings(built: Built):
    with tarfile.open(built.sdist) as tar:
        in_sdist = {Path(*Path(n).parts[1:]).as_posix() for n in tar.getnames()}
    with zipfile.ZipFile(built.wheel) as zf:
        in_wheel = set(zf.namelist())
    for folder in SHIPPED:
        names = shipped_names(folder)
        assert names, f"nothing to ship in {folder}/"
        assert {f"{folder}/{n}" for n in names} <= in_sdist
        assert {n for n in in_wheel if n.startswith(f"vj/data/{folder}/")} == {f"vj/data/{folder}/{n}" for n in names}
    assert not any(n.endswith(USER_FILE) for n in in_sdist | in_wheel)
    assert any(n.startswith("vj/data/shaders/") and n.endswith(".frag") for n in in_wheel)


def test_the_installed_vj_knows_its_version_and_its_files_without_the_checkout(installed: Installed, tmp_path):
    version = run(installed.bin("vj"), "--version", cwd=tmp_path, env=installed.env).stdout.strip()
    assert version == f"vj {tomllib.loads((REPO / 'pyproject.toml').read_text())['project']['version']}"
    probe = ("import importlib.util, vj, vj.paths; print(vj.__file__); print(vj.paths.SHADER_DIR); "
             f"print([m for m in {EXTRA_MODULES!r} if importlib.util.find_spec(m)]); print(vj.paths.LEARN_FILE)")
    env = {**installed.env, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    vj_file, shader_dir, extras, learn_file = run(installed.bin("python"), "-c", probe, cwd=tmp_path,
                                                  env=env).stdout.splitlines()
    assert Path(vj_file).is_relative_to(installed.site)  # not the repository's vj
    assert Path(shader_dir) == installed.site / "vj" / "data" / "shaders"
    assert extras == "[]"  # torch, diffusers, transformers and pocketsphinx come only with the extras
    # MIDI learn writes among the user's settings, not into the package
    assert Path(learn_file) == tmp_path / "config" / "vj" / "mappings" / "my-controller.yaml"


def test_the_installed_vj_checks_every_shipped_preset_and_mapping_by_name(installed: Installed, tmp_path):
    names = [Path(n).stem for folder in ("presets", "mappings") for n in shipped_names(folder)]
    result = run(installed.bin("vj"), "check", *names, cwd=tmp_path, env=installed.env)
    oks = [line for line in result.stdout.splitlines() if line.startswith("ok: ")]
    assert len(oks) == len(names), result.stdout
    assert all(str(installed.site / "vj" / "data") in line for line in oks)


def test_the_installed_vj_renders_a_procedural_preset(installed: Installed, tmp_path):
    out = tmp_path / "neon.mp4"
    result = run(installed.bin("vj"), "render", "--preset", "neon-tunnel", "--seconds", "1", "--fps", "12",
                 "--size", "160x96", "--out", out.name, cwd=tmp_path, env=installed.env)
    assert f"wrote {out.name}: 12 frames, 160x96" in result.stdout
    count, size, frames = read_video(out)
    assert count == 12 and size == (160, 96)
    assert all(f.std() > 5 for f in frames)  # a picture, not black


def test_a_diffusion_preset_without_the_extra_falls_back_and_names_the_extra(installed: Installed, tmp_path):
    out = tmp_path / "tiny.mp4"
    result = run(installed.bin("vj"), "render", "--preset", "tiny-diffusion", "--seconds", "1", "--fps", "6",
                 "--size", "128x72", "--out", out.name, cwd=tmp_path, env=installed.env)
    assert "diffusion needs the diffusion extra: pip install 'vj[diffusion]'" in result.stderr
    count, _, frames = read_video(out)
    # the procedural fallback dreamed, from the first frame on (the render waits through the fallback)
    assert count == 6 and all(f.std() > 5 for f in frames)


def test_an_editable_install_uses_the_checkouts_own_folders(built: Built, tmp_path):
    # setuptools builds the editable wheel here, with this environment's setuptools (no index)
    requirements = [*base_requirements(built.wheel), Requirement("setuptools")]
    editable = fresh_venv(tmp_path / "env", requirements, "--no-build-isolation", "-e", built.src)
    probe = "import vj.paths as p; print(p.SHADER_DIR); print(p.PRESET_DIR); print(p.MAPPING_DIR); print(p.LEARN_FILE)"
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    dirs = run(editable.bin("python"), "-c", probe, cwd=cwd, env=editable.env).stdout.splitlines()
    assert [Path(d) for d in dirs] == [built.src / "shaders", built.src / "presets", built.src / "mappings",
                                       built.src / "mappings" / "my-controller.yaml"]
    assert not (built.src / "vj" / "data").exists()  # nothing copied into the checkout


def test_voice_and_models_without_their_extras_name_the_extra(installed: Installed, tmp_path):
    probe = """
from vj.extras import MissingExtra
from vj.voice.commands import CommandRecognizer
from vj.voice.listener import load_transcriber
for start in (CommandRecognizer, lambda: load_transcriber("tiny.en")):
    try:
        start()
    except MissingExtra as exc:
        print(exc)
"""
    said = run(installed.bin("python"), "-c", probe, cwd=tmp_path, env=installed.env).stdout.splitlines()
    assert said[0].startswith("voice needs the voice extra: pip install 'vj[voice]' (pocketsphinx")
    assert said[1].startswith("dictation needs the voice extra: pip install 'vj[voice]' (torch")
    models = subprocess.run([installed.bin("vj"), "models", "list"], cwd=tmp_path, env=installed.env,
                            capture_output=True, text=True, timeout=60)
    assert models.returncode == 2
    assert "vj models needs the diffusion extra: pip install 'vj[diffusion]'" in models.stderr
