"""The show window: GLFW for the window, monitors and keys; moderngl for drawing.

All of it runs on the main thread (GLFW requires that). Keys arrive through
GLFW's callback during `poll()` and come back as `KeyInput` values named after
GLFW's constants without the `KEY_` prefix (`SPACE`, `LEFT`, `A`, `1`, `F11`,
`KP_ADD`...), so mappings can name them in YAML.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import time
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

import glfw
import moderngl

from vj.render.context import REQUIRED_GL

if TYPE_CHECKING:
    # pyGLFW's stub names its handles (ctypes pointers to opaque structs) only under private names.
    from glfw import _GLFWmonitorPointerT as MonitorHandle
    from glfw import _GLFWwindowPointerT as WindowHandle

    from vj.render.xgrab import WindowGrab

log = logging.getLogger(__name__)

_NO_DISPLAY_HINT = "To render video without a display, use `vj render` (headless, writes a video file)."


class WindowError(RuntimeError):
    """The window cannot be opened: no display, unknown monitor, no suitable OpenGL."""


@dataclass(frozen=True)
class WindowConfig:
    size: tuple[int, int] = (1280, 720)  # windowed size in screen coordinates
    fullscreen: bool = False
    monitor: int | str | None = None  # index, or case-insensitive (part of the) name; None = primary
    vsync: bool = True
    title: str = "vj"


@dataclass(frozen=True)
class MonitorInfo:
    index: int
    name: str
    width: int
    height: int
    refresh_hz: int

    def describe(self) -> str:
        return f"{self.index}: {self.name} ({self.width}x{self.height} @ {self.refresh_hz} Hz)"


@dataclass(frozen=True)
class KeyInput:
    key: str  # GLFW's name without KEY_: "SPACE", "LEFT", "A", "1", "F11", "KP_ADD"...
    pressed: bool  # False on release
    repeat: bool  # True for auto-repeat while held


def _key_names() -> dict[int, str]:
    """GLFW key code -> the keyboard source's name (its constant without KEY_)."""
    names: dict[int, str] = {}
    for attr in sorted(dir(glfw)):
        if not attr.startswith("KEY_") or attr in ("KEY_UNKNOWN", "KEY_LAST"):
            continue  # KEY_LAST is an alias of the highest key (MENU)
        code = getattr(glfw, attr)
        if isinstance(code, int):
            names.setdefault(code, attr[4:])
    return names


KEY_NAMES: dict[int, str] = _key_names()


# --- GLFW lifetime -------------------------------------------------------------------------
# glfw.init/terminate are process-wide; count the users so listing monitors while a window is
# open does not tear the window down.

_glfw_users = 0
_INIT_ATTEMPTS = 3
_last_glfw_error = ""


def _on_glfw_error(code: int, description: bytes | str) -> None:  # bytes at run time; the stub says str
    global _last_glfw_error
    _last_glfw_error = description.decode("utf-8", "replace") if isinstance(description, bytes) else str(description)
    log.debug("GLFW error %s: %s", code, _last_glfw_error)


def _acquire_glfw() -> None:
    global _glfw_users, _last_glfw_error
    if _glfw_users == 0:
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise WindowError(
                "no display: neither DISPLAY nor WAYLAND_DISPLAY is set, so no window can open. "
                + _NO_DISPLAY_HINT
            )
        glfw.set_error_callback(_on_glfw_error)
        _last_glfw_error = ""
        # X servers (seen with Xvfb, about 1 connection in 100) sometimes hang up on a new client
        # straight away; a second try gets through.
        for _ in range(_INIT_ATTEMPTS):
            if glfw.init():
                break
            time.sleep(0.05)
        else:
            raise WindowError(
                f"no display: GLFW could not start ({_last_glfw_error or 'unknown error'}). {_NO_DISPLAY_HINT}"
            )
    _glfw_users += 1


def _release_glfw() -> None:
    global _glfw_users
    _glfw_users -= 1
    if _glfw_users == 0:
        glfw.terminate()


def _monitor_infos() -> list[tuple[MonitorInfo, MonitorHandle]]:
    found: list[tuple[MonitorInfo, MonitorHandle]] = []
    for index, handle in enumerate(glfw.get_monitors()):
        mode = glfw.get_video_mode(handle)
        name = glfw.get_monitor_name(handle)
        name = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
        found.append((MonitorInfo(index, name, mode.size.width, mode.size.height, mode.refresh_rate), handle))
    return found


def list_monitors() -> list[MonitorInfo]:
    """The connected monitors, in GLFW's order (index 0 is the primary)."""
    _acquire_glfw()
    try:
        return [info for info, _ in _monitor_infos()]
    finally:
        _release_glfw()


