"""The prompt string, byte-for-byte as the original LLaVA-OV evaluation built it.

The paper's numbers come from lmms-eval's original ``llava_onevision`` driver with
the ``qwen_1_5`` conversation template, not from the llava-hf chat template, which
differs in three ways (docs/hf_port_vs_original.md, row 2):

* it has no system turn; the original always sends "You are a helpful assistant.";
* it hoists every image to the start of the turn with ``\\n`` after each, while the
  original prefixes ``"<image> <image>\\n"`` (space-separated) and leaves ``<image>``
  where an interleaved task put it;
* it concatenates several text parts without a separator.

So we build the ChatML string ourselves and let the processor only expand the
``<image>``/``<video>`` placeholders into feature tokens.
"""

from __future__ import annotations

import json
import re

from ov_eval.models.errors import SampleError

IMAGE_TOKEN = "<image>"
VIDEO_TOKEN = "<video>"
_IMAGE_RE = re.compile(re.escape(IMAGE_TOKEN))


def user_content(
    context: str, num_images: int, num_videos: int, dropped_images: list[int], where: str
) -> str:
    """The user turn: visual placeholders + the task's context.

    If the task already placed ``<image>`` markers (interleaved benchmarks), they stay
    where they are; markers of images removed by the ``max_images`` cap are deleted.
    Otherwise placeholders go first, in the original's format.
    """
    inline = len(_IMAGE_RE.findall(context))
    if inline:
        if dropped_images:
            context = _drop_markers(context, set(dropped_images))
            inline = len(_IMAGE_RE.findall(context))
        if inline != num_images:
            raise SampleError(
                where, f"context has {inline} <image> markers but the sample has {num_images} images"
            )
        placeholders = [VIDEO_TOKEN] * num_videos
    else:
        placeholders = [IMAGE_TOKEN] * num_images + [VIDEO_TOKEN] * num_videos
    prefix = " ".join(placeholders) + "\n" if placeholders else ""
    if not prefix and not context.strip():
        raise SampleError(where, "empty prompt and no visuals: nothing to answer")
    return prefix + context


def _drop_markers(context: str, dropped: set[int]) -> str:
    counter = iter(range(10**9))
    return _IMAGE_RE.sub(lambda m: "" if next(counter) in dropped else m.group(0), context)


def conversation_turns(user: str) -> list[str] | None:
    """A context that is a JSON list of ``{"value": ...}`` turns (user, assistant, ..., user) is a
    multi-turn conversation, as in the original driver (multi-view Interleave-Bench tasks use it)."""
    if not user.lstrip().startswith("["):
        return None
    try:
        parsed = json.loads(user)
    except json.JSONDecodeError:
        return None
    if not (isinstance(parsed, list) and len(parsed) % 2 == 1):
        return None
    if not all(isinstance(turn, dict) and "value" in turn for turn in parsed):
        return None
    return [str(turn["value"]) for turn in parsed]


def chatml_prompt(user: str, system_prompt: str | None, assistant_prefix: str = "") -> str:
    """``conv_qwen`` of LLaVA-NeXT: ``<|im_start|>role\\nmsg<|im_end|>\\n`` turns, open assistant turn."""
    parts = []
    if system_prompt:
        parts.append(f"<|im_start|>system\n{system_prompt}<|im_end|>\n")
    turns = conversation_turns(user) or [user]
    for i, message in enumerate(turns):
        role = "user" if i % 2 == 0 else "assistant"
        parts.append(f"<|im_start|>{role}\n{message}<|im_end|>\n")
    parts.append(f"<|im_start|>assistant\n{assistant_prefix}")
    return "".join(parts)


def validate_context(context: object, where: str) -> str:
    if not isinstance(context, str):
        raise SampleError(where, f"prompt is {type(context).__name__}, expected a string")
    try:
        context.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates: the tokenizer cannot take them either
        bad = ascii(context[exc.start : exc.end])
        raise SampleError(
            where, f"prompt holds text that cannot be encoded as UTF-8 ({bad} at position {exc.start})"
        ) from None
    return context
