"""uint8 pixels finished with a 256-entry table equal the processor's own rescaled and normalised
output, bit for bit, for both image backends, images and videos, float32 and bfloat16."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from adapter_helpers import random_image

from ov_eval.models.hf_port import concatenated_crops, load_processor
from ov_eval.models.model_args import AdapterArgs
from ov_eval.models.pixels import RAW_PIXELS, PixelTables, lookup, lookup_torch


def _images_and_videos():
    single = [random_image(900, 500, seed=1)]  # AnyRes: base view + crops, padded to the grid
    several = [random_image(320, 240, seed=2), random_image(200, 410, seed=3, mode="RGBA").convert("RGB")]
    video = np.random.default_rng(4).integers(0, 256, (4, 240, 320, 3), dtype=np.uint8)
    return [single, several], [video]


def _outputs(processor, **kwargs):
    images, videos = _images_and_videos()
    image_out = processor.image_processor(images=images, do_pad=False, return_tensors=None, **kwargs)
    video_out = processor.video_processor(videos=videos, return_tensors=None, **kwargs)
    return {
        "pixel_values": torch.from_numpy(concatenated_crops(image_out["pixel_values"])),
        "pixel_values_videos": torch.from_numpy(
            np.stack([np.asarray(v) for v in video_out["pixel_values_videos"]])
        ),
    }


@pytest.mark.parametrize("backend", ["pil", "torchvision"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_finished_uint8_pixels_equal_the_processors_output(tiny_ov_dir, backend, dtype):
    processor = load_processor(AdapterArgs(pretrained=str(tiny_ov_dir), image_backend=backend))
    tables = PixelTables.from_processor(processor)
    raw, reference = _outputs(processor, **RAW_PIXELS), _outputs(processor)
    for key, expected in reference.items():
        assert raw[key].dtype == torch.uint8 and expected.dtype == torch.float32
        assert raw[key].shape == expected.shape
        finished = tables.finish(key, raw[key], dtype)
        assert finished.dtype == dtype
        assert torch.equal(finished, expected.to(dtype)), (backend, key)


def test_each_backend_gets_its_own_table(tiny_ov_dir):
    """The PIL backend rescales in float64 then normalises, torchvision fuses both into one float32
    step: some values differ by an ulp, so a table written down once would be wrong for one of them."""
    pil, tv = (
        PixelTables.from_processor(load_processor(AdapterArgs(pretrained=str(tiny_ov_dir), image_backend=b)))
        for b in ("pil", "torchvision")
    )
    assert not torch.equal(pil.tables["pixel_values"], tv.tables["pixel_values"])
    assert (pil.tables["pixel_values"] - tv.tables["pixel_values"]).abs().max() < 1e-6


def test_a_per_channel_mean_and_std_is_finished_per_channel(tiny_ov_dir):
    processor = load_processor(AdapterArgs(pretrained=str(tiny_ov_dir)))
    for part in (processor.image_processor, processor.video_processor):
        part.image_mean, part.image_std = (
            [0.48145466, 0.4578275, 0.40821073],
            [0.26862954, 0.26130258, 0.27577711],
        )
    tables = PixelTables.from_processor(processor)
    assert not torch.equal(tables.tables["pixel_values"][0], tables.tables["pixel_values"][2])
    raw, reference = _outputs(processor, **RAW_PIXELS), _outputs(processor)
    for key, expected in reference.items():
        assert torch.equal(tables.finish(key, raw[key], torch.float32), expected), key


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_the_cpu_lookup_equals_the_accelerator_lookup(dtype):
    table = torch.linspace(-1, 1, 256).to(dtype)
    raw = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    expected = torch.stack([table[int(v)] for v in raw.flatten()]).view(raw.shape)
    assert torch.equal(lookup(table, raw), expected)
    assert torch.equal(lookup_torch(table, raw), expected)
    assert torch.equal(lookup_torch(table, raw, chunk=100), expected)  # 384 pixels: 4 chunks, the last short
    assert torch.equal(lookup(table, raw[:, 1]), expected[:, 1])  # a strided channel slice


class _Resamples:
    """An image part whose output is not a function of the uint8 input values (it resamples even
    when asked not to): its pixels cannot be finished from uint8."""

    def __call__(self, images, return_tensors=None, **kwargs):
        array = np.asarray(images[0][0], dtype=np.float32).transpose(2, 0, 1)[None]
        return {"pixel_values": [(array + 0.5) / 2]}


def test_a_processor_whose_raw_output_is_not_its_input_is_refused(tiny_ov_dir):
    processor = load_processor(AdapterArgs(pretrained=str(tiny_ov_dir)))
    processor.image_processor = _Resamples()
    with pytest.raises(ValueError, match="_Resamples: with do_rescale=False, do_normalize=False"):
        PixelTables.from_processor(processor)


def test_finishing_refuses_pixels_that_are_not_uint8(tiny_ov_dir):
    tables = PixelTables.from_processor(load_processor(AdapterArgs(pretrained=str(tiny_ov_dir))))
    with pytest.raises(TypeError, match="pixel_values: expected uint8"):
        tables.finish("pixel_values", torch.zeros(1, 3, 4, 4), torch.float32)
