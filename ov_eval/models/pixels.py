"""Pixels travel as uint8 and are rescaled and normalised where the model runs.

The processor's last per-pixel step (``x / 255``, then ``(x - mean) / std``) turns a
uint8 value into a float32 one, per channel: a function of 256 inputs. Everything before
it (decode, AnyRes resize, padding, crops, the PIL/torchvision resampling) ends in uint8.
So the preparation stops there (``RAW_PIXELS``: the processor's own call with
``do_rescale=False, do_normalize=False``) and the model's side finishes with a 256-entry
table per channel (``PixelTables``), looked up on the model's device:

* a quarter of the bytes built, copied through shared memory or the pipe, and moved to
  the GPU (a 32-frame video: 13.5 MiB instead of 54 MiB of float32);
* the workers skip the float passes (the PIL processor upcasts to float64 first), which
  were most of the processor's own time on videos (measured by ``python -m bench``);
* the values are exact: the table is the processor's own output for the 256 values (its
  own rescale factor, mean, std, arithmetic and float rounding; the PIL and torchvision
  backends differ by one float32 ulp for some values, and each gets its own table), then
  cast to the model's dtype, which rounds each value as the cast of the processor's
  float32 output would. Tested against the processor's default output, both backends,
  images and videos, float32 and bfloat16.

The table is derived, not written down: a ramp image holding every value 0..255 goes
through the processor's public call at its own size (no resize, no crops) once with
and once without the last step; the raw half must come back as the ramp itself, or the
processor is refused (its output would not be a function of uint8 values).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import numpy as np
import torch

PIXEL_KEYS = ("pixel_values", "pixel_values_videos")  # image crops, video frames
RAW_PIXELS: dict[str, bool] = {"do_rescale": False, "do_normalize": False}

_RAMP_SIDE = 16  # 16 x 16 = 256 pixels, pixel k holding value k in every channel


def _ramp() -> np.ndarray:
    values = np.arange(256, dtype=np.uint8).reshape(_RAMP_SIDE, _RAMP_SIDE)
    return np.repeat(values[:, :, None], 3, axis=2)  # (H, W, 3) uint8


def _as_channels_first(batch: Any, where: str) -> np.ndarray:
    """The processor's output for one item of the ramp call as a ``(3, 16, 16)`` array."""
    array = np.asarray(batch[0])
    while array.ndim > 3:  # (images or frames, 3, H, W): the ramp call has identical items
        array = array[0]
    if array.shape != (3, _RAMP_SIDE, _RAMP_SIDE):
        raise ValueError(f"{where}: unexpected output shape {array.shape} for a 16x16 ramp")
    return array


def _table_from(part: Any, call: dict[str, Any], key: str) -> torch.Tensor:
    """``(3, 256)`` float32: what ``part`` makes of each uint8 value, per channel."""
    where = type(part).__name__
    raw = _as_channels_first(part(**call, **RAW_PIXELS, return_tensors=None)[key], where)
    ramp = _ramp().transpose(2, 0, 1)
    if raw.dtype != np.uint8 or not np.array_equal(raw, ramp):
        raise ValueError(
            f"{where}: with do_rescale=False, do_normalize=False it does not return the input's "
            f"uint8 values (dtype {raw.dtype}); pixels cannot be finished on the device"
        )
    done = _as_channels_first(part(**call, return_tensors=None)[key], where).astype(np.float32)
    return torch.from_numpy(done.reshape(3, 256).copy())


class PixelTables:
    """One table per pixel key (``pixel_values`` from the image processor, ``pixel_values_videos``
    from the video processor), built once in the process that owns the model."""

    def __init__(self, tables: dict[str, torch.Tensor]) -> None:
        self.tables = tables
        self._cache: dict[tuple[str, torch.device, torch.dtype], torch.Tensor] = {}

    @classmethod
    def from_processor(cls, processor: Any) -> PixelTables:
        ramp = _ramp()
        image_call = {  # two square images = a multi-image sample: no AnyRes crops, no padding
            "images": [[ramp, ramp]],
            "do_resize": False,
            "do_center_crop": False,
            "do_pad": False,
        }
        video_call = {"videos": [ramp[None]], "do_resize": False, "do_center_crop": False}
        return cls(
            {
                "pixel_values": _table_from(processor.image_processor, image_call, "pixel_values"),
                "pixel_values_videos": _table_from(
                    processor.video_processor, video_call, "pixel_values_videos"
                ),
            }
        )

    def _table(self, key: str, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        cached = self._cache.get((key, device, dtype))
        if cached is None:
            table = self.tables[key].to(dtype)  # rounds each value as casting the float32 output would
            if bool((table == table[0]).all()):
                table = table[:1]  # one table for all channels (SigLIP: mean = std = 0.5 everywhere)
            cached = self._cache[(key, device, dtype)] = table.to(device)
        return cached

    def finish(self, key: str, raw: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """``raw``: ``(..., 3, H, W)`` uint8 on the model's device -> the processor's values in ``dtype``."""
        if raw.dtype != torch.uint8:
            raise TypeError(f"{key}: expected uint8 pixels from the preparation, got {raw.dtype}")
        table = self._table(key, raw.device, dtype)
        if len(table) == 1:
            return lookup(table[0], raw)
        out = torch.empty(raw.shape, dtype=dtype, device=raw.device)
        for channel in range(3):
            out[..., channel, :, :] = lookup(table[channel], raw[..., channel, :, :])
        return out

    def finish_all(self, inputs: MutableMapping[str, Any], dtype: torch.dtype) -> None:
        """Finish every pixel tensor of a batch in place (they are uint8 on the model's device)."""
        for key in PIXEL_KEYS:
            if key in inputs:
                inputs[key] = self.finish(key, inputs[key], dtype)


def lookup(table: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
    """``table[raw]`` for a 256-entry table and uint8 indices, on their device.

    On the CPU numpy's ``take`` is used where numpy has the dtype: about 3x faster here than
    torch's ``index_select`` (33 vs 106 ms for a 32-frame video), which widens the indices first.
    """
    if raw.device.type == "cpu" and table.dtype != torch.bfloat16:
        return torch.from_numpy(np.take(table.numpy(), raw.numpy()))
    return lookup_torch(table, raw)


LOOKUP_CHUNK = 1 << 24  # indices widened at a time: 64 MiB of int32 (a 16-video batch holds 226M pixels)


def lookup_torch(table: torch.Tensor, raw: torch.Tensor, chunk: int = LOOKUP_CHUNK) -> torch.Tensor:
    """The same lookup with torch ops only: the path of accelerators (and of bf16 on the CPU).

    ``index_select`` needs int32/int64 indices; widening a whole batch at once would briefly hold
    4 bytes per pixel on the device, so the flat pixels are looked up ``chunk`` at a time.
    """
    flat = raw.reshape(-1)
    out = torch.empty(flat.shape, dtype=table.dtype, device=raw.device)
    for start in range(0, flat.numel(), chunk):
        part = flat[start : start + chunk]
        torch.index_select(table, 0, part.int(), out=out[start : start + chunk])
    return out.view(raw.shape)
