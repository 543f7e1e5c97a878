"""The keyboard as a control source: key names are GLFW's (`SPACE`, `LEFT`, `A`, `1`, `F11`...).

The names are written out here, not read from glfw, so that parsing a mapping file (`vj check`)
does not load the windowing library; vj.render.window maps GLFW's key codes to these names
(tests/render/test_window.py checks the two agree).
"""

from __future__ import annotations

from vj.control.events import ControlEvent, SourceKey

KEY_NAMES: frozenset[str] = frozenset((
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F", "G", "H", "I",
    "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T", "U", "V", "W", "X", "Y", "Z",
    "APOSTROPHE", "BACKSLASH", "BACKSPACE", "CAPS_LOCK", "COMMA", "DELETE", "DOWN", "END", "ENTER",
    "EQUAL", "ESCAPE", "F1", "F10", "F11", "F12", "F13", "F14", "F15", "F16", "F17", "F18", "F19",
    "F2", "F20", "F21", "F22", "F23", "F24", "F25", "F3", "F4", "F5", "F6", "F7", "F8", "F9",
    "GRAVE_ACCENT", "HOME", "INSERT", "KP_0", "KP_1", "KP_2", "KP_3", "KP_4", "KP_5", "KP_6",
    "KP_7", "KP_8", "KP_9", "KP_ADD", "KP_DECIMAL", "KP_DIVIDE", "KP_ENTER", "KP_EQUAL",
    "KP_MULTIPLY", "KP_SUBTRACT", "LEFT", "LEFT_ALT", "LEFT_BRACKET", "LEFT_CONTROL", "LEFT_SHIFT",
    "LEFT_SUPER", "MENU", "MINUS", "NUM_LOCK", "PAGE_DOWN", "PAGE_UP", "PAUSE", "PERIOD",
    "PRINT_SCREEN", "RIGHT", "RIGHT_ALT", "RIGHT_BRACKET", "RIGHT_CONTROL", "RIGHT_SHIFT",
    "RIGHT_SUPER", "SCROLL_LOCK", "SEMICOLON", "SLASH", "SPACE", "TAB", "UP", "WORLD_1", "WORLD_2"
))


def normalise_key(name: str) -> str:
    """Config spelling -> GLFW name: case-insensitive, so `space` and `f11` work."""
    return name.strip().upper().replace(" ", "_")


def key_source(name: str) -> SourceKey:
    return ("key", normalise_key(name))


def key_event(name: str, pressed: bool) -> ControlEvent:
    return ControlEvent(key_source(name), 1.0 if pressed else 0.0)
