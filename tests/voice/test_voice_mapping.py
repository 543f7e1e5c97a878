"""`voice:` sources in mapping files: by command name or by a phrase, and clear errors."""

from __future__ import annotations

import pytest

from vj.config.mapping import parse_mapping
from vj.config.source import ConfigError
from vj.paths import MAPPING_DIR
from vj.vocabulary import VOICE_COMMANDS


def test_a_command_binds_by_name_or_by_any_of_its_phrases(tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text("bindings:\n"
                    "  - {voice: zoom.in, param: zoom, mode: step, step: 0.1}\n"
                    "  - {voice: Closer, param: zoom, mode: step, step: 0.1}\n"
                    "  - {voice: next  preset, action: preset.next}\n")
    config = parse_mapping(path)
    assert [b.sources for b in config.bindings] == [(("voice", "zoom.in"),), (("voice", "zoom.in"),),
                                                    (("voice", "preset.next"),)]


def test_an_unknown_command_is_named_with_its_file_and_line(tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text("bindings:\n  - {key: A, action: flash}\n  - {voice: make coffee, action: flash}\n")
    with pytest.raises(ConfigError) as info:
        parse_mapping(path)
    text = str(info.value)
    assert f"{path}:3: bindings[1].voice: unknown voice command 'make coffee'" in text
    assert "zoom.in" in text and "lights.on" in text  # the valid ones are listed


def test_the_shipped_voice_mapping_binds_every_command():
    config = parse_mapping(MAPPING_DIR / "voice.yaml")
    bound = {k[1] for b in config.bindings for k in b.sources if k[0] == "voice"}
    assert bound == set(VOICE_COMMANDS)
    keys = {b.param for b in config.bindings if b.sources[0][0] == "key"}
    assert keys == {"voice.talk", "voice.dictate"}
