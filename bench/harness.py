"""One benchmark run: every variant over every workload in one process, then ratios and FLOPs.

Variants (all on the same checkpoint, device, dtype and inputs):

* ``baseline``: lmms-eval's ``llava_hf`` (simple) at batch size 1, the built-in path;
* ``ours_bs1``: our adapter at batch size 1, no background preparation;
* ``ours_batched``: batch size N, no background preparation  -> batching gain;
* ``ours_overlapped``: batch size N, ``prefetch_batches`` ahead, the adapter's default
  ``preprocess_workers`` (a worker pool on GPU, the background thread on CPU) -> overlap gain;
* ``ours_task_stops`` / ``ours_torchvision``: ``ours_overlapped`` with ``stop_strings=task`` /
  ``image_backend=torchvision`` -> what the original driver's exact defaults cost.

Beside them, the preprocessing ceiling (``bench/preprocess.py``): the same preparation
with no model, per worker count, and the model-only rate (samples / time inside
``generate``) of ``ours_batched``: whichever is lower bounds the run.

Batch invariance is read off the same runs (``ours_bs1`` vs ``ours_overlapped``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from bench import preprocess
from bench import workloads as workload_builders
from bench.checkpoints import count_parameters, ensure_checkpoint
from bench.flops import FlopCount, count_flops, matmul_peak_flops
from bench.preprocess import PrepMeasurement
from bench.report import (
    BASELINE,
    OURS_BATCHED,
    OURS_BS1,
    OURS_OVERLAPPED,
    OURS_TASK_STOPS,
    OURS_TORCHVISION,
    Gains,
    gains,
)
from bench.runners import Measurement, Variant, measure


@dataclass
class Options:
    config: str = "tiny"
    device: str = "cpu"
    dtype: str = "float32"
    attn: str = "sdpa"
    samples: int = 6
    batch_size: int = 3
    prefetch_batches: int = 2
    max_new_tokens: int = 16
    workloads: tuple[str, ...] = workload_builders.WORKLOADS
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "ov_eval" / "bench")
    init_std: float = 0.02
    matmul_size: int = 2048
    preprocess_workers: tuple[int, ...] = ()  # worker counts of the ceiling; () = skip it
    preprocess_samples: int = 12
    preprocess_rounds: int = 1
    preprocess_min_seconds: float = 0.0  # each timed stream passes over its batches at least this long
    preprocess_only: bool = False


@dataclass
class BenchResult:
    checkpoint: Path
    measurements: list[Measurement]
    gains: dict[str, Gains]
    flops: dict[str, tuple[FlopCount, float]]
    matmul_peak: float
    preprocessing: list[PrepMeasurement] = field(default_factory=list)


def variants(options: Options) -> list[Variant]:
    n = options.batch_size
    return [
        Variant(BASELINE, "llava_hf"),
        Variant(OURS_BS1, "ov", batch_size=1, prefetch_batches=0),
        Variant(OURS_BATCHED, "ov", batch_size=n, prefetch_batches=0),
        Variant(OURS_OVERLAPPED, "ov", n, options.prefetch_batches, preprocess_workers=None),
        Variant(
            OURS_TASK_STOPS, "ov", n, options.prefetch_batches, stop_strings="task", preprocess_workers=None
        ),
        Variant(
            OURS_TORCHVISION,
            "ov",
            n,
            options.prefetch_batches,
            image_backend="torchvision",
            preprocess_workers=None,
        ),
    ]


def _parameters(checkpoint: Path) -> dict[str, int]:
    """Counted on the meta device from the checkpoint's own config: exact and free."""
    from transformers import AutoConfig, LlavaOnevisionForConditionalGeneration

    config = AutoConfig.from_pretrained(checkpoint)
    with torch.device("meta"):
        model = LlavaOnevisionForConditionalGeneration(config)
    return count_parameters(model)


def run_preprocessing(options: Options, checkpoint: Path) -> list[PrepMeasurement]:
    if not options.preprocess_workers:
        return []
    loads = [
        workload_builders.build(name, options.preprocess_samples, options.cache_dir / "media")
        for name in options.workloads
    ]
    return preprocess.measure(
        loads,
        list(options.preprocess_workers),
        pretrained=checkpoint,
        batch_size=options.batch_size,
        dtype=getattr(torch, options.dtype),
        rounds=options.preprocess_rounds,
        min_seconds=options.preprocess_min_seconds,
    )


def run_benchmark(options: Options) -> BenchResult:
    checkpoint = ensure_checkpoint(options.config, options.cache_dir, options.device, options.init_std)
    if options.preprocess_only:
        return BenchResult(checkpoint, [], {}, {}, 0.0, run_preprocessing(options, checkpoint))
    loads = [
        workload_builders.build(name, options.samples, options.cache_dir / "media")
        for name in options.workloads
    ]
    measurements: list[Measurement] = []
    for variant in variants(options):
        measurements += measure(
            variant,
            loads,
            pretrained=str(checkpoint),
            device=options.device,
            dtype=options.dtype,
            attn=options.attn,
            max_new_tokens=options.max_new_tokens,
        )
    by_workload: dict[str, dict[str, Measurement]] = {}
    for m in measurements:
        by_workload.setdefault(m.workload, {})[m.variant.label] = m
    params = _parameters(checkpoint)
    flops = {}
    for name, by_label in by_workload.items():
        best = by_label[OURS_OVERLAPPED]
        count = count_flops(
            params,
            samples=best.samples,
            prompt_tokens=best.counters.prompt_tokens,
            new_tokens=best.counters.new_tokens,
            vision_inputs=best.counters.vision_inputs,
        )
        flops[name] = (count, best.wall_s)
    peak = matmul_peak_flops(options.device, getattr(torch, options.dtype), options.matmul_size)
    return BenchResult(
        checkpoint=checkpoint,
        measurements=measurements,
        gains={name: gains(by_label) for name, by_label in by_workload.items()},
        flops=flops,
        matmul_peak=peak,
        preprocessing=run_preprocessing(options, checkpoint),
    )
