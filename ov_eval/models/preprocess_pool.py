"""CPU preparation of batches in worker processes, so that a GPU is not left waiting for one core.

Decoding videos, building AnyRes crops, resizing, normalising and tokenising cost
0.1-0.5 s of CPU per sample, which is what a GPU needs to *answer* a sample. One
preparing thread (``prefetch_batches``) caps a GPU run at one core's rate; this
module spreads the same work over processes:

* ``PreprocessPool``: a ``concurrent.futures.ProcessPoolExecutor`` started with
  ``spawn`` (``fork`` would copy a process that already runs torch, tokenizer and
  loader threads, which can deadlock the child), one processor per worker built
  once by the initializer, results handed back **in submission order** with at most
  ``in_flight`` batches submitted but not yet consumed (memory stays bounded).
* Each worker runs on its own share of the cores (``core_shares``; ``pin_preprocess_workers``):
  a video worker's decoding thread then hands frames over on its own core instead of waiting
  for wake-ups across cores. Workers run at a lower priority (``WORKER_NICENESS``) than the
  main process, whose model loop shares a core with one of them.
* Encoded tensors come back through shared memory: the large ones (pixels) in slabs the
  main process reuses batch after batch (``shared_slabs.py``), the small ones as torch pickles
  them; through the pipe as bytes where ``/dev/shm`` is too small (a container's default).
  Pixels travel as uint8 and are finished on the model's device (``pixels.py``). A batch's
  in-memory PIL images go to the worker through a slab of a second ring (``pack_images``).
* ``BatchPreparer``: what a worker runs per batch. It calls the adapter's own
  ``_build_sample`` and ``_processor_inputs`` on a model-less instance holding the
  adapter's ``args`` and a pickled copy of its processor, so pool and inline path
  share one implementation and produce identical tensors, whatever backend the
  processor uses.

Failures keep their inline meaning: a ``SampleError`` costs its sample (reported
back as its cause), a bug raises in the main process, and a worker that dies
(a decoder segfault, the OOM killer) breaks only the batches in flight, which are
then prepared again one sample per task in a fresh pool, so that the sample that
kills a worker is the only one lost. Workers ignore Ctrl-C (the main process owns
the shutdown), exit by themselves when the main process disappears, and are
terminated when a consumer stops early (an exception or Ctrl-C in the model loop).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from typing import Any

from loguru import logger

from ov_eval.models.errors import SampleError
from ov_eval.models.shared_slabs import (
    SHARED_MEMORY_DIR,
    SlabRing,
    SlabTicket,
    pack_images,
    unpack_images,
    write_into_slab,
)

START_METHOD = "spawn"
PARENT_POLL_S = 1.0


def default_workers(device: str) -> int:
    """Worker processes when ``preprocess_workers`` is not given.

    On a GPU the cores are free for preparation: all cores usable by this process,
    divided among the ranks of this machine under ``accelerate launch`` / torchrun
    (``LOCAL_WORLD_SIZE``). On CPU the model itself runs on those cores (torch's
    intra-op threads), and preparing elsewhere only competes with it: no workers.
    """
    if not device.startswith("cuda"):
        return 0
    return max(1, usable_cores() // local_ranks())


def local_ranks() -> int:
    """Ranks on this machine: ``LOCAL_WORLD_SIZE`` under ``accelerate launch`` / torchrun, else 1."""
    return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, e.g. under taskset or a container's cpuset)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def core_shares(workers: int, cores: Iterable[int] | None = None) -> list[frozenset[int]] | None:
    """The cores each worker may run on: this process's usable cores cut into ``workers`` contiguous
    shares as even as possible (16 cores, 16 workers: one each; 8 cores, 3 workers: 3, 3, 2).

    Why: a worker that decodes video runs two busy threads (decord decodes on a thread of its own and
    hands every frame over). Left to the kernel, the threads of all workers migrate between cores and
    wait for each other's wake-ups; with one share per worker they stay put. Measured on the 2-core
    VM, 2 workers on 32-frame videos: 10.05 -> 12.71 samples/s in the ceiling, idle CPU 15 % -> 0-3 %
    (docs/bench.md).

    ``None`` (no pinning) where shares would not be one's own: a single worker (its share is every
    core anyway), more workers than cores, several ranks on this machine (``LOCAL_WORLD_SIZE`` > 1:
    each rank sees the same cores and would pin its workers onto the same ones), or no
    ``sched_setaffinity`` on this platform."""
    if not hasattr(os, "sched_setaffinity") or workers < 2:
        return None
    if local_ranks() > 1:
        return None
    ordered = sorted(os.sched_getaffinity(0) if cores is None else cores)
    if len(ordered) < workers:
        return None
    size, extra = divmod(len(ordered), workers)
    shares, start = [], 0
    for i in range(workers):
        end = start + size + (1 if i < extra else 0)
        shares.append(frozenset(ordered[start:end]))
        start = end
    return shares


def batches_in_flight(workers: int, prefetch_batches: int) -> int:
    """Batches submitted to the pool and not yet consumed: one per worker plus ``prefetch_batches``
    (at least one) of slack. Results are taken in order, so with one batch per worker a worker whose
    batch finished early would wait for a slower one ahead of it (AnyRes batches differ up to 5x in
    cost); the slack keeps it busy. It is also the memory bound: at most this many prepared batches
    exist at once."""
    return workers + max(1, prefetch_batches)


# ---------------------------------------------------------------- what travels between processes
@dataclass(frozen=True)
class SampleJob:
    """One sample's inputs as the worker needs them: no ``Instance`` (its ``doc_to_visual`` may be a
    lambda), no dataset; ``raw`` is what the task's ``doc_to_visual`` returned (PIL images, paths)."""

    index: int
    request_type: str
    context: Any
    raw: list
    task: str
    split: str
    doc_id: int
    continuation: str = ""


