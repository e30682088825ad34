"""Model checkpoints the harness runs: the tiny test checkpoint, or real-size random weights.

No weights can be downloaded here, and throughput depends only on geometry, so
the 0.5B/7B configs are built from the published shapes (Qwen2-0.5B / Qwen2-7B
text, SigLIP-so400m vision with the last of its 27 layers dropped, as LLaVA-OV
uses it) with random weights and saved in the real llava-hf format, so the
adapters load them through their normal ``from_pretrained`` path. Tokenizer and
processor come from the tiny builder: the processor's visual settings are the
real ones, and the tokenizer's ids (including ``<image>``/``<video>``) all lie
inside the real vocabulary size, so ids and embedding table stay consistent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CONFIGS = ("tiny", "0.5b", "7b")
BUILDER_VERSION = "1"


@dataclass(frozen=True)
class TextGeometry:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    tie_embeddings: bool


TEXT = {
    "0.5b": TextGeometry(896, 24, 14, 2, 4864, 151936, tie_embeddings=True),
    "7b": TextGeometry(3584, 28, 28, 4, 18944, 152064, tie_embeddings=False),
}
# SigLIP-so400m-patch14-384 as LLaVA-OV uses it: 26 of its 27 layers, no pooling head.
VISION = {
    "hidden_size": 1152,
    "intermediate_size": 4304,
    "num_hidden_layers": 26,
    "num_attention_heads": 16,
    "image_size": 384,
    "patch_size": 14,
    "vision_use_head": False,
}


def build_config(size: str, tokenizer, init_std: float = 0.02):
    from transformers import Qwen2Config, SiglipVisionConfig

    from ov_eval.demo.tiny_checkpoint import onevision_config

    if size not in TEXT:
        raise ValueError(f"unknown real-size config {size!r}; choose from {', '.join(TEXT)}")
    geo = TEXT[size]
    if len(tokenizer) > geo.vocab:
        raise ValueError(f"tokenizer has {len(tokenizer)} ids but the {size} vocabulary only {geo.vocab}")
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    text = Qwen2Config(
        vocab_size=geo.vocab,
        hidden_size=geo.hidden,
        intermediate_size=geo.intermediate,
        num_hidden_layers=geo.layers,
        num_attention_heads=geo.heads,
        num_key_value_heads=geo.kv_heads,
        max_position_embeddings=32768,
        tie_word_embeddings=geo.tie_embeddings,
        initializer_range=init_std,
        bos_token_id=None,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    vision = SiglipVisionConfig(**VISION, initializer_range=init_std)
    return onevision_config(tokenizer, vision, text, tie_word_embeddings=geo.tie_embeddings)


def parameter_counts(size: str) -> dict[str, int]:
    """Parameters per component, counted on the meta device (no memory, no init cost)."""
    import torch
    from transformers import LlavaOnevisionForConditionalGeneration

    from ov_eval.demo.tiny_checkpoint import build_tokenizer

    config = build_config(size, build_tokenizer())
    with torch.device("meta"):
        model = LlavaOnevisionForConditionalGeneration(config)
    return count_parameters(model)


def count_parameters(model) -> dict[str, int]:
    """Split by role, because FLOPs are counted per role: decoder layers see every prompt token,
    the LM head only the positions that are decoded, the vision tower every crop/frame."""
    inner = model.model
    lm = inner.language_model
    embed = lm.embed_tokens.weight.numel()
    layers = sum(p.numel() for name, p in lm.named_parameters() if not name.startswith("embed_tokens"))
    head = model.lm_head.weight
    tied = head.data_ptr() == lm.embed_tokens.weight.data_ptr() if head.device.type != "meta" else None
    if tied is None:
        tied = bool(getattr(model.config, "tie_word_embeddings", False))
    vision = inner.vision_tower
    position = sum(p.numel() for name, p in vision.named_parameters() if "position_embedding" in name)
    return {
        "llm_embedding": embed,
        "llm_layers": layers,  # decoder layers + final norm
        "lm_head": head.numel(),
        "llm_total": embed + layers + (0 if tied else head.numel()),
        "vision_matmul": sum(p.numel() for p in vision.parameters()) - position,
        "vision_total": sum(p.numel() for p in vision.parameters()),
        "projector": sum(p.numel() for p in inner.multi_modal_projector.parameters()),
    }


def build_random_checkpoint(
    size: str, out_dir: str | os.PathLike, device: str = "cpu", init_std: float = 0.02
) -> Path:
    """Random ``size`` weights in bfloat16, initialised on ``device`` (fast on a GPU), saved as llava-hf."""
    import torch
    from transformers import GenerationConfig, LlavaOnevisionForConditionalGeneration

    from ov_eval.demo.tiny_checkpoint import build_processor, build_tokenizer

    tokenizer = build_tokenizer()
    config = build_config(size, tokenizer, init_std)
    torch.manual_seed(0)
    with torch.device(device):
        model = LlavaOnevisionForConditionalGeneration._from_config(config, dtype=torch.bfloat16).eval()
    eos, pad = config.text_config.eos_token_id, config.text_config.pad_token_id
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad, do_sample=False)
    out = Path(out_dir)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    model.save_pretrained(tmp)
    build_processor(tokenizer).save_pretrained(tmp)
    (tmp / "README.md").write_text(
        f"RANDOM-weight LLaVA-OV {size} geometry (bench builder v{BUILDER_VERSION}, init_std={init_std}). "
        "For throughput measurement only: its answers are noise.\n"
    )
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()  # the variants load their own copies next; 7B is 16 GB
    tmp.rename(out)
    return out


def ensure_checkpoint(config: str, cache_dir: str | os.PathLike, device: str, init_std: float = 0.02) -> Path:
    """The checkpoint directory for ``config``; real-size ones are built once and cached."""
    from ov_eval.demo.tiny_checkpoint import ensure_tiny_checkpoint

    if config == "tiny":
        return ensure_tiny_checkpoint("ov")
    target = Path(cache_dir) / f"bench-llava-onevision-{config}-random-v{BUILDER_VERSION}-std{init_std}"
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    return build_random_checkpoint(config, target, device=device, init_std=init_std)
