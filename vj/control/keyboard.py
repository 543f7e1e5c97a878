"""The keyboard as a control source: key names are GLFW's (`SPACE`, `LEFT`, `A`, `1`, `F11`...)."""

from __future__ import annotations

import glfw

from vj.control.events import ControlEvent, SourceKey



def _key_codes() -> dict[int, str]:
    codes: dict[int, str] = {}
    for attr in sorted(dir(glfw)):
        if not attr.startswith("KEY_") or attr in ("KEY_UNKNOWN", "KEY_LAST"):
            continue  # KEY_LAST is an alias of the highest key (MENU)
        code = getattr(glfw, attr)
        if isinstance(code, int):
            codes.setdefault(code, attr[4:])
    return codes


KEY_CODES: dict[int, str] = _key_codes()  # GLFW key code -> name
KEY_NAMES: frozenset[str] = frozenset(KEY_CODES.values())


def normalise_key(name: str) -> str:
    """Config spelling -> GLFW name: case-insensitive, so `space` and `f11` work."""
    return name.strip().upper().replace(" ", "_")


def key_source(name: str) -> SourceKey:
    return ("key", normalise_key(name))


def key_event(name: str, pressed: bool) -> ControlEvent:
    return ControlEvent(key_source(name), 1.0 if pressed else 0.0)
