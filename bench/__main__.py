"""``python -m bench``: time the adapter against lmms-eval's ``llava_hf`` and append to RESULTS.md.

CPU (always available, a few minutes): python -m bench
GPU (real-size random weights):        python -m bench --config 7b --device cuda
Preprocessing ceiling only (no model): python -m bench --preprocess-only
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

import torch

from bench.calibrate import model_loop_share, scaling
from bench.checkpoints import CONFIGS
from bench.harness import Options, run_benchmark
from bench.preprocess import default_worker_counts
from bench.report import append, format_preprocessing, format_section, git_commit, machine
from bench.workloads import EXTRA_WORKLOADS, WORKLOADS

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", choices=CONFIGS, default="tiny", help="tiny test checkpoint or random real size"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default=None, help="default: bfloat16 on cuda, float32 on cpu")
    parser.add_argument("--attn", default="sdpa", choices=("sdpa", "flash_attention_2", "eager"))
    parser.add_argument("--samples", type=int, default=None, help="per workload; default 6 cpu / 64 cuda")
    parser.add_argument("--batch-size", type=int, default=None, help="N of ours; default 3 cpu / 16 cuda")
    parser.add_argument("--prefetch-batches", type=int, default=2, help="of the overlapped variant")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument(
        "--workloads",
        nargs="+",
        choices=WORKLOADS + EXTRA_WORKLOADS,
        default=list(WORKLOADS),
        help="single_image_jpeg (not by default): the single images as JPEG in a datasets.Dataset",
    )
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "ov_eval" / "bench")
    parser.add_argument("--init-std", type=float, default=0.02, help="random init of real-size configs")
    parser.add_argument(
        "--matmul-size", type=int, default=None, help="ceiling matmul; default 2048 cpu / 8192 cuda"
    )
    parser.add_argument(
        "--preprocess-workers",
        type=int,
        nargs="*",
        default=None,
        help="worker counts of the preprocessing ceiling (0 = one in-process thread); default 0 1 2 4 .. cores; "
        "none given = skip it",
    )
    parser.add_argument(
        "--preprocess-samples",
        type=int,
        default=None,
        help="default 36 cpu / 64 cuda: enough batches that the last one's tail does not set the worker-count ratios",
    )
    parser.add_argument(
        "--preprocess-rounds",
        type=int,
        default=None,
        help="passes over the worker counts; ratios are per pass, their median is reported; default 3 cpu / 1 cuda",
    )
    parser.add_argument(
        "--preprocess-min-seconds",
        type=float,
        default=3.0,
        help="each timed stream goes over the workload's batches in whole passes until this long, so the "
        "pipeline's one fill and drain weigh as little as in a long run; 0 = one pass",
    )
    parser.add_argument("--preprocess-only", action="store_true", help="only the preprocessing ceiling")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-append", action="store_true", help="print only; leave RESULTS.md alone")
    return parser.parse_args(argv)


def options_from(args: argparse.Namespace) -> Options:
    cuda = args.device.startswith("cuda")
    return Options(
        config=args.config,
        device=args.device,
        dtype=args.dtype or ("bfloat16" if cuda else "float32"),
        attn=args.attn,
        samples=args.samples or (64 if cuda else 6),
        batch_size=args.batch_size or (16 if cuda else 3),
        prefetch_batches=args.prefetch_batches,
        max_new_tokens=args.max_new_tokens,
        workloads=tuple(args.workloads),
        cache_dir=args.cache_dir,
        init_std=args.init_std,
        matmul_size=args.matmul_size or (8192 if cuda else 2048),
        preprocess_workers=tuple(
            default_worker_counts() if args.preprocess_workers is None else args.preprocess_workers
        ),
        preprocess_samples=args.preprocess_samples or (64 if cuda else 36),
        preprocess_rounds=args.preprocess_rounds or (1 if cuda else 3),
        preprocess_min_seconds=args.preprocess_min_seconds,
        preprocess_only=args.preprocess_only,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = options_from(args)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    result = run_benchmark(options)
    machine_scaling = scaling(list(options.preprocess_workers)) if options.preprocess_workers else None
    most = max(options.preprocess_workers, default=0)
    loop_share = (most, model_loop_share(most)) if most > 0 else None
    command = " ".join(["python -m bench", *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    prep_settings = (
        f"preprocessing: {options.preprocess_samples} samples/workload, batch size {options.batch_size}, "
        f"workers {list(options.preprocess_workers)}, {options.preprocess_rounds} round(s), each timed stream "
        f"at least {options.preprocess_min_seconds:g} s in whole passes, pixels handed back "
        f"as uint8 (finished to {options.dtype} where the model runs); load average before the run {load_before[0]:.1f} / "
        f"{load_before[1]:.1f} / {load_before[2]:.1f}"
    )
    if options.preprocess_only:
        section = "\n".join(
            [
                f"## preprocessing ceiling ({options.config} processor, no model)",
                "",
                f"* machine: {machine('cpu')}",
                f"* command: `{command}`",
                f"* git commit: `{git_commit(REPO)}`",
                f"* settings: {prep_settings}",
                "",
                format_preprocessing(result.preprocessing, [], machine_scaling, loop_share),
            ]
        )
        print(section)
        if not args.no_append:
            append(args.results, section)
            print(f"appended to {args.results}")
        return 0
    section = format_section(
        title=f"{options.config} on {options.device} ({options.dtype})",
        command=command,
        commit=git_commit(REPO),
        machine_text=machine(options.device),
        settings=(
            f"checkpoint {result.checkpoint.name}, {options.samples} samples/workload, ours bs={options.batch_size}, "
            f"prefetch_batches={options.prefetch_batches}, max_new_tokens={options.max_new_tokens} (fixed length, "
            f"greedy), attn={options.attn}; {prep_settings}"
        ),
        measurements=result.measurements,
        workload_gains=result.gains,
        flops=result.flops,
        matmul_peak=result.matmul_peak,
    )
    section += "\n" + format_preprocessing(
        result.preprocessing, result.measurements, machine_scaling, loop_share
    )
    print(section)
    if not args.no_append:
        append(args.results, section)
        print(f"appended to {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
