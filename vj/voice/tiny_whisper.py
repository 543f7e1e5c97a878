"""A tiny random Whisper, built in-process: no download, under a MB, fast on a CPU.

It has the real architecture in miniature (80 mel bins, conv front end, an encoder-decoder with
cross-attention), the real feature extractor (with a 5 s window instead of 30 s) and a real byte-level
BPE tokenizer with Whisper's special tokens, so the whole dictation path (`Dictation.load` ->
`from_pretrained`, offline; feature extraction; `generate` with language and task; decoding) runs for
real in tests and CPU demos. `build_tiny_whisper` writes it with `save_pretrained`.

The weights are random but seeded: the same audio always gives the same text. Three edits make that
text usable as a prompt: generation may emit only whole words of a small image-prompt vocabulary
(bytes, word pieces and special tokens are suppressed); the conv front end and the cross-attention
are scaled up so the words depend on the audio rather than on the positional embeddings alone; and
end-of-text is pushed in after `MAX_WORDS` words (never before `MIN_WORDS`). The words are nonsense,
but they are real words, and there are always a few of them.
"""

from __future__ import annotations

from pathlib import Path

import torch

from vj.bpe import bytes_to_unicode

SEED = 1234
D_MODEL = 32
CHUNK_S = 5  # the feature extractor's window; the encoder takes 50 positions a second (100 frames, stride 2)
MIN_WORDS = 3
MAX_WORDS = 6
PROMPT_TOKENS = 4  # <|startoftranscript|> <|en|> <|transcribe|> <|notimestamps|>
MAX_POSITIONS = 128  # decoder positions: the prompt plus a transcript of up to 64 tokens and then some
FRONT_END_GAIN = 10.0  # conv weights: audio, not the positional embeddings, dominates the encoder output
CROSS_ATTENTION_GAIN = 10.0  # cross-attention value and output projections: the decoder listens
END_PUSH = 5.0  # added along the end-of-text direction to the positional embeddings after MAX_WORDS

# Plain words only (no "dream": what the tiny model says is already a prompt, prompt_from_speech keeps it).
WORDS = (
    "a", "an", "the", "of", "in", "on", "with", "under", "over", "and", "glass", "city", "neon",
    "ocean", "forest", "light", "crystal", "night", "fire", "gold", "storm", "garden", "mirror",
    "silver", "river", "sky", "cloud", "star", "moon", "tower", "temple", "desert", "rain", "smoke",
    "bloom", "spiral", "tunnel", "wave", "shadow", "ruby", "velvet", "ember", "frozen", "burning",
    "floating", "ancient", "electric", "liquid", "golden",
)
LANGUAGES = ("en", "de", "fr")  # a few language tokens, so `generate(language="en")` works as on real models
SPECIALS = (
    ["<|endoftext|>", "<|startoftranscript|>"]
    + [f"<|{code}|>" for code in LANGUAGES]
    + ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>"]
    + ["<|notimestamps|>"]
)


def vocabulary() -> tuple[dict[str, int], list[tuple[str, str]], list[int]]:
    """(vocab, merges, word ids): every byte, each word with a leading space ("Ġglass") built by merges
    from its left end, then Whisper's special tokens at the end as in the real vocabularies."""
    vocab = {ch: i for i, ch in enumerate(bytes_to_unicode().values())}
    merges: list[tuple[str, str]] = []
    words: list[int] = []
    space = bytes_to_unicode()[ord(" ")]
    for word in WORDS:
        piece = space
        for ch in word:
            if piece + ch not in vocab:
                merges.append((piece, ch))
                vocab[piece + ch] = len(vocab)
            piece += ch
        words.append(vocab[piece])
    for token in SPECIALS:
        vocab[token] = len(vocab)
    return vocab, merges, words


def tiny_whisper_processor():
    """A WhisperProcessor: the real feature extractor (80 mels, 16 kHz, 30 s) and the tiny tokenizer."""
    from transformers import AddedToken, WhisperFeatureExtractor, WhisperProcessor, WhisperTokenizer

    vocab, merges, _ = vocabulary()
    tokenizer = WhisperTokenizer(vocab=vocab, merges=merges)
    tokenizer.add_special_tokens(
        {"additional_special_tokens": [AddedToken(t, special=True, normalized=False) for t in SPECIALS[1:]]}
    )
    extractor = WhisperFeatureExtractor(
        feature_size=80, sampling_rate=16000, hop_length=160, chunk_length=CHUNK_S
    )
    return WhisperProcessor(feature_extractor=extractor, tokenizer=tokenizer)


def tiny_whisper_model():
    """A seeded random WhisperForConditionalGeneration whose generation config emits a few whole words."""
    from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration

    vocab, _, words = vocabulary()
    eot, sot = vocab["<|endoftext|>"], vocab["<|startoftranscript|>"]
    config = WhisperConfig(
        vocab_size=len(vocab), num_mel_bins=80, d_model=D_MODEL, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
        max_source_positions=CHUNK_S * 50, max_target_positions=MAX_POSITIONS, decoder_start_token_id=sot,
        pad_token_id=eot, bos_token_id=eot, eos_token_id=eot, begin_suppress_tokens=None,
    )
    torch.manual_seed(SEED)
    model = WhisperForConditionalGeneration(config).eval()
    end = torch.randn(D_MODEL)
    end /= end.norm()
    with torch.no_grad():
        encoder, decoder = model.model.encoder, model.model.decoder
        encoder.conv1.weight *= FRONT_END_GAIN
        encoder.conv2.weight *= FRONT_END_GAIN
        for layer in decoder.layers:
            layer.encoder_attn.v_proj.weight *= CROSS_ATTENTION_GAIN
            layer.encoder_attn.out_proj.weight *= CROSS_ATTENTION_GAIN
        # End-of-text is also the padding token, so its embedding (tied to the output projection)
        # starts at zero; give it a direction and push every position after MAX_WORDS words along it.
        decoder.embed_tokens.weight[eot] = end
        decoder.embed_positions.weight[PROMPT_TOKENS - 1 + MAX_WORDS :] += END_PUSH * end
    allowed = set(words) | {eot}
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot, bos_token_id=eot, eos_token_id=eot, pad_token_id=eot,
        min_length=PROMPT_TOKENS + MIN_WORDS, no_repeat_ngram_size=1,
        suppress_tokens=[i for i in range(len(vocab)) if i not in allowed], begin_suppress_tokens=[eot],
        no_timestamps_token_id=vocab["<|notimestamps|>"],
        lang_to_id={f"<|{code}|>": vocab[f"<|{code}|>"] for code in LANGUAGES},
        task_to_id={"translate": vocab["<|translate|>"], "transcribe": vocab["<|transcribe|>"]},
        is_multilingual=True,
    )
    return model


def build_tiny_whisper(folder: Path) -> Path:
    """Build the tiny Whisper and `save_pretrained` model and processor into `folder`; returns it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tiny_whisper_model().save_pretrained(folder, safe_serialization=True)
    tiny_whisper_processor().save_pretrained(folder)
    return folder
