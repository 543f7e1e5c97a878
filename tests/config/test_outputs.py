"""A mapping file's `outputs:` section (vj.config.outputs): the same options as `vj run`'s flags,
the flags over it one by one, a wrong entry named with its file and line and left out while the
mapping stands, several files merged, and a recording that never overwrites a file."""

from __future__ import annotations

import datetime
import logging
from pathlib import Path

from tests.support.vj_process import vj
from vj.cli import build_parser
from vj.config.mapping import merge_mappings, parse_mapping
from vj.config.outputs import OutputSettings
from vj.rig.outputs_cli import OutputOptions, output_options, record_file, reload_keeping_outputs
from vj.vocabulary import EventQueue, Notice

RIG = """description: the club's rig
bindings:
  - {key: SPACE, action: freeze}
outputs:
  ndi: {name: vj main, format: uyvy}
  virtual_camera: {device: /dev/video10}
  syphon: vj
  spout: vj
  record: {file: "sets/{date}-{time}.mp4", fps: 25}
  size: [1280, 720]
  fps: 30
"""


def mapping(tmp_path: Path, text: str, name: str = "rig.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def flags(*args: str) -> OutputOptions:
    return output_options(build_parser().parse_args(["run", *args]))


def test_every_output_and_setting_of_the_command_line_has_its_place_in_the_file(tmp_path):
    config = parse_mapping(mapping(tmp_path, RIG))
    assert config.outputs == OutputSettings(ndi_out="vj main", ndi_format="uyvy",
                                            record=tmp_path / "sets" / "{date}-{time}.mp4", record_fps=25,
                                            virtual_camera="/dev/video10", syphon="vj", spout="vj",
                                            size=(1280, 720), fps=30.0)
    assert len(config.bindings) == 1  # the mapping is still a mapping
    assert OutputOptions().over(config.outputs) == OutputOptions(
        ndi_out="vj main", ndi_format="uyvy", record=tmp_path / "sets" / "{date}-{time}.mp4", record_fps=25,
        virtual_camera="/dev/video10", syphon="vj", spout="vj", size=(1280, 720), fps=30.0)


def test_the_short_forms(tmp_path):
    text = "outputs:\n  ndi: vj\n  virtual_camera: true\n  record: /sets/show.mp4\n  size: 640x360\n"
    outputs = parse_mapping(mapping(tmp_path, text)).outputs
    assert outputs == OutputSettings(ndi_out="vj", virtual_camera="", record=Path("/sets/show.mp4"), size=(640, 360))
    off = "outputs:\n  ndi: false\n  virtual_camera: false\n  record: null\n"  # an output off for a night
    assert parse_mapping(mapping(tmp_path, off)).outputs == OutputSettings()
    assert parse_mapping(mapping(tmp_path, "bindings: []\n")).outputs == OutputSettings()


def test_a_wrong_entry_is_named_with_file_and_line_and_only_that_output_is_left_out(tmp_path, caplog):
    text = """bindings:
  - {key: SPACE, action: freeze}
outputs:
  ndi: {name: vj, format: yuv}
  record: {file: set.avi}
  syphon: ""
  size: [1281, 720]
  fps: fast
  spout: vj
  screen: 2
"""
    path = mapping(tmp_path, text)
    with caplog.at_level(logging.WARNING, logger="vj.config.mapping"):
        config = parse_mapping(path)
    assert len(config.bindings) == 1  # the mapping stands
    assert config.outputs.said() == {"spout": "vj"}
    said = [str(p) for p in config.outputs.problems]
    assert said == [
        f"{path}:4: outputs.ndi.format: expected one of native, rgba, bgra, uyvy, got a string ('yuv')",
        f"{path}:5: outputs.record.file: writes MP4: give a file ending in .mp4, got set.avi",
        f"{path}:6: outputs.syphon: the Syphon server name is empty",
        f"{path}:7: outputs.size: must be even and at least 2x2 (video encoders need that), got 1281x720",
        f"{path}:8: outputs.fps: expected a number, got a string ('fast')",
        f"{path}:10: outputs.screen: unknown key; expected one of: ndi, virtual_camera, syphon, spout, record, "
        "size, fps",
    ]
    assert [r.getMessage() for r in caplog.records] == [f"{p} (vj run goes on without it)" for p in said]


def test_vj_check_shows_a_wrong_output_with_its_file_and_line(tmp_path):
    path = mapping(tmp_path, "bindings: []\noutputs:\n  record: {file: '{night}.mp4', fps: 500}\n")
    not_a_mapping = mapping(tmp_path, "bindings: []\noutputs: [ndi]\n", "list.yaml")
    done = vj("check", str(path), str(not_a_mapping))
    assert done.returncode == 1, done.stderr  # a show could use them, without those outputs: not ok
    err = done.stderr
    assert (f"{path}:3: outputs.record.file: unknown {{night}} in {{night}}.mp4; a recording's name may hold "
            "{date} and {time} (vj run goes on without it)") in err
    assert f"{path}:3: outputs.record.fps: expected a whole number in 1..240, got 500" in err
    assert (f"{not_a_mapping}:2: outputs: expected a mapping of outputs (ndi, virtual_camera, syphon, spout, "
            "record, size, fps), got a list") in err
    assert f"{path}: 2 wrong output setting(s); vj run starts without them" in err
    assert f"ok: {path}" not in done.stdout


def test_the_command_line_overrides_the_file_option_by_option_and_adds_to_it(tmp_path):
    file = parse_mapping(mapping(tmp_path, RIG)).outputs
    merged = flags("--ndi-out", "stage", "--record-fps", "50", "--output-fps", "0").over(file)
    assert (merged.ndi_out, merged.ndi_format) == ("stage", "uyvy")  # the name from the flag, the format from the file
    assert (merged.record, merged.record_fps) == (tmp_path / "sets" / "{date}-{time}.mp4", 50)
    assert merged.fps == 0.0 and merged.size == (1280, 720)  # a flag given at its default still wins
    added = flags("--record", "x.mp4").over(OutputSettings(ndi_out="vj"))
    assert (added.ndi_out, added.record, added.ndi_format) == ("vj", Path("x.mp4"), "native")
    assert flags().over(OutputSettings()) == OutputOptions()


def test_a_later_mapping_files_setting_replaces_an_earlier_ones(tmp_path):
    rig = parse_mapping(mapping(tmp_path, RIG))
    laptop = parse_mapping(mapping(tmp_path, "outputs:\n  ndi: laptop\n  record: false\n  screen: 1\n", "l.yaml"))
    merged = merge_mappings([rig, laptop]).outputs
    assert (merged.ndi_out, merged.ndi_format, merged.syphon) == ("laptop", "uyvy", "vj")
    assert merged.record == tmp_path / "sets" / "{date}-{time}.mp4"  # `false` says nothing: the rig's stays
    assert [p.key for p in merged.problems] == ["outputs.screen"]


def test_a_recording_fills_in_date_and_time_and_never_overwrites_a_file(tmp_path, caplog):
    start = datetime.datetime(2025, 6, 21, 23, 5, 9)
    template = tmp_path / "sets" / "{date}-{time}.mp4"
    first = record_file(template, start)
    assert first == tmp_path / "sets" / "2025-06-21-23-05-09.mp4" and first.exists()  # its folder made, the name taken
    first.write_bytes(b"last night's set")
    with caplog.at_level(logging.WARNING, logger="vj.rig.outputs_cli"):
        second = record_file(template, start)
    assert second == tmp_path / "sets" / "2025-06-21-23-05-09-2.mp4"
    assert first.read_bytes() == b"last night's set"
    assert record_file(template, start).name == "2025-06-21-23-05-09-3.mp4"
    assert f"{first} exists: recording to {second} instead" in caplog.text
    assert record_file(tmp_path / "plain.mp4") == tmp_path / "plain.mp4"


def test_a_live_reload_leaves_the_outputs_running_and_says_a_change_needs_a_restart(tmp_path):
    path = mapping(tmp_path, RIG)
    events = EventQueue()
    parse = reload_keeping_outputs(parse_mapping(path), events)
    path.write_text(RIG.replace("freeze", "blackout"))
    assert parse(path).bindings[0].action == "blackout" and list(events.drain()) == []  # outputs alone: nothing said
    path.write_text(RIG.replace("vj main", "vj side"))
    assert parse(path).outputs.ndi_out == "vj side"
    assert list(events.drain()) == [Notice(f"{path}: outputs: changed; the video outputs go on as they started: "
                                     "restart vj run for the change")]
    parse(path)
    assert list(events.drain()) == []  # said once per change
    path.write_text(RIG)
    parse(path)
    assert list(events.drain()) == [Notice(f"{path}: outputs: as the show started again")]
