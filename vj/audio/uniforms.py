"""Audio features as shader uniforms: one name scheme for every shader.

Each feature `name` of vj.audio.analysis.FEATURES is the float uniform `u_audio_<name>` with dots
as underscores (`bass.hit` -> `u_audio_bass_hit`, `beat.phase` -> `u_audio_beat_phase`), plus
`u_audio_amount` (the `audio.amount` parameter) that every shader reaction is scaled by. A
shader declares the ones it uses; the others are skipped. Without audio every feature is 0, so a
shader's reactions vanish and the picture is as without them.
"""

from __future__ import annotations

from collections.abc import Mapping

from vj.audio.analysis import FEATURES

UNIFORMS = {name: "u_audio_" + name.replace(".", "_") for name in FEATURES}


def audio_uniforms(features: Mapping[str, float], amount: float) -> dict[str, float]:
    out = {uniform: float(features.get(name, 0.0)) for name, uniform in UNIFORMS.items()}
    out["u_audio_amount"] = float(amount)
    return out
