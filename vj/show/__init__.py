"""The show: one display frame at a time (vj.show.show.Show), conducting small parts.

    links      ShowLinks (MIDI, OSC, audio, camera, voice, processes) and ShowOptions
    controls   the mappings: input events -> parameters and actions; MIDI learn
    actions    ACTION_TABLE: each declared action's handler
    prompts    PromptBook: the presets, the one playing, its prompts as played
    generator  GeneratorFeed: the newest request in, the newest frame out
    crossfade  Crossfader: the layers on screen and the fade between them
    outputs    Outputs: OSC out, OSCQuery, MIDI LEDs
    notices    Notices: errors until fixed, notices that expire
    hud_text   the HUD's text, pure functions of a HudStatus snapshot
"""

from vj.show.generator import WorkerFactory, default_worker, motion_rates, request_from
from vj.show.hud_text import HudStatus, gen_label, generator_lines, process_label
from vj.show.links import ShowLinks, ShowOptions
from vj.show.show import Show

__all__ = [
    "HudStatus",
    "Show",
    "ShowLinks",
    "ShowOptions",
    "WorkerFactory",
    "default_worker",
    "gen_label",
    "generator_lines",
    "motion_rates",
    "process_label",
    "request_from",
]