@dataclass
class BatchResult:
    """Per job, in job order: the prepared sample (decoded visuals dropped) or the failure cause;
    ``encoded`` is the processor output for the successful samples (``None`` if that step failed,
    the model step then re-encodes and isolates the culprit, as inline)."""

    outcomes: list[Any] = field(default_factory=list)
    encoded: Any = None


Tickets = tuple[SlabTicket | None, SlabTicket | None]  # a batch's slabs: results back, images out
SHARED_MEMORY_MIN_FREE = 4 << 30  # room for a few batches of 16 videos (~0.9 GB each in float32)


def shared_memory_has_room(path: str = SHARED_MEMORY_DIR) -> bool:
    """Whether encoded tensors can travel as shared memory (torch's own tensor pickling: one copy in
    the worker, none in the main process). A container's default ``/dev/shm`` (64 MiB in docker)
    cannot hold a batch of videos; the pipe is then used instead."""
    try:
        stats = os.statvfs(path)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize >= SHARED_MEMORY_MIN_FREE


def _numpy_tensors(encoded: Any) -> Any:
    """Tensors as numpy arrays, so they travel through the pipe as bytes (about 4 copies, one of
    them in the main process; measured 0.3 s per batch of three 32-frame videos on a busy core)."""
    if encoded is None:
        return None
    for key, value in list(encoded.items()):
        if hasattr(value, "numpy"):
            encoded[key] = value.numpy()
    return encoded


def torch_tensors(encoded: Any) -> Any:
    """Inverse of ``_numpy_tensors`` (zero-copy)."""
    if encoded is None:
        return None
    import numpy as np
    import torch

    for key, value in list(encoded.items()):
        if isinstance(value, np.ndarray):
            encoded[key] = torch.from_numpy(value)
    return encoded


