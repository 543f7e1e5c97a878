"""`vj run`'s video outputs as a whole (vj.rig.outputs_cli, vj.show.outputs, vj.show.hud_text): the
options and what is wrong with them, the output threads built from them in order, a HUD line for
each output (and its problem in the errors panel), and the orderly stop."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.support.show import make_show, run
from tests.support.waiting import wait_for
from vj.cli import build_parser, main
from vj.rig.outputs_cli import OutputOptions, build_outputs, output_options, start_outputs, stop_outputs
from vj.rig.sink import OutputUnavailable, SinkStatus, SinkThread
from vj.show.hud_text import output_line


def test_the_options_say_what_is_wrong():
    with pytest.raises(ValueError) as caught:
        OutputOptions(ndi_format="yuv", size=(1281, 720), record_fps=0, record=Path("set.avi"), fps=-1,
                      read_back="fast")  # type: ignore[arg-type]
    assert str(caught.value) == (
        "--ndi-format must be one of native, rgba, bgra, uyvy, got 'yuv'; "
        "--output-size must be even and at least 2x2 (video encoders need that), got 1281x720; "
        "--record-fps must be in 1..240, got 0; --record writes MP4: "
        "give a file ending in .mp4, got set.avi; "
        "--read-back must be one of auto, pbo, direct, thread, server, got 'fast'; "
        "--output-fps must be 0 (every display frame) or more, got -1")


def test_vj_run_refuses_an_odd_output_size_before_opening_a_window(capsys):
    assert main(["run", "--record", "set.mp4", "--output-size", "1281x720"]) == 2
    assert "vj run: video outputs: --output-size must be even" in capsys.readouterr().err


def test_the_command_line_options():
    args = build_parser().parse_args(["run", "--record", "set.mp4", "--record-fps", "25", "--ndi-out", "vj",
                                      "--ndi-format", "uyvy", "--virtual-camera", "--syphon", "vj", "--spout", "vj",
                                      "--output-size", "1920x1080", "--output-fps", "30", "--read-back", "thread"])
    assert output_options(args) == OutputOptions(ndi_out="vj", ndi_format="uyvy", record=Path("set.mp4"),
                                                 record_fps=25, virtual_camera="", syphon="vj", spout="vj",
                                                 size=(1920, 1080), fps=30.0, read_back="thread")
    plain = output_options(build_parser().parse_args(["run"]))
    assert plain == OutputOptions() and not plain.wanted
    assert output_options(build_parser().parse_args(["run", "--virtual-camera", "/dev/video4"])).virtual_camera \
        == "/dev/video4"


def test_the_picture_size_is_the_windows_made_even_unless_given():
    assert OutputOptions().picture_size((1281, 721)) == (1280, 720)
    assert OutputOptions(size=(640, 360)).picture_size((1280, 720)) == (640, 360)


def test_nothing_asked_nothing_started():
    assert start_outputs(OutputOptions(), (1280, 720), 48000) == (None, None)


def test_the_outputs_are_built_in_order_the_recording_first(tmp_path):
    options = OutputOptions(ndi_out="vj", record=tmp_path / "set.mp4", record_fps=25, virtual_camera="",
                            syphon="vj", spout="vj", fps=30.0)
    outputs = build_outputs(options, (64, 48))
    assert [s.name for s in outputs.sinks] == ["record", "ndi", "virtual camera", "syphon", "spout"]
    assert [s._period for s in outputs.sinks] == [pytest.approx(1 / 25)] + [pytest.approx(1 / 30)] * 4


def test_the_recording_taps_the_audio_input_only_when_there_is_one(tmp_path):
    options = OutputOptions(record=tmp_path / "set.mp4")
    outputs, track = start_outputs(options, (64, 48), 48000)
    assert outputs is not None and track is not None and track.rate == 48000
    stop_outputs(outputs)
    outputs, track = start_outputs(options, (64, 48), None)
    assert outputs is not None and track is None
    stop_outputs(outputs)


def test_an_output_line_says_name_detail_rate_counts_and_trouble():
    running = SinkStatus("record", 300, 2, 29.94, None, "set.mp4 1280x720 30 fps")
    assert output_line(running) == "out record  set.mp4 1280x720 30 fps  29.9 fps  sent 300  dropped 2"
    failed = SinkStatus("syphon", 0, 0, 0.0, "Syphon is macOS only", "")
    assert output_line(failed) == "out syphon  0.0 fps  sent 0  dropped 0  error (below)"


def test_the_hud_has_a_line_for_each_output_and_its_problem_below(ctx, target, tmp_path, caplog):
    options = OutputOptions(record=tmp_path / "set.mp4", virtual_camera="", syphon="vj", spout="vj")
    outputs, _ = start_outputs(options, target.size)
    assert outputs is not None
    show = make_show(ctx, hud=True, video=outputs)
    try:
        def settled() -> bool:
            run(show, target, 2)
            st = outputs.statuses()
            return st[0].sent > 0 and all(s.error for s in st[1:])

        wait_for(settled, 30, what="the recording running and the others failed")
        snap = show.state.tick(0.0)
        lines = [line for line in show.hud_lines(snap) if line.startswith("out ")]
        errors = show.hud_errors(snap)
    finally:
        show.close()
        with caplog.at_level(logging.INFO, logger="vj.rig.outputs_cli"):
            stop_outputs(outputs)
    assert [line.split("  ")[0] for line in lines] == ["out record", "out virtual camera", "out syphon", "out spout"]
    assert lines[0].startswith(f"out record  set.mp4 {target.size[0]}x{target.size[1]} 30 fps  ")
    assert " sent " in lines[0] and " dropped " in lines[0] and "error" not in lines[0]
    assert all(line.endswith("error (below)") for line in lines[1:])
    assert [e.split(":")[0] for e in errors if e.split(":")[0] in ("virtual camera", "syphon", "spout")] == [
        "virtual camera", "syphon", "spout"]
    assert any("no v4l2loopback device" in e for e in errors)
    said = [r.getMessage() for r in caplog.records if r.name == "vj.rig.outputs_cli"]
    assert [m.split(":")[0] for m in said] == [f"output {n}" for n in ("record", "virtual camera", "syphon", "spout")]
    assert said[0].startswith("output record: sent ") and "error" not in said[0]


class Unavailable:
    name = "nowhere"

    def __init__(self) -> None:
        raise OutputUnavailable("nowhere to send to: install nothing")


class Stuck:
    """An output stuck on its first frame until released (a disk that stopped)."""

    name = "stuck"
    detail = "stuck"

    def __init__(self) -> None:
        self.taken, self.release = threading.Event(), threading.Event()
        self.sent = 0

    def send(self, frame, time, order="rgba") -> None:
        self.taken.set()
        self.release.wait(30)
        self.sent += 1

    def close(self) -> None:
        pass


def test_an_output_that_cannot_start_takes_no_frames():
    sink = SinkThread("nowhere", Unavailable).start()
    wait_for(lambda: sink.status().error is not None, 10, what="the output to give up")
    for i in range(10):
        sink.offer(np.zeros((2, 2, 4), np.uint8), i / 30)
    sink.stop()
    assert sink.status() == SinkStatus("nowhere", 0, 0, 0.0, "nowhere to send to: install nothing", "")


def test_stopping_finishes_the_frame_being_sent_and_counts_no_waiting_frame_as_dropped():
    stuck = Stuck()
    sink = SinkThread("stuck", lambda: stuck).start()
    wait_for(lambda: sink.status().detail == "stuck", 10, what="the output running")
    sink.offer(np.zeros((2, 2, 4), np.uint8), 0.0)
    assert stuck.taken.wait(10)
    for i in range(1, 5):  # behind the stuck frame, each replaces the one before: 3 dropped, 1 waiting
        sink.offer(np.zeros((2, 2, 4), np.uint8), i / 30)
    threading.Timer(0.2, stuck.release.set).start()
    sink.stop()
    status = sink.status()
    assert stuck.sent == status.sent == 1 and status.dropped == 3  # the one waiting at the stop: neither
