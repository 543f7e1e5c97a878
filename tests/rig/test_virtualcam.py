"""The virtual camera, Syphon and Spout (vj.rig.virtualcam) on this Linux machine, which has no
v4l2loopback module (its kernel cannot load modules), no macOS and no Windows: each is tested up
to the library's boundary (pyvirtualcam's own "no loopback device" error; the wrong-OS and
missing-package checks), and `vj run` with all three says so once each and goes on. Sending
through a real loopback device, a Syphon server or a Spout sender cannot run here."""

from __future__ import annotations

import os
import sys

import pytest

from tests.support.display import wait_for_window
from tests.support.vj_process import vj_run
from vj.rig.sink import OutputUnavailable
from vj.rig.virtualcam import LOOPBACK_HELP, SpoutOut, SyphonOut, VirtualCamera, camera_problem

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="this machine's OS: Linux")


def test_without_v4l2loopback_the_virtual_camera_says_how_to_get_one():
    with pytest.raises(OutputUnavailable) as caught:
        VirtualCamera((64, 48), 30.0)
    message = str(caught.value)
    assert message.startswith("no v4l2loopback device: install the module")
    assert "apt-get install v4l2loopback-dkms" in message and "sudo modprobe v4l2loopback" in message
    assert "[pyvirtualcam: 'v4l2loopback' backend: No v4l2 loopback device found" in message  # its own words


def test_a_virtual_camera_device_that_is_not_there_is_named():
    with pytest.raises(OutputUnavailable, match=r"^virtual camera /dev/video63 cannot be opened \(.*does not exist"):
        VirtualCamera((64, 48), 30.0, "/dev/video63")


def test_on_macos_and_windows_the_virtual_camera_is_obs():
    said = "'obs' backend: OBS Virtual Camera is not installed"
    for platform in ("darwin", "win32"):
        assert camera_problem(said, None, platform).startswith("no virtual camera: install OBS Studio")
    assert camera_problem("No v4l2 loopback device found", None, "linux").startswith(LOOPBACK_HELP)


@pytest.mark.parametrize("output, needs, use", [
    (SyphonOut, "Syphon is macOS only (this is Linux)", "--ndi-out NAME"),
    (SpoutOut, "Spout is Windows only (this is Linux)", "--virtual-camera"),
])
def test_syphon_and_spout_name_their_os_and_what_to_use_here(output, needs, use):
    with pytest.raises(OutputUnavailable) as caught:
        output("vj", (64, 48))
    assert str(caught.value).startswith(needs) and use in str(caught.value)


def test_on_their_os_without_their_packages_syphon_and_spout_say_what_to_install():
    # (the packages are not installed here: they have wheels for macOS and Windows only)
    with pytest.raises(OutputUnavailable, match=r"Syphon needs the syphon-python package .*pip install 'vj\[rig\]'"):
        SyphonOut("vj", (64, 48), platform="darwin")
    with pytest.raises(OutputUnavailable, match=r"Spout needs the SpoutGL package: pip install 'vj\[rig\]'"):
        SpoutOut("vj", (64, 48), platform="win32")


@pytest.mark.e2e
def test_vj_run_says_once_what_each_missing_output_needs_and_goes_on(xvfb_display, tmp_path):
    record = tmp_path / "show.mp4"
    env = {**os.environ, "DISPLAY": xvfb_display}
    with vj_run(env, "--virtual-camera", "--syphon", "vj", "--spout", "vj", "--record", str(record), "--hud",
                "--osc-port", "0", "--no-zeroconf", "--seconds", "3") as proc:
        wait_for_window(env, proc)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-3000:]
    for name, words in (("virtual camera", "no v4l2loopback device"), ("syphon", "Syphon is macOS only"),
                        ("spout", "Spout is Windows only")):
        assert out.count(f"ERROR vj.rig.sink: output {name}: {words}") == 1, out[-3000:]
        assert f"output {name}: sent 0, dropped 0, error: {words}" in out  # and nothing was offered to it
    assert "output record: sent " in out and "dropped" in out  # the show went on, and was recorded
    assert record.stat().st_size > 10_000