class BatchPreparer:
    """Runs in a worker: the adapter's own preparation methods (``_build_from_job``,
    ``_processor_inputs``) on its model-less ``preparation_view``."""

    def __init__(self, adapter_class: type, args: Any, processor_bytes: bytes) -> None:
        self.view = adapter_class.preparation_view(args, pickle.loads(processor_bytes))
        self.pipe_tensors = not shared_memory_has_room()

    def build(self, job: SampleJob) -> Any:
        return self.view._build_from_job(job)

    def __call__(self, jobs: list[SampleJob]) -> BatchResult:
        result = BatchResult()
        samples = []
        for job in jobs:
            try:
                sample = self.build(job)
            except SampleError as exc:
                result.outcomes.append(exc.cause)
                continue
            samples.append(sample)
            result.outcomes.append(sample)
        if samples:
            try:
                result.encoded = self.view._processor_inputs(self.view.processor, samples)
            except Exception:  # noqa: BLE001 - as inline: the model step re-encodes and isolates the culprit
                result.encoded = None
        if self.pipe_tensors:
            result.encoded = _numpy_tensors(result.encoded)
        for sample in samples:
            sample.visuals = None  # decoded frames are large and only the encoded tensors are used
        return result


# ---------------------------------------------------------------- worker process side
_worker_state: Callable[[Any], Any] | None = None


def _watch_parent(parent_pid: int) -> None:
    """Exit when the main process is gone (killed with SIGKILL, say): no orphans left behind."""
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent_pid:
            os._exit(0)


M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's mallopt parameters (malloc.h)


def keep_freed_memory() -> bool:
    """Let this process reuse the memory it frees instead of handing it back to the kernel.

    Preparing a sample allocates a few arrays of 20-60 MB (float32 crops and frames, their
    stacked and normalised copies). glibc serves blocks that large with a fresh ``mmap`` and
    unmaps them on free, so every batch page-faults its memory in again: measured here, kernel
    time was 40 % of a worker's CPU on 32-frame videos and 25 % on AnyRes images, and this
    halves it. The price is that a worker keeps its peak memory (one batch's intermediates)
    until it exits. Returns whether the setting took (glibc only; elsewhere a no-op)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))


def _take_share(shares: list[frozenset[int]] | None, slots: Any) -> None:
    """Pin this worker (and every thread it starts later: decord's, the tokenizer's) to the next
    unclaimed share of ``core_shares``; ``slots`` is a counter shared by the pool's workers."""
    if not shares or slots is None:
        return
    with slots.get_lock():
        slot = slots.value
        slots.value += 1
    with contextlib.suppress(OSError):  # a core went offline or the cpuset changed since: run unpinned
        os.sched_setaffinity(0, shares[slot % len(shares)])


WORKER_NICENESS = 10  # CFS weight 110 against the main process's 1024: it keeps ~90 % of a shared core


def _yield_to_the_model_loop() -> None:
    """Run this worker at a lower priority than the main process.

    By default there is one worker per core, so the main process (the model loop: on a GPU it
    launches the kernels, a CPU-bound loop for a small model) shares a core with a worker, and
    at equal priority gets half of it, or less once pinned workers cannot move away. Preparation
    only matters as far as it keeps that loop fed, so the loop goes first. Measured with an
    ad-hoc script on the 2-vCPU VM (two workers pinned and busy, a Python loop in the parent):
    docs/bench.md."""
    with contextlib.suppress(OSError, AttributeError):  # no nice() on this platform: equal priority
        os.nice(WORKER_NICENESS)


def _initialize(
    factory: Callable[..., Any],
    factory_args: tuple,
    parent_pid: int,
    shares: list[frozenset[int]] | None = None,
    slots: Any = None,
) -> None:
    global _worker_state
    _take_share(shares, slots)  # first: threads started below inherit the affinity
    _yield_to_the_model_loop()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    # One core per worker, the pool is the parallelism: a fast tokenizer would otherwise start a
    # thread per core for every padded batch: 3-15 % more CPU per sample here (docs/bench.md).
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    keep_freed_memory()
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="ov-eval-watch").start()
    _worker_state = factory(*factory_args)
    if "torch" in sys.modules:  # imported by the factory's processor, if it uses torch at all
        sys.modules["torch"].set_num_threads(1)  # one core per worker; the pool is the parallelism


def _run(payload: Any) -> Any:
    assert _worker_state is not None, "worker used before its initializer ran"
    return _worker_state(payload)


