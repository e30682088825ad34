"""Large result tensors come back through reused shared-memory slabs: equal values, a slab reused
only once nothing views it, growth when a batch outgrows it, nothing left in /dev/shm. A batch's
PIL images go the other way through a slab of a second ring, pixel for pixel."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pool_helpers import Encoder

from ov_eval.models import shared_slabs
from ov_eval.models.preprocess_pool import PreprocessPool
from ov_eval.models.shared_slabs import (
    MIN_BYTES,
    PackedImage,
    SlabNeed,
    SlabPlace,
    SlabRing,
    pack_images,
    unpack_images,
    write_into_slab,
    write_raw_pixels,
)

MiB = 1 << 20


@pytest.fixture
def make_ring():
    """``make_ring(limit)``: a ``SlabRing`` closed at the end of the test, whatever it asserts."""
    rings: list[SlabRing] = []

    def make(limit: int) -> SlabRing:
        rings.append(SlabRing(limit=limit))
        return rings[-1]

    yield make
    for ring in rings:
        ring.close()


def _batch(value: int, megabytes: int = 2, dtype: torch.dtype = torch.uint8) -> dict:
    count = megabytes * MiB // dtype.itemsize
    return {
        "pixel_values": torch.arange(count, dtype=torch.int64).remainder(251).add(value).to(dtype),
        "input_ids": torch.tensor([[value, 7, 9]]),
    }


def _round_trip(ring: SlabRing, value: int, **kwargs) -> tuple[dict, dict, str | None]:
    """What a worker and the main process do with one batch; returns (received, expected, slab)."""
    ticket = ring.lease()
    expected = _batch(value, **kwargs)
    sent = {key: tensor.clone() for key, tensor in expected.items()}
    need = write_into_slab(sent, ticket)
    received = ring.receive(sent, ticket, need)
    return received, expected, ticket.name if ticket else None


def _exists(name: str) -> bool:
    return os.path.exists(os.path.join("/dev/shm", name.lstrip("/")))


def test_the_first_batch_measures_the_size_then_large_tensors_travel_in_a_slab(make_ring):
    ring = make_ring(4)
    first, expected, slab = _round_trip(ring, 1)
    assert slab is None and ring.capacity >= 2 * MiB  # no size known yet: the old way, then sized
    assert torch.equal(first["pixel_values"], expected["pixel_values"])
    sent = _batch(2)
    ticket = ring.lease()
    assert write_into_slab(sent, ticket) is None
    assert isinstance(sent["pixel_values"], SlabPlace)  # replaced by its place in the slab
    assert isinstance(sent["input_ids"], torch.Tensor)  # small: not worth a slab
    assert sent["input_ids"].numel() * 8 < MIN_BYTES
    received = ring.receive(sent, ticket, None)
    assert torch.equal(received["pixel_values"], _batch(2)["pixel_values"])


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.bfloat16])
def test_values_and_dtypes_survive_the_slab(make_ring, dtype):
    ring = make_ring(4)
    _round_trip(ring, 0, dtype=dtype)  # sizes the ring
    received, expected, slab = _round_trip(ring, 3, dtype=dtype)
    assert slab is not None
    assert received["pixel_values"].dtype == dtype
    assert torch.equal(received["pixel_values"], expected["pixel_values"])
    assert torch.equal(received["input_ids"], expected["input_ids"])


def test_a_slab_is_not_reused_while_any_view_of_its_tensors_lives(make_ring):
    ring = make_ring(8)
    _round_trip(ring, 0)
    held, expected_held, slab = _round_trip(ring, 5)
    corner = held["pixel_values"][: 4 * 1024].view(4, 1024)  # a derived view, as a model input is
    del held
    gc.collect()
    names = set()
    for value in range(6, 12):  # later batches, each dropped after use
        received, expected, other = _round_trip(ring, value)
        assert other != slab  # the held view's slab is never handed out
        assert torch.equal(received["pixel_values"], expected["pixel_values"])
        names.add(other)
        del received
    assert len(names) == 1  # a dropped batch's slab is the next batch's
    assert torch.equal(corner, expected_held["pixel_values"][: 4 * 1024].view(4, 1024))
    del corner
    gc.collect()
    reused = {_round_trip(ring, 20)[2], _round_trip(ring, 21)[2]}
    assert slab in reused  # free again once the last view went


def test_a_batch_that_outgrows_its_slab_travels_as_a_tensor_and_the_slabs_grow(make_ring):
    ring = make_ring(4)
    _round_trip(ring, 0, megabytes=2)
    small = ring.capacity
    ticket = ring.lease()
    sent = _batch(1, megabytes=8)
    need = write_into_slab(sent, ticket)
    assert isinstance(need, SlabNeed) and need.nbytes > ticket.capacity
    assert isinstance(sent["pixel_values"], torch.Tensor)  # untouched: the old way
    received = ring.receive(sent, ticket, need)
    assert torch.equal(received["pixel_values"], _batch(1, megabytes=8)["pixel_values"])
    assert ring.capacity > small
    big, expected, slab = _round_trip(ring, 2, megabytes=8)
    assert slab is not None and slab != ticket.name  # the small slab was retired, not reused
    assert not _exists(ticket.name)
    assert torch.equal(big["pixel_values"], expected["pixel_values"])


def test_every_slab_leaves_dev_shm_at_close_even_one_still_viewed():
    ring = SlabRing(limit=4)
    _round_trip(ring, 0)
    held, expected, slab = _round_trip(ring, 1)
    dropped = _round_trip(ring, 2)[2]
    assert slab is not None and dropped is not None and _exists(slab)
    ring.close()
    assert not _exists(slab) and not _exists(dropped)
    assert torch.equal(held["pixel_values"], expected["pixel_values"])  # still readable until dropped
    del held
    gc.collect()


def test_a_full_dev_shm_means_no_slab_and_no_file_left(make_ring, monkeypatch):
    ring = make_ring(4)
    _round_trip(ring, 0)
    before = set(os.listdir("/dev/shm"))

    def full(fd, offset, length):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    received, expected, slab = _round_trip(ring, 1)
    assert slab is None  # travelled as torch pickles it
    assert torch.equal(received["pixel_values"], expected["pixel_values"])
    assert set(os.listdir("/dev/shm")) == before  # the half-made slab was removed
    monkeypatch.undo()
    assert _round_trip(ring, 2)[2] is not None  # room again: slabs again


def test_no_slab_beyond_the_limit(make_ring):
    ring = make_ring(2)
    _round_trip(ring, 0)
    held = [_round_trip(ring, value) for value in (1, 2)]
    assert all(slab is not None for _r, _e, slab in held)
    assert ring.lease() is None  # both leased: the next batch travels the old way
    assert ring.created == 2


def test_pool_results_through_slabs_equal_the_worker_s_tensors():
    pool = PreprocessPool(2, Encoder, (), slabs=True)
    try:
        kept = [
            result for _key, result in pool.ordered(((v, (v, 2, "uint8")) for v in range(10)), 3, _refuse)
        ]
        for value, result in enumerate(kept):  # all held at once: no slab may serve two of them
            assert result.outcomes == [value]
            assert torch.equal(
                result.encoded["pixel_values"], torch.full((2 * MiB,), value, dtype=torch.uint8)
            )
        held_slabs = pool.slabs.created
        del kept, result
        gc.collect()
        for value, result in pool.ordered(((v, (v, 2, "float32")) for v in range(10, 30)), 3, _refuse):
            assert torch.equal(
                result.encoded["pixel_values"], torch.full((MiB // 2,), value, dtype=torch.float32)
            )
            del result  # consumed: its slab serves a later batch
        assert pool.slabs.created == held_slabs  # twenty more batches, no new slab
    finally:
        pool.close()


def test_a_dying_worker_gives_its_batches_slabs_back_and_later_results_stay_right():
    pool = PreprocessPool(2, Encoder, (), slabs=True)
    values = [0, 1, 2, 3, -1, 5, 6, 7, 8, 9, 10, 11]
    try:
        seen = []
        for value, result in pool.ordered(((v, (v, 2, "uint8")) for v in values), 3, lambda key, _p: None):
            if value < 0 or result is None:  # the killed batch, and the ones in flight beside it
                continue
            assert torch.equal(
                result.encoded["pixel_values"], torch.full((2 * MiB,), value, dtype=torch.uint8)
            )
            seen.append(value)
            del result
        gc.collect()
        assert seen[-3:] == [9, 10, 11]  # a fresh pool took over
        assert pool.slabs.carried > 0
        assert pool.slabs.leased() == 0  # every slab is back: none lost with the dead worker
    finally:
        pool.close()


def test_a_process_that_never_closes_its_pool_leaves_nothing_in_dev_shm():
    tests = Path(__file__).resolve().parent
    child = subprocess.run(
        [sys.executable, "-c", "import pool_helpers; pool_helpers.use_slabs_and_exit_without_closing()"],
        cwd=tests,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")])},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    names = child.stdout.split()
    assert names  # slabs were used
    assert not [name for name in names if _exists(name)]
    assert "leaked" not in child.stderr  # removed by us, not by the resource tracker's clean-up


def _refuse(_key, _payload):
    raise AssertionError("a worker died")


def _picture(width: int, height: int, mode: str, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 4), dtype=np.uint8), "RGBA").convert(mode)


def test_a_batchs_images_reach_the_worker_through_a_slab_pixel_for_pixel(make_ring):
    ring = make_ring(2)
    rgb, rgba, grey = _picture(800, 600, "RGB", 1), _picture(301, 207, "RGBA", 2), _picture(333, 251, "L", 3)
    palette = _picture(64, 48, "RGB", 4).convert("P")  # its palette would not survive raw bytes
    raws = [[rgb, "clip.mp4"], [rgba, grey, palette], []]
    packed, ticket = pack_images(raws, ring)
    assert ticket is not None and ring.leased() == 1 and ring.carried == 1
    assert [type(v).__name__ for raw in packed for v in raw] == [
        "PackedImage",
        "str",
        "PackedImage",
        "PackedImage",
        "Image",
    ]
    assert packed[0][1] == "clip.mp4" and packed[1][2] is palette
    offsets = [v.offset for raw in packed for v in raw if isinstance(v, PackedImage)]
    assert all(offset % 64 == 0 for offset in offsets) and len(set(offsets)) == 3
    unpacked = unpack_images(packed, ticket)  # as a worker does: its own mapping of the slab
    ring.release(ticket.name)  # the main process reuses the slab once the result is back ...
    _round_trip(ring, 5, megabytes=3)  # ... and may overwrite it; the worker's images are copies
    for before, after in [(rgb, unpacked[0][0]), (rgba, unpacked[1][0]), (grey, unpacked[1][1])]:
        assert (after.mode, after.size) == (before.mode, before.size)
        assert np.array_equal(np.asarray(after), np.asarray(before))
    assert unpacked[1][2] is palette and unpacked[0][1] == "clip.mp4"


def test_small_images_and_a_ring_without_room_leave_the_images_to_pickling(make_ring):
    small = [[_picture(100, 100, "RGB", 5)]]  # 30 kB: not worth a slab
    assert pack_images(small, make_ring(1)) == (small, None)
    ring = make_ring(1)
    big = [[_picture(800, 600, "RGB", 6)]]
    _packed, first = pack_images(big, ring)
    assert first is not None
    assert pack_images(big, ring) == (big, None)  # the one slab allowed is leased: the images are pickled
    ring.release(first.name)
    assert pack_images(big, ring)[1] is not None


@pytest.mark.parametrize("piece", [shared_slabs.ENCODE_PIECE, 1000])
@pytest.mark.parametrize(("mode", "size"), [("RGB", (1031, 517)), ("RGBA", (257, 129)), ("L", (333, 251))])
def test_raw_pixels_written_piece_by_piece_are_the_bytes_of_tobytes(monkeypatch, piece, mode, size):
    # 1000-byte pieces: many pieces, and fewer bytes than a row (the encoder is given a whole row)
    monkeypatch.setattr(shared_slabs, "ENCODE_PIECE", piece)
    image = _picture(*size, mode, seed=7)
    out = np.full(len(image.tobytes()), 0xAB, dtype=np.uint8)
    write_raw_pixels(image, out)
    assert out.tobytes() == image.tobytes()


def test_a_lazily_opened_image_is_loaded_and_without_pillow_s_encoder_tobytes_gives_the_same(
    monkeypatch, tmp_path
):
    _picture(640, 480, "RGB", seed=8).save(tmp_path / "photo.png")
    expected = Image.open(tmp_path / "photo.png").tobytes()
    lazy = Image.open(tmp_path / "photo.png")  # nothing decoded yet
    out = np.zeros(len(expected), dtype=np.uint8)
    write_raw_pixels(lazy, out)
    assert out.tobytes() == expected
    monkeypatch.setattr(shared_slabs, "_raw_encoder", lambda image: None)  # a Pillow without it
    out[:] = 0
    write_raw_pixels(Image.open(tmp_path / "photo.png"), out)
    assert out.tobytes() == expected
