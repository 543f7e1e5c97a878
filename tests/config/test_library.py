import pytest

from vj.config.library import is_mapping_file, load_presets, resolve
from vj.paths import MAPPING_DIR, PRESET_DIR


def test_resolve_by_path_stem_name_or_number(tmp_path):
    own = tmp_path / "mine.yaml"
    own.write_text("name: mine\n")
    assert resolve(str(own), PRESET_DIR) == own
    tunnel = PRESET_DIR / "2-neon-tunnel.yaml"
    for name in ("2-neon-tunnel", "2-neon-tunnel.yaml", "neon-tunnel", "2"):
        assert resolve(name, PRESET_DIR).resolve() == tunnel.resolve()
    with pytest.raises(FileNotFoundError, match="no such file or shipped name: 'nope'.*1-endless-dreams"):
        resolve("nope", PRESET_DIR)
    with pytest.raises(FileNotFoundError):
        resolve(str(tmp_path / "missing.yaml"), PRESET_DIR)


def test_invalid_presets_are_skipped_and_reported(tmp_path):
    (tmp_path / "a.yaml").write_text("name: good\nprompts: [a test prompt]\n")
    (tmp_path / "b.yaml").write_text("name: bad\nparams: {zoom: 99}\nprompts: [a test prompt]\n")
    presets, errors = load_presets(tmp_path)
    assert [p.name for p in presets] == ["good"]
    assert len(errors) == 1 and "b.yaml:2: params.zoom" in str(errors[0])


def test_mapping_files_are_told_apart_from_presets(tmp_path):
    assert is_mapping_file(MAPPING_DIR / "default.yaml")
    assert not is_mapping_file(PRESET_DIR / "1-endless-dreams.yaml")
    loose = tmp_path / "keys.yaml"
    loose.write_text("bindings: []\n")
    assert is_mapping_file(loose)
