"""The HUD's text from hand-built status snapshots: pure, no GL, no devices."""

from __future__ import annotations

from dataclasses import replace

from vj.audio.capture import InputStatus
from vj.camera import CameraStatus
from vj.config.preset import Preset, PromptSpec
from vj.control.engine import Pickup
from vj.control.midi_ports import MidiStatus
from vj.control.osc_server import OscStatus
from vj.gen.worker import WorkerStatus
from vj.params import REGISTRY, Snapshot
from vj.proc.supervisor import ChildStatus
from vj.show.hud_text import AudioReading, HudStatus, generator_lines, hud_errors, hud_lines
from vj.voice.listener import VoiceStatus

PRESET = Preset(name="Neon", path="neon.yaml", size=(512, 288), prompts=(PromptSpec("a", 1.0), PromptSpec("b", 0.0)))
RUNNING = WorkerStatus("procedural", 24.0, 100, 0, None, False)


def snapshot(**values: object) -> Snapshot:
    return Snapshot(10.0, 1 / 60, {**REGISTRY.defaults(), **{k.replace("_", "."): v for k, v in values.items()}})


def status(**kw: object) -> HudStatus:
    return HudStatus(kw.pop("snap", snapshot()), PRESET, kw.pop("worker", RUNNING), **kw)  # type: ignore[arg-type]


def test_the_first_lines_show_rates_preset_and_values():
    snap = snapshot(zoom=0.25, rotate=-3.0, prompt_2_weight=0.4, freeze=True, blackout=1.0, seed=7)
    lines = hud_lines(status(snap=snap, display_fps=59.9, display_mode="vsync", clock_source="midi"))
    assert lines == [
        "vj  display  59.9 fps (vsync)   gen  24.0 fps (procedural)  FROZEN BLACKOUT",
        "preset 0: Neon   512x288",
        "strength 0.50  feedback 0.60  speed 1.00",
        "zoom +0.25  pan +0.00,+0.00  rotate -3.0",
        "seed 7  walk 0.00 (+0.00/s)  bpm 120.0 (midi)  crossfade 0.60s smooth",
        "prompts  1:1.00  2:0.40",
    ]


def test_a_generator_loading_behind_another_is_named_in_the_first_line():
    loading = replace(RUNNING, backend="diffusion (sd-turbo)", interim="procedural", state="loading")
    assert "gen  24.0 fps (procedural while diffusion (sd-turbo) loads)  " in hud_lines(status(worker=loading))[0]


def test_nothing_connected_means_no_link_lines():
    assert len(hud_lines(status())) == 6


def test_each_connected_link_has_its_line_in_order():
    st = status(
        midi=MidiStatus(("APC40:in",), (), messages=12, ignored=1),
        osc=OscStatus("0.0.0.0", 9000, messages=5, invalid=2, refused=1),
        unmapped=3,
        audio=AudioReading({"level": 0.5, "db": -6.0, "bass": 0.75, "bpm": 126.0, "beat.confidence": 0.9},
                           InputStatus("Scarlett", True, "connected", 10, 0, 0, 48000)),
        camera=CameraStatus("webcam 0", True, "opened", 30, 29.97, (640, 480)),
        processes=(ChildStatus("procedural", "ready", 1, 1, 0, None, "", 0.0),
                   ChildStatus("audio in", "waiting", None, 3, 2, "exited", "", 0.0)),
        voice=VoiceStatus("push", True, 4, 2, 1, 1, 0.0, "", "tiny.en"),
        pickup=Pickup("strength", 0.2, 0.5),
    )
    assert hud_lines(st)[6:] == [
        "midi  in: APC40:in  out: none  msgs 12  ignored 1",
        "osc  0.0.0.0:9000  msgs 5  malformed 2  refused 1  unmapped 3",
        "audio  Scarlett level 0.50 (-6 dB)  bass 0.75 mid 0.00 high 0.00  beat 126.0 bpm (90%)",
        "camera  webcam 0  30.0 fps  640x480  mix 0.70",
        "procs  procedural ready  audio in waiting (restarts 2)",
        "voice  push (listening)  commands 2  ignored 1  prompts 1  last: -",
        "pickup strength: knob at 0.20, turn up to 0.50",
    ]


def test_inputs_that_are_gone_say_why():
    st = status(audio=AudioReading({}, InputStatus("Scarlett", False, "no such device", 0, 0, 0, 48000)),
                camera=CameraStatus("webcam 0", False, "busy", 0, 0.0, None))
    assert hud_lines(st)[6:] == ["audio  Scarlett not connected: no such device",
                                 "camera  webcam 0 not connected: busy"]


def test_audio_without_a_capture_to_ask_shows_the_features_alone():
    assert hud_lines(status(audio=AudioReading()))[6] == (
        "audio  level 0.00 (-100 dB)  bass 0.00 mid 0.00 high 0.00  beat 0.0 bpm (0%)")


def test_errors_list_messages_then_the_generator():
    failing = replace(RUNNING, last_error="CUDA out of memory", state="restarting", restarts=2, error_at=95.0)
    st = status(worker=failing, messages=("LEARN  target: zoom", "a notice"), now=100.0)
    assert hud_errors(st) == ["LEARN  target: zoom", "a notice",
                              "generator: CUDA out of memory  -> restarting (restarts 2)"]


def test_in_lockstep_only_a_generator_fault_is_news():
    loading = replace(RUNNING, state="loading", since=90.0)
    assert hud_errors(status(worker=loading, lockstep=True, now=100.0)) == []
    assert hud_errors(status(worker=loading, now=100.0)) == [
        "starting procedural (10 s): the last frame shows meanwhile"]
    assert hud_errors(status(worker=replace(loading, last_error="boom"), lockstep=True)) == ["generator: boom"]


def test_a_fault_fades_from_the_hud_once_the_generator_runs_again():
    recovered = replace(RUNNING, last_error="boom", error_at=100.0)
    assert generator_lines(recovered, now=105.0) == ["generator: boom"]
    assert generator_lines(recovered, now=111.0) == []
    assert generator_lines(replace(recovered, fell_back=True), now=111.0) == ["generator: boom  -> fallback"]


def test_a_running_generator_says_how_it_runs_next_to_the_preset():
    detail = "sd-turbo ready: loaded in 9.1 s, compile graphs, warm-up 2.0 s, first frame 4 ms"
    lines = hud_lines(status(worker=replace(RUNNING, detail=detail)))
    assert lines[1].endswith(f"   {detail}")
    loading = replace(RUNNING, state="loading", detail=detail)
    assert not any(detail in line for line in hud_lines(status(worker=loading)))
    assert detail not in " ".join(hud_errors(status(worker=replace(RUNNING, detail=detail))))
