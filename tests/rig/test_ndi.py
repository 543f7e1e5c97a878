"""NDI out and in (vj.rig.ndi) with the real cyndilib and its bundled NDI runtime, between real
processes. Every test that moves NDI traffic runs in a private loopback-only network namespace
(tests.support.netns) with an NDI config naming 127.0.0.1: nothing is discovered or sent beyond
this machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.netns import isolated_python, ndi_config
from vj.rig.ndi import match_source

e2e = pytest.mark.e2e  # NDI senders and receivers in processes of their own

# A sender process: sends a grey 320x180 NDI source called argv[1] at 30 fps; a line "W H" on
# stdin changes its frame size; it stops when its stdin closes (so it never outlives the test).
SENDER = """
import sys, threading, time
import numpy as np
from vj.rig.ndi import NdiSink
sink, size, done = NdiSink(sys.argv[1]), [320, 180], threading.Event()
def commands():
    for line in sys.stdin:
        size[:] = [int(v) for v in line.split()]
    done.set()
threading.Thread(target=commands, daemon=True).start()
while not done.is_set():
    w, h = size
    sink.send(np.full((h, w, 4), 200, np.uint8), 0.0)
    time.sleep(1 / 30)
sink.close()
"""

PRELUDE = f"""
import json, subprocess, sys, time
SENDER = {SENDER!r}
def sender(name):
    return subprocess.Popen([sys.executable, "-c", SENDER, name], stdin=subprocess.PIPE, text=True)
