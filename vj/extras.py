"""The optional parts of vj and the extra that installs each (`pip install 'vj[diffusion]'`).

A procedural-only install (`pip install vj`) has no torch. Each optional feature asks `require`
before it imports its libraries; a missing one raises `MissingExtra`, whose message names the extra
to install, and the caller goes on without the feature (the show falls back to the procedural
dream, voice commands stay off) and shows the message in the log and the HUD. Checking imports
nothing (importlib.util.find_spec), so it costs no time where the extra is there.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.util import find_spec


@dataclass(frozen=True)
class Feature:
    extra: str  # pyproject.toml's optional-dependencies name
    modules: tuple[str, ...]  # the top-level modules it imports


FEATURES: dict[str, Feature] = {
    "diffusion": Feature("diffusion", ("torch", "diffusers", "transformers", "safetensors")),
    "voice": Feature("voice", ("pocketsphinx", "scipy")),  # voice commands
    "dictation": Feature("voice", ("torch", "transformers")),  # spoken prompts (Whisper)
    "ndi": Feature("rig", ("cyndilib",)),  # NDI out and in
    "link": Feature("rig", ("link",)),  # Ableton Link (LinkPython-extern)
    "virtual camera": Feature("rig", ("pyvirtualcam",)),
    "madmom": Feature("beats", ("madmom",)),  # madmom's beat trackers (vj.audio.madmom_beat)
}


class MissingExtra(ImportError):
    """A feature's libraries are not installed; the message says which extra brings them."""

    def __init__(self, feature: str, extra: str, missing: tuple[str, ...]) -> None:
        super().__init__(f"{feature} needs the {extra} extra: pip install 'vj[{extra}]' "
                         f"({', '.join(missing)} not installed)")
        self.feature = feature
        self.extra = extra
        self.missing = missing


def missing(feature: str) -> tuple[str, ...]:
    """The modules `feature` needs that are not installed (none: it can run)."""
    return tuple(m for m in FEATURES[feature].modules if find_spec(m) is None)


def require(feature: str) -> None:
    """Raises MissingExtra unless every library `feature` needs is installed."""
    absent = missing(feature)
    if absent:
        raise MissingExtra(feature, FEATURES[feature].extra, absent)


def extra_for(module: str) -> str | None:
    """The extra that installs top-level `module` (from a ModuleNotFoundError's name), if any."""
    top = module.split(".")[0]
    return next((f.extra for f in FEATURES.values() if top in f.modules), None)


def explain(exc: ImportError, what: str) -> str | None:
    """What to tell the user when `what` failed with `exc`: the extra to install, or None where
    the failed import is no optional library of vj's (a bug, not a missing extra)."""
    if isinstance(exc, MissingExtra):
        return str(exc)
    extra = extra_for(exc.name or "") if isinstance(exc, ModuleNotFoundError) else None
    if extra is None:
        return None
    return f"{what} needs the {extra} extra: pip install 'vj[{extra}]' ({exc.name} not installed)"
