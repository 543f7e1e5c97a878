"""Dictation: a tiny random Whisper saved with save_pretrained and loaded through the real offline path
(a folder, and a fake hub cache), espeak-ng speech transcribed at 22.05 and 16 kHz, transcripts turned
into prompts, the messages when a model is missing, and `vj models` knowing the Whisper names."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import huggingface_hub
import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from tests.support.hub import empty_offline_cache, register_in_cache
from vj import hub
from vj.hub import ModelDownloadError, ModelMissing
from vj.model_cli import cmd_models_download, cmd_models_list
from vj.voice.dictation import (
    MAX_PROMPT_CHARS,
    WHISPER_MODELS,
    Dictation,
    DictationUnavailable,
    download_whisper,
    prompt_from_speech,
    resolve_whisper,
    select_whisper_files,
    whisper_repo,
)
from vj.voice.tiny_whisper import WORDS, build_tiny_whisper, tiny_whisper_processor, vocabulary

SPOKEN = "dream of a glass city"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return build_tiny_whisper(tmp_path_factory.mktemp("whisper") / "tiny-whisper")


@pytest.fixture(scope="module")
def dictation(folder) -> Dictation:
    return Dictation.load(str(folder))


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> tuple[np.ndarray, int]:
    """espeak-ng saying SPOKEN, as it writes it: 22.05 kHz mono."""
    wav = tmp_path_factory.mktemp("speech") / "dream.wav"
    subprocess.run(["espeak-ng", "-v", "en-us+f2", "-s", "150", "-w", str(wav), SPOKEN], check=True)
    samples, rate = sf.read(wav, dtype="float32")
    return samples, rate


@pytest.fixture
def empty_cache(tmp_path, monkeypatch) -> Path:
    """Offline, with a Hugging Face home of this test's own that starts empty; returns the hub cache."""
    return empty_offline_cache(tmp_path / "hf", monkeypatch)


# --- transcription -------------------------------------------------------------------------------


def test_speech_at_22k_becomes_a_few_real_words_and_the_same_ones_every_time(dictation, speech):
    samples, rate = speech
    assert rate == 22050
    text = dictation.transcribe(samples, rate)
    assert text and text == text.strip()
    assert 3 <= len(text.split()) <= 6 and set(text.split()) <= set(WORDS)
    assert dictation.transcribe(samples, rate) == text
    assert prompt_from_speech(text) == text  # what the tiny model says is a prompt as it stands


def test_16k_input_is_heard_as_is_and_other_rates_are_resampled_to_it(dictation, speech):
    samples, rate = speech
    at_16k = resample_poly(samples, 320, 441).astype(np.float32)  # 22050 * 320 / 441 = 16000
    text = dictation.transcribe(at_16k, 16000)
    assert text and dictation.transcribe(at_16k) == text  # 16 kHz is the default rate
    assert dictation.transcribe(samples, rate) == text


def test_stereo_int16_and_empty_input(dictation, speech):
    samples, rate = speech
    text = dictation.transcribe(samples, rate)
    assert dictation.transcribe(np.stack([samples, samples], axis=1), rate) == text
    pcm = np.round(np.clip(samples, -1, 1) * 32767).astype(np.int16)
    assert set(dictation.transcribe(pcm, rate).split()) <= set(WORDS)
    assert dictation.transcribe(np.zeros(0, np.float32), rate) == ""
    with pytest.raises(ValueError, match="rate must be a positive"):
        dictation.transcribe(samples, 0)
    with pytest.raises(ValueError, match="mono"):
        dictation.transcribe(np.zeros((2, 2, 2), np.float32))


def test_different_speech_gives_different_words(dictation, speech, tmp_path):
    wav = tmp_path / "other.wav"
    subprocess.run(["espeak-ng", "-v", "en-us+f2", "-s", "150", "-w", str(wav), "hello everybody"], check=True)
    other, rate = sf.read(wav, dtype="float32")
    assert dictation.transcribe(other, rate) != dictation.transcribe(*speech)


def test_describe_names_model_and_device(dictation, folder):
    assert dictation.name == "tiny-whisper"
    assert dictation.describe() == "whisper tiny-whisper on cpu"
    assert Dictation.load(str(folder), device="cpu").describe() == "whisper tiny-whisper on cpu"
    with pytest.raises(DictationUnavailable, match="unknown device 'quantum'"):
        Dictation.load(str(folder), device="quantum")