def wait(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {{what}}")
        time.sleep(0.02)
"""


def ndi_env(tmp_path: Path) -> dict[str, str]:
    return {"NDI_CONFIG_DIR": str(ndi_config(tmp_path / "ndi"))}


def test_a_source_is_named_by_its_full_name_its_name_or_a_unique_part_of_it():
    names = ["STUDIO (vj)", "STUDIO (vj 2)", "LAPTOP (Resolume Arena)", "LAPTOP (Resolume Arena)"]
    assert match_source("STUDIO (vj 2)", names) == ("STUDIO (vj 2)", [])
    assert match_source("vj", names) == ("STUDIO (vj)", [])  # the NAME in "MACHINE (NAME)" beats a part
    assert match_source("arena", names) == ("LAPTOP (Resolume Arena)", [])  # listed twice: one source
    assert match_source("STUDIO", names) == (None, ["STUDIO (vj 2)", "STUDIO (vj)"])
    assert match_source("touch", names) == (None, [])


@e2e
@pytest.mark.parametrize(("fourcc", "order", "sent_as"), [("rgba", "rgba", "RGBA"), ("native", "bgra", "BGRA"),
                                                          ("rgba", "bgra", "RGBA")])
def test_sixty_frames_reach_a_receiver_in_another_process_each_with_its_colour(tmp_path, fourcc, order, sent_as):
    """RGBA as it is; BGRA (the show's window read) sent as it is by default, or converted when asked."""
    script = f"""
import json
from vj.bench.rig_ndi import send_and_receive
print(json.dumps(send_and_receive(60, (320, 180), {fourcc!r}, {order!r})))
"""
    result = isolated_python(script, env=ndi_env(tmp_path), timeout=60)
    assert result["sent"] == result["received"] == 60 and result["missing"] == [] and result["misread"] == 0
    assert result["colour_error_max"] <= 16  # levels: NDI's compression and 4:2:2 chroma
    assert result["received_size"] == [320, 180] and result["source"].endswith("(vj-bench)")
    assert result["output_error"] is None and result["output_detail"].startswith(f"NDI 'vj-bench' 320x180 {sent_as}")


@e2e
def test_an_ndi_camera_says_when_its_source_is_lost_and_reconnects_when_it_returns(tmp_path):
    script = PRELUDE + """
from vj.camera import CameraConfig, open_camera
messages = []
camera = open_camera(CameraConfig("ndi:vj-cam"), on_status=lambda s: messages.append(s.message))
first = sender("vj-cam")
wait(lambda: camera.latest() is not None, 20, "the first frame")
playing = camera.status()
first.stdin.write("256 144\\n"); first.stdin.flush()
wait(lambda: camera.status().size == (256, 144) and camera.latest() is not None, 20, "the new size")
first.stdin.close(); first.wait()
wait(lambda: not camera.status().connected, 10, "the loss")
lost, frame_when_lost = camera.status(), camera.latest()
second = sender("vj-cam")
wait(lambda: camera.status().connected and camera.status().frames > lost.frames, 30, "the return")
back, frame = camera.status(), camera.latest()
second.stdin.close(); second.wait()
camera.stop()
print(json.dumps({"playing": [playing.connected, playing.message, playing.size],
                  "lost": [lost.connected, lost.message], "frame_when_lost": frame_when_lost is not None,
                  "back": [back.connected, back.message, back.size], "pixel": frame[5, 5].tolist(),
                  "messages": messages}))
"""
    result = isolated_python(script, env=ndi_env(tmp_path), timeout=80)
    connected, message, size = result["playing"]
    assert connected and message.startswith("receiving NDI '") and "(vj-cam)' 320x180" in message and size == [320, 180]
    connected, message = result["lost"]
    assert not connected and "(vj-cam)' lost" in message and not result["frame_when_lost"]
    connected, message, size = result["back"]
    assert connected and "(vj-cam)' 320x180" in message and size == [320, 180]
    assert all(abs(v - 200) <= 8 for v in result["pixel"])
    assert any("waiting for NDI source 'vj-cam'" in m for m in result["messages"])


@e2e
def test_without_cyndilib_every_ndi_entry_says_what_to_install_and_the_output_thread_reports_it():
    script = """
import contextlib, io, json, sys, time
import numpy as np
sys.modules["cyndilib"] = None  # as if it were not installed
from vj.camera import CameraConfig, CameraError, open_camera
from vj.cli import main
from vj.rig.ndi import NdiReceiver, NdiSink, list_sources
from vj.rig.sink import OutputUnavailable, SinkThread
said = {}
for name, make in (("sink", lambda: NdiSink("vj")), ("receiver", lambda: NdiReceiver("vj")),
                   ("sources", lambda: list_sources(0.1))):
    try:
        make()
    except OutputUnavailable as exc:
        said[name] = str(exc)
try:
    open_camera(CameraConfig("ndi:vj"))
except CameraError as exc:
    said["camera"] = str(exc)
output = SinkThread("ndi", lambda: NdiSink("vj")).start()
output.offer(np.zeros((4, 4, 4), np.uint8), 0.0)
deadline = time.monotonic() + 10
while output.status().error is None and time.monotonic() < deadline:
    time.sleep(0.01)
said["status"] = output.status().error
output.stop()
printed = io.StringIO()
with contextlib.redirect_stdout(printed):
    main(["devices"])
said["devices"] = [line for line in printed.getvalue().splitlines() if line.startswith("NDI")]
print(json.dumps(said))
"""
    said = isolated_python(script, timeout=60)  # in a namespace all the same: no NDI can leak
    hint = "pip install 'vj[rig]'"
    assert hint in said["sink"] and hint in said["receiver"] and hint in said["sources"]
    assert said["camera"].startswith("camera NDI source 'vj': ") and hint in said["camera"]
    assert hint in said["status"]
    assert len(said["devices"]) == 1 and said["devices"][0].startswith("NDI sources: unavailable") \
        and hint in said["devices"][0]


@e2e
def test_vj_devices_lists_an_ndi_source_sending_on_the_network(tmp_path):
    script = PRELUDE + """
source = sender("vj-devices")
time.sleep(0.5)
done = subprocess.run([sys.executable, "-m", "vj", "devices"], capture_output=True, text=True, timeout=60)
source.stdin.close(); source.wait()
print(json.dumps({"code": done.returncode, "out": done.stdout, "err": done.stderr}))
"""
    result = isolated_python(script, env=ndi_env(tmp_path), timeout=60)
    assert result["code"] == 0, result["err"]
    lines = result["out"].splitlines()
    heading = lines.index("NDI sources (vj run --camera ndi:NAME):")
    assert any(line.strip().endswith("(vj-devices)") for line in lines[heading + 1:])
