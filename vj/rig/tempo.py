"""Tempo shared with the rest of the rig in a live show (`vj run --link --midi-clock-out PORT`): an
Ableton Link session (vj.rig.link) attached to the show's beat clock, and MIDI clock out
(vj.rig.midi_clock_out) following it. Either may be missing (no Link package, no MIDI system):
the show goes on, and `errors` says why for the HUD.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vj.clock import BeatClock
from vj.rig.link import LinkSession, LinkUnavailable
from vj.vocabulary import EventQueue

if TYPE_CHECKING:
    from vj.rig.midi_clock_out import MidiClockOut

log = logging.getLogger(__name__)


@dataclass
class TempoRig:
    link: LinkSession | None = None
    clock_out: MidiClockOut | None = None
    errors: dict[str, str] = field(default_factory=dict)  # where -> why it is not there

    def stop(self) -> None:
        for part in (self.clock_out, self.link):
            if part is not None:
                part.stop()


def start_tempo(clock: BeatClock, link: bool = False, clock_out: Sequence[str] = (),
                events: EventQueue | None = None) -> TempoRig:
    """Join a Link session (`link`) and send MIDI clock to the ports matching `clock_out`."""
    rig = TempoRig()
    if link:
        try:
            rig.link = LinkSession(clock.bpm).start()
        except LinkUnavailable as exc:
            log.warning("%s; the show goes on without Link", exc)
            rig.errors["link"] = f"{exc} (the show goes on without Link)"
        else:
            clock.attach_link(rig.link)
    if clock_out:
        from vj.rig.midi_clock_out import MidiClockOut

        rig.clock_out = MidiClockOut(clock_out, events).start()
        clock.followers.append(rig.clock_out)
    return rig
