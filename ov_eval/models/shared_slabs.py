"""Shared-memory slabs that carry a batch's large tensors from a worker back, reused batch after batch.

torch's own tensor pickling puts every tensor a worker returns into a *fresh* shared-memory
segment: the worker page-faults it in and the kernel zeroes each page first (a 32-frame video's
13.6 MiB is 3,500 pages), then the segment is freed when the model is done with it. With two
workers on the 2-vCPU VM that zeroing took 10-13 % of a worker's CPU (``clear_page_erms`` under
``shmem_fault`` in ``perf``), against under 1 % with one; on a 16-core GPU host every worker does it.

Here the main process owns a few segments (``SlabRing``) and hands one to each batch it submits
(``SlabTicket``). The worker copies the result's large tensors into it (the copy torch's pickling
made anyway) and sends back where each one lies (``SlabPlace``); the main process builds the
tensors as views of its own mapping, so no page is faulted or zeroed once the slabs have been
used. A slab goes back to the ring when the last tensor viewing it is gone (a finaliser on the
array every view keeps alive), never earlier, whatever the consumer holds on to; a result that
does not fit travels the old way and the ring's capacity grows for the next batches.

The other way, a batch's in-memory PIL images (single-image benchmarks hold decoded images in
their rows) go from the main process to the worker in a slab of a second ring (``pack_images``):
the main process writes each image's raw pixels once, the worker copies them into a new image, and
the slab is free again when the batch's result is back. Pickling them instead cost a serialised
copy, a pipe transfer in 64 KiB pieces and the unpickling, in the main process the pool exists to
spare.

Only Linux's ``/dev/shm`` is used (the pool checks it has room). A slab's pages are reserved when
it is made, so a full ``/dev/shm`` means no slab (the batch travels the old way), not a worker
killed by SIGBUS mid-write. Workers map the slab's file directly, so the main process alone
registers it with multiprocessing's resource tracker, which removes it if the main process dies;
the pool removes them itself when it is closed or at interpreter exit.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing import shared_memory
from typing import Any

import numpy as np
import torch
from loguru import logger
from PIL import Image

SHARED_MEMORY_DIR = "/dev/shm"
MIN_BYTES = 1 << 20  # smaller tensors (ids, masks, sizes) are not worth a slab
ALIGN = 64  # every tensor starts on a cache line (and any dtype's alignment)
HEADROOM = 1.25  # a slab is made this much larger than the largest batch seen so far
MiB = 1 << 20
ENCODE_PIECE = MiB  # pieces of an image's raw pixels written into a slab (``write_raw_pixels``)


@dataclass(frozen=True)
class SlabTicket:
    """What a worker is told with its batch: the slab to write into, and every slab the ring still
    owns (attachments to others are dropped, so a retired slab's memory is not kept alive)."""

    name: str
    capacity: int
    live: frozenset[str]


@dataclass(frozen=True)
class SlabPlace:
    """Where one tensor of a result lies in its slab."""

    offset: int
    dtype: torch.dtype
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


@dataclass(frozen=True)
class SlabNeed:
    """A result that did not fit its slab (or had none) says how many bytes it would have needed."""

    nbytes: int


PACKED_MODES = ("RGB", "RGBA", "L")  # no palette, and the byte count is width x height x bands


def _raw_nbytes(mode: str, size: tuple[int, int]) -> int:
    """Bytes of an image's raw pixels in one of ``PACKED_MODES`` (bands: RGB 3, RGBA 4, L 1)."""
    return size[0] * size[1] * len(mode)


@dataclass(frozen=True)
class PackedImage:
    """Where a PIL image's raw pixels lie in its batch's inbound slab."""

    offset: int
    mode: str
    size: tuple[int, int]

    @property
    def nbytes(self) -> int:
        return _raw_nbytes(self.mode, self.size)


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _large(encoded: dict) -> list[str]:
    return [
        key
        for key, value in encoded.items()
        if isinstance(value, torch.Tensor) and value.numel() * value.element_size() >= MIN_BYTES
    ]


def _open(name: str) -> int:
    """A file descriptor of the slab's file in /dev/shm (``name`` as multiprocessing reports it)."""
    return os.open(os.path.join(SHARED_MEMORY_DIR, name.lstrip("/")), os.O_RDWR)


def _map(name: str, capacity: int) -> np.ndarray:
    """The slab's file mapped into this process, as bytes. Nobody closes the mapping: it is
    unmapped when the last array viewing it is gone, so no view can outlive its memory."""
    fd = _open(name)
    try:
        return np.frombuffer(mmap.mmap(fd, capacity), dtype=np.uint8)
    finally:
        os.close(fd)


def _reserve(name: str, capacity: int) -> None:
    """Allocate the slab's pages now. tmpfs hands out pages on first write, and a write that finds
    /dev/shm full kills the writer with SIGBUS; reserved up front, a full /dev/shm is an ``OSError``
    here instead (the batch then travels as torch pickles it), never a dead worker mid-batch."""
    if not hasattr(os, "posix_fallocate"):
        return
    fd = _open(name)
    try:
        os.posix_fallocate(fd, 0, capacity)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- worker side
_attached: dict[str, np.ndarray] = {}  # the ring results come back in
_attached_inbound: dict[str, np.ndarray] = {}  # the ring images arrive in


def _attach(name: str, capacity: int, attached: dict[str, np.ndarray]) -> np.ndarray:
    if name not in attached:
        attached[name] = _map(name, capacity)
    return attached[name]


def _forget_retired(live: Iterable[str], attached: dict[str, np.ndarray]) -> None:
    for name in set(attached) - set(live):
        del attached[name]


def unpack_images(raws: list[list], ticket: SlabTicket | None) -> list[list]:
    """In a worker: every ``PackedImage`` of ``raws`` becomes a PIL image again, its pixels copied out
    of the slab (which the main process reuses once this batch's result is back)."""
    if ticket is None:
        return raws
    _forget_retired(ticket.live, _attached_inbound)
    slab = _attach(ticket.name, ticket.capacity, _attached_inbound)
    return [
        [
            Image.frombytes(v.mode, v.size, slab[v.offset : v.offset + v.nbytes])
            if isinstance(v, PackedImage)
            else v
            for v in raw
        ]
        for raw in raws
    ]


def write_into_slab(encoded: Any, ticket: SlabTicket | None) -> SlabNeed | None:
    """In a worker: move the large tensors of ``encoded`` (a dict or ``BatchFeature``) into the
    ticket's slab, replacing each by its ``SlabPlace``. Returns ``SlabNeed`` when they do not fit (or
    there is no ticket): they then stay tensors and travel as torch pickles them."""
    if ticket is not None:
        _forget_retired(ticket.live, _attached)
    if not encoded:
        return None
    keys = _large(encoded)
    if not keys:
        return None
    need = sum(_aligned(encoded[key].numel() * encoded[key].element_size()) for key in keys)
    if ticket is None or need > ticket.capacity:
        return SlabNeed(need)
    slab = torch.from_numpy(_attach(ticket.name, ticket.capacity, _attached))
    offset = 0
    for key in keys:
        tensor = encoded[key]
        size = tensor.numel() * tensor.element_size()
        slab[offset : offset + size].view(tensor.dtype).view(tensor.shape).copy_(tensor)
        encoded[key] = SlabPlace(offset, tensor.dtype, tuple(tensor.shape))
        offset += _aligned(size)
    return None


# ---------------------------------------------------------------- main process side
def _packable(value: Any) -> bool:
    return isinstance(value, Image.Image) and value.mode in PACKED_MODES


def _raw_encoder(image: Image.Image) -> Any:
    """Pillow's raw encoder set on a loaded ``image``, as ``tobytes()`` sets it; ``None`` where this
    Pillow has no such thing (it is not public API)."""
    try:
        encoder = Image._getencoder(image.mode, "raw", image.mode)
        encoder.setimage(image.im, (0, 0, *image.size))
    except (AttributeError, TypeError):
        return None
    return encoder


def write_raw_pixels(image: Image.Image, out: np.ndarray) -> None:
    """Write ``image``'s raw pixels (the bytes ``image.tobytes()`` returns) into ``out`` (uint8, that size).

    Why not ``tobytes()``: it encodes the image in 64 KiB pieces, joins them into one bytes object,
    and that object would then be copied into the slab - three passes over a 12 MiB photo, in the
    main process the pool exists to spare. Driving the raw encoder ``tobytes()`` drives and copying
    each 1 MiB piece into ``out`` while it is still in cache leaves one pass over memory (before and
    after are in ``bench/RESULTS.md``). That encoder is not Pillow's public API, so a Pillow without
    it falls back to ``tobytes()``, with the same bytes."""
    image.load()
    encoder = _raw_encoder(image)
    if encoder is None:
        out[:] = np.frombuffer(image.tobytes(), dtype=np.uint8)
        return
    piece = max(ENCODE_PIECE, image.size[0] * 4)  # the raw encoder needs room for a whole row
    offset, errcode = 0, 0
    try:
        while errcode == 0:
            _consumed, errcode, data = encoder.encode(piece)
            out[offset : offset + len(data)] = np.frombuffer(data, dtype=np.uint8)
            offset += len(data)
    finally:
        getattr(encoder, "cleanup", lambda: None)()
    if errcode < 0 or offset != out.size:
        raise RuntimeError(
            f"raw encoder error {errcode} after {offset} of {out.size} bytes ({image.mode} {image.size})"
        )


def pack_images(raws: list[list], ring: SlabRing | None) -> tuple[list[list], SlabTicket | None]:
    """In the main process: put the PIL images of a batch's samples (``raws``, one list per sample)
    into a slab of ``ring`` and replace each by its ``PackedImage``. Returns ``raws`` untouched and no
    ticket when there is no ring, under ``MIN_BYTES`` of images (not worth a slab), or no slab to be
    had: the images are then pickled. Other visuals (paths, frames, palette images) stay as they are."""
    if ring is None:
        return raws, None
    need = sum(_aligned(_raw_nbytes(v.mode, v.size)) for raw in raws for v in raw if _packable(v))
    if need < MIN_BYTES:
        return raws, None
    ticket = ring.lease_for(need)
    if ticket is None:
        return raws, None
    slab = ring.mapping(ticket.name)
    offset = 0
    packed = []
    for raw in raws:
        out = []
        for value in raw:
            if _packable(value):
                place = PackedImage(offset, value.mode, value.size)
                write_raw_pixels(value, slab[offset : offset + place.nbytes])
                out.append(place)
                offset += _aligned(place.nbytes)
            else:
                out.append(value)
        packed.append(out)
    ring.carried += 1
    return packed, ticket


class _Slab:
    def __init__(self, capacity: int) -> None:
        # created through multiprocessing so that its resource tracker unlinks it if we die;
        # used through our own mapping (``_map``), which no close() can pull from under a view
        self._memory = shared_memory.SharedMemory(create=True, size=capacity)
        self._memory.close()  # its own mapping only; the name lives until unlink
        self.name = self._memory.name
        self.capacity = capacity
        try:
            _reserve(self.name, capacity)
        except OSError:
            self.unlink()
            raise
        self.array: np.ndarray | None = _map(self.name, capacity)

    def unlink(self) -> None:
        """Remove the name from /dev/shm; the memory goes when the last mapping of it does."""
        with contextlib.suppress(FileNotFoundError):
            self._memory.unlink()

    def destroy(self) -> None:
        self.array = None
        self.unlink()


class SlabRing:
    """The main process's slabs: at most ``limit`` exist; each is free, or leased to one batch from
    submission until the last tensor viewing it is gone."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.capacity = 0  # unknown until the first result says how large a batch is
        self._free: list[_Slab] = []
        self._leased: dict[str, _Slab] = {}
        self._closed = False
        self.created = 0  # slabs made over the ring's life (tests, bench)
        self.carried = 0  # batches that travelled in a slab: results back, or images out (tests, bench)
        # finalisers run on whichever thread drops a batch's last tensor, even inside ``lease``
        self._lock = threading.RLock()

    def lease(self) -> SlabTicket | None:
        """A slab for the next batch, or ``None`` (no size known yet, or every slab still in use)."""
        with self._lock:
            return self._lease()

    def _lease(self) -> SlabTicket | None:
        if self._closed or self.capacity == 0:
            return None
        while self._free:
            slab = self._free.pop()
            if slab.capacity >= self.capacity:
                break
            slab.destroy()  # smaller than batches have turned out to be
        else:
            if len(self._leased) >= self.limit:
                return None
            try:
                slab = _Slab(self.capacity)
            except OSError as exc:  # /dev/shm full (ENOSPC) or gone: this batch goes without a slab
                logger.warning(f"[ov-eval] no shared-memory slab of {self.capacity >> 20} MiB ({exc})")
                return None
            self.created += 1
        self._leased[slab.name] = slab
        return SlabTicket(slab.name, slab.capacity, frozenset(self.names()))

    def lease_for(self, nbytes: int) -> SlabTicket | None:
        """A slab of at least ``nbytes`` (inbound: the main process knows a batch's size before it
        sends it), growing the ring's capacity as ``receive`` does; ``None`` if none can be had."""
        with self._lock:
            if nbytes > self.capacity:  # a batch that fits keeps the slabs there are
                self._grow(nbytes)
            return self._lease()

    def mapping(self, name: str) -> np.ndarray:
        """This process's bytes of the leased slab ``name`` (the main process writes inbound images there)."""
        with self._lock:
            array = self._leased[name].array
        assert array is not None, f"slab {name} was destroyed while leased"
        return array

    def receive(self, encoded: Any, ticket: SlabTicket | None, need: SlabNeed | None) -> Any:
        """Turn a result's ``SlabPlace`` entries back into tensors viewing the slab, and lease the
        slab to those tensors; a slab the result did not use is free again at once."""
        with self._lock:
            return self._receive(encoded, ticket, need)

    def _receive(self, encoded: Any, ticket: SlabTicket | None, need: SlabNeed | None) -> Any:
        if need is not None:
            self._grow(need.nbytes)
        if ticket is None:
            return encoded
        slab = self._leased.get(ticket.name)
        places = {k: v for k, v in (encoded or {}).items() if isinstance(v, SlabPlace)}
        if slab is None or slab.array is None:
            if places:
                raise RuntimeError(f"a result lies in shared-memory slab {ticket.name}, which is gone")
            return encoded
        if not places:
            self.release(ticket.name)
            return encoded
        self.carried += 1
        used = max(place.offset + place.nbytes for place in places.values())
        lease = slab.array[:used]  # a new array object: every tensor below keeps it alive
        weakref.finalize(lease, self.release, ticket.name)
        whole = torch.from_numpy(lease)
        for key, place in places.items():
            encoded[key] = (
                whole[place.offset : place.offset + place.nbytes].view(place.dtype).view(place.shape)
            )
        return encoded

    def _grow(self, nbytes: int) -> None:
        """Slabs made from now on hold ``nbytes`` with ``HEADROOM``, in whole MiB (never shrinks)."""
        self.capacity = max(self.capacity, -(-int(nbytes * HEADROOM) // MiB) * MiB)

    def leased(self) -> int:
        """Slabs leased now (to batches in flight or tensors still alive)."""
        with self._lock:
            return len(self._leased)

    def names(self) -> list[str]:
        """Every slab the ring owns now (free or leased)."""
        with self._lock:
            return [*self._leased, *(slab.name for slab in self._free)]

    def release(self, name: str) -> None:
        """The batch leased ``name`` is gone (or never used it): the slab is free for the next."""
        with self._lock:
            slab = self._leased.pop(name, None)
            if slab is None:
                return
            if self._closed:
                slab.destroy()
            else:
                self._free.append(slab)

    def close(self) -> None:
        """Unlink every slab; those still viewed by tensors are unmapped when the tensors go."""
        with self._lock:
            self._closed = True
            for slab in self._free:
                slab.destroy()
            self._free.clear()
            for slab in self._leased.values():
                slab.unlink()
