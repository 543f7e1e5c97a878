"""OSC in mapping files: custom addresses (e.g. TouchDesigner's CHOP channel names) as sources.

    bindings:
      - {osc: /td/zoom, param: zoom}                 # the first argument, 0-1, through range/curve
      - {osc: /td/hue, param: hue, units: native}    # the argument in the parameter's own units
      - {osc: /td/flash, action: freeze}             # every message fires the action

The source key is ("osc", address). vj's own address space (/vj/param/<name> and the rest) is
generated from the parameter registry (vj.control.osc_space); a mapping adds to it.
"""

from __future__ import annotations

import re

from vj.config.source import Section, is_choice, is_str
from vj.vocabulary import SourceKey

UNITS = ("normalised", "native")
OSC_OPTIONS = ("units",)
_ADDRESS = re.compile(r"^(/[^\s/#*?,\[\]{}]+)+$")


def osc_source(sec: Section) -> tuple[SourceKey, ...] | None:
    address = sec.get("osc", is_str, "")
    if not _ADDRESS.match(address):
        sec.problem("osc", f"expected an OSC address such as /td/zoom (no spaces or wildcards), got {address!r}")
        return None
    return (("osc", address),)


def osc_binding_options(sec: Section) -> dict[str, object]:
    return {"native": sec.get("units", is_choice(*UNITS), "normalised") == "native"}
