"""The VJ's beat overrides in the show: tempo.double / tempo.half, beat.nudge and beat.resync from
the shipped keyboard mapping (keys I, U, K, J, Y), over OSC from liblo's oscsend, and in the HUD.

The clock's side (what each does to each source) is in tests/test_clock.py; here the show loads
mappings/default.yaml and the keys or messages go through the mapping engine to the clock.
"""

from __future__ import annotations

import itertools
import subprocess

import pytest

from tests.support.osc import settle
from tests.support.show import make_show, press
from vj.audio.analysis import FEATURES, AudioFrame
from vj.audio.feed import AudioSlot
from vj.control.osc_server import OscServer
from vj.control.osc_space import address_space
from vj.show import Show
from vj.vocabulary import ClockState

FRAME = 1 / 60


def frames(show: Show, seconds: float) -> list[ClockState]:
    states = []
    for _ in range(round(seconds / FRAME)):
        show.update(FRAME)
        states.append(show.clock.state)
    return states


def beats_per_second(states: list[ClockState]) -> float:
    return (states[-1].beats - states[0].beats) / ((len(states) - 1) * FRAME)


def listening(slot: AudioSlot, bpm: float, start: float, seconds: float, show: Show) -> list[ClockState]:
    """Frames with the beat tracker hearing `bpm` (its beat n at n * 60 / bpm s from 0)."""
    states, now = [], start
    for _ in range(round(seconds / FRAME)):
        now += FRAME
        features = {name: 0.0 for name in FEATURES}
        features.update({"bpm": bpm, "beat.confidence": 0.9, "beat.time": now * bpm / 60.0, "db": -100.0})
        slot.put(AudioFrame(0.0, features))
        show.update(FRAME)
        states.append(show.clock.state)
    return states


def test_the_default_keys_double_halve_nudge_and_resync_the_manual_clock(ctx):
    show = make_show(ctx)
    try:
        show.state.set_base("bpm", 120.0, jump=True)
        plain = frames(show, 1.0)
        assert beats_per_second(plain) == pytest.approx(2.0)
        press(show, "I")  # tempo.double: the bpm parameter times 2
        doubled = frames(show, 1.0)
        assert show.state.base["bpm"] == 240.0 and beats_per_second(doubled) == pytest.approx(4.0)
        press(show, "U")  # tempo.half
        frames(show, 0.5)
        assert show.state.base["bpm"] == 120.0

        at = show.clock.state.beats
        press(show, "K")  # beat.nudge +10 ms
        press(show, "K")
        nudged = frames(show, 1.0)
        assert nudged[-1].beats == pytest.approx(at + 2.0 - 0.020 * 2.0)  # 20 ms later at 2 beats a second
        assert min(b.beats - a.beats for a, b in itertools.pairwise(nudged)) > 0.0  # glided, never back
        press(show, "J")  # and 10 ms earlier
        assert frames(show, 0.5)[-1].beats == pytest.approx(at + 3.0 - 0.010 * 2.0)

        while show.clock.state.beats % 4.0 < 1.9 or show.clock.state.beats % 4.0 > 2.1:
            show.update(FRAME)  # to the third beat of a bar
        press(show, "Y")  # beat.resync: this beat is beat one
        show.update(FRAME)
        assert show.clock.state.bar < 0.2
        assert "1 = next tap" in "\n".join(show.hud_lines(show.update(FRAME)))
    finally:
        show.close()


def test_double_follows_the_audio_tempo_and_the_hud_says_why_it_differs(ctx):
    slot = AudioSlot()
    show = make_show(ctx, audio=slot)
    try:
        assert listening(slot, 126.0, 0.0, 1.0, show)[-1].source == "audio"
        press(show, "I")
        doubled = listening(slot, 126.0, 1.0, 2.0, show)
        assert show.state.base["bpm"] == 252.0  # the tracker still hears 126
        assert beats_per_second(doubled[-30:]) == pytest.approx(2 * 126 / 60)
        press(show, "K")
        lines = "\n".join(show.hud_lines(show.update(FRAME)))
        assert "bpm 252.0 x2 +10 ms (audio)" in lines
        assert "beat 126.0 bpm (90%)" in lines  # the tracker's own tempo, on the audio line
    finally:
        show.close()


def test_a_double_beyond_the_bpm_range_is_refused_with_a_notice(ctx):
    show = make_show(ctx)
    try:
        show.state.set_base("bpm", 200.0, jump=True)
        press(show, "I")
        errors = show.hud_errors(show.update(FRAME))
        assert show.state.base["bpm"] == 200.0
        assert any("tempo.double: 400 bpm is outside bpm's range 20..300" in e for e in errors)
    finally:
        show.close()


@pytest.mark.e2e
def test_oscsend_doubles_and_nudges_the_clock(ctx):
    show = make_show(ctx, mapping=[address_space()])
    server = OscServer(show.events, "127.0.0.1", 0).start()
    try:
        show.state.set_base("bpm", 100.0, jump=True)
        subprocess.run(["oscsend", "localhost", str(server.port), "/vj/tempo/double"], check=True, timeout=10)
        settle(show, lambda: show.state.base["bpm"] == 200.0)
        frames(show, FRAME)  # the clock plays the new bpm from the next frame: a nudge's ms are at that tempo
        assert show.clock.state.bpm == 200.0
        at, since = show.clock.state.beats, show.state.time
        subprocess.run(["oscsend", "localhost", str(server.port), "/vj/beat/nudge", "f", "-20"], check=True, timeout=10)
        settle(show, lambda: server.status().messages >= 2)
        frames(show, 1.0)  # the nudge glides in
        played = show.clock.state.beats - at
        assert played == pytest.approx((show.state.time - since + 0.020) * 200 / 60)  # 20 ms earlier
        subprocess.run(["oscsend", "localhost", str(server.port), "/vj/tempo/half"], check=True, timeout=10)
        settle(show, lambda: show.state.base["bpm"] == 100.0)
    finally:
        server.stop()
        show.close()
