"""``--model_args`` of ``llava_onevision``: parsing, validation and defaults in one place.

lmms-eval hands model_args over as loosely typed kwargs (``batch_size`` arrives as
the string "2", ``-1`` as the float -1.0, ``true`` as a bool), and the built-in
adapters ``assert kwargs == {}``, which tells a user nothing. Here every argument
is declared once, coerced to its type, checked, and an unknown name is answered
with the list of valid ones.

lmms-eval also passes its own ``--batch_size``/``--device``/``--max_batch_size`` as
extra keyword arguments next to the parsed model_args; the same name in both used to
fail with "got multiple values for keyword argument". ``merge_cli_config`` resolves
that: a value written in ``--model_args`` wins (it is the more specific one; the
CLI's ``--batch_size`` always has a value, its default 1).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DTYPES = ("auto", "bfloat16", "float16", "float32")
ATTN_IMPLEMENTATIONS = ("sdpa", "flash_attention_2", "eager")
VIDEO_BACKENDS = ("decord", "pyav")
# How the original driver (lmms-eval's built-in llava_onevision) behaves is the first choice of each;
# the README's model_args table says what the others cost and why someone would want them.
STOP_STRINGS = ("none", "task")  # none: ignore the task's `until` (the original pops it)
IMAGE_BACKENDS = ("pil", "torchvision")  # pil: the original's PIL bicubic resampling
LIKELIHOODS = ("mean", "sum")  # mean: the original's mean loss over continuation + "<|im_end|>\n"
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
    max_images: int | None = None  # no cap, as in the original driver; an int thins larger samples
    video_decode_backend: str = "decord"
    batch_size: int = 1
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT
    max_new_tokens: int = 1024
    stop_strings: str = "none"
    image_backend: str = "pil"
    likelihood: str = "mean"
    prefetch_batches: int = 2  # batches prepared ahead on a background thread; 0 = prepare inline
    # worker processes preparing batches; None (``auto``) = cores per rank on GPU, 0 on CPU
    preprocess_workers: int | None = None
    # each worker on its own share of the cores (``preprocess_pool.core_shares``)
    pin_preprocess_workers: bool = True
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
        _check_choice("stop_strings", self.stop_strings, STOP_STRINGS)
        _check_choice("image_backend", self.image_backend, IMAGE_BACKENDS)
        _check_choice("likelihood", self.likelihood, LIKELIHOODS)
        for name in ("max_frames_num", "max_images", "batch_size", "max_new_tokens"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"llava_onevision: {name} must be >= 1, got {getattr(self, name)}")
        if self.prefetch_batches < 0:
            raise ValueError(f"llava_onevision: prefetch_batches must be >= 0, got {self.prefetch_batches}")
        if looks_like_local_path(self.pretrained) and not Path(self.pretrained).expanduser().is_dir():
            raise ValueError(
                f"llava_onevision: pretrained={self.pretrained!r} is a local path but no such directory exists "
                "(a hub id looks like 'org/name')"
            )
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


def looks_like_local_path(pretrained: str) -> bool:
    """A filesystem path, not a hub id ('org/name' or 'name'): absolute, ~, ./, ../ or nested deeper."""
    return (
        pretrained.startswith(("/", "~", "./", "../", ".\\"))
        or pretrained.count("/") > 1
        or (os.sep != "/" and os.sep in pretrained)
    )


def merge_cli_config(model_args: dict[str, Any], cli_config: dict[str, Any] | None) -> dict[str, Any]:
    """Keyword arguments for the adapter from lmms-eval's parsed model_args and its CLI extras
    (``batch_size``, ``device``, ``max_batch_size``): model_args win; unset (None) extras are dropped."""
    extras = {k: v for k, v in (cli_config or {}).items() if v is not None}
    return {**extras, **model_args}


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"llava_onevision: {name}={value!r} is not one of {', '.join(choices)}")


def _coerce(name: str, value: Any, annotation: str) -> Any:
    """Turn lmms-eval's parsed value back into the declared type (annotations are strings here)."""
    if value is None or (name == "preprocess_workers" and str(value).lower() == "auto"):
        return None
    if annotation == "int | None" and str(value).lower() in ("none", "null"):
        return None  # e.g. max_images=none: explicitly no cap
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
    return text.lower() if name in ("stop_strings", "image_backend", "likelihood") else text
