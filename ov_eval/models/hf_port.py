"""Load the Hugging Face port of LLaVA-OV and align it with the original where they differ.

Loads ``LlavaOnevisionForConditionalGeneration`` + processor from a hub id
(``llava-hf/llava-onevision-qwen2-{0.5b,7b,72b}-{si,ov}-hf``) or a local directory
in that format: one code path for both.

Where the port differs from the original LLaVA-NeXT code that produced the
paper's numbers, we follow the original (docs/hf_port_vs_original.md has the facts):

* Multi-image samples: the paper (§3.2) and the original driver give every image
  of a multi-image sample 729 tokens at base resolution. The port appends one
  ``image_newline`` per such image (730). ``PaperLayoutProcessor`` emits 729
  placeholders and ``drop_multi_image_newline`` removes the extra embedding, so
  processor and model agree. Single images (always >= 2 patches: base + grid) and
  videos (196/frame + one newline, as in the original ``one_token`` layout) are
  identical in both and left alone.
* Single image, AnyRes-Max-9 (crops, unpad, bilinear reduction when the grid
  exceeds 9 crops by more than 10%, per-row newline, base first) and video
  pooling (27x27 -> 14x14 bilinear after the projector) are the same code in
  both; nothing to change.
* Resampling: the original resizes with PIL (bicubic on uint8); the port's default
  processors use torchvision, 1-7 grey levels off. ``image_backend=pil`` loads the
  port's PIL image processor (pixels identical to the original) and resizes video
  frames to 384x384 with PIL before the (torchvision-only) video processor, whose
  own resize is then the identity.
* Vocabulary: the original shrinks the embeddings to ``len(tokenizer)`` on load
  (``<image>`` is not a token there, only the index -200), so it cannot emit or
  assign probability to anything else; the port keeps padded rows and two
  placeholder rows. ``vocabulary_mask`` lists those ids; generation suppresses them
  and likelihoods are normalised without them.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers import (
    AutoImageProcessor,
    LlavaOnevisionForConditionalGeneration,
    LlavaOnevisionProcessor,
)

from ov_eval.models.model_args import AdapterArgs


def _is_multi_image(batch_num_images, image_idx: int) -> bool:
    seen = 0
    for count in batch_num_images:
        if image_idx < seen + count:
            return int(count) > 1
        seen += int(count)
    return False


class PaperLayoutProcessor(LlavaOnevisionProcessor):
    """The llava-hf processor, with the original's 729 tokens per image in multi-image samples."""

    def replace_image_token(self, image_inputs: dict, image_idx: int, **kwargs: Any) -> str:
        text = super().replace_image_token(image_inputs, image_idx, **kwargs)
        if _is_multi_image(image_inputs["batch_num_images"], image_idx):
            return text[: -len(self.image_token)]  # no image_newline for multi-image samples
        return text


def drop_multi_image_newline(model: LlavaOnevisionForConditionalGeneration) -> None:
    """Make the model pack multi-image features without the trailing ``image_newline``.

    ``pack_image_features`` sees one tensor per image; a 1-patch tensor only occurs
    for images of multi-image samples (a single image always has base + >= 1 crop),
    so that is exactly the case where the port's extra newline is removed.
    """
    inner = model.model
    original = type(inner).pack_image_features

    def pack_image_features(
        self, image_features, image_sizes, image_newline=None, vision_aspect_ratio="anyres_max_9"
    ):
        single_patch = [feature.shape[0] == 1 for feature in image_features]
        packed, _ = original(self, image_features, image_sizes, image_newline, vision_aspect_ratio)
        if image_newline is not None:
            packed = [feat[:-1] if one else feat for feat, one in zip(packed, single_patch, strict=True)]
        lengths = torch.tensor([f.shape[0] for f in packed], dtype=torch.long, device=packed[0].device)
        return packed, lengths

    inner.pack_image_features = types.MethodType(pack_image_features, inner)


def resolve_dtype(name: str, device: str) -> torch.dtype | str:
    """``auto``: the checkpoint's own dtype on GPU (llava-hf ships fp16, the original's inference
    dtype), float32 on CPU where half precision is slow and partly unsupported."""
    if name == "auto":
        return "auto" if device.startswith("cuda") else torch.float32
    return getattr(torch, name)