def _find_monitor(choice: int | str | None) -> tuple[MonitorInfo, MonitorHandle]:
    monitors = _monitor_infos()
    if not monitors:
        raise WindowError("no monitors found")
    if choice is None:
        return monitors[0]  # GLFW lists the primary monitor first
    available = "available monitors: " + "; ".join(info.describe() for info, _ in monitors)
    if isinstance(choice, int) or (isinstance(choice, str) and choice.strip().isdigit()):
        index = int(choice)
        if 0 <= index < len(monitors):
            return monitors[index]
        raise WindowError(f"no monitor number {index}; {available}")
    wanted = choice.strip().casefold()
    exact = [m for m in monitors if m[0].name.casefold() == wanted]
    if exact:
        return exact[0]
    partial = [m for m in monitors if wanted in m[0].name.casefold()]
    if len(partial) == 1:
        return partial[0]
    if partial:
        raise WindowError(f"monitor name {choice!r} matches several monitors, pick one by number; {available}")
    raise WindowError(f"unknown monitor {choice!r}; {available}")


def _egl_context_current() -> bool:
    """Whether this thread has an EGL context current (Linux; False when libEGL is not even loaded)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        egl = ctypes.CDLL("libEGL.so.1", mode=os.RTLD_NOLOAD)
    except OSError:
        return False
    egl.eglGetCurrentContext.restype = ctypes.c_void_p
    return bool(egl.eglGetCurrentContext())


def _context_hints() -> None:
    """The next window's context: OpenGL 3.3 core (what the shaders are written for)."""
    glfw.default_window_hints()
    glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
    glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
    glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
    glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)


class SharedWindowContext:
    """A hidden window's context sharing the show window's objects (`Window.share`): current on
    one other thread between `make_current` and `done_current`; `close` on the main thread after."""

    def __init__(self, handle: WindowHandle) -> None:
        self._handle: WindowHandle | None = handle

    def make_current(self) -> None:
        if self._handle is None:
            raise WindowError("the shared context is closed")
        glfw.make_context_current(self._handle)

    def done_current(self) -> None:
        glfw.make_context_current(None)  # type: ignore[arg-type]  # NULL releases it; the stub leaves None out

    def close(self) -> None:
        if self._handle is not None:
            glfw.destroy_window(self._handle)
            self._handle = None


