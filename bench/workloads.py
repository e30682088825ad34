"""The three fixed, seeded workloads: single image, multi-image, video.

They are built to cost what real benchmarks cost, not to be realistic pictures:
single images come in the aspect ratios that drive AnyRes-Max-9 to different
grids, multi-image samples carry 2-12 images, and videos are H.264 files
(``write_bench_clip``) of 240-360 frames, so decoding and 32-frame sampling are
paid in full on every sample. Same seed -> same pixels, prompts and files, so two
runs (or two machines) time identical inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ov_eval.demo.media import write_video

WORKLOADS = ("single_image", "multi_image", "video")
# not in the default set: the single images as JPEG bytes in a ``datasets.Dataset``, decoded when a row
# is read, in the main process, as lmms-eval's datasets do; shows what that serial decode costs. And
# videos whose every sampled frame opens a new 12-frame GOP: what decord's seek path costs
EXTRA_WORKLOADS = ("single_image_jpeg", "video_short_gop")
SINGLE_IMAGE_SIZES = [
    (800, 600),
    (1280, 720),
    (2304, 1728),
    (500, 900),
    (1024, 256),
    (640, 480),
    (1920, 1080),
]
MULTI_IMAGE_COUNTS = [2, 12, 4, 8, 3, 6, 10, 5]
# small, as in most multi-image benchmarks; llava_hf gives each its own AnyRes grid, we give 729 tokens each
MULTI_IMAGE_SIZES = [(448, 336), (336, 448), (384, 384), (512, 288)]
VIDEO_FRAMES = [300, 240, 360, 280]  # frames per file
VIDEO_SIZE = (640, 360)  # width, height of the default video workload's clips
# x264's own default keyframe interval, which web video (and the benchmarks built from it) mostly keeps:
# the 32 sampled frames of a 10-s clip then share two GOPs and decord decodes forward through them
VIDEO_GOP = 250
VIDEO_FPS = 30
QUESTIONS = [
    "What is shown here? Answer with a single word.",
    "Describe the main object in the scene.",
    "Which colour dominates? Answer briefly.",
    "Is there any text visible? Answer yes or no, then explain what the text says in a short sentence.",
]


@dataclass
class Workload:
    """Docs in the shape lmms-eval hands to an adapter (``doc["visuals"]`` via ``doc_to_visual``)."""

    name: str
    docs: Any = field(default_factory=list)  # a list of dicts, or a datasets.Dataset
    prompts: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.docs)

    @property
    def num_images(self) -> int:
        return sum(isinstance(v, Image.Image) for doc in self.docs for v in doc["visuals"])


def noise_image(width: int, height: int, rng: np.random.Generator) -> Image.Image:
    """Smooth noise (upsampled) so JPEG-free resizing still does real work; pixel content is irrelevant."""
    small = rng.integers(0, 256, (max(1, height // 8), max(1, width // 8), 3), dtype=np.uint8)
    return Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR)


def single_image(num_samples: int, seed: int = 0) -> Workload:
    rng = np.random.default_rng(seed)
    work = Workload("single_image")
    for i in range(num_samples):
        width, height = SINGLE_IMAGE_SIZES[i % len(SINGLE_IMAGE_SIZES)]
        work.docs.append({"visuals": [noise_image(width, height, rng)]})
        work.prompts.append(QUESTIONS[i % len(QUESTIONS)])
    return work


def single_image_jpeg(num_samples: int, seed: int = 0) -> Workload:
    """``single_image``'s pictures stored as JPEG (quality 90) in an ``Image`` column of a
    ``datasets.Dataset``: reading ``docs[i]`` decodes the image in the reading process."""
    import io

    from datasets import Dataset, Features, Sequence
    from datasets import Image as ImageFeature

    pictures = single_image(num_samples, seed)
    encoded = []
    for doc in pictures.docs:
        buffer = io.BytesIO()
        doc["visuals"][0].save(buffer, format="JPEG", quality=90)
        encoded.append([{"bytes": buffer.getvalue(), "path": None}])
    features = Features({"visuals": Sequence(ImageFeature())})
    docs = Dataset.from_dict({"visuals": encoded}, features=features)
    return Workload("single_image_jpeg", docs=docs, prompts=pictures.prompts)


def multi_image(num_samples: int, seed: int = 1) -> Workload:
    rng = np.random.default_rng(seed)
    work = Workload("multi_image")
    for i in range(num_samples):
        count = MULTI_IMAGE_COUNTS[i % len(MULTI_IMAGE_COUNTS)]
        sizes = [MULTI_IMAGE_SIZES[(i + k) % len(MULTI_IMAGE_SIZES)] for k in range(count)]
        work.docs.append({"visuals": [noise_image(w, h, rng) for w, h in sizes]})
        work.prompts.append(f"Compare the {count} images. " + QUESTIONS[i % len(QUESTIONS)])
    return work


def write_bench_clip(path: str | Path, num_frames: int, seed: int) -> Path:
    """Write an H.264 clip that costs what a real one costs to decode.

    A seeded texture (smooth blobs plus grain) seen through a window that pans across it: the encoder
    finds motion and real residuals, as in camera footage, at a web-like bitrate (x264 ``veryfast``,
    CRF 23: about 0.8 Mbit/s). Flat frames would decode for nearly nothing and leave only the decoder's
    overhead to measure. One encoder thread, so the same seed gives the same file on any machine."""
    import av

    if "libx264" not in av.codecs_available:
        raise RuntimeError(
            f"bench: this PyAV ({av.__version__}) has no libx264 encoder; the video workload needs it"
        )
    width, height = VIDEO_SIZE
    rng = np.random.default_rng(seed)
    canvas = np.asarray(noise_image(2 * width, 2 * height, rng), dtype=np.float32)
    canvas = np.clip(canvas + rng.normal(0.0, 12.0, canvas.shape), 0, 255).astype(np.uint8)
    path = Path(path)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=VIDEO_FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = VIDEO_GOP
        stream.options = {"preset": "veryfast", "crf": "23", "threads": "1"}
        for i in range(num_frames):
            x = int(width / 2 * (1 + np.sin(i / 40)))
            y = int(height / 2 * (1 + np.cos(i / 55)))
            window = np.ascontiguousarray(canvas[y : y + height, x : x + width])
            for packet in stream.encode(av.VideoFrame.from_ndarray(window, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _clips(
    name: str,
    num_samples: int,
    folder: str | Path,
    seed: int,
    tag: str,
    write: Callable[[Path, int, int], Path],
) -> Workload:
    """One file per sample (decode cost is per sample, as in a real benchmark); files are reused
    across runs when already present, since the writers are deterministic."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    work = Workload(name)
    for i in range(num_samples):
        frames = VIDEO_FRAMES[i % len(VIDEO_FRAMES)]
        path = folder / f"bench_{seed}_{i}_{frames}f_{tag}.mp4"
        if not path.exists():
            tmp = path.with_suffix(".tmp.mp4")
            write(tmp, frames, seed * 1000 + i)
            tmp.rename(path)
        work.docs.append({"visuals": [str(path)]})
        work.prompts.append(f"Clip {i}: describe what happens. " + QUESTIONS[i % len(QUESTIONS)])
    return work


