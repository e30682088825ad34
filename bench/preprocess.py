"""The preprocessing ceiling: the adapter's own CPU preparation with no model, per worker count.

A run cannot answer faster than its batches are prepared. This measures that rate
alone, through the code the adapter runs (``_plan``, ``_sample_jobs`` on the dataset
in this process, ``BatchPreparer`` in ``PreprocessPool`` workers), on the same
workloads and batch size as the end-to-end rows, so a reader can put it beside the
model-only rate (samples / time inside ``generate``) and see which one bounds a run.

Rows: ``0`` workers = one thread in this process (what ``prefetch_batches`` does,
with torch's default intra-op threads), ``W`` >= 1 = that many worker processes
(one torch thread each). Start-up is excluded: before the clock starts, every batch (and at least
twice the batches in flight) has passed through the pool once: every worker started, the
shared-memory slabs made and grown to the largest batch, as in a long run after its first
batches. Dataset reads, job pickling and the transfer of the encoded tensors back are included.
``worker CPU s/sample`` is CPU time inside the preparation itself, so ``1 / it`` is the rate one free core sustains, whatever else
the machine was doing: the number to multiply by a GPU machine's cores. ``main CPU
ms/sample`` is this process's share (all its threads), the serial part no worker
count removes: ``1000 / it`` bounds the rate of any pool.

Pixels come back as uint8 and are finished (the 256-entry table lookup to the model's
dtype, ``ov_eval/models/pixels.py``) where the model runs: on a GPU, on the device. That
step is therefore not in these rows; the in-process row times it separately on this CPU
(``finish_s``, excluded from its wall and CPU time), which is what a CPU run pays for it.
"""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from bench.runners import SPLIT, TASK, requests_for
from bench.workloads import Workload
from ov_eval.models.batching import plan_batches, settings_key
from ov_eval.models.hf_port import load_processor
from ov_eval.models.llava_onevision import LlavaOneVision
from ov_eval.models.model_args import AdapterArgs
from ov_eval.models.pixels import PixelTables
from ov_eval.models.preprocess_pool import (
    BatchPreparer,
    BatchResult,
    PreprocessPool,
    batches_in_flight,
    shared_memory_has_room,
    usable_cores,
)

PREFETCH_BATCHES = AdapterArgs.prefetch_batches  # the adapter's default slack


@dataclass
class PrepMeasurement:
    workload: str
    workers: int  # 0 = one thread in this process
    samples: int
    wall_s: float
    worker_cpu_s: float  # CPU time inside the preparation (all workers together)
    main_cpu_s: float  # this process's CPU over the timed loop, all its threads: dataset reads, job
    # pickling, receiving the tensors (with 0 workers: the whole preparation); the serial share
    returned_bytes: int  # encoded tensors handed back (pixel values dominate)
    pickled_bytes: int  # one pass's jobs pickled (what travels to workers without an inbound slab)
    pickle_s: float  # time to pickle those jobs once, in this process
    round: int = 0  # which pass over the worker counts (rounds interleave them to share drift)
    finish_s: float | None = None  # uint8 -> dtype on this CPU, all samples (in-process row only)
    passes: int = 1  # times the timed stream went over the workload's batches (``min_seconds``)

    @property
    def prepared(self) -> int:
        """Samples prepared in the timed stream: the workload's, once per pass."""
        return self.samples * self.passes

    @property
    def samples_per_s(self) -> float:
        return self.prepared / self.wall_s

    @property
    def cpu_s_per_sample(self) -> float:
        return self.worker_cpu_s / self.prepared


@dataclass
class TimedResult(BatchResult):
    """A ``BatchResult`` (so it travels back as the adapter's do) with the CPU time its call took in
    the worker and the size of the tensors it hands back."""

    cpu_s: float = 0.0
    returned_bytes: int = 0


class TimedPreparer(BatchPreparer):
    """``BatchPreparer`` that also measures its call."""

    def __call__(self, jobs) -> TimedResult:  # type: ignore[override]
        start = time.process_time()
        result = super().__call__(jobs)
        cpu = time.process_time() - start
        encoded = result.encoded or {}
        size = sum(int(v.nbytes) for v in encoded.values() if hasattr(v, "nbytes"))
        return TimedResult(outcomes=result.outcomes, encoded=result.encoded, cpu_s=cpu, returned_bytes=size)


def _view(pretrained: str, batch_size: int, docs) -> LlavaOneVision:
    """A model-less adapter: planning and job building only read args, processor and task_dict."""
    args = AdapterArgs(pretrained=pretrained, batch_size=batch_size)
    view = LlavaOneVision.preparation_view(args, load_processor(args))
    view.task_dict = {TASK: {SPLIT: docs}}
    return view


def _batches(view: LlavaOneVision, requests) -> list:
    planned = []
    for index, request in enumerate(requests):
        context, gen_kwargs, doc_to_visual, doc_id, task, split = request.args
        planned.append(
            view._plan(index, context, doc_to_visual, task, split, doc_id, settings_key(gen_kwargs))
        )
    return plan_batches(planned, view.args.batch_size)


