"""The surface's bindings, generated from the parameter registry and the action table the way
vj.control.osc_space generates OSC's: one native binding per parameter (the value in the
parameter's own units, as `/vj/param/<name>` takes it), one trigger per action the page offers
and one per prompt text.

Why bindings of its own rather than OSC's addresses: the page's controls *are* the registry's
parameters and the actions by name, so its table is the registry itself and cannot drift from it;
it works with OSC switched off (`--osc-port 0`); it reaches every action the page shows, the
freeze and blackout toggles included (OSC has those only as parameters); and its events say where
they came from (`("surface", ...)`) in the HUD's counts and the log. Either way there is one path:
a message from the page becomes a ControlEvent on the show's EventQueue, and the mapping engine on
the render thread applies it (clamping, smoothing, takeover bookkeeping, actions), exactly as for
MIDI and OSC. A mapping file may bind `surface` sources too, and override these.
"""

from __future__ import annotations

import time

from vj.config.mapping import Binding, MappingConfig
from vj.params import REGISTRY, Registry
from vj.vocabulary import ACTIONS, MAX_PROMPTS, TEXT_ACTIONS, ControlEvent, SourceKey

SPACE = "<vj control surface>"
# Not offered on the page: closing vj and MIDI learn (which needs the controller in hand).
HIDDEN_ACTIONS = frozenset({"quit", "learn"})
SURFACE_ACTIONS = tuple(name for name in ACTIONS if name not in HIDDEN_ACTIONS and name not in TEXT_ACTIONS)


def param_source(name: str) -> SourceKey:
    return ("surface", "param", name)


def action_source(name: str) -> SourceKey:
    return ("surface", "action", name)


def surface_space(registry: Registry = REGISTRY) -> MappingConfig:
    """The surface's bindings, as a mapping the show loads with the others."""
    bindings = [Binding((param_source(spec.name),), SPACE, 0, param=spec.name, native=True) for spec in registry]
    bindings += [Binding((action_source(name),), SPACE, 0, action=name, mode="trigger")
                 for name in SURFACE_ACTIONS + tuple(TEXT_ACTIONS)]
    return MappingConfig(SPACE, "vj's control surface", tuple(bindings), files=(SPACE,))


def set_event(param: str, value: float | int | bool | str) -> ControlEvent:
    """A parameter set to `value` in its own units (a switch as true/false, a choice by name)."""
    raw: int | float | str = int(value) if isinstance(value, bool) else value
    return ControlEvent(param_source(param), 0.0, None, raw, time.perf_counter(), one_shot=True)


def action_event(name: str, value: float | int | str | None = None) -> ControlEvent:
    """An action fired once (with its value, where it takes one)."""
    return ControlEvent(action_source(name), 1.0, True, value, time.perf_counter(), one_shot=True)


def prompt_event(index: int, text: str) -> ControlEvent:
    """Prompt `index` (1-based) rewritten, as OSC `/vj/prompt/<index>/text` does."""
    if not 1 <= index <= MAX_PROMPTS:
        raise ValueError(f"prompt index must be in 1..{MAX_PROMPTS}, got {index}")
    return action_event(f"prompt.{index}.text", text)
