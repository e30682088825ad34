"""``--model_args`` of ``llava_onevision``: parsing, validation and defaults in one place.

lmms-eval hands model_args over as loosely typed kwargs (``batch_size`` arrives as
the string "2", ``-1`` as the float -1.0, ``true`` as a bool), and the built-in
adapters ``assert kwargs == {}``, which tells a user nothing. Here every argument
is declared once, coerced to its type, checked, and an unknown name is answered
with the list of valid ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

DTYPES = ("auto", "bfloat16", "float16", "float32")
ATTN_IMPLEMENTATIONS = ("sdpa", "flash_attention_2", "eager")
VIDEO_BACKENDS = ("decord", "pyav")
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant."  # the original qwen_1_5 conversation template's system turn
)


@dataclass(frozen=True)
class AdapterArgs:
    """Every model_arg the adapter accepts; the docstring of each field is in the README table."""

    pretrained: str = "llava-hf/llava-onevision-qwen2-7b-ov-hf"
    revision: str = "main"
    dtype: str = "auto"
    device: str | None = None
    device_map: str | None = None
    attn_implementation: str = "sdpa"
    max_frames_num: int = 32
    max_images: int = 12
    video_decode_backend: str = "decord"
    batch_size: int = 1
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT
    max_new_tokens: int = 1024
    prefetch_batches: int = 2  # batches prepared ahead on a background thread; 0 = prepare inline
    # worker processes preparing batches; None (``auto``) = cores per rank on GPU, 0 on CPU
    preprocess_workers: int | None = None
    trust_remote_code: bool = False
    # accepted because the lmms-eval CLI injects it with --max_batch_size; we do not auto-size batches
    max_batch_size: int | None = field(default=None, repr=False)

    @classmethod
    def valid_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> AdapterArgs:
        unknown = sorted(set(kwargs) - set(cls.valid_names()))
        if unknown:
            raise ValueError(
                f"llava_onevision: unknown model_args {unknown}. Valid model_args: {', '.join(cls.valid_names())}"
            )
        coerced = {}
        for f in fields(cls):
            if f.name in kwargs:
                coerced[f.name] = _coerce(f.name, kwargs[f.name], f.type)
        args = cls(**coerced)
        args.validate()
        return args

    def validate(self) -> None:
        _check_choice("dtype", self.dtype, DTYPES)
        _check_choice("attn_implementation", self.attn_implementation, ATTN_IMPLEMENTATIONS)
        _check_choice("video_decode_backend", self.video_decode_backend, VIDEO_BACKENDS)
        for name in ("max_frames_num", "max_images", "batch_size", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"llava_onevision: {name} must be >= 1, got {getattr(self, name)}")
        if self.prefetch_batches < 0:
            raise ValueError(f"llava_onevision: prefetch_batches must be >= 0, got {self.prefetch_batches}")
        if self.preprocess_workers is not None and self.preprocess_workers < 0:
            raise ValueError(
                f"llava_onevision: preprocess_workers must be >= 0 or auto, got {self.preprocess_workers}"
            )
        if self.device_map not in (None, "", "auto") and not self.device_map.startswith(("cuda", "cpu")):
            raise ValueError(
                f"llava_onevision: device_map must be 'auto' or a device like 'cuda:0', got {self.device_map!r}"
            )

    def replace(self, **changes: Any) -> AdapterArgs:
        return dataclasses.replace(self, **changes)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"llava_onevision: {name}={value!r} is not one of {', '.join(choices)}")


def _coerce(name: str, value: Any, annotation: str) -> Any:
    """Turn lmms-eval's parsed value back into the declared type (annotations are strings here)."""
    if value is None or (name == "preprocess_workers" and str(value).lower() == "auto"):
        return None
    if "int" in annotation:
        if isinstance(value, bool):
            raise ValueError(f"llava_onevision: {name} must be an integer, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"llava_onevision: {name} must be an integer, got {value!r}") from None
        if number != int(number):
            raise ValueError(f"llava_onevision: {name} must be an integer, got {value!r}")
        return int(number)
    if annotation == "bool":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "1", "yes"):
            return True
        if str(value).lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"llava_onevision: {name} must be true/false, got {value!r}")
    text = str(value)
    if name == "system_prompt" and text.lower() in ("none", "null"):
        return None  # an explicit way to drop the system turn
    return text
