"""``ov-eval run``: an lmms-eval run that survives being killed, and says which samples failed.

It is ``python -m lmms_eval`` (or ``accelerate launch -m lmms_eval`` with
``--num_processes N``) with the defaults a tens-of-GPU-hours reproduction needs:

* ``--include_path`` to ov-eval's task configs, ``--log_samples``;
* resume by default: ``--use_cache <output>/cache``, keyed by the checkpoint's
  fingerprint (``ov_eval.resume``), so rerunning the same command after a crash
  computes only what is missing; ``--no-resume`` turns it off;
* per-sample errors (corrupt video, OOM at batch size 1, ...) are logged by every
  rank to ``OV_EVAL_ERROR_LOG_DIR``; after the run they are merged into the results
  JSON as ``results["ov_eval"]["errors"] = {task: count}`` (plus the list of failed
  docs in ``<stamp>_errors.jsonl`` next to it) and summarised on one line.

Anything after ``--`` goes to lmms-eval unchanged (``--limit``, ``--gen_kwargs``, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ov_eval.judge import add_judge_arguments, judge_env_from_args
from ov_eval.judge.accounting import merge_into_results
from ov_eval.lmms_output import results_files
from ov_eval.paths import tasks_path

ERROR_LOG_DIR_ENV = "OV_EVAL_ERROR_LOG_DIR"  # read by the adapter (ov_eval/models/llava_onevision.py)
JUDGE_ACCOUNTING_DIR_ENV = "OV_EVAL_JUDGE_ACCOUNTING_DIR"  # read by ov_eval.judge.runtime


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        help="run lmms-eval with resume (response cache keyed by checkpoint fingerprint) and error accounting",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--model", default="llava_onevision", help="lmms-eval model id (default: llava_onevision)")
    p.add_argument(
        "--model_args",
        default="",
        help="e.g. pretrained=llava-hf/llava-onevision-qwen2-7b-ov-hf,dtype=bfloat16",
    )
    p.add_argument("--tasks", required=True, help="comma-separated task/group names or YAML paths")
    p.add_argument(
        "--output_path", required=True, type=Path, help="results, samples, cache and error logs go here"
    )
    p.add_argument("--batch_size", default="1")
    p.add_argument(
        "--num_processes", type=int, default=1, help="data-parallel ranks (accelerate launch) when > 1"
    )
    p.add_argument(
        "--no-resume", dest="resume", action="store_false", help="do not read or write the response cache"
    )
    p.add_argument("--cache_dir", type=Path, help="response cache directory (default: <output_path>/cache)")
    p.add_argument(
        "--include_path",
        action="append",
        type=Path,
        default=[],
        help="more task YAML directories (repeatable)",
    )
    p.add_argument(
        "--skip-preflight",
        action="store_true",
        help="start lmms-eval even if `ov-eval preflight` finds problems in the tasks' data",
    )
    p.add_argument("lmms_eval_args", nargs=argparse.REMAINDER, help="after --: passed to lmms-eval as is")
    add_judge_arguments(p)
    p.set_defaults(func=cmd_run)


def launcher(num_processes: int) -> list[str]:
    """How to start lmms-eval: one process, or ``accelerate launch`` with N ranks."""
    if num_processes < 1:
        raise ValueError(f"--num_processes must be >= 1, got {num_processes}")
    if num_processes == 1:
        return [sys.executable, "-m", "lmms_eval"]
    return [
        sys.executable, "-m", "accelerate.commands.launch",
        "--multi_gpu", "--num_processes", str(num_processes), "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
        "-m", "lmms_eval",
    ]  # fmt: skip


def include_path(extra_dirs: list[Path], scratch: Path) -> Path:
    """One directory holding ov-eval's task configs and the user's: lmms-eval takes a single
    ``--include_path`` and does not follow symlinks, so extra directories are copied next to ours."""
    if not extra_dirs:
        return tasks_path()
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(tasks_path(), scratch / "ov_eval", ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    for extra in extra_dirs:
        if not extra.is_dir():
            raise FileNotFoundError(f"--include_path {extra}: not a directory")
        shutil.copytree(extra, scratch / extra.resolve().name, ignore=shutil.ignore_patterns("__pycache__"))
    return scratch


def build_command(
    args: argparse.Namespace, error_dir: Path, judge_dir: Path
) -> tuple[list[str], dict[str, str]]:
    """The lmms-eval command line and the environment additions for one ``ov-eval run``."""
    extra = list(args.lmms_eval_args or [])
    if extra[:1] == ["--"]:
        extra = extra[1:]
    cmd = [
        *launcher(args.num_processes),
        "--model", args.model,
        "--model_args", args.model_args,
        "--tasks", args.tasks,
        "--include_path", str(include_path(args.include_path, args.output_path / ".ov_eval_include")),
        "--output_path", str(args.output_path),
        "--batch_size", str(args.batch_size),
        "--log_samples",
    ]  # fmt: skip
    if args.resume:
        cmd += ["--use_cache", str(args.cache_dir or args.output_path / "cache")]
    cmd += extra
    env = {
        ERROR_LOG_DIR_ENV: str(error_dir),
        JUDGE_ACCOUNTING_DIR_ENV: str(judge_dir),
        **judge_env_from_args(args),
    }
    return cmd, env


def read_error_logs(error_dir: Path) -> list[dict[str, Any]]:
    """All ranks' per-sample error records, in (task, doc_id) order."""
    records = []
    for path in sorted(error_dir.glob("ov_eval_errors_rank*.jsonl")):
        rank = path.stem.removeprefix("ov_eval_errors_rank")
        for line in path.read_text().splitlines():
            if line.strip():
                records.append({**json.loads(line), "rank": int(rank)})
    return sorted(records, key=lambda r: (r["task"], r["doc_id"], r["request_type"]))