class Window:
    """A GLFW window with an OpenGL 3.3 core context wrapped by moderngl."""

    def __init__(self, config: WindowConfig = WindowConfig()) -> None:
        self.config = config
        self._keys: list[KeyInput] = []
        self._window: WindowHandle | None = None
        if _egl_context_current():
            # libglvnd refuses glXMakeCurrent on such a thread and Xlib then exits the whole process.
            raise WindowError(
                "a headless (EGL) OpenGL context is current on this thread, so the window's GLX "
                "context cannot be: scope headless work with `with ctx:` or give it its own thread"
            )
        _acquire_glfw()
        try:
            self._create(config)
        except BaseException:
            if self._window is not None:
                glfw.destroy_window(self._window)
                self._window = None
            _release_glfw()
            raise

    def _create(self, config: WindowConfig) -> None:
        info, monitor = _find_monitor(config.monitor)
        _context_hints()
        glfw.window_hint(glfw.RESIZABLE, True)
        width, height = config.size
        # Where the window returns to when leaving fullscreen: centred on the chosen monitor.
        mx, my = glfw.get_monitor_pos(monitor)
        self._windowed = (
            mx + max(0, (info.width - width) // 2),
            my + max(0, (info.height - height) // 2),
            width,
            height,
        )
        if config.fullscreen:
            window = glfw.create_window(info.width, info.height, config.title, monitor, None)
        else:
            window = glfw.create_window(width, height, config.title, None, None)
        if not window:
            raise WindowError(
                f"GLFW could not create a window with an OpenGL 3.3 core context "
                f"({_last_glfw_error or 'unknown error'})"
            )
        self._window = window
        self._fullscreen = config.fullscreen
        if not config.fullscreen and config.monitor is not None:
            glfw.set_window_pos(window, self._windowed[0], self._windowed[1])
        glfw.make_context_current(window)
        try:
            self._ctx = moderngl.create_context(require=REQUIRED_GL)
        except Exception as exc:
            raise WindowError(f"cannot use the window's OpenGL context: {exc}") from exc
        self._vsync = config.vsync
        self._refresh_hz = info.refresh_hz
        glfw.swap_interval(1 if config.vsync else 0)
        # Keep references: pyGLFW holds only the ctypes wrappers.
        self._key_callback = self._on_key
        glfw.set_key_callback(window, self._key_callback)
        # The drawable's size as GLFW last reported it (a resize arrives as an event in `poll`):
        # asking for it is a round trip to the X server, which under load took up to 5 ms a frame.
        width, height = glfw.get_framebuffer_size(window)
        self._size = (int(width), int(height))
        self._size_callback = self._on_resize
        glfw.set_framebuffer_size_callback(window, self._size_callback)

    # --- events -------------------------------------------------------------------------

    def _on_key(self, _window: object, key: int, _scancode: int, action: int, _mods: int) -> None:
        name = KEY_NAMES.get(key)
        if name is None:  # media and vendor keys GLFW does not name
            return
        self._keys.append(KeyInput(name, action != glfw.RELEASE, action == glfw.REPEAT))

    def _on_resize(self, _window: object, width: int, height: int) -> None:
        self._size = (int(width), int(height))

    def poll(self) -> list[KeyInput]:
        """Process window events; the keys pressed and released since the last poll."""
        glfw.poll_events()
        keys, self._keys = self._keys, []
        return keys

    @property
    def should_close(self) -> bool:
        return bool(glfw.window_should_close(self._handle))

    def request_close(self) -> None:
        glfw.set_window_should_close(self._handle, True)

    # --- drawing ------------------------------------------------------------------------

    @property
    def _handle(self) -> WindowHandle:
        if self._window is None:
            raise WindowError("the window is closed")
        return self._window

    @property
    def ctx(self) -> moderngl.Context:
        return self._ctx

    @property
    def framebuffer_size(self) -> tuple[int, int]:
        """The drawable size in pixels as of the last `poll` (differs from the window size on HiDPI
        screens)."""
        return self._size

    @property
    def framebuffer(self) -> moderngl.Framebuffer:
        """The window's default framebuffer, sized to the drawable as it is now."""
        screen = self._ctx.screen
        size = self.framebuffer_size
        if screen.size != size:
            # moderngl records the default framebuffer's size once, when the context is created;
            # after a resize or fullscreen switch bring it, and the viewport and scissor box that
            # `use()` applies, up to date (else drawing stays clipped to the old size).
            # No public setter: `size` reads this private attribute.
            screen._size = size  # type: ignore[attr-defined]
            screen.viewport = (0, 0, *size)
            screen.scissor = (0, 0, *size)
        return screen

    def share(self) -> SharedWindowContext:
        """A second OpenGL context sharing this window's textures, for another thread to read
        pictures with (vj.render.readback.ThreadRead): a hidden 16x16 window (GLFW creates
        contexts only with windows, and only on the main thread, which is why it is made here)."""
        _context_hints()
        glfw.window_hint(glfw.VISIBLE, False)
        glfw.window_hint(glfw.FOCUSED, False)
        hidden = glfw.create_window(16, 16, f"{self.config.title} read-back", None, self._handle)
        glfw.make_context_current(self._handle)
        if not hidden:
            why = _last_glfw_error or "unknown error"
            raise WindowError(f"GLFW could not create a context sharing the window's ({why})")
        return SharedWindowContext(hidden)

    def pixels(self, size: tuple[int, int]) -> WindowGrab:
        """The window's pixels as the X server holds them, for another thread to read pictures
        with (vj.render.readback.ServerRead); raises where the window is not on an X server or
        the server cannot share memory with vj."""
        from vj.render.xgrab import GrabError, WindowGrab  # only where the outputs read from the server

        window = self.x11_id()
        if window is None:
            raise GrabError("the window is not an X window")
        return WindowGrab(glfw.get_x11_display(), window, size)

    def x11_id(self) -> int | None:
        """The window's X id; None where GLFW does not run on X (Wayland, macOS, Windows)."""
        try:
            window = glfw.get_x11_window(self._handle)
        except Exception:  # GLFW without X: its error says the platform has no such call
            return None
        return int(window) if window else None

    def set_vsync(self, on: bool) -> None:
        self._vsync = on
        glfw.make_context_current(self._handle)
        glfw.swap_interval(1 if on else 0)

    @property
    def vsync(self) -> bool:
        return self._vsync

    @property
    def refresh_hz(self) -> int:
        """The refresh rate of the monitor the window opened on (0 if the system does not say)."""
        return self._refresh_hz

    def swap(self) -> None:
        glfw.swap_buffers(self._handle)

    # --- fullscreen ---------------------------------------------------------------------

    @property
    def fullscreen(self) -> bool:
        return self._fullscreen

    def toggle_fullscreen(self) -> None:
        window = self._handle
        if self._fullscreen:
            x, y, width, height = self._windowed
            # No monitor (NULL) means windowed in GLFW's C API; pyGLFW's stub leaves None out.
            glfw.set_window_monitor(window, None, x, y, width, height, 0)  # type: ignore[arg-type]
            self._fullscreen = False
        else:
            x, y = glfw.get_window_pos(window)
            width, height = glfw.get_window_size(window)
            self._windowed = (x, y, width, height)
            try:
                info, monitor = _find_monitor(self.config.monitor)
            except WindowError as exc:
                # Unplugged since start: the show goes on, on the primary monitor.
                log.warning("%s; going fullscreen on the primary monitor", exc)
                info, monitor = _find_monitor(None)
            glfw.set_window_monitor(window, monitor, 0, 0, info.width, info.height, info.refresh_hz or glfw.DONT_CARE)
            self._fullscreen = True
        # Some platforms drop the swap interval when the window changes monitor.
        glfw.swap_interval(1 if self._vsync else 0)

    # --- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        """Destroy the window. Safe to call twice."""
        if self._window is None:
            return
        self._ctx.release()
        glfw.destroy_window(self._window)
        self._window = None
        _release_glfw()

    def __enter__(self) -> Window:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
