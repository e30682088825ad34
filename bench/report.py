"""Turn measurements into throughput ratios, and a Markdown section for RESULTS.md.

Ratios are only ever taken between variants measured in the same process on the
same inputs; numbers from different runs or machines are never divided.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import torch

from bench.flops import FlopCount
from bench.preprocess import PrepMeasurement
from bench.runners import Measurement

BASELINE, OURS_BS1, OURS_BATCHED, OURS_OVERLAPPED = "baseline", "ours_bs1", "ours_batched", "ours_overlapped"
# ours_overlapped with one exactness setting switched to the faster lmms-eval / HF-port convention
OURS_TASK_STOPS, OURS_TORCHVISION = "ours_task_stops", "ours_torchvision"
SETTING_VARIANTS = {OURS_TASK_STOPS: "stop_strings=task", OURS_TORCHVISION: "image_backend=torchvision"}


@dataclass(frozen=True)
class Gains:
    vs_baseline: float  # ours (batched + overlapped) / llava_hf bs=1
    ours_bs1_vs_baseline: float
    batching: float  # ours bs=N / ours bs=1, both without prefetch
    overlap: float  # ours bs=N prefetch / ours bs=N no prefetch
    invariance_rate: float  # greedy answers equal at bs=N and bs=1
    distinct_answers: int  # among bs=1 answers; equality is vacuous if all are the same


def gains(by_label: dict[str, Measurement]) -> Gains:
    def speed(label: str) -> float:
        return by_label[label].samples_per_s

    single, batched = by_label[OURS_BS1].predictions, by_label[OURS_OVERLAPPED].predictions
    agree = sum(a == b for a, b in zip(single, batched, strict=True))
    return Gains(
        vs_baseline=speed(OURS_OVERLAPPED) / speed(BASELINE),
        ours_bs1_vs_baseline=speed(OURS_BS1) / speed(BASELINE),
        batching=speed(OURS_BATCHED) / speed(OURS_BS1),
        overlap=speed(OURS_OVERLAPPED) / speed(OURS_BATCHED),
        invariance_rate=agree / len(single),
        distinct_answers=len(set(single)),
    )


def git_commit(repo: Path) -> str:
    """HEAD plus a ``+dirty`` mark when tracked files differ (read-only git calls)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True, text=True
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def machine(device: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    text = f"{cpu}, {cores} cores usable, torch {torch.__version__}, torch threads {torch.get_num_threads()}"
    if device.startswith("cuda"):
        text += f", GPU {torch.cuda.get_device_name(device)}"
    else:
        text += ", no GPU used"
    return text


def _mib(value: int) -> str:
    return f"{value / 2**20:,.0f} MiB"


def format_section(
    *,
    title: str,
    command: str,
    commit: str,
    machine_text: str,
    settings: str,
    measurements: list[Measurement],
    workload_gains: dict[str, Gains],
    flops: dict[str, tuple[FlopCount, float]],
    matmul_peak: float,
) -> str:
    """``flops[workload] = (count for the overlapped variant, its wall time)``."""
    lines = [
        f"## {title}",
        "",
        f"* date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"* machine: {machine_text}",
        f"* command: `{command}`",
        f"* git commit: `{commit}`",
        f"* settings: {settings}",
        "",
        "| workload | variant | samples/s | visual tok/s | model busy | peak mem | model calls | visual tok | wall s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in measurements:
        peak = _mib(m.peak_memory_bytes) + ("" if m.peak_memory_resettable else " (process peak)")
        lines.append(
            f"| {m.workload} | {m.variant.label} | {m.samples_per_s:.3f} | {m.visual_tokens_per_s:,.0f} | "
            f"{m.busy_fraction:.0%} | {peak} | {m.counters.calls} | {m.counters.visual_tokens:,} | {m.wall_s:.2f} |"
        )
    lines += [
        "",
        "| workload | ours vs llava_hf bs=1 | ours bs=1 vs llava_hf | batching gain | overlap gain | "
        "bs=N vs bs=1 same answer | distinct answers |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, g in workload_gains.items():
        lines.append(
            f"| {name} | {g.vs_baseline:.2f}x | {g.ours_bs1_vs_baseline:.2f}x | {g.batching:.2f}x | "
            f"{g.overlap:.2f}x | {g.invariance_rate:.1%} | {g.distinct_answers} |"
        )
    lines += [
        "",
        "Cost of the original driver's exact defaults (`stop_strings=none`, `image_backend=pil`): the faster "
        "setting's speed / ours_overlapped's, and how many answers stay the same:",
        "",
        "| workload | setting | speed vs exact defaults | same answer |",
        "|---|---|---:|---:|",
    ]
    by_workload: dict[str, dict[str, Measurement]] = {}
    for m in measurements:
        by_workload.setdefault(m.workload, {})[m.variant.label] = m
    for name, by_label in by_workload.items():
        exact = by_label.get(OURS_OVERLAPPED)
        for label, setting in SETTING_VARIANTS.items():
            if exact is None or label not in by_label:
                continue
            other = by_label[label]
            same = sum(a == b for a, b in zip(exact.predictions, other.predictions, strict=True))
            lines.append(
                f"| {name} | `{setting}` | {other.samples_per_s / exact.samples_per_s:.2f}x | "
                f"{same}/{len(exact.predictions)} |"
            )
    lines += [
        "",
        f"FLOP utilisation (ours, batched + overlapped; ceiling = measured matmul {matmul_peak / 1e12:.3f} TFLOP/s):",
        "",
    ]
    for name, (count, wall) in flops.items():
        rate = count.total / wall
        lines.append(
            f"* {name}: (LLM prefill {count.llm_prefill:.3e} + decode {count.llm_decode:.3e} + vision "
            f"{count.vision:.3e}) FLOP = {count.total:.3e} FLOP / {wall:.2f} s = {rate / 1e12:.4f} TFLOP/s "
            f"= {rate / matmul_peak:.1%} of the ceiling"
        )
    return "\n".join(lines) + "\n"


def append(path: Path, section: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        handle.write("\n" + section)


def _grouped(prep: list[PrepMeasurement]) -> dict[tuple[str, int], list[PrepMeasurement]]:
    """Measurements by (workload, workers), in first-seen order; one per round."""
    groups: dict[tuple[str, int], list[PrepMeasurement]] = {}
    for m in prep:
        groups.setdefault((m.workload, m.workers), []).append(m)
    return groups


def format_preprocessing(
    prep: list[PrepMeasurement],
    measurements: list[Measurement],
    machine_scaling: dict[str, dict[int, float]] | None = None,
    loop_share: tuple[int, float] | None = None,
) -> str:
    """The preprocessing ceiling per worker count, and beside it the model-only rate (samples / time
    inside ``generate`` of ``ours_batched``, where nothing else overlaps it): the lower one bounds."""
    if not prep:
        return ""
    rounds = max(m.round for m in prep) + 1
    lines = [
        "Preprocessing ceiling (the adapter's preparation, no model; 0 workers = one thread in the main "
        "process; start-up excluded"
        + (
            f"; medians of {rounds} rounds, *vs 1 worker* = median of the per-round ratios (range)):"
            if rounds > 1
            else "):"
        ),
        "",
        "| workload | workers | samples/s | vs 1 worker | worker CPU s/sample | 1-core samples/s | "
        "main CPU ms/sample | jobs pickled per sample | tensors back per sample |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (workload, workers), rows in _grouped(prep).items():
        ones = {m.round: m.samples_per_s for m in prep if m.workload == workload and m.workers == 1}
        ratios = [m.samples_per_s / ones[m.round] for m in rows if m.round in ones]
        ratio = "–"
        if workers and ratios:
            ratio = f"{median(ratios):.2f}x"
            if len(ratios) > 1 and workers != 1:
                ratio += f" ({min(ratios):.2f}-{max(ratios):.2f})"
        cpu_per_sample = median(m.cpu_s_per_sample for m in rows)
        per_core = f"{1 / cpu_per_sample:.1f}" if cpu_per_sample > 0 else "–"
        first = rows[0]
        lines.append(
            f"| {workload} | {workers} | {median(m.samples_per_s for m in rows):.2f} | {ratio} | "
            f"{cpu_per_sample:.3f} | {per_core} | {median(1000 * m.main_cpu_s / m.prepared for m in rows):.1f} | "
            f"{first.pickled_bytes / first.samples / 2**20:.2f} MiB in {1000 * first.pickle_s / first.samples:.1f} ms | "
            f"{first.returned_bytes / first.prepared / 2**20:.2f} MiB |"
        )
    finishing = {}
    for m in prep:
        if m.finish_s is not None:
            finishing.setdefault(m.workload, []).append(1000 * m.finish_s / m.prepared)
    if finishing:
        lines += [
            "",
            "Pixels come back as uint8; finishing them (table lookup to the run's dtype) happens where the "
            "model runs, on a GPU on the device, so it is not in the rows above. On this CPU, in-process, "
            "ms/sample: "
            + ", ".join(f"{name} {median(values):.1f}" for name, values in finishing.items())
            + ".",
        ]
    model = {m.workload: m for m in measurements if m.variant.label == OURS_BATCHED}
    overlapped = {m.workload: m for m in measurements if m.variant.label == OURS_OVERLAPPED}
    if model:
        lines += [
            "",
            "| workload | model-only samples/s | preprocessing samples/s (best) | end-to-end samples/s | bound by |",
            "|---|---:|---:|---:|---|",
        ]
        for name, m in model.items():
            rates = {
                w: median(m.samples_per_s for m in rows)
                for (n, w), rows in _grouped(prep).items()
                if n == name
            }
            if not rates:
                continue
            best_workers = max(rates, key=rates.__getitem__)
            model_rate = m.samples / m.counters.busy_s
            e2e = overlapped[name].samples_per_s if name in overlapped else float("nan")
            bound = "model" if model_rate < rates[best_workers] else "preprocessing"
            lines.append(
                f"| {name} | {model_rate:.2f} | {rates[best_workers]:.2f} ({best_workers} workers) | "
                f"{e2e:.2f} | {bound} |"
            )
    if machine_scaling:
        probes = "; ".join(
            f"{probe}: " + ", ".join(f"{w} processes {r:.2f}x" for w, r in sorted(ratios.items()))
            for probe, ratios in machine_scaling.items()
        )
        lines += [
            "",
            f"Machine scaling right after, probes sharing nothing (`bench/calibrate.py`) vs one process: {probes}",
        ]
    if loop_share:
        workers, share = loop_share
        lines += [
            "",
            f"Model loop beside the pool (`bench/calibrate.py`): a single-threaded Python loop in this process ran at "
            f"{share:.2f}x its rate alone while {workers} pool workers (pinned, lower priority: the adapter's "
            "defaults) kept their cores busy",
        ]
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    if load is not None:
        lines += [
            "",
            f"Load average after the run (1/5/15 min): {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}",
        ]
    return "\n".join(lines) + "\n"