def error_counts(records: list[dict[str, Any]], tasks: list[str]) -> dict[str, int]:
    """Failed docs per task (a doc with several failed requests, e.g. multiple-choice options, counts once)."""
    per_task = Counter(task for task, _doc in {(r["task"], r["doc_id"]) for r in records})
    return {task: per_task.get(task, 0) for task in sorted(set(tasks) | set(per_task))}


def summary_line(counts: dict[str, int], details: Path | None) -> str:
    total = sum(counts.values())
    if not total:
        return "ov-eval: no sample errors"
    listing = ", ".join(f"{task}: {n}" for task, n in counts.items() if n)
    where = f"; details in {details}" if details else ""
    return f"ov-eval: {total} sample(s) failed and were excluded from scores ({listing}){where}"


def merge_errors_into_results(
    results_path: Path, records: list[dict[str, Any]]
) -> tuple[dict[str, int], Path]:
    """Add ``results["ov_eval"]["errors"]`` to one lmms-eval results file; write the failed docs next to it."""
    results = json.loads(results_path.read_text())
    tasks = list(results.get("configs") or results.get("results") or {})
    counts = error_counts(records, tasks)
    details = results_path.with_name(results_path.name.removesuffix("_results.json") + "_errors.jsonl")
    details.write_text("".join(json.dumps(r) + "\n" for r in records))
    results.setdefault("ov_eval", {}).update({"errors": counts, "error_log": str(details)})
    tmp = results_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    os.replace(tmp, results_path)
    return counts, details


def preflight_passes(args: argparse.Namespace) -> bool:
    """The data preflight (ov_eval/preflight.py): seconds now instead of a failure hours into the run."""
    if args.skip_preflight:
        return True
    from ov_eval.preflight import run_preflight

    if run_preflight(args.tasks).ok:
        return True
    print(
        "ov-eval run: stopped before the model loads; fix the problems above or pass --skip-preflight",
        file=sys.stderr,
    )
    return False


def cmd_run(args: argparse.Namespace) -> int:
    if not preflight_passes(args):
        return 2
    started = time.time()
    args.output_path.mkdir(parents=True, exist_ok=True)
    # One directory per invocation: a rerun retries failed samples (they are never cached) and must not
    # count the killed run's records a second time.
    stamp = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    error_dir = args.output_path / "ov_eval_errors" / stamp
    error_dir.mkdir(parents=True)
    # Judge accounting per invocation too: a rerun's judgments are cache hits and must be counted as such.
    judge_dir = Path(args.judge_accounting_dir or args.output_path / "ov_eval_judge" / stamp)
    cmd, env_extra = build_command(args, error_dir, judge_dir)
    print("ov-eval run: " + " ".join(cmd), flush=True)
    rc = subprocess.call(cmd, env={**os.environ, **env_extra})
    records = read_error_logs(error_dir)
    found = results_files(args.output_path, since=started - 1)
    if rc != 0 or not found:
        print(
            f"ov-eval run: lmms-eval failed (exit {rc}, {len(found)} results file(s))",
            file=sys.stderr,
        )
        if records:
            print(summary_line(error_counts(records, []), None), file=sys.stderr)
        return rc or 1
    counts, details = merge_errors_into_results(found[-1], records)
    print(summary_line(counts, details))
    judged = merge_into_results(found[-1], judge_dir)
    for task, acc in judged.items():
        print(
            f"ov-eval judge: {task}: {acc['judged']} judged, {acc['calls']} call(s), "
            f"{acc['cache_hits']} cache hit(s), {acc['failures']} failure(s)"
        )
    return 0