def test_tiny_tokenizer_has_whole_words_and_whisper_special_tokens():
    tokenizer = tiny_whisper_processor().tokenizer
    vocab, _, _ = vocabulary()
    assert tokenizer.tokenize(" a glass city") == ["Ġa", "Ġglass", "Ġcity"]
    for token in ("<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"):
        assert tokenizer.convert_tokens_to_ids(token) == vocab[token]
    ids = tokenizer.convert_tokens_to_ids(["<|startoftranscript|>", "Ġglass", "Ġcity", "<|endoftext|>"])
    assert tokenizer.decode(ids, skip_special_tokens=True) == " glass city"


# --- names, the hub cache and missing models -----------------------------------------------------


def test_names_resolve_to_hub_ids_and_folders(folder):
    assert WHISPER_MODELS["tiny.en"] == "openai/whisper-tiny.en" and len(WHISPER_MODELS) == 6
    assert resolve_whisper("Tiny.EN").source == "openai/whisper-tiny.en"
    assert resolve_whisper("whisper-small").source == "openai/whisper-small"
    assert resolve_whisper("distil-whisper/distil-small.en").kind == "hub"
    assert resolve_whisper(str(folder)).kind == "folder"
    with pytest.raises(ValueError, match="unknown Whisper model 'bogus'.*tiny.en"):
        resolve_whisper("bogus")


def test_a_cached_hub_model_loads_by_its_short_name(folder, empty_cache, speech, dictation):
    register_in_cache(empty_cache, "openai/whisper-tiny.en", folder)
    cached = Dictation.load("tiny.en")
    assert cached.describe() == "whisper tiny.en on cpu"
    assert cached.transcribe(*speech) == dictation.transcribe(*speech)


def test_a_missing_model_says_what_to_do(empty_cache):
    with pytest.raises(DictationUnavailable) as caught:
        Dictation.load("tiny.en")
    message = str(caught.value)
    assert isinstance(caught.value, ModelMissing)  # the same family as the diffusion models' message
    assert message.startswith("model 'tiny.en': openai/whisper-tiny.en is not in the local Hugging Face cache")
    assert str(empty_cache) in message and "`vj models download tiny.en`" in message
    # "tiny" is also a diffusion model: the advice names the download that fetches Whisper
    with pytest.raises(DictationUnavailable, match="`vj models download whisper-tiny`"):
        Dictation.load("tiny")
    with pytest.raises(DictationUnavailable, match="`vj models download openai/whisper-small.en`"):
        Dictation.load("openai/whisper-small.en")
    with pytest.raises(DictationUnavailable, match="`hf download someone/speech`"):
        Dictation.load("someone/speech")


