"""Tiny random LLaVA-OneVision checkpoints in the real Hugging Face format, built offline.

The hub is unreachable here, so tests and the demo build a checkpoint that is
small in width and depth but keeps the *real* visual geometry (SigLIP 384 px,
patch 14 -> 27x27 = 729 tokens per crop, 6x6 grid pinpoints, anyres_max_9,
2x2 video pooling to 196 tokens), the real special tokens, the OneVision chat
template and the llava-hf image/video processor settings. It is saved with
``save_pretrained`` and read back by exactly the loader that reads
``llava-hf/llava-onevision-qwen2-*-hf``; nothing in the adapter knows it is tiny.

Weights are random (``initializer_range=0.2`` so that greedy outputs differ
between prompts; with 0.02 every prompt decodes to the same token and equality
tests become vacuous). "si" and "ov" differ only by seed: they stand in for the
paper's two checkpoints in the demo and their scores mean nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

IMAGE_SIZE = 384
PATCH_SIZE = 14
GRID_PINPOINTS = [[h * IMAGE_SIZE, w * IMAGE_SIZE] for h in range(1, 7) for w in range(1, 7)]
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]  # Qwen2/OV order
SIGLIP_MEAN_STD = [0.5, 0.5, 0.5]
BUILDER_VERSION = "1"  # bump when the recipe changes: cached checkpoints are keyed on it
SEEDS = {"si": 1234, "ov": 4321}

# The llava-hf OneVision chat template (images, then videos, then text of each message).
CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'}}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\\n' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}{{ '<video>\\n' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] }}{% endfor %}"
    "{{'<|im_end|>\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
_QWEN2_SPLIT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
_CORPUS = [
    "What is shown in this image? Describe the video in detail. Compare the two pictures.",
    "The quick brown fox jumps over the lazy dog. A cat sits on a red mat near the window.",
    "You are a helpful assistant. Answer with the option's letter from the given choices directly.",
    "Answer the question using a single word or phrase. yes no A B C D E",
    "0 1 2 3 4 5 6 7 8 9 10 100 1000 , . ! ? : ; ( ) [ ] { } ' \" - _ / \\ \n\n",
]


def build_tokenizer(vocab_size: int = 1024):
    """A byte-level BPE tokenizer with Qwen2's pre-tokenizer and OV special tokens."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        trainers,
    )
    from transformers import Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN2_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(SPECIAL_TOKENS),
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    bpe.train_from_iterator(_CORPUS * 50, trainer)
    model_json = json.loads(bpe.to_str())["model"]
    vocab = model_json["vocab"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model_json["merges"]]
    for token in SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens={"image_token": "<image>", "video_token": "<video>"},
        padding_side="left",
    )
    tokenizer.add_tokens(
        [AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS], special_tokens=True
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_processor(tokenizer):
    """The processor with llava-hf's settings (mean/std 0.5, not the class defaults' CLIP values)."""
    from transformers import (
        LlavaOnevisionImageProcessor,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
    )

    size = {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    image_processor = LlavaOnevisionImageProcessor(
        size=size,
        image_grid_pinpoints=GRID_PINPOINTS,
        image_mean=SIGLIP_MEAN_STD,
        image_std=SIGLIP_MEAN_STD,
        resample=3,
        do_pad=True,
        do_convert_rgb=True,
    )
    video_processor = LlavaOnevisionVideoProcessor(
        size=size, image_mean=SIGLIP_MEAN_STD, image_std=SIGLIP_MEAN_STD, resample=3, do_sample_frames=False
    )
    return LlavaOnevisionProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
        num_image_tokens=(IMAGE_SIZE // PATCH_SIZE) ** 2,
        vision_feature_select_strategy="full",
        vision_aspect_ratio="anyres_max_9",
        image_token="<image>",
        video_token="<video>",
    )


def onevision_config(tokenizer, vision, text, tie_word_embeddings: bool):
    """A ``LlavaOnevisionConfig`` around ``vision``/``text`` with the released checkpoints' visual settings
    (all 729 SigLIP tokens from the last kept layer, AnyRes-Max-9 over the 6x6 grid); the bench's
    real-size models use it too."""
    from transformers import LlavaOnevisionConfig

    return LlavaOnevisionConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        vision_aspect_ratio="anyres_max_9",
        image_grid_pinpoints=GRID_PINPOINTS,
        tie_word_embeddings=tie_word_embeddings,
    )


def build_model(tokenizer, seed: int, init_std: float = 0.2):
    import torch
    from transformers import (
        GenerationConfig,
        LlavaOnevisionForConditionalGeneration,
        Qwen2Config,
        SiglipVisionConfig,
    )

    torch.manual_seed(seed)
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    vision = SiglipVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=IMAGE_SIZE,
        patch_size=PATCH_SIZE,
        vision_use_head=False,
        initializer_range=init_std,
    )
    text = Qwen2Config(
        vocab_size=((len(tokenizer) + 63) // 64) * 64,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        tie_word_embeddings=True,
        initializer_range=init_std,
        bos_token_id=None,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    config = onevision_config(tokenizer, vision, text, tie_word_embeddings=True)
    model = LlavaOnevisionForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad, do_sample=False)
    return model


def build_tiny_checkpoint(out_dir: str | os.PathLike, variant: str = "ov", seed: int | None = None) -> Path:
    """Write a tiny random LLaVA-OV checkpoint (model + processor + tokenizer) to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    processor = build_processor(tokenizer)
    model = build_model(tokenizer, seed=SEEDS[variant] if seed is None else seed)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "README.md").write_text(
        f"Tiny RANDOM LLaVA-OneVision checkpoint ('{variant}', builder v{BUILDER_VERSION}) made by ov_eval.demo.\n"
        "Its answers are noise: use it to exercise code paths, never to measure anything.\n"
    )
    return out


def default_cache_dir() -> Path:
    return Path(os.environ.get("OV_EVAL_CACHE", Path.home() / ".cache" / "ov_eval"))


def ensure_tiny_checkpoint(variant: str = "ov", cache_dir: str | os.PathLike | None = None) -> Path:
    """Return the cached tiny checkpoint for ``variant`` ("si" or "ov"), building it once.

    The directory name carries the builder version and seed, so a recipe change
    never silently reuses an old checkpoint.
    """
    if variant not in SEEDS:
        raise ValueError(f"unknown tiny checkpoint variant {variant!r}; choose one of {sorted(SEEDS)}")
    key = hashlib.sha1(f"{BUILDER_VERSION}:{variant}:{SEEDS[variant]}".encode()).hexdigest()[:10]
    target = Path(cache_dir or default_cache_dir()) / f"tiny-llava-onevision-{variant}-{key}"
    if (target / "model.safetensors").exists():
        return target
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    build_tiny_checkpoint(tmp, variant)
    try:
        tmp.rename(target)
    except OSError:  # another process won the race; theirs is identical
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return target
