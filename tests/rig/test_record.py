"""Live recording (vj.rig.record): real MP4 files written by PyAV and opened again. Frames and
audio blocks placed by their times on one clock; a disk too slow for the recording drops frames
(counted) while the show goes on; and `vj run --record` as a user runs it: the file shows what
the window showed, carries the live audio input (played through JACK) in step with the picture,
and is playable however the show stops (--seconds, ESC, Ctrl-C)."""

from __future__ import annotations

import fcntl
import os
import signal
import threading
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile

from tests.support.audio_player import Player
from tests.support.display import press, screen_until, wait_for_window
from tests.support.jack import RATE, vj_audio_port
from tests.support.show import make_show
from tests.support.synth import click_track
from tests.support.vj_process import Log, vj_run
from tests.support.waiting import wait_for
from vj.rig.record import AudioTrack, Recording, RecordSettings
from vj.rig.sink import SinkThread, VideoOutputs

T0 = 1000.0  # the clock the frames and blocks are stamped on (time.perf_counter in vj run)
BLOCK = 256


def decode(path: Path) -> tuple[list[float], list[np.ndarray], np.ndarray, float]:
    """(video frame times, frames as RGB, the sound as mono samples, the sound's first sample's time)."""
    with av.open(str(path)) as container:
        frames = [(float(f.pts * f.time_base), f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    sound, start = np.zeros(0, np.float32), 0.0
    with av.open(str(path)) as container:
        if container.streams.audio:
            chunks = [f for f in container.decode(audio=0)]
            start = float(chunks[0].pts * chunks[0].time_base)
            sound = np.concatenate([f.to_ndarray()[0] for f in chunks])
    return [t for t, _ in frames], [f for _, f in frames], sound, start


def colour(i: int, size: tuple[int, int] = (64, 48)) -> np.ndarray:
    """Frame i: its own red level, row 0 at the top as the outputs get it (a flipped view)."""
    frame = np.zeros((size[1], size[0], 4), np.uint8)
    frame[..., 0], frame[..., 3] = 4 * i, 255
    return frame[::-1]


def test_a_recording_places_frames_and_sound_on_one_clock(tmp_path):
    track = AudioTrack(RATE)
    recording = Recording(RecordSettings(tmp_path / "clock.mp4", (64, 48), 30), track)
    # Sound from 0.2 s before the first frame to 2 s after it, silent but for two bursts (at 1.0 s
    # and 1.8 s), with the input lost from 1.4 to 1.6 s (its blocks never came).
    for k in range(round(2.2 * RATE / BLOCK)):
        at = -0.2 + k * BLOCK / RATE
        if 1.4 <= at < 1.6:
            continue
        t = at + np.arange(BLOCK) / RATE
        block = np.where(((t >= 1.0) & (t < 1.05)) | ((t >= 1.8) & (t < 1.85)), 0.5, 0.0).astype(np.float32)
        track.put(block, T0 + at)
    for i in range(60):
        if 20 <= i < 30:
            continue  # frames the recording had no time for: the next ones keep their own times
        recording.send(colour(i), T0 + i / 30 + 0.004)  # drawn a little after each tick
    recording.close()
    assert recording.frames == 50

    times, frames, sound, start = decode(tmp_path / "clock.mp4")
    assert len(frames) == 50 and frames[0].shape == (48, 64, 3)
    drawn = [i for i in range(60) if not 20 <= i < 30]
    assert [abs(int(f[0, 0, 0]) - 4 * i) <= 3 for f, i in zip(frames, drawn)] == [True] * 50
    # Each frame at its time: the gap left by the missing frames is in the timeline, not closed up.
    at = dict(zip(drawn, times))
    assert at[30] - at[19] == pytest.approx(11 / 30, abs=0.002) and at[59] - at[1] == pytest.approx(58 / 30, abs=0.002)
    # The sound where its capture times put it, against the frames drawn at those times (the file
    # starts both streams with the encoder's delay, so compare within the file).
    loud = np.flatnonzero(np.abs(sound) > 0.2) / RATE + start
    first, second = loud[loud < at[40]], loud[loud > at[40]]
    assert first[0] - at[30] == pytest.approx(0.0, abs=0.012)
    assert second[0] - (at[30] + 0.8) == pytest.approx(0.0, abs=0.012)  # after the lost input: still in step
    when = start + np.arange(sound.size) / RATE
    assert np.abs(sound[(when > at[30] + 0.45) & (when < at[30] + 0.55)]).max() < 0.01  # silence: the input lost
    assert sound.size / RATE == pytest.approx(2.0, abs=0.08)  # as long as the picture


def test_a_bad_path_says_so():
    from vj.rig.sink import OutputUnavailable

    with pytest.raises(OutputUnavailable, match="cannot write /proc/nope/out.mp4"):
        Recording(RecordSettings(Path("/proc/nope/out.mp4"), (64, 48), 30))
    with pytest.raises(ValueError, match="even, positive size"):
        RecordSettings(Path("out.mp4"), (65, 48))


class StalledDisk:
    """A FIFO the recording writes into, read by nobody until `release()`: a disk that stopped
    taking data. The pipe holds 4 KiB, so the recording's writes block almost at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        self.data = bytearray()
        self._go = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with open(self.path, "rb") as pipe:  # waits for the recording to open it
            fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, 4096)
            self._go.wait(60)
            while chunk := pipe.read(65536):
                self.data.extend(chunk)

    def release(self) -> bytes:
        self._go.set()
        return bytes(self.data)

    def join(self) -> bytes:
        self._thread.join(30)
        return bytes(self.data)


def test_a_stalled_disk_drops_recorded_frames_and_the_show_goes_on(ctx, target, tmp_path):
    disk = StalledDisk(tmp_path / "stalled.mp4")
    sink = SinkThread("record", lambda: Recording(RecordSettings(disk.path, target.size, 30)))
    outputs = VideoOutputs([sink]).start()
    show = make_show(ctx, video=outputs)
    shown = 0
    try:
        def stalled_for(frames: int) -> bool:
            """The show ran `frames` frames while the recording sent none (it is stuck writing)."""
            nonlocal shown
            before = sink.status().sent
            for _ in range(frames):
                show.frame(1 / 30, target)
            shown += frames
            return sink.status().sent == before

        wait_for(lambda: stalled_for(60), 60, what="the recording to stall on the full pipe")
        assert stalled_for(120)  # the render loop kept going: 120 more frames, none of them waited for the disk
        status = sink.status()
        assert status.dropped >= 120 and status.sent + status.dropped <= shown and status.error is None
        assert "dropped" in show.hud_lines(show.state.tick(0.0))[-1]
    finally:
        show.close()
        disk.release()
        outputs.stop()
    path = tmp_path / "copy.mp4"
    path.write_bytes(disk.join())
    _, frames, _, _ = decode(path)
    assert len(frames) == sink.status().sent  # every frame it did send is in the file, which plays


# -- vj run --record ---------------------------------------------------------------------------

STILL = """name: Still
generator: procedural
size: 640x360
max_fps: 10
prompts:
  - text: a still nebula
    weight: 1.0
params: {zoom: 0.0, rotate: 0.0, speed: 0.0, feedback: 0.0, seed.rate: 0.0}
transition: {crossfade: 0.0}
"""


def recorded(out: str, path: Path) -> tuple[int, int]:
    """(frames, dropped) as `vj run` reported them when the recording closed."""
    line = next(line for line in out.splitlines() if f"recorded {path}:" in line)
    frames = int(line.split(f"recorded {path}: ")[1].split(" frames")[0])
    status = next(line for line in out.splitlines() if "output record: sent" in line)
    sent, dropped = (int(part.split()[-1]) for part in status.split("output record: ")[1].split(",")[:2])
    assert sent == frames, status
    return frames, dropped


def dream_on_screen(px: np.ndarray) -> bool:
    """The still dream, not the grey-violet stand-in before the generator's first frame."""
    window = px[:720, :1280]
    return window.std() > 20 and window[..., 1].mean() < 55


@pytest.mark.e2e
def test_vj_run_records_what_the_window_shows(xvfb_display, tmp_path):
    preset = tmp_path / "still.yaml"
    preset.write_text(STILL)
    out_path = tmp_path / "show.mp4"
    env = {**os.environ, "DISPLAY": xvfb_display}
    with vj_run(env, "--preset", str(preset), "--record", str(out_path), "--osc-port", "0", "--no-zeroconf",
                "--seconds", "4") as proc:
        wait_for_window(env, proc)
        shot = screen_until(env, tmp_path / "shot.png", dream_on_screen, timeout=30, what="the still dream")
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    frames, dropped = recorded(out, out_path)
    times, pictures, sound, _ = decode(out_path)
    assert len(pictures) == frames > 60 and pictures[0].shape == (720, 1280, 3)
    assert sound.size == 0  # no audio input (vj_run adds --no-audio): no sound stream
    assert times[-1] == pytest.approx(4.0, abs=0.5)  # at the recording's fixed rate, in real time
    # Frames in the file look like the screenshot of the window (the HUD was off): the dream.
    window = shot[:720, :1280]
    for picture in (pictures[len(pictures) // 2], pictures[-1]):
        assert np.abs(picture.astype(float) - window).mean() < 12
    assert np.abs(pictures[0].astype(float) - window).mean() > 30  # the first: the stand-in, as the window showed


def playable(path: Path) -> int:
    """Frames a player gets from the file (one cut short at its end, as a killed show leaves it, is skipped)."""
    frames = 0
    with av.open(str(path)) as container:
        for packet in container.demux(video=0):
            try:
                pictures = packet.decode()
            except av.error.InvalidDataError:
                continue
            frames += len(pictures)
            assert all(p.width == 1280 and p.height == 720 for p in pictures)
    return frames


@pytest.mark.e2e
@pytest.mark.parametrize("stop", ["escape", "sigint", "sigkill"])
def test_esc_ctrl_c_and_even_a_kill_leave_a_playable_recording(xvfb_display, tmp_path, stop):
    out_path = tmp_path / "show.mp4"
    env = {**os.environ, "DISPLAY": xvfb_display}
    with vj_run(env, "--record", str(out_path), "--osc-port", "0", "--no-zeroconf", "--seconds", "90") as proc:
        log = Log(proc)
        window = wait_for_window(env, proc)
        log.expect("recording to ")
        wait_for(lambda: out_path.exists() and out_path.stat().st_size > 600_000, 30, what="two seconds or so recorded")
        if stop == "escape":
            press(env, window, "Escape")
        else:
            proc.send_signal(signal.SIGINT if stop == "sigint" else signal.SIGKILL)
        proc.wait(timeout=60)
        out = log.join()
    if stop == "sigkill":  # no chance to close the file: the fragments written so far play (a second each)
        assert proc.returncode == -signal.SIGKILL and playable(out_path) >= 30
        return
    assert proc.returncode == (0 if stop == "escape" else 130), out[-3000:]
    frames, _ = recorded(out, out_path)
    assert playable(out_path) == frames
    _, pictures, _, _ = decode(out_path)  # closed cleanly: every packet decodes
    assert len(pictures) == frames


@pytest.mark.e2e
def test_the_live_audio_input_is_recorded_in_step_with_the_picture(live_jack, xvfb_display, tmp_path):
    """Clicks played into vj's JACK input; each flashes the picture (an onset mapped to the flash
    action). In the file the sound lasts as long as the picture and each click is heard where the
    picture flashes: the flash follows it by the analysis' latency, never precedes it (a sound
    placed late against the picture would show the flash first)."""
    samples, clicks = click_track(75.0, 5.0, start=1.0, gain=0.8)
    wav = tmp_path / "clicks.wav"
    soundfile.write(wav, samples, RATE, subtype="FLOAT")
    preset = tmp_path / "still.yaml"
    preset.write_text(STILL)
    mapping = tmp_path / "flash.yaml"
    mapping.write_text("bindings:\n  - {audio: onset, action: flash}\n")
    out_path = tmp_path / "show.mp4"
    env = {**os.environ, "DISPLAY": xvfb_display}
    with vj_run(env, "--preset", str(preset), "--mapping", str(mapping), "--audio", "system", "--audio-channels", "1",
                "--record", str(out_path), "--osc-port", "0", "--no-zeroconf", "--seconds", "90") as proc:
        log = Log(proc)
        window = wait_for_window(env, proc)
        port = vj_audio_port(env, said=log.text)
        log.expect("recording to ")
        with Player(wav, to=(port,)) as player:
            player.start()
            assert player.wait(timeout=60) == samples.size
            xruns = player.xruns
        press(env, window, "Escape")
        proc.wait(timeout=60)
        out = log.join()
    assert proc.returncode == 0, out[-3000:]
    assert "+ AAC from the audio input" in out
    recorded(out, out_path)
    times, pictures, sound, start = decode(out_path)
    duration = times[-1] + 1 / 30
    assert sound.size / RATE == pytest.approx(duration, abs=0.15)  # the sound as long as the picture
    heard = click_times(sound, start)
    assert len(heard) == len(clicks), heard
    if not xruns:  # at the input's pace (cycles JACK lost on a busy machine leave gaps, in real time and in the file)
        assert np.allclose(np.diff(heard), np.diff(clicks), atol=0.06), heard
    brightness = np.array([p.mean() for p in pictures])
    jumps = [i for i in range(1, len(times)) if brightness[i] - brightness[i - 1] > 10]
    flashes = [times[i] for i in jumps if i - 1 not in jumps]  # where each brightening begins
    # A flash for each click, never before it (a sound placed late against the picture would show it
    # first), after it by the analysis' latency and a display frame or two: 0.1 s when the machine is
    # quiet, up to 0.8 s was seen while it ran other tests beside the show, JACK and the player.
    assert len(flashes) == len(heard), (heard, flashes)
    for click, flash, after in zip(heard, flashes, heard[1:] + [heard[-1] + 1.5]):
        assert click - 0.02 <= flash < after, (heard, flashes)


def click_times(sound: np.ndarray, start: float) -> list[float]:
    """When each click begins in the recorded sound (seconds on the file's timeline)."""
    loud = np.flatnonzero(np.abs(sound) > 0.1)
    onsets = [loud[0]] + [b for a, b in zip(loud, loud[1:]) if b - a > RATE // 10] if loud.size else []
    return [start + i / RATE for i in onsets]