def video(num_samples: int, folder: str | Path, seed: int = 2) -> Workload:
    """Textured H.264 clips at 640x360 with keyframes every ``VIDEO_GOP`` frames (``write_bench_clip``)."""
    width, height = VIDEO_SIZE
    return _clips("video", num_samples, folder, seed, f"{width}x{height}_h264_g{VIDEO_GOP}", write_bench_clip)


def video_short_gop(num_samples: int, folder: str | Path, seed: int = 2) -> Workload:
    """The flat test clips (``write_video``: mpeg4 at 320x240, a keyframe every 12 frames). Decoding
    them costs almost nothing; every sampled frame sits in a new GOP, so decord seeks 32 times per
    sample (back to frame 0, then to the keyframe, restarting its decoding thread each time): this
    workload measures that seek path, which a re-encoded short-GOP dataset would pay."""

    def write(path: Path, frames: int, _seed: int) -> Path:
        return write_video(path, frames, width=320, height=240, fps=VIDEO_FPS)

    return _clips("video_short_gop", num_samples, folder, seed, "320x240", write)


def build(name: str, num_samples: int, media_dir: str | Path) -> Workload:
    if name == "single_image":
        return single_image(num_samples)
    if name == "multi_image":
        return multi_image(num_samples)
    if name == "video":
        return video(num_samples, media_dir)
    if name == "single_image_jpeg":
        return single_image_jpeg(num_samples)
    if name == "video_short_gop":
        return video_short_gop(num_samples, media_dir)
    raise ValueError(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS + EXTRA_WORKLOADS)}")
