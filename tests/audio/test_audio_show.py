"""Audio in the show: mapping files' audio modulators and event sources, beat triggers, the
audio source of the beat clock, flash, and the features reaching the shaders.

The analysis itself is tested in test_analysis / test_beat; here `AudioFrame`s with known
features are put into the show's `AudioSlot`, the way the analysis thread puts them.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.show import make_show
from vj.audio.analysis import FEATURES, AudioFrame
from vj.audio.feed import AudioSlot
from vj.audio.uniforms import UNIFORMS, audio_uniforms
from vj.clock import AUDIO_TIMEOUT, AudioBeat, BeatClock
from vj.config.mapping import parse_mapping
from vj.config.source import ConfigError
from vj.render.compositor import PostSettings
from vj.render.textures import read_rgb

FRAME = 1 / 60


def silence(**features: float) -> dict[str, float]:
    out = {name: 0.0 for name in FEATURES}
    out.update(bpm=120.0, db=-100.0)
    out.update({k.replace("_", "."): v for k, v in features.items()})
    return out


def mapping(tmp_path, text: str):
    path = tmp_path / "audio.yaml"
    path.write_text(text)
    return parse_mapping(path)


def test_a_mapping_file_reads_audio_modulators_and_event_sources(tmp_path):
    config = mapping(tmp_path, """\
audio:
  - {feature: bass, param: zoom, amount: 0.6}
  - {feature: high.hit, param: brightness, amount: 0.25, curve: exp, smoothing: 0.05, invert: true}
bindings:
  - {audio: beat, action: seed.step}
  - {audio: bass.hit, action: flash}
  - {beat: 4, action: preset.next}
  - {beat: 0.5, param: hue, mode: step, step: 30, wrap: true}
""")
    assert [(m.feature, m.param, m.amount, m.curve, m.invert) for m in config.audio] == [
        ("bass", "zoom", 0.6, "lin", False), ("high.hit", "brightness", 0.25, "exp", True)]
    sources = [b.source for b in config.bindings]
    assert sources == [("audio", "beat"), ("audio", "bass.hit"), ("beat", 4.0), ("beat", 0.5)]
    assert config.beat_divisions == (0.5, 4.0)


def test_audio_mistakes_name_file_line_and_what_fits(tmp_path):
    with pytest.raises(ConfigError) as info:
        mapping(tmp_path, """\
audio:
  - {feature: bassy, param: zoom, amount: 1}
  - {feature: beat, param: zoom, amount: 1}
  - {feature: bpm, param: zoom, amount: 1}
  - {feature: bass, param: freeze, amount: 1}
  - {feature: bass, param: zoom}
bindings:
  - {audio: bass, action: flash}
  - {audio: kick, action: flash}
  - {beat: 0, action: flash}
