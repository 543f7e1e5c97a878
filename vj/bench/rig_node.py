"""`vj bench rig`'s node case: a real `vj serve` sending its frames as NDI, read the way `vj run
--node` reads them (vj.rig.node with the real NDI receiver and the real local procedural dream),
then the node killed: how long until the local dream plays.

All of it runs in one loopback-only network namespace (NDI discovers by multicast), with an NDI
config that finds the node on 127.0.0.1. Figures:
- `gen_fps_node`: node frames a second arriving at the performing side (the node's generator
  rate as delivered over NDI);
- `frames_shown_local`: node frames the performing side took while it played the node;
- `fallback_seconds`: from the node's SIGKILL to the first local frame taken (target <= 1 s).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from vj.bench.netns import isolated_python, ndi_config

PLAY_S = 5.0

_SCRIPT = r"""
import json, os, signal, socket, subprocess, sys, time
from vj.gen.backends import GRADIENT, PROCEDURAL
from vj.gen.base import GenRequest, Prompt
from vj.gen.process import GeneratorProcess, ProcessOptions
from vj.rig.ndi import NdiReceiver
from vj.rig.node import NodeGenerator, NodeLink

play_s = float(sys.argv[1])
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
node = subprocess.Popen([sys.executable, "-m", "vj", "serve", "--ndi-name", "bench-node", "--osc-host",
                         "127.0.0.1", "--osc-port", str(port), "--preset", "endless-dreams", "--gen-threads", "1"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
link = NodeLink("bench-node", lambda: NdiReceiver("bench-node")).start()
local = GeneratorProcess((PROCEDURAL, GRADIENT), ProcessOptions(threads=1)).start()
gen = NodeGenerator(link, local)
request = GenRequest(time=0.0, size=(512, 512), prompts=(Prompt("nebula", 1.0),), seed=1, seed_walk=0.0,
                     strength=0.5, feedback=0.5)

def take():
    gen.submit(request)
    return gen.take_frame()

result = {}
try:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        f = take()
        if f is not None and f.backend.startswith("node"):
            break
        time.sleep(1 / 60)
    else:
        raise SystemExit("no node frame in 60 s: " + link.message)
    shown, start, received = 0, time.monotonic(), link.received
    while time.monotonic() - start < play_s:
        f = take()
        shown += f is not None and f.backend.startswith("node")
        time.sleep(1 / 60)
    result["frames_shown_local"] = shown
    result["gen_fps_node"] = round((link.received - received) / (time.monotonic() - start), 2)
    node.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    while time.monotonic() - killed < 10:
        f = take()
        if f is not None and not f.backend.startswith("node"):
            result["fallback_seconds"] = round(time.monotonic() - killed, 3)
            result["fallback_backend"] = f.backend
            break
        time.sleep(1 / 60)
finally:
    node.kill()
    gen.stop()
    link.stop()
print(json.dumps(result))
"""


def bench_node(play_s: float = PLAY_S) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="vj-bench-node-") as folder:
        env = {"NDI_CONFIG_DIR": str(ndi_config(Path(folder)))}
        result = isolated_python(_SCRIPT, str(play_s), env=env, timeout=180.0)
    return dict(result)


if __name__ == "__main__":  # pragma: no cover - python -m vj.bench.rig_node
    print(json.dumps(bench_node()), flush=True)
    os._exit(0)