def test_incomplete_folders_and_snapshots_are_named(folder, tmp_path, empty_cache):
    no_weights = shutil.copytree(folder, tmp_path / "no-weights")
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(DictationUnavailable, match=r"no-weights has no weights \(model.safetensors"):
        Dictation.load(str(no_weights))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DictationUnavailable, match="empty has no config.json"):
        Dictation.load(str(tmp_path / "empty"))
    with pytest.raises(DictationUnavailable, match="folder .*/not-here does not exist"):
        Dictation.load(str(tmp_path / "not-here"))
    other = shutil.copytree(folder, tmp_path / "other")
    (other / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(DictationUnavailable, match="model_type 'bert', not 'whisper'"):
        Dictation.load(str(other))
    register_in_cache(empty_cache, "openai/whisper-base.en", no_weights)  # an interrupted download
    with pytest.raises(DictationUnavailable, match="has no weights.*`vj models download base.en`"):
        Dictation.load("base.en")


# --- transcript -> prompt ------------------------------------------------------------------------

LONG = "a slow zoom through " + "endless glass corridors " * 12


@pytest.mark.parametrize(
    ("heard", "prompt"),
    [
        ("Dream of a glass city.", "a glass city"),
        (" dream about   the ocean at night! ", "the ocean at night"),
        ("DREAM OF A NEON FOREST", "A NEON FOREST"),
        ("Dream, of a glass city...", "a glass city"),
        ("Dream about... a red moon?", "a red moon"),
        ("Dreaming of electric sheep", "electric sheep"),
        ("dreams of gold", "gold"),
        ("Dream a spiral tunnel", "a spiral tunnel"),
        ("Dream of Paris in the rain.", "Paris in the rain"),
        ("Dreamland castle", "Dreamland castle"),  # "dream" only as a word of its own
        ("A glass city.", "A glass city"),  # dictate key held: no lead-in
        ('"A glass city."', "A glass city"),
        ("- A glass city.", "A glass city"),
        ("a glass city [Music]", "a glass city"),
        ("Dream of the sea (wind blowing)", "the sea"),
        ("Dream of you.", "you"),  # after "dream of", any words count
        ("Dream of", None),
        ("Dream.", None),
        ("Dream of [BLANK_AUDIO]", None),
        ("[BLANK_AUDIO]", None),
        ("(silence)", None),
        ("*applause*", None),
        ("♪ ♪", None),
        (" Thank you.", None),  # Whisper's favourite words for silence
        ("Thanks for watching!", None),
        ("you", None),
        ("...", None),
        ("?!", None),
        ("", None),
        ("   ", None),
    ],
)
def test_prompt_from_speech(heard, prompt):
    assert prompt_from_speech(heard) == prompt


def test_long_prompts_are_cut_at_a_word():
    prompt = prompt_from_speech("Dream of " + LONG)
    assert prompt is not None and len(prompt) <= MAX_PROMPT_CHARS
    assert LONG.startswith(prompt) and LONG[len(prompt)] == " "  # whole words only
    one_word = prompt_from_speech("x" * 500)
    assert one_word == "x" * MAX_PROMPT_CHARS


# --- vj models list / download -------------------------------------------------------------------


def test_models_download_knows_whisper_names(empty_cache, monkeypatch):
    assert whisper_repo("tiny.en") == "openai/whisper-tiny.en"
    assert whisper_repo("whisper-tiny") == "openai/whisper-tiny"
    assert whisper_repo("tiny") is None  # the built-in diffusion model keeps its name
    out, err = io.StringIO(), io.StringIO()
    assert cmd_models_download("tiny.en", out=out, err=err) == 1
    assert "offline mode" in err.getvalue() and "openai/whisper-tiny.en" in err.getvalue()
    assert cmd_models_download("tiny", out=out, err=err) == 0 and "built in" in out.getvalue()

    files = [
        ".gitattributes", "README.md", "added_tokens.json", "config.json", "flax_model.msgpack",
        "generation_config.json", "merges.txt", "model.safetensors", "normalizer.json",
        "preprocessor_config.json", "pytorch_model.bin", "special_tokens_map.json", "tf_model.h5",
        "tokenizer.json", "tokenizer_config.json", "vocab.json", "ggml/ggml-tiny.en.bin",
    ]
    allow = select_whisper_files(files)
    assert "model.safetensors" in allow and "tokenizer.json" in allow and "preprocessor_config.json" in allow
    assert not {"pytorch_model.bin", "flax_model.msgpack", "tf_model.h5", "ggml/ggml-tiny.en.bin"} & set(allow)
    assert "pytorch_model.bin" in select_whisper_files([f for f in files if f != "model.safetensors"])

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(hub, "_list_repo_files", lambda repo: files)
    calls = []

    def fake_snapshot_download(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        return str(empty_cache / repo_id)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    assert download_whisper("small.en") == empty_cache / "openai/whisper-small.en"
    assert calls == [("openai/whisper-small.en", {"allow_patterns": allow, "cache_dir": empty_cache})]
    out = io.StringIO()
    assert cmd_models_download("whisper-tiny", out=out, err=err) == 0
    assert calls[-1][0] == "openai/whisper-tiny" and "downloaded to" in out.getvalue()

    def unreachable(repo):
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(hub, "_list_repo_files", unreachable)
    with pytest.raises(ModelDownloadError, match="cannot download openai/whisper-base .*ConnectionError"):
        download_whisper("base")


def test_models_list_shows_whisper_models(folder, empty_cache):
    register_in_cache(empty_cache, "openai/whisper-tiny.en", folder)
    out = io.StringIO()
    assert cmd_models_list(out=out) == 0
    rows = {line.split()[0]: line.split() for line in out.getvalue().splitlines()[1:] if line.strip()}
    assert rows["tiny.en"][1:3] == ["whisper", "yes"] and rows["tiny.en"][-1] == "openai/whisper-tiny.en"
    assert rows["whisper-tiny"][1:3] == ["whisper", "no"]
    assert rows["tiny"][2] == "built-in"  # the diffusion model of that name is still there
