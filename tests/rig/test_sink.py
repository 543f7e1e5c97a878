"""Video outputs on their own threads (vj.rig.sink): the render thread only hands frames over, a
slow output drops frames instead of slowing it, an output that cannot run says why."""

from __future__ import annotations

import threading

import numpy as np

from tests.support.waiting import wait_for
from vj.rig.sink import OutputUnavailable, SinkThread, VideoOutputs


class Gate:
    """An output that sends only when the test lets it (a slow network or disk), and remembers what it sent."""

    name = "gate"
    detail = "gate 4x2"

    def __init__(self) -> None:
        self.open = threading.Event()
        self.sending = threading.Event()  # a frame taken, stuck until `open`
        self.sent: list[int] = []
        self.closed = False

    def send(self, frame: np.ndarray, time: float, order: str = "rgba") -> None:
        self.sending.set()
        self.open.wait(30)
        self.sent.append(int(frame[0, 0, 0]))

    def close(self) -> None:
        self.closed = True


def frame(value: int) -> np.ndarray:
    return np.full((2, 4, 4), value, np.uint8)


def test_a_slow_output_drops_frames_and_the_newest_one_wins():
    gate = Gate()
    sink = SinkThread("gate", lambda: gate).start()
    outputs = VideoOutputs([sink])
    try:
        outputs.offer(frame(1), 0.0)
        wait_for(lambda: sink.status().detail == "gate 4x2", what="the output running")
        for value in range(2, 40):  # the output is stuck on frame 1 meanwhile: offer never waits
            outputs.offer(frame(value), value / 30)
        gate.open.set()
        wait_for(lambda: gate.sent and gate.sent[-1] == 39, what="the newest frame sent")
        status = sink.status()
        assert len(gate.sent) <= 2  # what it was stuck on, then the newest
        assert status.sent == len(gate.sent) and status.sent + status.dropped == 39 and status.error is None
    finally:
        outputs.stop()
    assert gate.closed


def test_a_frame_handed_over_as_the_show_ends_replaces_a_waiting_one_without_counting_a_drop():
    gate = Gate()
    sink = SinkThread("gate", lambda: gate).start()
    outputs = VideoOutputs([sink])
    try:
        outputs.offer(frame(1), 0.0)
        assert gate.sending.wait(10), "the output never took frame 1"
        outputs.offer(frame(2), 1 / 30)  # waits while the output is stuck on frame 1
        outputs.offer(frame(3), 2 / 30, final=True)  # a read-back's last frame, as the show closes
        assert sink.status().dropped == 0
        outputs.offer(frame(4), 3 / 30)  # an ordinary frame replacing a waiting one is a drop
        assert sink.status().dropped == 1
        gate.open.set()
        wait_for(lambda: gate.sent[-1:] == [4], what="the newest frame sent")
    finally:
        outputs.stop()


def test_frames_are_shared_read_only():
    gate = Gate()
    gate.open.set()
    outputs = VideoOutputs([SinkThread("gate", lambda: gate).start()])
    try:
        image = frame(5)
        outputs.offer(image, 0.0)
        assert not image.flags.writeable
    finally:
        outputs.stop()


def test_an_output_that_cannot_run_says_why_once_and_the_show_goes_on():
    def missing():
        raise OutputUnavailable("NDI needs cyndilib: pip install 'vj[rig]'")

    sink = SinkThread("ndi", missing).start()
    try:
        wait_for(lambda: sink.status().error is not None, what="the error reported")
        sink.offer(frame(1), 0.0)  # still never raises or blocks
        assert sink.status().error == "NDI needs cyndilib: pip install 'vj[rig]'" and sink.status().sent == 0
    finally:
        sink.stop()


def test_a_failing_send_is_reported_and_the_next_frame_tries_again():
    class Flaky(Gate):
        def send(self, frame: np.ndarray, time: float, order: str = "rgba") -> None:
            if int(frame[0, 0, 0]) == 2:
                raise OSError("network unreachable")
            super().send(frame, time)

    flaky = Flaky()
    flaky.open.set()
    sink = SinkThread("flaky", lambda: flaky).start()
    try:
        sink.offer(frame(1), 0.0)
        wait_for(lambda: flaky.sent == [1], what="the first frame")
        sink.offer(frame(2), 0.1)
        wait_for(lambda: sink.status().error == "OSError: network unreachable", what="the error")
        sink.offer(frame(3), 0.2)
        wait_for(lambda: flaky.sent == [1, 3], what="the next frame")
        assert sink.status().error is None and sink.status().sent == 2
    finally:
        sink.stop()
