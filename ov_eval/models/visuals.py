"""Turn whatever a task's ``doc_to_visual`` returns into model-ready images and video frames.

Tasks hand over PIL images, file paths (videos, sometimes images), or lists of
pre-extracted frames. The paper's token strategy depends on what a sample *is*
(one image / several images / video), so classification happens here, once, and
every failure is turned into a ``SampleError`` that names the cause instead of
an exception that would kill a ten-hour run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
from PIL import Image

from ov_eval.models.errors import SampleError
from ov_eval.models.video import load_video_frames

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class VideoFrames(list):
    """Marks a list of PIL frames that a task wants treated as ONE video (pooled 196 tokens/frame),
    not as a multi-image sample (729 tokens/image). E.g. SEED-Bench video ships pre-extracted frames."""


class Modality(str, Enum):
    TEXT = "text"
    IMAGE = "image"  # exactly one image: AnyRes-Max-9
    MULTI_IMAGE = "multi_image"  # 2 or more images: base resolution, 729 tokens each
    VIDEO = "video"  # one video: max_frames_num frames, 2x2 pooled to 196 tokens each
    IMAGE_VIDEO = "image_video"  # images and a video in one prompt (paper's S9 demo)


@dataclass
class SampleVisuals:
    images: list[Image.Image] = field(default_factory=list)
    videos: list[np.ndarray] = field(default_factory=list)  # each (F, H, W, 3) uint8
    dropped_images: list[int] = field(default_factory=list)  # indices removed by an opt-in max_images cap

    @property
    def modality(self) -> Modality:
        return classify(len(self.images), len(self.videos))


def classify(num_images: int, num_videos: int) -> Modality:
    if num_videos and num_images:
        return Modality.IMAGE_VIDEO
    if num_videos:
        return Modality.VIDEO
    if num_images > 1:
        return Modality.MULTI_IMAGE
    if num_images == 1:
        return Modality.IMAGE
    return Modality.TEXT


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB the way the original SigLIP processor does it: transparency composited on white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")  # L, I;16, CMYK, YCbCr, P without alpha, ...


def _load_image_file(path: str) -> Image.Image:
    with Image.open(path) as img:
        img.load()
        return to_rgb(img)


def is_video_path(value: object) -> bool:
    return isinstance(value, str) and not value.lower().endswith(IMAGE_EXTENSIONS)


def describe_visual(value: object) -> str:
    if isinstance(value, Image.Image):
        return f"image {value.size[0]}x{value.size[1]} {value.mode}"
    if isinstance(value, str):
        return f"file {value}"
    return type(value).__name__


def load_visuals(
    raw: list | None,
    *,
    max_images: int | None,
    max_frames: int,
    video_backend: str,
    where: str,
) -> SampleVisuals:
    """Decode one sample's visuals; raise ``SampleError`` (naming ``where`` = task/doc) on any bad input."""
    out = SampleVisuals()
    for value in raw or []:
        if value is None:
            continue
        try:
            if isinstance(value, VideoFrames):
                frames = [np.asarray(to_rgb(f)) for f in value]
                out.videos.append(uniform_subsample(np.stack(frames), max_frames))
            elif isinstance(value, Image.Image):
                value.load()
                out.images.append(to_rgb(value))
            elif isinstance(value, str):
                if not os.path.exists(value):
                    raise FileNotFoundError(f"no such file: {value}")
                if is_video_path(value):
                    out.videos.append(load_video_frames(value, max_frames, backend=video_backend))
                else:
                    out.images.append(_load_image_file(value))
            elif isinstance(value, np.ndarray) and value.ndim == 4:
                out.videos.append(uniform_subsample(value, max_frames))
            else:
                raise TypeError(f"unsupported visual of type {type(value).__name__}")
        except SampleError:
            raise
        except (
            Exception
        ) as exc:  # decode errors come in many types (OSError, RuntimeError, av.error, decord...)
            raise SampleError(
                where, f"cannot load {describe_visual(value)}: {type(exc).__name__}: {exc}"
            ) from exc
    for image in out.images:
        if min(image.size) < 1:
            raise SampleError(where, f"degenerate image of size {image.size}")
    if len(out.videos) > 1:
        raise SampleError(
            where, f"{len(out.videos)} videos in one sample; LLaVA-OV evaluation feeds one video per prompt"
        )
    if max_images is not None and len(out.images) > max_images:
        keep = np.linspace(0, len(out.images) - 1, max_images).round().astype(int).tolist()
        out.dropped_images = [i for i in range(len(out.images)) if i not in set(keep)]
        out.images = [out.images[i] for i in keep]
    return out


def uniform_subsample(frames: np.ndarray, num_frames: int) -> np.ndarray:
    """The original evaluation's frame rule: ``linspace(0, n-1, num_frames)`` truncated to int.

    First and last frames are always included; a clip shorter than the budget
    repeats frames so that every video yields exactly ``num_frames`` frames, as in
    the original LLaVA-OV evaluation (and batched videos need equal frame counts).
    """
    if len(frames) == 0:
        raise ValueError("video has no frames")
    indices = np.linspace(0, len(frames) - 1, num_frames, dtype=int)
    return frames[indices]
