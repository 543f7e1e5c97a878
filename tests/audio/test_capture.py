"""Live audio input through a real JACK server: a player process plays a file into vj's input
ports, and what vj captures must be the file, sample for sample.

The normal tests use the session's JACK server (tests/conftest.py). The reconnect and kill tests
start and stop a JACK server of their own, so they never disturb the shared one. The worker runs
under vj.proc's supervisor; tests that look at the worker process pass a supervisor of their own.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.support.audio_player import Player
from tests.support.capture import connected, status_until
from tests.support.jack import RATE, ports, start_jackd, stop_jackd
from tests.support.vj_process import vj
from tests.support.waiting import alive, wait_for
from vj.audio.capture import (
    BACKOFF,
    AudioInput,
    AudioInputError,
    InputConfig,
    InputStatus,
    check_input,
    find_input,
    list_inputs,
)
from vj.audio.portaudio_worker import BlockClock
from vj.proc.supervisor import Child, Supervisor

ATTEMPTS = 5


def noise(seconds: float, seed: int) -> np.ndarray:
    """Seeded noise in -0.5..0.5 whose first sample is a clear marker (never silent)."""
    signal = np.random.default_rng(seed).uniform(-0.5, 0.5, int(seconds * RATE)).astype(np.float32)
    signal[0] = 0.5
    return signal


@pytest.fixture
def sup() -> Iterator[Supervisor]:
    """A supervisor of the test's own: its children are the test's audio workers."""
    supervisor = Supervisor()
    yield supervisor
    supervisor.close()


def worker(sup: Supervisor, timeout: float = 5.0) -> Child:
    """The one child of `sup` (the supervisor takes it on its own thread: it may take a moment)."""
    (child,) = wait_for(sup.children, timeout, what="the audio worker")
    return child


def play_and_check(config: InputConfig, played: np.ndarray, expected: np.ndarray, tmp_path: Path,
                   atol: float = 0.0) -> list[float]:
    """Plays `played` (frames x channels, one track per capture port) into the input `config`
    opens, checks that what comes back from the first sound on is `expected`, and returns the
    blocks' capture times. A take that differs while JACK reported lost cycles (xruns: a busy
    machine) or vj dropped blocks is played again, up to ATTEMPTS times; one that differs
    although nothing was reported lost fails at once."""
    path = tmp_path / "played.wav"
    soundfile.write(path, played, RATE, subtype="FLOAT")
    with AudioInput(config).start() as audio:
        ports = connected(audio).ports
        assert len(ports) >= played.shape[1], audio.status()
        for attempt in range(1, ATTEMPTS + 1):
            captured, times, disturbance = take(audio, path, len(played), ports[:played.shape[1]])
            if np.allclose(captured, expected, rtol=0, atol=atol) or not disturbance or attempt == ATTEMPTS:
                np.testing.assert_allclose(captured, expected, rtol=0, atol=atol,
                                           err_msg=f"take {attempt}; {disturbance or 'nothing was reported lost'}")
                return times
    raise AssertionError("unreachable")


def take(audio: AudioInput, path: Path, length: int,
         ports: tuple[str, ...]) -> tuple[np.ndarray, list[float], str]:
    """(captured from the first sound on, block times, what was reported lost on the way)."""
    with Player(path, to=ports) as player:
        while audio.read(0) is not None:  # what came before the player was connected
            pass
        before = audio.status()
        player.start()
        blocks, times, total, sound_at = [], [], 0, None
        deadline = time.monotonic() + 20
        while sound_at is None or total - sound_at < length:
            if time.monotonic() > deadline:
                raise AssertionError(f"the played file did not come back within 20 s: {audio.status()}")
            got = audio.read(1.0)
            if got is None:
                continue
            block, at = got
            if sound_at is None and block.any():
                sound_at = total + int(np.flatnonzero(block)[0])
            blocks.append(block)
            times.append(at)
            total += block.size
        after = audio.status()
        assert player.wait() == length
    lost = [f"{after.overflows - before.overflows} overflows", f"{after.dropped - before.dropped} dropped blocks",
            f"{player.xruns} JACK xruns while playing"]
    disturbance = ", ".join(w for w in lost if not w.startswith("0 "))
    return np.concatenate(blocks)[sound_at:sound_at + length], times, disturbance


# -- a real device, real samples -----------------------------------------------------------------


@pytest.mark.e2e
def test_jack_shows_up_as_an_input(jack_server: str) -> None:
    inputs = list_inputs()
    system = find_input("SYST")  # part of the name, any case
    assert system in inputs
    assert (system.host_api, system.channels, system.default_rate) == ("JACK Audio Connection Kit", 2, RATE)
    assert find_input(system.index) == system
    assert find_input(None) == system  # the only input is the default


@pytest.mark.e2e
def test_capture_is_the_played_file_sample_for_sample(jack_server: str, tmp_path: Path) -> None:
    signal = noise(0.25, seed=1)
    times = play_and_check(InputConfig("system", channels=(1,)), signal[:, None], signal, tmp_path)
    steps = np.diff(times)
    assert np.all(steps >= 0)  # capture times never go back...
    assert abs(np.median(steps) - 256 / RATE) < 0.001  # ...and advance by a block's duration
    assert abs(time.perf_counter() - times[-1]) < 5  # on this process's clock


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("channels", "expected"),
    [
        ((2,), lambda left, right: right),
        ((1, 2), lambda left, right: np.stack([left, right], axis=1).mean(axis=1, dtype=np.float32)),
        ((), lambda left, right: np.stack([left, right], axis=1).mean(axis=1, dtype=np.float32)),  # all, mixed
    ],
    ids=["second-channel", "both-mixed", "all-mixed"],
)
def test_channel_choice_and_mono_mix(jack_server: str, tmp_path: Path, channels: tuple[int, ...],
                                     expected: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
    left, right = noise(0.25, seed=2), noise(0.25, seed=3) * np.float32(0.5)
    play_and_check(InputConfig("system", channels=channels), np.stack([left, right], axis=1), expected(left, right),
                   tmp_path, atol=1e-7)


@pytest.mark.e2e
def test_gain_is_applied(jack_server: str, tmp_path: Path) -> None:
    signal = noise(0.25, seed=4)
    play_and_check(InputConfig("system", channels=(1,), gain_db=-6.0), signal[:, None],
                   signal * np.float32(10 ** (-6 / 20)), tmp_path)


# -- inputs that cannot work: clear messages, and the show goes on -------------------------------


@pytest.mark.e2e
def test_a_name_that_matches_nothing_lists_the_inputs(jack_server: str) -> None:
    with pytest.raises(AudioInputError, match=r"no audio input matches 'mixer desk'; inputs: \[0\] system "
                                              r"\(JACK Audio Connection Kit, 2 ch, 48000 Hz\)"):
        find_input("mixer desk")
    with pytest.raises(AudioInputError, match="no audio input has index 7; inputs: .*system"):
        find_input(7)
    statuses: list[InputStatus] = []
    with AudioInput(InputConfig("mixer desk"), statuses.append).start() as audio:  # does not raise
        status = status_until(audio, lambda s: "matches" in s.message, "the reason")
        assert not status.connected and "inputs: [0] system" in status.message
        assert audio.read(0.2) is None  # silence, the show goes on
    assert [s.connected for s in statuses] == [False]  # reported once, however often it retries


@pytest.mark.e2e
def test_no_device_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JACK_DEFAULT_SERVER", f"vjnone{os.getpid()}")  # a JACK server that is not running
    if list_inputs():
        pytest.skip("this machine has audio inputs besides JACK (a sound card): nothing to test here; "
                    "CI machines have none (no /dev/snd), so it runs there")
    with pytest.raises(AudioInputError, match=r"no default audio input; inputs: none \(PortAudio host APIs: "):
        find_input(None)
    with AudioInput(InputConfig()).start() as audio:
        status = status_until(audio, lambda s: "no default audio input" in s.message, "the reason")
        assert not status.connected and audio.read(0.1) is None


@pytest.mark.e2e
def test_channels_the_device_does_not_have(jack_server: str) -> None:
    config = InputConfig("system", channels=(3,))
    with pytest.raises(AudioInputError, match=r"device 'system' has 2 input channels; channels: \[3\] asked"):
        check_input(config)
    with AudioInput(config).start() as audio:
        status = status_until(audio, lambda s: "channels" in s.message and not s.connected, "the reason")
        assert "has 2 input channels" in status.message


@pytest.mark.e2e
def test_an_unsupported_sample_rate(jack_server: str) -> None:
    config = InputConfig("system", sample_rate=44100)
    message = (r"device 'system' \(JACK Audio Connection Kit\) cannot capture at 44100 Hz \(its default rate is "
               r"48000 Hz; a JACK device runs at the JACK server's rate\)")
    with pytest.raises(AudioInputError, match=message):
        check_input(config)
    assert check_input(InputConfig("system")).name == "system"
    with AudioInput(config).start() as audio:
        status_until(audio, lambda s: "44100 Hz" in s.message and not s.connected, "the reason")


def test_settings_are_checked_on_creation() -> None:
    with pytest.raises(ValueError, match=r"channels must be numbers in 1..256 \(1 is the first input\), got \[0\]"):
        InputConfig(channels=(0,))
    with pytest.raises(ValueError, match=r"channels must not repeat, got \[1, 1\]"):
        InputConfig(channels=(1, 1))
    with pytest.raises(ValueError, match=r"gain_db must be in -60..60 dB, got nan; "
                                         r"block must be in 16..512 frames, got 1024"):
        InputConfig(block=1024, gain_db=float("nan"))
    assert InputConfig(channels=[2, 1]).channels == (2, 1)  # type: ignore[arg-type]


# -- a device that goes away and comes back --------------------------------------------------------


@pytest.fixture
def own_jack(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A JACK server only this test uses (it is stopped and started again)."""
    name = f"vjcap{os.getpid()}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    monkeypatch.setenv("JACK_NO_AUDIO_RESERVATION", "1")
    yield name


