"""The video outputs a mapping file's `outputs:` section starts, as a user runs `vj run --mapping
rig.yaml`: a recording that plays (and never overwrites last night's), NDI a receiver sees (in a
loopback-only network namespace), a wrong entry named with its file and line while the show goes
on without that output, and the command line over the file."""

from __future__ import annotations

import json
import os
import sys

import av
import pytest

from tests.support.netns import isolated, ndi_config
from tests.support.vj_process import ROOT, VJ, vj_run

pytestmark = pytest.mark.e2e

QUIET = ("--osc-port", "0", "--no-zeroconf", "--size", "480x360")


def frames_in(path) -> tuple[int, tuple[int, int], float]:
    """(frames, (width, height), the recording's frame rate) of a recording, every packet decoded.
    The rate is the one its timestamps are counted in (`base_rate`); the average rate is frames
    over time, lower where the show skipped frames on a loaded machine."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pictures = list(container.decode(video=0))
        return len(pictures), (pictures[0].width, pictures[0].height), float(stream.base_rate or 0)


def show(display: str, tmp_path, mapping: str, *args: str) -> str:
    """`vj run --mapping rig.yaml ARGS` for three seconds on the tests' Xvfb; its log."""
    rig = tmp_path / "rig.yaml"
    rig.write_text(mapping)
    env = {**os.environ, "DISPLAY": display}
    with vj_run(env, "--mapping", str(rig), *QUIET, *args, "--seconds", "3") as proc:
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out[-3000:]
    return out


def test_a_mapping_files_recording_plays_and_last_nights_file_is_kept(xvfb_display, tmp_path):
    last_night = tmp_path / "sets" / "show.mp4"
    last_night.parent.mkdir()
    last_night.write_bytes(b"last night's set")
    out = show(xvfb_display, tmp_path, "outputs:\n  record: {file: sets/show.mp4, fps: 20}\n  size: 320x240\n")
    tonight = tmp_path / "sets" / "show-2.mp4"  # beside the mapping file, under a name no file had
    assert f"{last_night} exists: recording to {tonight} instead" in out
    assert last_night.read_bytes() == b"last night's set"
    frames, size, fps = frames_in(tonight)
    assert f"recorded {tonight}: {frames} frames" in out
    assert frames >= 20 and size == (320, 240) and fps == 20


def test_a_wrong_output_entry_is_named_and_the_show_goes_on_without_that_output(xvfb_display, tmp_path):
    rig = tmp_path / "rig.yaml"
    text = "bindings:\n  - {key: SPACE, action: freeze}\noutputs:\n  ndi: {name: vj, format: yuv}\n  record: show.mp4\n"
    out = show(xvfb_display, tmp_path, text)
    assert (f"WARNING vj.config.mapping: {rig}:4: outputs.ndi.format: expected one of native, rgba, bgra, uyvy, "
            "got a string ('yuv') (vj run goes on without it)") in out
    assert "output ndi" not in out and "output record: sent " in out  # no NDI; the recording, as the file says
    assert frames_in(tmp_path / "show.mp4")[0] > 0


def test_the_command_line_overrides_the_files_setting_and_keeps_the_rest(xvfb_display, tmp_path):
    text = "outputs:\n  record: {file: rig.mp4, fps: 15}\n"
    out = show(xvfb_display, tmp_path, text, "--record", str(tmp_path / "flag.mp4"))
    assert not (tmp_path / "rig.mp4").exists()
    frames, _, fps = frames_in(tmp_path / "flag.mp4")
    assert f"recorded {tmp_path / 'flag.mp4'}: {frames} frames" in out and fps == 15  # the file's fps stays


RECEIVE = """
import json, sys, time
from vj.rig.ndi import NdiReceiver
sizes, source = [], None
with NdiReceiver(sys.argv[1]) as receiver:
    deadline = time.monotonic() + 90
    while len(sizes) < 30 and time.monotonic() < deadline:
        frame = receiver.read(1.0)
        if frame is not None:
            sizes.append(frame.rgb.shape[:2])
    source = receiver.source
print(json.dumps({"frames": len(sizes), "sizes": sorted(set(sizes)), "source": source}))
"""


def test_a_mapping_files_ndi_output_reaches_a_receiver(xvfb_display, tmp_path):
    rig = tmp_path / "rig.yaml"
    rig.write_text("outputs:\n  ndi: {name: e2e-rig, format: uyvy}\n")
    run = " ".join([*VJ, "run", "--mapping", str(rig), "--no-audio", *QUIET, "--seconds", "25"])
    receive = " ".join([sys.executable, "-c", "'" + RECEIVE + "'", "e2e-rig"])
    script = f"{run} >{tmp_path}/run.log 2>&1 & {receive}; wait $!"  # the show ends by itself (--seconds)
    env = {**os.environ, "DISPLAY": xvfb_display, "NDI_CONFIG_DIR": str(ndi_config(tmp_path / "ndi"))}
    done = isolated(["sh", "-c", script], env=env, timeout=180, cwd=ROOT)
    log = (tmp_path / "run.log").read_text()
    assert done.returncode == 0, done.stderr + log[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["frames"] == 30 and got["sizes"] == [[360, 480]] and got["source"].endswith("(e2e-rig)"), got
    assert "output ndi: sent " in log
