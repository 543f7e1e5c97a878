"""What leaves the show each frame besides the picture, in one place: OSC out, the values
OSCQuery serves, MIDI LED feedback. (Video outputs, NDI/Syphon/Spout, will join them here.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vj.config.mapping import MappingConfig
from vj.control.feedback import Feedback
from vj.control.osc_out import OscOut
from vj.control.oscquery import OscQuery
from vj.show.links import MidiLink
from vj.vocabulary import ClockState

QUERY_PERIOD = 0.2  # seconds between the values OSCQuery serves


class Outputs:
    def __init__(self, midi: MidiLink | None = None, osc_out: OscOut | None = None,
                 oscquery: OscQuery | None = None) -> None:
        self.midi = midi
        self.osc_out = osc_out
        self.oscquery = oscquery
        self._next_query = 0.0
        self.set_mapping(MappingConfig(""))  # no LEDs until the show's mappings are compiled

    def set_mapping(self, mapping: MappingConfig) -> None:
        """The mappings changed: the LEDs they light, the controllers they greet."""
        self.mapping = mapping
        self.feedback = Feedback(mapping)

    def greet(self, device: str) -> None:
        """An output (re)connected: its init messages, then every LED again at the next frame
        (a controller back from a power cycle has its LEDs off and its modes reset)."""
        if self.midi is not None:
            for d in self.mapping.midi:
                for message in d.init if d.name == device else ():
                    self.midi.send(device, message)
        self.feedback.forget(device)

    def frame(self, time: float, values: Mapping[str, object], clock: ClockState, texts: Sequence[str],
              audio: Mapping[str, float]) -> None:
        """Once a display frame, after the parameters settled: `values` are their base values,
        `texts` the playing preset's prompts, `audio` the newest analysis."""
        if self.osc_out is not None:
            features = {f"audio/{name}": value for name, value in audio.items()}
            self.osc_out.frame(time, values, clock, texts, features)
        if self.oscquery is not None and time >= self._next_query:
            self._next_query = time + QUERY_PERIOD
            prompts = {f"prompt.{i}.text": text for i, text in enumerate(texts, 1)}
            self.oscquery.publish({**values, **prompts})
        if self.midi is not None and not self.feedback.empty:
            for device, data in self.feedback.messages(values, clock):
                self.midi.send(device, data)