@pytest.mark.e2e
def test_a_device_that_goes_away_and_comes_back(own_jack: str) -> None:
    server = start_jackd(own_jack)
    statuses: list[InputStatus] = []
    try:
        with AudioInput(InputConfig("system"), statuses.append).start() as audio:
            connected(audio)
            assert audio.read(2.0) is not None
            stop_jackd(server)  # the server goes away: the device with it
            gone = status_until(audio, lambda s: not s.connected, "the loss", timeout=10)
            assert "went away" in gone.message and "retrying" in gone.message
            while audio.read(0.3) is not None:  # what was queued before the loss
                pass
            server = start_jackd(own_jack)
            back = status_until(audio, lambda s: s.connected, "the reconnection", timeout=20)
            assert back.ports == ("vj-audio:in_0", "vj-audio:in_1")
            status_until(audio, lambda s: s.blocks > back.blocks + 100, "audio after the reconnection", timeout=10)
            assert audio.read(2.0) is not None
    finally:
        stop_jackd(server)
    connections = [s.connected for s in statuses]
    assert connections[0] is True and connections[-1] is True and False in connections


@pytest.mark.e2e
def test_a_killed_worker_is_restarted_and_audio_flows_again(own_jack: str, sup: Supervisor) -> None:
    server = start_jackd(own_jack)
    statuses: list[tuple[float, InputStatus]] = []
    try:
        with AudioInput(InputConfig("system"), lambda s: statuses.append((time.monotonic(), s)),
                        supervisor_=sup).start() as audio:
            connected(audio)
            assert audio.read(2.0) is not None
            first = worker(sup).pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            killed_at = time.monotonic()
            gone = status_until(audio, lambda s: not s.connected, "the loss", timeout=10)
            assert gone.message == "audio worker: killed by SIGKILL; retrying"
            back = status_until(audio, lambda s: s.connected, "the restart", timeout=20)
            second = worker(sup).pid
            assert second not in (None, first) and not alive(first)
            assert back.ports[0].startswith("vj-audio")
            reconnected_at = next(t for t, s in statuses if s.connected and t > killed_at)
            assert reconnected_at - killed_at >= 0.95 * BACKOFF[0]  # the first back-off (it had opened: no doubling)
            status_until(audio, lambda s: s.blocks > back.blocks + 100, "audio after the restart", timeout=10)
            while audio.read(0) is not None:  # what was queued before
                pass
            assert audio.read(2.0) is not None
            assert worker(sup).status().starts == 2
    finally:
        stop_jackd(server)  # a server that lost a client to SIGKILL still stops in time