def load_processor(args: AdapterArgs) -> PaperLayoutProcessor:
    """The checkpoint's processor; with ``image_backend=pil`` its image half is the port's PIL class.

    Only the image processor is swapped: ``backend="pil"`` on the whole processor
    fails because the video processor exists for torchvision only (frames are
    pre-resized with PIL instead, see ``resize_frames_like_original``).
    """
    kwargs: dict[str, Any] = {"revision": args.revision, "trust_remote_code": args.trust_remote_code}
    if args.image_backend == "pil":
        kwargs["image_processor"] = AutoImageProcessor.from_pretrained(
            args.pretrained, backend="pil", **kwargs
        )
    processor = PaperLayoutProcessor.from_pretrained(args.pretrained, **kwargs)
    processor.tokenizer.padding_side = "left"  # batched generation
    check_processor(processor, args.pretrained)
    return processor


def check_processor(processor: LlavaOnevisionProcessor, where: str) -> None:
    """Refuse settings that silently change every score (e.g. a processor built without the
    checkpoint's config falls back to CLIP mean/std instead of SigLIP's 0.5)."""
    problems = []
    if list(processor.image_processor.image_mean) != [0.5, 0.5, 0.5]:
        problems.append(f"image_mean={processor.image_processor.image_mean} (expected 0.5)")
    if processor.num_image_tokens != 729:
        problems.append(f"num_image_tokens={processor.num_image_tokens} (expected 729)")
    if processor.vision_feature_select_strategy != "full":
        problems.append(
            f"vision_feature_select_strategy={processor.vision_feature_select_strategy!r} (expected 'full')"
        )
    if problems:
        raise ValueError(
            f"{where}: processor does not match LLaVA-OneVision's settings: {'; '.join(problems)}"
        )


def concatenated_crops(per_image: Sequence[Any]) -> np.ndarray:
    """The crops of every image of a batch as one ``(total crops, 3, H, W)`` array.

    This is the unpadded layout ``get_image_features`` also accepts (its input after it has cut
    the padding away), built from the processor's ``do_pad=False`` output: one
    ``(crops of that image, 3, H, W)`` array (or CPU tensor) per image.
    """
    return np.concatenate([np.asarray(crops) for crops in per_image], axis=0)


def resize_frames_like_original(frames: np.ndarray, size: dict[str, int]) -> np.ndarray:
    """Squash every frame to the processor's size with PIL bicubic on uint8, as the original's
    SigLIP image processor does for video frames. (F, H, W, 3) uint8 -> (F, h, w, 3) uint8."""
    height, width = size["height"], size["width"]
    if frames.shape[1:3] == (height, width):
        return frames
    return np.stack(
        [np.asarray(Image.fromarray(f).resize((width, height), Image.Resampling.BICUBIC)) for f in frames]
    )


def vocabulary_mask(processor: LlavaOnevisionProcessor, num_rows: int) -> list[int]:
    """Output ids the original model does not have: the visual placeholders and padded rows.

    The original adds no ``<image>``/``<video>`` tokens (it splices features at
    index -200) and resizes its embeddings to ``len(tokenizer)``: its vocabulary is
    the port's tokenizer minus the placeholders. The port's output layer has
    ``num_rows`` rows (llava-hf 7B: 152128 for a 151648-token tokenizer).
    """
    placeholders = {processor.image_token_id, processor.video_token_id}
    return sorted(placeholders | set(range(len(processor.tokenizer), num_rows)))


def load_model(args: AdapterArgs, device: str) -> LlavaOnevisionForConditionalGeneration:
    kwargs: dict[str, Any] = {
        "revision": args.revision,
        "dtype": resolve_dtype(args.dtype, device),
        "attn_implementation": args.attn_implementation,
        "trust_remote_code": args.trust_remote_code,
    }
    if args.device_map:
        kwargs["device_map"] = args.device_map  # "auto": model parallel across visible GPUs (72B)
    model = LlavaOnevisionForConditionalGeneration.from_pretrained(args.pretrained, **kwargs)
    if not args.device_map:
        model.to(device)
    model.eval()
    drop_multi_image_newline(model)
    return model
