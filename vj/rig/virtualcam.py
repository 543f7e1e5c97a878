"""The picture as a camera or a shared texture for other programs on this computer: a virtual
camera (OBS, Zoom, a browser: pyvirtualcam over v4l2loopback on Linux, OBS's virtual camera on
macOS and Windows), Syphon (macOS) and Spout (Windows).

Each is a video output (vj.rig.sink.VideoSink) built on its output's thread. Its package is
imported only when it is asked for; where the package, the OS or the kernel module is missing,
`OutputUnavailable` says in one line what to install or do, and the show goes on without it.

Tested here (Linux, no v4l2loopback in the kernel, no macOS or Windows) up to pyvirtualcam's
"no loopback device" error and the wrong-OS messages; the sending paths follow the packages'
documented use.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import numpy as np

from vj.rig.sink import OutputUnavailable
from vj.vocabulary import PixelOrder, in_order

log = logging.getLogger(__name__)

GL_RGBA, GL_BGRA = 0x1908, 0x80E1  # what SpoutGL's sendImage takes for RGBA and BGRA bytes (no PyOpenGL needed)

LOOPBACK_HELP = ("no v4l2loopback device: install the module (Debian/Ubuntu: apt-get install v4l2loopback-dkms) "
                 "and load it: sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=vj "
                 "(then --virtual-camera /dev/videoN picks that device)")
OBS_HELP = ("no virtual camera: install OBS Studio 30 or newer and start its virtual camera once "
            "(Windows: OBS 26+ registers the camera when installed)")


class VirtualCamera:
    """The picture as a webcam other programs can open (pyvirtualcam). `device`: /dev/videoN on
    Linux, None: the first loopback device (or OBS's camera)."""

    name = "virtual camera"

    def __init__(self, size: tuple[int, int], fps: float, device: str | None = None) -> None:
        try:
            import pyvirtualcam
        except ImportError as exc:
            raise OutputUnavailable("the virtual camera needs pyvirtualcam: pip install 'vj[rig]' "
                                    "(or pip install pyvirtualcam)") from exc
        width, height = size
        try:
            self._camera: Any = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.RGB,
                                                    device=device)
        except Exception as exc:  # noqa: BLE001 - pyvirtualcam raises RuntimeError naming each backend's failure
            raise OutputUnavailable(camera_problem(str(exc), device)) from exc
        self.detail = f"{self._camera.device} {width}x{height} ({self._camera.backend})"
        log.info("virtual camera: %s", self.detail)

    def send(self, frame: np.ndarray, time: float, order: PixelOrder = "rgba") -> None:
        # RGB: what every backend takes (v4l2loopback has no RGBA)
        self._camera.send(np.ascontiguousarray(frame[..., :3] if order == "rgba" else frame[..., 2::-1]))

    def close(self) -> None:
        self._camera.close()


def camera_problem(said: str, device: str | None, platform: str = sys.platform) -> str:
    """pyvirtualcam's error as one line saying what to do."""
    said = " ".join(said.split())
    if platform.startswith("linux"):
        if device is not None and any(w in said.lower() for w in ("does not exist", "no such", "not a")):
            return (f"virtual camera {device} cannot be opened ({said}); v4l2-ctl --list-devices lists them. "
                    f"{LOOPBACK_HELP}")
        if "loopback" in said:
            return f"{LOOPBACK_HELP} [pyvirtualcam: {said}]"
        return f"the virtual camera did not start: {said}"
    return f"{OBS_HELP} [pyvirtualcam: {said}]"


class SyphonOut:
    """A Syphon server (macOS) called `server_name`, through syphon-python's Metal server."""

    name = "syphon"

    def __init__(self, server_name: str, size: tuple[int, int], platform: str = sys.platform) -> None:
        if platform != "darwin":
            raise OutputUnavailable(f"Syphon is macOS only (this is {platform_name(platform)}): "
                                    f"{ALTERNATIVES.get(platform_kind(platform), '')}")
        try:
            import syphon
            from syphon.utils.numpy import copy_image_to_mtl_texture
            from syphon.utils.raw import create_mtl_texture
        except ImportError as exc:
            raise OutputUnavailable("Syphon needs the syphon-python package (macOS 11+): pip install 'vj[rig]' "
                                    "(or pip install syphon-python)") from exc
        self._copy = copy_image_to_mtl_texture
        self._server: Any = syphon.SyphonMetalServer(server_name)
        self._texture = create_mtl_texture(self._server.device, size[0], size[1])
        self.detail = f"Syphon '{server_name}' {size[0]}x{size[1]}"

    def send(self, frame: np.ndarray, time: float, order: PixelOrder = "rgba") -> None:
        self._copy(np.ascontiguousarray(in_order(frame, order, "rgba")), self._texture)
        self._server.publish_frame_texture(self._texture)

    def close(self) -> None:
        self._server.stop()


class SpoutOut:
    """A Spout sender (Windows) called `sender_name`, through SpoutGL."""

    name = "spout"

    def __init__(self, sender_name: str, size: tuple[int, int], platform: str = sys.platform) -> None:
        if platform != "win32":
            raise OutputUnavailable(f"Spout is Windows only (this is {platform_name(platform)}): "
                                    f"{ALTERNATIVES.get(platform_kind(platform), '')}")
        try:
            import SpoutGL
        except ImportError as exc:
            raise OutputUnavailable("Spout needs the SpoutGL package: pip install 'vj[rig]' "
                                    "(or pip install SpoutGL)") from exc
        self._sender: Any = SpoutGL.SpoutSender()
        self._sender.setSenderName(sender_name)
        self._spout_name = sender_name
        self.detail = f"Spout '{sender_name}' {size[0]}x{size[1]}"

    def send(self, frame: np.ndarray, time: float, order: PixelOrder = "rgba") -> None:
        height, width = frame.shape[:2]
        gl_format = GL_RGBA if order == "rgba" else GL_BGRA
        if not self._sender.sendImage(np.ascontiguousarray(frame), width, height, gl_format, False, 0):
            raise RuntimeError("Spout did not take the frame")
        self._sender.setFrameSync(self._spout_name)

    def close(self) -> None:
        self._sender.releaseSender()


ALTERNATIVES = {
    "linux": "share the picture with --ndi-out NAME, or as a webcam with --virtual-camera (v4l2loopback)",
    "darwin": "use --syphon NAME, --ndi-out NAME or --virtual-camera (OBS)",
    "win32": "use --spout NAME, --ndi-out NAME or --virtual-camera (OBS)",
}


def platform_kind(platform: str) -> str:
    return "linux" if platform.startswith("linux") else platform


def platform_name(platform: str) -> str:
    return {"linux": "Linux", "darwin": "macOS", "win32": "Windows"}.get(platform_kind(platform), platform)