def _jobs(view: LlavaOneVision, requests, batch) -> list:
    return [job for _index, job in view._sample_jobs(requests, batch) if not isinstance(job, str)]


def measure_workload(
    workload: Workload,
    workers: int,
    *,
    pretrained: str,
    batch_size: int,
    dtype: torch.dtype = torch.float32,
    round_: int = 0,
    min_seconds: float = 0.0,
) -> PrepMeasurement:
    """One timed stream of the workload's batches through ``workers`` (0: this process). The stream
    goes over the batches in whole passes until ``min_seconds`` have gone by when a pass has been
    handed out: the pipeline fills once and drains once per stream, as in a run, and a stream of a
    second or two (36 single images on 2 workers) would count that fill (the first batch of each
    worker waits for the main process to read and hand out the ones before it) as a tenth of its
    time, where a long run does not."""
    view = _view(pretrained, batch_size, workload.docs)
    requests = requests_for(workload, max_new_tokens=1)
    batches = _batches(view, requests)
    all_jobs = [_jobs(view, requests, batch) for batch in batches]
    pickle_start = time.perf_counter()
    payload = pickle.dumps(all_jobs)
    pickle_s = time.perf_counter() - pickle_start
    cpu_s = 0.0
    returned = 0
    passes = 0

    def stream():
        nonlocal passes
        while True:
            for i, batch in enumerate(batches):
                yield i, _jobs(view, requests, batch)
            passes += 1
            # ``start`` and ``finish_s`` are the timed stream's, set below: its time as its wall counts it
            if time.perf_counter() - start - (finish_s or 0.0) >= min_seconds:
                return

    finish_s = None
    if workers == 0:
        preparer = TimedPreparer(LlavaOneVision, view.args, pickle.dumps(view.processor))
        tables = PixelTables.from_processor(view.processor)
        preparer(all_jobs[0])  # warm-up, as for the workers
        finish_s = finish_cpu = 0.0
        start, main_start = time.perf_counter(), time.process_time()
        for _i, jobs in stream():
            result = preparer(jobs)
            cpu_s += result.cpu_s
            returned += result.returned_bytes
            finish_start, finish_cpu_start = time.perf_counter(), time.process_time()
            tables.finish_all(dict(result.encoded or {}), dtype)
            finish_s += time.perf_counter() - finish_start
            finish_cpu += time.process_time() - finish_cpu_start
        wall = time.perf_counter() - start - finish_s
        main_cpu = time.process_time() - main_start - finish_cpu
    else:
        pool = PreprocessPool(
            workers,
            TimedPreparer,
            (LlavaOneVision, view.args, pickle.dumps(view.processor)),
            pin=view.args.pin_preprocess_workers,  # the adapter's defaults
            slabs=shared_memory_has_room(),
        )
        try:
            in_flight = batches_in_flight(workers, PREFETCH_BATCHES)
            # start-up: every worker started, the shared-memory slabs made and grown to the largest
            # batch (what a long run converges to after its first batches)
            warm = ((i, all_jobs[i % len(all_jobs)]) for i in range(max(2 * in_flight, len(all_jobs))))
            for _warm in pool.ordered(warm, in_flight=in_flight, on_broken=_refuse):
                pass
            start, main_start = time.perf_counter(), time.process_time()
            for _i, result in pool.ordered(stream(), in_flight=in_flight, on_broken=_refuse):
                cpu_s += result.cpu_s
                returned += result.returned_bytes
                del result  # the consumer is done with the batch: its slab is free again
            wall, main_cpu = time.perf_counter() - start, time.process_time() - main_start
        finally:
            pool.close()
    return PrepMeasurement(
        workload=workload.name,
        workers=workers,
        samples=len(workload),
        wall_s=wall,
        worker_cpu_s=cpu_s,
        main_cpu_s=main_cpu,
        returned_bytes=returned,
        pickled_bytes=len(payload),
        pickle_s=pickle_s,
        round=round_,
        finish_s=finish_s,
        passes=passes,
    )


def _refuse(_key, _payload):
    raise RuntimeError("a preprocessing worker died during the benchmark")


def measure(
    workloads: list[Workload],
    worker_counts: list[int],
    *,
    pretrained: str | Path,
    batch_size: int,
    dtype: torch.dtype = torch.float32,
    rounds: int = 1,
    min_seconds: float = 0.0,
) -> list[PrepMeasurement]:
    """Every workload at every worker count, ``rounds`` times. A round measures the counts one
    after the other, so a drift of the machine's speed (other tenants, clock changes) lands on
    all counts of a round alike; ratios are taken within a round and their median reported."""
    return [
        measure_workload(
            workload,
            workers,
            pretrained=str(pretrained),
            batch_size=batch_size,
            dtype=dtype,
            round_=round_,
            min_seconds=min_seconds,
        )
        for workload in workloads
        for round_ in range(rounds)
        for workers in worker_counts
    ]


def default_worker_counts() -> list[int]:
    """0 (in-process thread), then 1, 2, 4, ... up to the usable cores (and the cores themselves)."""
    cores = usable_cores()
    counts, n = [0], 1
    while n < cores:
        counts.append(n)
        n *= 2
    return [*counts, cores]
