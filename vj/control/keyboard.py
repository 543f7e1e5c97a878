"""The keyboard as a control source: key names are GLFW's (`SPACE`, `LEFT`, `A`, `1`, `F11`...)."""

from __future__ import annotations

import glfw

from vj.control.events import ControlEvent, SourceKey

KEY_NAMES: frozenset[str] = frozenset(
    name[4:] for name in dir(glfw) if name.startswith("KEY_") and name != "KEY_UNKNOWN"
)
KEY_CODES: dict[int, str] = {
    getattr(glfw, f"KEY_{name}"): name for name in sorted(KEY_NAMES) if name not in ("LAST",)
}


def normalise_key(name: str) -> str:
    """Config spelling -> GLFW name: case-insensitive, so `space` and `f11` work."""
    return name.strip().upper().replace(" ", "_")


def key_source(name: str) -> SourceKey:
    return ("key", normalise_key(name))


def key_event(name: str, pressed: bool) -> ControlEvent:
    return ControlEvent(key_source(name), 1.0 if pressed else 0.0)
