"""Dictation: speech -> text with a Whisper model (transformers), offline, and text -> a prompt.

An utterance that starts with "dream of ..." (or one spoken while the dictate key is held) goes to
`Dictation.transcribe`; `prompt_from_speech` turns the transcript into a prompt for the show.

Like the diffusion models, Whisper loads from the local Hugging Face cache or a local folder only
(`vj models download tiny.en` fills the cache beforehand). What cannot be loaded raises
`DictationUnavailable` (a `ModelMissing`), whose message says what is missing and what to do; callers
catch it and go on without dictation. A malformed name raises ValueError (check it with
`resolve_whisper` when the config is read).

Names: a short name of `WHISPER_MODELS` ("tiny.en"; "whisper-tiny.en" works too, and is how
`vj models download` takes "tiny", which is also a diffusion model), a hub id ("openai/whisper-small.en",
"distil-whisper/distil-small.en") or a folder written by `save_pretrained` (model and processor).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from vj.catalogue import CATALOGUE
from vj.hub import (
    HUB_ID,
    ModelMissing,
    cached_snapshot,
    fetch_advice,
    fetch_repo,
    hub_cache_dir,
    not_cached,
    repo_sizes,
    require_online,
)
from vj.voice.commands import SAMPLE_RATE, resample_to_16k

log = logging.getLogger(__name__)

WHISPER_MODELS: dict[str, str] = {
    name: f"openai/whisper-{name}" for name in ("tiny.en", "base.en", "small.en", "tiny", "base", "small")
}
DEFAULT_WHISPER = "tiny.en"
ALIAS_PREFIX = "whisper-"  # "whisper-tiny" = "tiny": the CLI needs it where a diffusion model has the name
MAX_NEW_TOKENS = 64  # a spoken prompt is a sentence; a confused model must not decode for seconds
MAX_PROMPT_CHARS = 200
WEIGHT_FILES = (
    "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json",
)
_WEIGHTS = re.compile(r"^model(-\d{5}-of-\d{5})?\.safetensors$")
_BIN_WEIGHTS = re.compile(r"^pytorch_model(-\d{5}-of-\d{5})?\.bin$")


class DictationUnavailable(ModelMissing):
    """Whisper cannot be loaded here (weights not cached, an incomplete folder, no such device)."""


@dataclass(frozen=True)
class WhisperSpec:
    """What to load: `name` as the user wrote it (short names lower-cased), `source` a hub id or folder."""

    name: str
    source: str
    kind: Literal["hub", "folder"]


# --- names ---------------------------------------------------------------------------------------


def _short_name(text: str) -> str | None:
    key = text.strip().lower()
    if key.startswith(ALIAS_PREFIX) and key[len(ALIAS_PREFIX):] in WHISPER_MODELS:
        key = key[len(ALIAS_PREFIX):]
    return key if key in WHISPER_MODELS else None


def _known() -> str:
    return ", ".join(WHISPER_MODELS)


def resolve_whisper(name_or_path: str) -> WhisperSpec:
    """A short name, a local folder or a hub id -> WhisperSpec. ValueError for anything else.

    A folder that does not exist (yet) is resolved as a folder; loading it raises DictationUnavailable.
    """
    text = (name_or_path or "").strip()
    if not text:
        raise ValueError(f"empty Whisper model name: use one of {_known()}, a hub id or a local folder")
    short = _short_name(text)
    if short is not None:
        return WhisperSpec(short, WHISPER_MODELS[short], "hub")
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"{text} is a file: a Whisper model is a folder written by save_pretrained")
    if path.is_dir() or text.startswith(("/", "./", "../", "~", "\\")) or (
        "/" in text and not HUB_ID.match(text)
    ):
        return WhisperSpec(path.name or text, str(path), "folder")
    if HUB_ID.match(text):
        return WhisperSpec(text, text, "hub")
    raise ValueError(
        f"unknown Whisper model {text!r}: use one of {_known()}, a hub id (owner/name) "
        "or a folder written by save_pretrained"
    )


def whisper_repo(name: str) -> str | None:
    """The hub repo `vj models download NAME` fetches as a Whisper model, or None when NAME is not one.

    Short names, except those the diffusion catalogue owns ("tiny": use "whisper-tiny"), and hub ids
    with "whisper" in them.
    """
    text = name.strip()
    key = text.lower()
    short = _short_name(text)
    if short is not None and (key.startswith(ALIAS_PREFIX) or key not in CATALOGUE):
        return WHISPER_MODELS[short]
    if HUB_ID.match(text) and "whisper" in key:
        return text
    return None


def download_name(spec: WhisperSpec) -> str | None:
    """The NAME in `vj models download NAME` that fetches `spec`, or None when that command cannot."""
    if spec.kind != "hub":
        return None
    for candidate in (spec.name, ALIAS_PREFIX + spec.name, spec.source):
        if whisper_repo(candidate) == spec.source:
            return candidate
    return None


def download_names() -> list[str]:
    """The NAMEs `vj models download` takes for the short names: "tiny.en", ..., "whisper-tiny", ..."""
    return [download_name(WhisperSpec(short, repo, "hub")) or repo for short, repo in WHISPER_MODELS.items()]


def _instructions(spec: WhisperSpec) -> str:
    name = download_name(spec)
    command = f"vj models download {name}" if name else f"hf download {spec.source}"
    return fetch_advice(command, "use a local Whisper folder (written by save_pretrained) instead of the name")


# --- loading -------------------------------------------------------------------------------------


def _weights_in(folder: Path) -> list[str]:
    return [name for name in WEIGHT_FILES if (folder / name).is_file()]


def _check_folder(spec: WhisperSpec, folder: Path) -> None:
    """DictationUnavailable unless `folder` holds a Whisper config, weights and a feature extractor."""
    advice = " " + _instructions(spec) if spec.kind == "hub" else ""
    where = f"model {spec.name!r}: {folder}"
    try:
        config: dict[str, Any] = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DictationUnavailable(
            f"{where} has no config.json: not a model folder written by save_pretrained." + advice
        ) from None
    except (OSError, ValueError) as exc:
        raise DictationUnavailable(f"{where}: cannot read config.json ({exc})." + advice) from exc
    if config.get("model_type") != "whisper":
        kind = config.get("model_type")
        raise DictationUnavailable(f"{where}: config.json says model_type {kind!r}, not 'whisper'")
    if not _weights_in(folder):
        raise DictationUnavailable(
            f"{where} has no weights (model.safetensors or pytorch_model.bin): "
            "an incomplete download or save?" + advice
        )
    if not any((folder / name).is_file() for name in ("preprocessor_config.json", "processor_config.json")):
        raise DictationUnavailable(
            f"{where} has no preprocessor_config.json: save the WhisperProcessor next to the model." + advice
        )


def _folder(spec: WhisperSpec) -> Path:
    if spec.kind == "hub":
        snapshot = cached_snapshot(spec.source)
        if snapshot is None:
            raise DictationUnavailable(not_cached(spec.name, spec.source, _instructions(spec)))
        return snapshot
    folder = Path(spec.source)
    if not folder.is_dir():
        raise DictationUnavailable(f"model {spec.name!r}: folder {folder} does not exist")
    return folder


def _device(device: str) -> torch.device:
    """auto: cuda if available, else the CPU. DictationUnavailable for a device that is not here."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise DictationUnavailable(f"unknown device {device!r}: {exc}") from exc
    mps = getattr(torch.backends, "mps", None)
    if (dev.type == "cuda" and not torch.cuda.is_available()) or (
        dev.type == "mps" and not (mps is not None and mps.is_available())
    ):
        raise DictationUnavailable(f"device {device!r} requested but {dev.type.upper()} is not available here")
    return dev


