"""Which group of the page each parameter sits in, in the registry's order.

The registry (vj.params) lists parameters in display order, without groups; a spec that carries a
`group` of its own wins, so the day the registry names groups this table goes.
"""

from __future__ import annotations

from vj.params import ParamSpec

GROUPS = ("prompts", "dream", "motion", "crossfade", "colour", "show", "tempo", "diffusion", "inputs")
_BY_NAME = {
    "strength": "dream", "seed": "dream", "seed.walk": "dream", "seed.rate": "dream", "seed.sync": "dream",
    "feedback": "dream", "speed": "dream",
    "steps": "diffusion", "guidance": "diffusion", "scheduler": "diffusion",
    "zoom": "motion", "pan.x": "motion", "pan.y": "motion", "rotate": "motion",
    "crossfade": "crossfade", "crossfade.curve": "crossfade",
    "brightness": "colour", "contrast": "colour", "saturation": "colour", "hue": "colour",
    "blackout": "show", "freeze": "show", "hud": "show", "preset": "show",
    "bpm": "tempo", "clock.source": "tempo",
    "audio.amount": "inputs", "camera.mix": "inputs", "voice.talk": "inputs", "voice.dictate": "inputs",
    "prompt.transition": "prompts",
}


def group_of(spec: ParamSpec) -> str:
    own = getattr(spec, "group", None)
    if isinstance(own, str) and own:
        return own
    if spec.name.startswith("prompt."):
        return "prompts"
    return _BY_NAME.get(spec.name, "other")
