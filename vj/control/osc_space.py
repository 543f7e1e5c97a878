"""vj's own OSC address space, generated from the parameter registry and the actions.

| address | arguments | does |
|---|---|---|
| `/vj/param/<name>` | the value, in the parameter's own units (on/off: 0/1 or T/F; choices: index or name) | sets the parameter |
| `/vj/prompt/<i>/weight` | 0..1 | prompt i's weight (the same as /vj/param/prompt.i.weight) |
| `/vj/bpm` | bpm | the tempo |
| `/vj/freeze`, `/vj/hud` | 0/1 | on or off |
| `/vj/blackout` | 0..1 | the blackout amount |
| `/vj/preset` | index | switches preset |
| `/vj/prompt/select` | 1..8 | that prompt alone |
| `/vj/tap`, `/vj/seed/step`, `/vj/preset/next`, `/vj/preset/prev`, `/vj/motion/reset`, `/vj/fullscreen` | none | fires the action |

Addresses may be OSC patterns (`/vj/prompt/*/weight`, `/vj/param/{zoom,rotate}`). A mapping file
adds custom addresses (`osc:` sources, vj/config/osc.py) with the same transforms as MIDI.
"""

from __future__ import annotations

from vj.config.mapping import Binding, MappingConfig
from vj.params import MAX_PROMPTS, REGISTRY, Registry

SPACE = "<vj OSC address space>"
_ACTIONS = {
    "/vj/tap": "tap",
    "/vj/seed/step": "seed.step",
    "/vj/preset/next": "preset.next",
    "/vj/preset/prev": "preset.prev",
    "/vj/motion/reset": "motion.reset",
    "/vj/fullscreen": "fullscreen",
}
_VALUE_ACTIONS = {"/vj/preset": "preset.select", "/vj/prompt/select": "prompt.select"}
_ALIASES = {"/vj/bpm": "bpm", "/vj/freeze": "freeze", "/vj/hud": "hud", "/vj/blackout": "blackout"}


def param_address(name: str) -> str:
    return f"/vj/param/{name}"


def address_space(registry: Registry = REGISTRY) -> MappingConfig:
    """The built-in OSC bindings, as a mapping the show loads first (files may override them)."""
    params = {param_address(spec.name): spec.name for spec in registry}
    params.update({f"/vj/prompt/{i}/weight": f"prompt.{i}.weight" for i in range(1, MAX_PROMPTS + 1)})
    params.update(_ALIASES)
    bindings = [Binding((("osc", address),), SPACE, 0, param=name, native=True) for address, name in params.items()]
    bindings += [Binding((("osc", a),), SPACE, 0, action=name, mode="trigger") for a, name in _ACTIONS.items()]
    bindings += [Binding((("osc", a),), SPACE, 0, action=name, mode="trigger") for a, name in _VALUE_ACTIONS.items()]
    return MappingConfig(SPACE, "vj's OSC address space", tuple(bindings), files=(SPACE,))


def addresses(registry: Registry = REGISTRY) -> list[str]:
    return [str(b.source[1]) for b in address_space(registry).bindings]
