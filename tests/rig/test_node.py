"""A node's frames as the generator layer, and the local dream when they stop (vj.rig.node).

The local fallback is the real procedural generator in its child process. The node's stream here
is fed by the test (`Feed`, a stand-in for the NDI receiver with the same `read`), so the test
decides when the node "dies" and "returns"; the real NDI path, `vj serve` and `vj run --node`
in a loopback namespace, is tests/rig/test_node_e2e.py.
"""

from __future__ import annotations

import queue
import time

import numpy as np
import pytest

from tests.support.waiting import wait_for
from vj.gen.backends import GRADIENT, PROCEDURAL
from vj.gen.base import GenRequest, Prompt
from vj.gen.process import GeneratorProcess, ProcessOptions
from vj.rig.node import NodeGenerator, NodeLink, TapGenerator
from vj.rig.sink import SinkThread

pytestmark = pytest.mark.e2e  # a generator in a real child process


class Feed:
    """The node's stream as the test feeds it: `read` returns the next frame put, or None."""

    message = "no frames"

    def __init__(self) -> None:
        self.queue: queue.Queue[np.ndarray] = queue.Queue()

    def read(self, timeout: float) -> np.ndarray | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        pass


def request(t: float) -> GenRequest:
    return GenRequest(time=t, size=(64, 48), prompts=(Prompt("aurora", 1.0),), seed=1, seed_walk=0.0,
                      strength=0.5, feedback=0.5)


def node_colour(value: int) -> np.ndarray:
    return np.full((48, 64, 3), value, np.uint8)


def play(gen: NodeGenerator, seconds: float) -> list[str]:
    """What the show would see for `seconds`: the backend of each frame taken."""
    seen, end, t = [], time.monotonic() + seconds, 0.0
    while time.monotonic() < end:
        t += 1 / 60
        gen.submit(request(t))
        frame = gen.take_frame()
        if frame is not None:
            seen.append(frame.backend)
        time.sleep(1 / 60)
    return seen


def test_node_frames_play_and_the_local_dream_takes_over_when_they_stop_then_hands_back():
    feed = Feed()
    link = NodeLink("gpu-box", lambda: feed).start()
    local = GeneratorProcess((PROCEDURAL, GRADIENT), ProcessOptions(threads=1)).start()
    gen = NodeGenerator(link, local)
    try:
        assert set(play(gen, 0.5)) <= {"procedural", "gradient"}  # before the node: the local dream
        wait_for(lambda: local.status().frames > 0, what="the local dream running")
        for value in (10, 20, 30):
            feed.queue.put(node_colour(value))
        frame = wait_for(lambda: (f := gen.take_frame()) is not None and f.backend == "node gpu-box" and f,
                         what="a node frame")
        assert frame.image.shape == (48, 64, 4) and (frame.image[..., 3] == 255).all()
        assert gen.status().backend == "node gpu-box" and not gen.status().fell_back
        # The node stops: within a second the local dream plays again.
        stopped = time.monotonic()
        seen = wait_for(lambda: (f := gen.take_frame()) is not None and f.backend == "procedural" and f,
                        timeout=5.0, what="the local dream back")
        assert seen is not None and time.monotonic() - stopped < 1.5
        assert gen.status().fell_back and "gpu-box" in gen.status().backend
        # It returns: its frames play again.
        feed.queue.put(node_colour(40))
        frame = wait_for(lambda: (f := gen.take_frame()) is not None and f.backend == "node gpu-box" and f,
                         what="the node back")
        assert int(frame.image[0, 0, 0]) == 40
    finally:
        gen.stop()
        link.stop()


def test_a_node_that_cannot_open_leaves_the_local_dream_playing_and_says_why():
    def unavailable():
        from vj.rig.sink import OutputUnavailable

        raise OutputUnavailable("NDI needs cyndilib: pip install 'vj[rig]'")

    link = NodeLink("gpu-box", unavailable).start()
    local = GeneratorProcess((PROCEDURAL, GRADIENT), ProcessOptions(threads=1)).start()
    gen = NodeGenerator(link, local)
    try:
        wait_for(lambda: "cyndilib" in link.message, what="the reason")
        seen = play(gen, 1.0)
        assert seen and set(seen) <= {"procedural"}
        assert "cyndilib" in gen.status().backend
    finally:
        gen.stop()
        link.stop()


def test_the_tap_sends_every_generated_frame_to_its_output_and_on_to_the_show():
    sent = []

    class Collect:
        name = "collect"

        def send(self, frame: np.ndarray, time: float, order: str = "rgba") -> None:
            sent.append(frame.copy())

        def close(self) -> None:
            pass

    output = SinkThread("collect", Collect).start()
    inner = GeneratorProcess((PROCEDURAL,), ProcessOptions(threads=1)).start()
    tap = TapGenerator(inner, output)
    try:
        frame = tap.generate_blocking(request(0.0), timeout=60)
        assert frame is not None
        wait_for(lambda: len(sent) == 1, what="the frame at the output")
        assert np.array_equal(sent[0], frame.image)  # a copy of the very frame the show got
    finally:
        tap.stop()
        output.stop()