""")
    path = tmp_path / "audio.yaml"
    lines = sorted((str(p) for p in info.value.problems), key=lambda line: int(line[len(str(path)) + 1:].split(":")[0]))
    assert lines[0].startswith(f"{path}:2: audio[0].feature: unknown audio feature 'bassy'; expected one of: level,")
    assert lines[1].startswith(f"{path}:3: audio[1].feature: unknown audio feature 'beat' (an event: bind it")
    assert lines[2].startswith(f"{path}:4: audio[2].feature: unknown audio feature 'bpm' (not a 0..1 feature")
    assert lines[3] == (f"{path}:5: audio[3].param: 'freeze' is not a continuous parameter "
                        "(audio modulates float parameters)")
    assert lines[4] == f"{path}:6: audio[4].amount: is required"
    assert lines[5].startswith(f"{path}:8: bindings[0].audio: unknown audio event 'bass' (a feature: modulate")
    assert lines[6].startswith(f"{path}:9: bindings[1].audio: unknown audio event 'kick'; expected one of: beat, bar")
    assert lines[7].startswith(f"{path}:10: bindings[2].beat:")


def test_features_modulate_parameters_scaled_by_audio_amount(ctx, tmp_path):
    config = mapping(tmp_path, "audio:\n  - {feature: bass, param: zoom, amount: 0.8}\n"
                               "  - {feature: level, param: hue, amount: 90, invert: true}\n")
    slot = AudioSlot()
    show = make_show(ctx, mapping=[config], audio=slot)
    try:
        slot.put(AudioFrame(1.0, silence(bass=0.5, level=1.0)))
        show.update(FRAME)
        assert show.state.target("zoom") == pytest.approx(0.4) and show.state.target("hue") == pytest.approx(0.0)
        show.state.set_base("audio.amount", 0.0, jump=True)
        show.update(FRAME)
        assert show.state.target("zoom") == 0.0  # one fader takes the music's grip away
        show.state.set_base("audio.amount", 2.0, jump=True)
        slot.put(AudioFrame(1.1, silence(bass=1.0)))
        show.update(FRAME)
        assert show.state.target("zoom") == 1.6 and show.state.target("hue") == pytest.approx(180.0)
    finally:
        show.close()


def test_every_event_between_two_frames_reaches_the_mapping_once(ctx, tmp_path):
    config = mapping(tmp_path,
                     "bindings:\n  - {audio: beat, action: seed.step}\n  - {audio: bass.hit, action: flash}\n")
    slot = AudioSlot()
    show = make_show(ctx, mapping=[config], audio=slot)
    try:
        slot.put(AudioFrame(1.00, silence(), ("beat", "bass.hit")))
        slot.put(AudioFrame(1.01, silence(), ("onset",)))
        slot.put(AudioFrame(1.02, silence(), ("beat",)))  # three analysis frames in one display frame
        show.update(FRAME)
        assert show.state.base["seed.walk"] == 2.0  # both beats
        flashed = show.state.target("brightness")
        assert flashed > 0.5  # the flash action
        for _ in range(60):
            show.update(FRAME)
        assert show.state.base["seed.walk"] == 2.0  # nothing twice
        assert show.state.target("brightness") < 0.01  # the flash faded within a second
    finally:
        show.close()


def test_beat_sources_fire_every_n_beats_of_the_clock(ctx, tmp_path):
    config = mapping(tmp_path, "bindings:\n  - {beat: 4, action: seed.step}\n"
                               "  - {beat: 0.5, param: hue, mode: step, step: 10}\n")
    show = make_show(ctx, mapping=[config])
    try:
        for _ in range(round(8.1 / FRAME)):  # 8.1 s at 120 bpm: 16 beats and a bit
            show.update(FRAME)
        assert show.state.base["seed.walk"] == 4.0  # every 4 beats
        assert show.state.base["hue"] == 180.0  # 32 half beats, clamped at the top of the range
    finally:
        show.close()


def confident(beats: float, bpm: float = 128.0) -> AudioBeat:
    return AudioBeat(bpm, 0.9, beats)


def test_a_confident_audio_beat_drives_the_clock_and_glides_into_phase():
    clock = BeatClock()
    for _ in range(30):
        clock.advance(FRAME, 120.0)
    start = clock.state.beats
    audio_beats = 7.25  # the tracker is a quarter beat from where the clock is
    states = []
    for _ in range(round(4.0 / FRAME)):
        audio_beats += FRAME * 128.0 / 60.0  # where the tracker is now
        clock.audio(confident(audio_beats))
        states.append(clock.advance(FRAME, 120.0))
    assert all(s.source == "audio" and s.bpm == 128.0 for s in states)
    steps = np.diff([start] + [s.beats for s in states])
    assert steps.min() > 0  # never backwards
    assert steps.max() <= 1.5 * FRAME * 128 / 60 + 1e-9  # a glide, not a jump
    offset = states[-1].beats - audio_beats
    assert offset == pytest.approx(round(offset), abs=0.01)  # locked to its phase, a whole number of beats apart


def test_an_unsure_or_silent_tracker_leaves_the_clock_alone():
    clock = BeatClock()
    clock.audio(AudioBeat(140.0, 0.2, 3.0))  # not confident
    assert clock.advance(FRAME, 120.0).source == "manual"
    clock.audio(confident(3.0))
    assert clock.advance(FRAME, 120.0).source == "audio"
    for _ in range(round((AUDIO_TIMEOUT + 0.1) / FRAME)):  # silence: no confident readings
        state = clock.advance(FRAME, 120.0)
    assert state.source == "manual" and state.bpm == 120.0


def test_clock_source_chooses_between_midi_audio_and_manual():
    from vj.vocabulary import ClockEvent

    clock = BeatClock()
    clock.audio(confident(0.0))
    assert clock.advance(FRAME, 100.0, "manual").source == "manual"  # the VJ said so
    clock.audio(confident(0.1))
    assert clock.advance(FRAME, 100.0, "midi").source == "manual"  # midi only, and none ticks
    clock.audio(confident(0.2))
    assert clock.advance(FRAME, 100.0, "auto").source == "audio"
    for i in range(48):
        clock.handle(ClockEvent("tick", 10.0 + i * 60 / 140 / 24))
    assert clock.advance(FRAME, 100.0, "auto").source == "midi"  # a MIDI clock wins in auto
    clock.audio(confident(0.3))
    assert clock.advance(FRAME, 100.0, "audio").source == "audio"  # ...but not when audio is chosen
    clock.handle(ClockEvent("tick", 11.0))
    assert clock.advance(FRAME, 100.0, "audio").source == "audio"


def test_the_show_follows_the_audio_tempo_and_taps_are_refused_then(ctx):
    slot = AudioSlot()
    show = make_show(ctx, audio=slot)
    try:
        beats = 0.0
        for _ in range(20):
            slot.put(AudioFrame(0.0, silence(bpm=126.0, beat_confidence=0.9, beat_time=beats)))
            show.update(FRAME)
            beats += FRAME * 126 / 60
        assert show.clock.source == "audio" and show.state.base["bpm"] == 126.0
        show.action("tap", None)
        errors = show.hud_errors(show.update(FRAME))
        assert any("tap ignored: the audio beat drives the clock" in e for e in errors)
        assert "beat 126.0 bpm (90%)" in "\n".join(show.hud_lines(show.update(FRAME)))
    finally:
        show.close()


def test_every_feature_has_a_uniform_name_and_silence_is_zero():
    assert UNIFORMS["bass.hit"] == "u_audio_bass_hit" and UNIFORMS["beat.phase"] == "u_audio_beat_phase"
    assert len(set(UNIFORMS.values())) == len(FEATURES)
    silent = audio_uniforms({}, 1.0)
    assert silent["u_audio_amount"] == 1.0 and all(v == 0.0 for k, v in silent.items() if k != "u_audio_amount")


def test_a_kick_reaches_the_post_shader_and_the_procedural_dream(ctx, target):
    from vj.gen.base import GenRequest, Prompt
    from vj.gen.procedural import ProceduralGenerator
    from vj.render.compositor import Compositor
    from vj.render.shaders import ShaderLibrary

    compositor = Compositor(ctx, ShaderLibrary())
    image = np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (64, 1, 4))
    tex = ctx.texture((64, 64), 4, image.tobytes())
    from vj.motion import ViewTransform
    from vj.render.compositor import LayerView

    def post(**kw) -> np.ndarray:
        compositor.render(target, None, LayerView(tex, ViewTransform(), 1.0), 1.0, PostSettings(**kw), None)
        return read_rgb(target).astype(float)

    quiet, kick = post(), post(audio={"bass.hit": 1.0})
    assert np.std(kick) > np.std(quiet) * 1.1  # the contrast punch
    assert np.array_equal(post(audio={"bass.hit": 1.0}, audio_amount=0.0), quiet)  # audio.amount 0: none

    gen = ProceduralGenerator()
    try:
        request = GenRequest(time=1.0, size=(96, 64), prompts=(Prompt("crystal cave, glowing ridges", 1.0),),
                             seed=3, seed_walk=0.0, strength=0.6, feedback=0.0)
        calm = gen.generate(request).astype(float)
        gen.close()
        gen = ProceduralGenerator()
        hits = GenRequest(**{**request.__dict__, "audio": {"bass.hit": 1.0, "high.hit": 1.0}})
        loud = gen.generate(hits).astype(float)
        assert np.abs(loud - calm).mean() > 2.0  # the kick bends the flow, the hats light the lines
    finally:
        gen.close()
        tex.release()


def test_a_beat_synced_lfo_rides_the_audio_beat(ctx, tmp_path):
    config = mapping(tmp_path, "lfos:\n  - {param: hue, shape: saw, beats: 1, amount: 100}\n")
    slot = AudioSlot()
    show = make_show(ctx, mapping=[config], audio=slot)
    try:
        beats, checked = 3.3, 0
        for i in range(round(6.0 / FRAME)):
            beats += FRAME * 126 / 60
            slot.put(AudioFrame(0.0, silence(bpm=126.0, beat_confidence=0.9, beat_time=beats)))
            show.update(FRAME)
            phase = beats % 1.0
            if i * FRAME > 3.0 and 0.1 < phase < 0.9:  # locked by now; away from the saw's wrap
                assert show.state.target("hue") == pytest.approx(100 * (2 * phase - 1), abs=3.0)
                checked += 1
        assert checked > 100 and show.clock.source == "audio"
    finally:
        show.close()
