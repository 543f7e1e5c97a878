"""vj's own OSC address space, generated from the parameter registry and the actions.

`/vj/param/<name>` for every parameter (in its own units), `/vj/norm/<name>` for every
parameter normalised 0..1 across its range (what Resolume and most sliders send; a choice's 0..1
spans its choices, a switch is on above 0.5), short aliases (`/vj/bpm`, `/vj/freeze`, ...),
`/vj/prompt/<i>/weight` and `/text`, and an address per action. `vj osc`
prints the whole table (docs/osc.md holds a copy). Addresses may be OSC patterns
(`/vj/prompt/*/weight`, `/vj/param/{zoom,rotate}`). A mapping file adds custom addresses (`osc:`
sources, vj/config/osc.py) with the same transforms as MIDI.
"""

from __future__ import annotations

from vj.config.mapping import Binding, MappingConfig, default_range
from vj.params import REGISTRY, Registry
from vj.vocabulary import ACTIONS, MAX_PROMPTS, TEXT_ACTIONS

SPACE = "<vj OSC address space>"
_ACTIONS = {
    "/vj/tap": "tap",
    "/vj/tempo/double": "tempo.double",
    "/vj/tempo/half": "tempo.half",
    "/vj/beat/resync": "beat.resync",
    "/vj/seed/step": "seed.step",
    "/vj/preset/next": "preset.next",
    "/vj/preset/prev": "preset.prev",
    "/vj/motion/reset": "motion.reset",
    "/vj/fullscreen": "fullscreen",
}
_VALUE_ACTIONS = {"/vj/preset": "preset.select", "/vj/prompt/select": "prompt.select", "/vj/beat/nudge": "beat.nudge"}
_ALIASES = {"/vj/bpm": "bpm", "/vj/freeze": "freeze", "/vj/hud": "hud", "/vj/blackout": "blackout"}


def param_address(name: str) -> str:
    return f"/vj/param/{name}"


def norm_address(name: str) -> str:
    return f"/vj/norm/{name}"


def address_space(registry: Registry = REGISTRY) -> MappingConfig:
    """The built-in OSC bindings, as a mapping the show loads first (files may override them)."""
    params = {param_address(spec.name): spec.name for spec in registry}
    params.update({f"/vj/prompt/{i}/weight": f"prompt.{i}.weight" for i in range(1, MAX_PROMPTS + 1)})
    params.update(_ALIASES)
    bindings = [Binding((("osc", address),), SPACE, 0, param=name, native=True) for address, name in params.items()]
    # normalised aliases: value mode across the parameter's range, as a MIDI fader's binding
    bindings += [Binding((("osc", norm_address(spec.name)),), SPACE, 0, param=spec.name, lo=lo, hi=hi)
                 for spec in registry for lo, hi in [default_range(spec)]]
    bindings += [Binding((("osc", a),), SPACE, 0, action=name, mode="trigger") for a, name in _ACTIONS.items()]
    bindings += [Binding((("osc", a),), SPACE, 0, action=name, mode="trigger") for a, name in _VALUE_ACTIONS.items()]
    bindings += [Binding((("osc", f"/vj/prompt/{i}/text"),), SPACE, 0, action=f"prompt.{i}.text", mode="trigger")
                 for i in range(1, MAX_PROMPTS + 1)]
    return MappingConfig(SPACE, "vj's OSC address space", tuple(bindings), files=(SPACE,))


def latest_wins(config: MappingConfig) -> frozenset[str]:
    """The OSC addresses where only the latest value matters: every binding listening to the
    address writes a parameter in value mode (an absolute value, not a step, toggle, trigger,
    momentary press, relative encoder or takeover), so a value superseded by a later one before
    it was applied would be overwritten anyway. The OSC server may drop such values (it counts
    them); anything bound to an action, or to a parameter in another mode, gets every message."""
    verdict: dict[str, bool] = {}
    for b in config.bindings:
        absolute = (b.param is not None and b.action is None and b.mode == "value" and b.encoder is None
                    and b.takeover == "jump")
        for source in b.sources:
            if source[0] == "osc" and isinstance(source[-1], str):
                verdict[source[-1]] = verdict.get(source[-1], True) and absolute
    return frozenset(address for address, ok in verdict.items() if ok)


def addresses(registry: Registry = REGISTRY) -> list[str]:
    return [str(b.source[1]) for b in address_space(registry).bindings]


_WIRE_TYPES = {"float": "f", "int": "i", "bool": "i 0/1, T/F", "enum": "s name, i index"}
_VALUE_ARGS = {"preset.select": ("i or s", "index from 0, or name"), "prompt.select": ("i", f"1..{MAX_PROMPTS}"),
               "beat.nudge": ("f", "ms (none: +10)")}


def address_rows(registry: Registry = REGISTRY) -> list[tuple[str, str, str, str]]:
    """(address, arguments, range, what it does) for every address vj listens to."""
    rows = []
    for b in address_space(registry).bindings:
        address = str(b.source[1])
        if b.param is not None and not b.native:
            spec = registry[b.param]
            rows.append((address, "f", f"0..1 -> {spec.range_text()}", f"`{b.param}` normalised (Resolume style)"))
        elif b.param is not None:
            spec = registry[b.param]
            rows.append((address, _WIRE_TYPES[spec.kind], spec.range_text(), spec.description))
        elif b.action in TEXT_ACTIONS:
            rows.append((address, "s", "text", TEXT_ACTIONS[b.action]))
        else:
            assert b.action is not None
            args, range_ = _VALUE_ARGS.get(b.action, ("none", ""))
            rows.append((address, args, range_, ACTIONS[b.action][0]))
    return rows
