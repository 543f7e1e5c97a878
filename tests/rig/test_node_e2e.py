"""`vj serve` and `vj run --node` for real: the node's frames on the performing show's screen, then
the node killed and the local dream back within a second. Both run in one loopback-only network
namespace (NDI discovers by multicast); the window is on the tests' Xvfb, which the namespace
reaches through its socket file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import numpy as np
import pytest

from tests.support.display import screen
from tests.support.netns import ndi_config, wrap
from tests.support.processes import die_with_parent, stop
from tests.support.vj_process import ROOT, VJ
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_node_dreams_for_the_show_and_the_local_dream_takes_over_when_it_dies(xvfb_display, tmp_path):
    serve = " ".join([*VJ, "serve", "--ndi-name", "e2e-node", "--preset", "fire-mandala", "--osc-host",
                      "127.0.0.1", "--osc-port", str(free_port()), "--gen-threads", "1"])
    run = " ".join([*VJ, "run", "--node", "e2e-node", "--preset", "endless-dreams", "--size", "480x360",
                    "--no-audio", "--osc-port", "0", "--no-zeroconf", "--gen-threads", "1", "--seconds", "90"])
    script = f"{serve} >{tmp_path}/serve.log 2>&1 & echo $! >{tmp_path}/serve.pid; exec {run} >{tmp_path}/run.log 2>&1"
    env = {**os.environ, "DISPLAY": xvfb_display, "NDI_CONFIG_DIR": str(ndi_config(tmp_path / "ndi"))}
    both = subprocess.Popen(wrap(["sh", "-c", script]), env=env, cwd=ROOT, preexec_fn=die_with_parent)
    log = tmp_path / "run.log"

    def said(text: str) -> bool:
        assert both.poll() is None, log.read_text() if log.exists() else "vj run ended"
        return log.exists() and text in log.read_text()

    try:
        wait_for(lambda: said("playing node 'e2e-node'"), 90, what="vj run playing the node")
        time.sleep(2.0)  # the crossfade to the node's frames
        node_shot = screen(env, tmp_path / "node.png")
        pid = int((tmp_path / "serve.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_for(lambda: said("node 'e2e-node' lost"), 10, what="the node's loss noticed", every=0.05)
        noticed = time.monotonic() - killed
        time.sleep(2.0)
        local_shot = screen(env, tmp_path / "local.png")
    finally:
        stop(both)
    window = (slice(0, 360), slice(0, 480))  # the vj window, top left of the display
    difference = np.abs(node_shot[window] - local_shot[window]).mean()
    assert noticed < 1.5, noticed  # within a second of the last frame (polling adds a little)
    assert difference > 10, difference  # the node's fire-mandala, then the local endless-dreams