class Dictation:
    """A loaded Whisper model and its processor: `transcribe` turns 16 kHz speech into English text.

    Not thread-safe: build it and call `transcribe` from one worker thread (the dictation worker).
    A call takes a fraction of a second to seconds (model size, device), so never on the render thread.
    """

    def __init__(
        self, name: str, model: Any, processor: Any, device: torch.device, dtype: torch.dtype
    ) -> None:
        self.name = name
        self.device = device
        self.dtype = dtype
        self._model = model
        self._processor = processor
        config = model.generation_config
        # English-only checkpoints (*.en) refuse `language`; multilingual ones would detect it.
        multilingual = getattr(config, "is_multilingual", hasattr(config, "lang_to_id"))
        self._language: dict[str, str] = {"language": "en", "task": "transcribe"} if multilingual else {}
        self.window_s = float(processor.feature_extractor.chunk_length)  # audio beyond this is not heard

    @classmethod
    def load(cls, name_or_path: str, device: str = "auto") -> Dictation:
        """Load offline (local cache or folder only) on `device` ("auto": cuda if available, else cpu).

        float16 on CUDA, float32 elsewhere. Raises DictationUnavailable (what is missing and what to
        do), or ValueError for a malformed name.
        """
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        spec = resolve_whisper(name_or_path)
        dev = _device(device)
        dtype = torch.float16 if dev.type == "cuda" else torch.float32
        folder = _folder(spec)
        _check_folder(spec, folder)
        try:
            model: Any = WhisperForConditionalGeneration.from_pretrained(
                folder, local_files_only=True, dtype=dtype
            )
            processor = WhisperProcessor.from_pretrained(folder, local_files_only=True)
        except Exception as exc:  # a truncated file, a processor missing its tokenizer, a foreign format
            raise DictationUnavailable(
                f"model {spec.name!r}: cannot load {folder}: {type(exc).__name__}: {exc}"
            ) from exc
        model.to(dev).eval()
        log.info("dictation: whisper %s on %s (%s)", spec.name, dev, folder)
        return cls(spec.name, model, processor, dev, dtype)

    def describe(self) -> str:
        """For the HUD: "whisper tiny.en on cpu"."""
        half = " float16" if self.dtype == torch.float16 else ""
        return f"whisper {self.name} on {self.device.type}{half}"

    def transcribe(self, samples: np.ndarray, rate: int = SAMPLE_RATE) -> str:
        """Mono float32 speech at `rate` Hz -> stripped English text ("" for no audio).

        Resampled to 16 kHz; only the model's window (30 s for the real models) is heard. No
        timestamps; at most MAX_NEW_TOKENS tokens.
        """
        if rate <= 0:
            raise ValueError(f"rate must be a positive sample rate in Hz, not {rate}")
        x = np.asarray(samples)
        if x.ndim not in (1, 2):
            raise ValueError(f"samples must be mono (n,) or (n, channels), not shape {x.shape}")
        if np.issubdtype(x.dtype, np.integer):
            x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
        audio = resample_to_16k(x, rate)
        if audio.size == 0:
            return ""
        features = self._processor.feature_extractor(
            audio, sampling_rate=SAMPLE_RATE, return_tensors="pt"
        ).input_features.to(self.device, self.dtype)
        with torch.inference_mode():
            # Whisper's generate() counts max_length after the prompt tokens (and caps it at the decoder's
            # positions); max_new_tokens would do the same but warn on every call next to the
            # checkpoint's own max_length.
            ids = self._model.generate(
                features, max_length=MAX_NEW_TOKENS, return_timestamps=False, **self._language
            )
        return str(self._processor.batch_decode(ids, skip_special_tokens=True)[0]).strip()