def _run_into_slab(
    ticket: SlabTicket | None, payload: Any, inbound: SlabTicket | None = None
) -> tuple[Any, Any]:
    """``_run`` on the payload with its images taken out of the ``inbound`` slab, then the large
    tensors of the result's ``encoded`` go into the ticket's slab."""
    if inbound is not None:
        payload = _with_raws(payload, unpack_images([job.raw for job in payload], inbound))
    result = _run(payload)
    return result, write_into_slab(getattr(result, "encoded", None), ticket)


def _with_raws(jobs: list[SampleJob], raws: list[list]) -> list[SampleJob]:
    """The jobs with their visuals replaced (images packed into, or unpacked from, a slab)."""
    return [replace(job, raw=raw) for job, raw in zip(jobs, raws, strict=True)]


def _is_jobs(payload: Any) -> bool:
    return isinstance(payload, list) and bool(payload) and all(isinstance(job, SampleJob) for job in payload)


# ---------------------------------------------------------------- main process side
class PreprocessPool:
    """``workers`` processes, each holding ``factory(*factory_args)`` (a callable), fed in order;
    with ``pin``, each worker runs on its own share of the cores (``core_shares``); with ``slabs``,
    ``ordered`` hands the large tensors of results that have an ``encoded`` dict back through
    reused shared memory (``shared_slabs``), and sends the PIL images of ``SampleJob`` payloads
    through a second ring (``inbound``)."""

    def __init__(
        self,
        workers: int,
        factory: Callable[..., Any],
        factory_args: tuple,
        *,
        pin: bool = False,
        slabs: bool = False,
    ) -> None:
        if workers < 1:
            raise ValueError(f"a preprocessing pool needs at least one worker, got {workers}")
        self.workers = workers
        self._factory = factory
        self._factory_args = factory_args
        self.shares = core_shares(workers) if pin else None
        self.slabs = SlabRing(limit=1) if slabs else None
        self.inbound = SlabRing(limit=1) if slabs else None
        for ring in self._rings():  # an adapter never closes its pool: /dev/shm is cleared at exit
            weakref.finalize(self, ring.close)
        self._executor: ProcessPoolExecutor | None = None
        self.generation = 0  # bumped by terminate(): which executor a future was submitted to

    def _rings(self) -> list[SlabRing]:
        return [ring for ring in (self.slabs, self.inbound) if ring is not None]

    # -- lifecycle
    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            context = multiprocessing.get_context(START_METHOD)
            slots = context.Value("i", 0) if self.shares else None  # a fresh pool hands out shares anew
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                initializer=_initialize,
                initargs=(self._factory, self._factory_args, os.getpid(), self.shares, slots),
            )
            # shut down before interpreter teardown, not when module globals are already gone
            weakref.finalize(self, self._executor.shutdown, wait=True, cancel_futures=True)
        return self._executor

    def worker_pids(self) -> list[int]:
        executor = self._executor
        return sorted((getattr(executor, "_processes", None) or {}).keys()) if executor else []

    def close(self) -> None:
        """Let workers finish their current task and exit; then free the slabs (tensors still
        viewing one keep its memory until they go)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        for ring in self._rings():
            ring.close()

    def terminate(self) -> None:
        """Stop now: queued work is dropped and running workers are killed (no waiting on a batch of
        videos after Ctrl-C). ``ProcessPoolExecutor`` has no public way to do this before 3.14."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        self.generation += 1
        processes = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)

    def submit(self, payload: Any) -> Future:
        return self._pool().submit(_run, payload)

    # -- ordered, bounded streaming
    def ordered(
        self,
        items: Iterable[tuple[Any, Any]],
        in_flight: int,
        on_broken: Callable[[Any, Any], Any],
    ) -> Iterator[tuple[Any, Any]]:
        """For ``(key, payload)`` items, yield ``(key, result)`` in input order, at most ``in_flight``
        payloads submitted and not yet yielded. A payload whose worker died (``BrokenProcessPool``,
        which fails every task in flight) is handed to ``on_broken(key, payload)``, whose return value
        is yielded in its place; later payloads go to a fresh pool. If the consumer stops early (an
        exception or Ctrl-C in the model loop), the workers are terminated."""
        upcoming = iter(items)
        pending: deque[tuple[Any, Any, Future | None, int, Tickets]] = deque()
        slabs, inbound = self.slabs, self.inbound
        for ring in self._rings():
            # in flight, plus the batch the consumer works on and the one before it (not yet
            # dropped); beyond that a batch travels pickled, so /dev/shm use stays bounded
            ring.limit = max(1, in_flight) + 2

        def submit(tickets: Tickets, payload: Any) -> Future:
            if slabs is None:
                return self.submit(payload)
            out, images = tickets
            return self._pool().submit(_run_into_slab, out, payload, images)

        def pack(payload: Any) -> tuple[Any, SlabTicket | None]:
            """The payload with its images in an inbound slab, and that slab's ticket (or none)."""
            if inbound is None or not _is_jobs(payload):
                return payload, None
            raws, ticket = pack_images([job.raw for job in payload], inbound)
            return (payload, None) if ticket is None else (_with_raws(payload, raws), ticket)

        def submit_next() -> None:
            item = next(upcoming, None)
            if item is None:
                return
            key, payload = item
            sent, images = pack(payload)
            tickets = (slabs.lease() if slabs is not None else None, images)
            try:
                future = submit(tickets, sent)
            except BrokenProcessPool:
                # a worker died after the last result was taken: this payload goes to a fresh pool;
                # the futures of the broken one fail when their turn comes and are redone then
                self.terminate()
                future = submit(tickets, sent)
            pending.append((key, payload, future, self.generation, tickets))

        def received(future: Future, tickets: Tickets) -> Any:
            try:
                outcome = future.result()
            except BaseException:
                give_back(tickets)
                raise
            if slabs is None:
                return outcome
            give_back((None, tickets[1]))  # the worker is done with the batch's images
            result, need = outcome
            slabs.receive(getattr(result, "encoded", None), tickets[0], need)
            return result

        def give_back(tickets: Tickets) -> None:
            for ring, ticket in zip((slabs, inbound), tickets, strict=True):
                if ring is not None and ticket is not None:
                    ring.release(ticket.name)

        finished = False
        try:
            for _ in range(max(1, in_flight)):
                submit_next()
            while pending:
                key, payload, future, generation, tickets = pending.popleft()
                try:
                    if future is None:
                        give_back(tickets)
                        result = on_broken(key, payload)
                    else:
                        result = received(future, tickets)
                except (BrokenProcessPool, CancelledError) as exc:
                    logger.warning(
                        f"[ov-eval] a preprocessing worker died ({type(exc).__name__}: {exc}); "
                        "preparing the batches in flight again"
                    )  # this batch's slabs were given back where its future failed (``received``)
                    # futures of the broken executor are redone unless they finished in time;
                    # those of a fresh executor started since then are healthy and kept
                    pending = deque(
                        (k, p, _kept(f) if g == generation else f, g, t) for k, p, f, g, t in pending
                    )
                    if generation == self.generation:
                        self.terminate()  # a broken executor takes no more work; the next submit starts one
                    result = on_broken(key, payload)
                yield key, result
                submit_next()
            finished = True
        finally:
            if not finished:
                self.terminate()
                for _key, _payload, _future, _generation, tickets in pending:
                    give_back(tickets)  # their workers are gone: nothing uses these slabs now


def _kept(future: Future | None) -> Future | None:
    """A future that finished well before its pool broke keeps its result; the others are redone."""
    if future is not None and future.done() and not future.cancelled() and future.exception() is None:
        return future
    return None


def prepare_isolated(pool: PreprocessPool, jobs: list[SampleJob], died: str) -> BatchResult:
    """Prepare ``jobs`` one per task after a worker died: a sample that kills a worker again costs
    only itself (its outcome becomes the cause ``died``), and the pool is restarted for the next one.
    ``encoded`` stays ``None``: the model step encodes the survivors itself, as for a batch whose
    processor call failed."""
    merged = BatchResult()
    for job in jobs:
        try:
            merged.outcomes += pool.submit([job]).result().outcomes
        except (BrokenProcessPool, CancelledError):
            pool.terminate()
            merged.outcomes.append(died)
    return merged