@pytest.mark.e2e
def test_a_missing_device_keeps_retrying_with_backoff(jack_server: str, sup: Supervisor) -> None:
    statuses: list[InputStatus] = []
    with AudioInput(InputConfig("mixer desk"), statuses.append, supervisor_=sup).start() as audio:
        starts: list[float] = []  # when each worker started
        for n in (1, 2, 3):
            wait_for(lambda n=n: worker(sup).status().starts >= n, 30, what=f"the worker's start {n}")
            starts.append(time.monotonic())
        status = audio.status()
        assert not status.connected
        assert status.message.startswith("no audio input matches 'mixer desk'; inputs: [0] system")
        assert status.message.endswith("; retrying")
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    first, most = BACKOFF
    assert 0.95 * first <= gaps[0] < most and 1.95 * first <= gaps[1] < most + 1.0, gaps  # doubling, up to `most`
    assert [s.connected for s in statuses] == [False]  # one report for the same reason, however often


@pytest.mark.e2e
def test_stop_leaves_no_worker_behind(jack_server: str, sup: Supervisor) -> None:
    audio = AudioInput(InputConfig("system"), supervisor_=sup).start()
    connected(audio)
    child = worker(sup)
    pid = child.pid
    assert pid is not None and alive(pid)
    started = time.monotonic()
    audio.stop()
    assert time.monotonic() - started < 2.0  # in order: the worker closed its stream and exited
    assert not alive(pid) and child.status().state == "stopped" and not sup.children()
    assert audio.status().message == "stopped" and not audio.status().connected
    assert not [p for p in ports() if p.startswith("vj-audio")]  # its JACK client is gone too
    time.sleep(1.5)  # longer than the first restart back-off (1 s)
    assert child.status().starts == 1  # and none comes back

    waiting = AudioInput(InputConfig("mixer desk"), supervisor_=sup).start()  # stopped between attempts
    status_until(waiting, lambda s: "retrying" in s.message, "a failed attempt")
    waiting.stop()
    assert not sup.children()


# -- capture times -----------------------------------------------------------------------------------


def test_block_times_lose_the_callback_jitter() -> None:
    clock = BlockClock(RATE, window=2.0)
    rng = np.random.default_rng(5)
    start = 100.0
    for block in range(400):  # callbacks come 0..3 ms after the block's last sample
        first = block * 256
        late = rng.uniform(0.0, 0.003) if block % 7 else 0.0
        at = clock.stamp(start + (first + 256) / RATE + late, first, 256)
        if block >= 7:
            assert at == pytest.approx(start + first / RATE, abs=1e-9)


# -- vj devices --------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_vj_devices_lists_audio_inputs(jack_server: str) -> None:
    done = vj("devices", env=dict(os.environ, DISPLAY="", WAYLAND_DISPLAY=""), timeout=60)
    assert done.returncode == 0, done.stderr
    section = done.stdout.split("audio inputs:", 1)[1]
    assert "0: system  JACK Audio Connection Kit, 2 channels, 48000 Hz" in section