# --- transcript -> prompt ------------------------------------------------------------------------

# Whisper writes what is not speech in brackets or parentheses ("[BLANK_AUDIO]", "(upbeat music)"),
# between asterisks ("*applause*") or as notes ("♪").
_NON_SPEECH = re.compile(r"\[[^\]]*\]?|\([^)]*\)?|\*[^*]*\*|[♪♫]+")
_DREAM = re.compile(r"^(?:dream(?:s|ed|t|ing)?)\b[\s,.:;!?…-]*(?:(?:of|about)\b)?", re.IGNORECASE)
_EDGE = " \t\r\n.,;:!?…-–—\"'“”‘’«»"
# What Whisper "hears" in silence and noise: dropped when it is the whole transcript,
# unless "dream" came first.
SILENCE_PHRASES = frozenset({
    "you", "thank you", "thanks", "thank you very much", "thank you so much", "thanks for watching",
    "thank you for watching", "thank you so much for watching", "bye", "bye bye", "okay", "so",
    "subtitles by the amara org community",
})


def _words_key(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _tidy(text: str) -> str:
    return " ".join(text.split()).strip(_EDGE)


def prompt_from_speech(text: str | None) -> str | None:
    """A transcript -> a prompt, or None when nothing usable was said.

    "Dream of a glass city." -> "a glass city": a leading "dream" / "dream of" / "dream about" goes
    (any case, with Whisper's punctuation), and so do non-speech tags ("[BLANK_AUDIO]", "(music)"),
    edge punctuation and quotes, and repeated whitespace. A transcript that is only one of Whisper's
    silence phrases ("Thank you.") gives None; after "dream of" any words count. At most
    MAX_PROMPT_CHARS characters, cut at a word boundary.
    """
    if not text:
        return None
    prompt = _tidy(_NON_SPEECH.sub(" ", text))
    dream = _DREAM.match(prompt)
    if dream:
        prompt = _tidy(prompt[dream.end():])
    elif _words_key(prompt) in SILENCE_PHRASES:
        return None
    if not any(ch.isalnum() for ch in prompt):
        return None
    if len(prompt) > MAX_PROMPT_CHARS:
        cut = prompt[: MAX_PROMPT_CHARS + 1].rsplit(" ", 1)[0]
        prompt = _tidy(cut if 0 < len(cut) <= MAX_PROMPT_CHARS else prompt[:MAX_PROMPT_CHARS])
    return prompt or None


# --- listing and downloading (`vj models list` / `vj models download`) --------------------------


@dataclass(frozen=True)
class WhisperInfo:
    """A row of `vj models list`, shaped like the diffusion models' vj.gen.models.ModelInfo."""

    name: str  # what `vj models download` takes
    source: str
    cached: bool
    size_bytes: int | None
    description: str
    family: str = "whisper"
    missing: tuple[str, ...] = ()


def _complete(folder: Path | None) -> bool:
    return folder is not None and (folder / "config.json").is_file() and bool(_weights_in(folder))


def list_whisper() -> list[WhisperInfo]:
    """The Whisper short names, each with whether it is cached (loadable offline) and its size there."""
    cache = hub_cache_dir()
    sizes = repo_sizes(cache)
    infos = []
    for name, (short, repo) in zip(download_names(), WHISPER_MODELS.items(), strict=True):
        cached = _complete(cached_snapshot(repo, cache))
        language = "English" if short.endswith(".en") else "multilingual"
        infos.append(WhisperInfo(
            name, repo, cached, sizes.get(repo), f"dictation: Whisper {short.split('.')[0]}, {language}",
            missing=() if cached else (repo,),
        ))
    return infos


def select_whisper_files(files: list[str]) -> list[str]:
    """The files of a Whisper repo vj needs: the root's configs and tokenizer files (.json, .txt) and
    one set of PyTorch weights (safetensors, else .bin); no Flax, TensorFlow, ONNX or ggml files."""
    root = [f for f in files if "/" not in f]
    weights = [f for f in root if _WEIGHTS.match(f)] or [f for f in root if _BIN_WEIGHTS.match(f)]
    if not weights:
        return []
    return sorted([f for f in root if f.endswith((".json", ".txt"))] + weights)


def download_whisper(name: str) -> Path:
    """Fetch a Whisper model into the local cache (progress bars); returns its snapshot folder.

    ValueError when `name` is not a Whisper name (see `whisper_repo`); ModelDownloadError when offline
    or the hub fails.
    """
    repo = whisper_repo(name)
    if repo is None:
        raise ValueError(f"{name!r} is not a Whisper model: use one of {_known()} or a whisper hub id")
    require_online(name, repo, "copy a Whisper folder (written by save_pretrained) here and use its path")
    return fetch_repo(repo, name, select_whisper_files, "PyTorch Whisper weights and configs")
