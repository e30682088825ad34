"""``ov-eval run``: an lmms-eval run that survives being killed, and says which samples failed.

It is ``python -m lmms_eval`` (or ``accelerate launch -m lmms_eval`` with
``--num_processes N``) with the defaults a tens-of-GPU-hours reproduction needs:

* ``--include_path`` to ov-eval's task configs, ``--log_samples``;
* resume by default: ``--use_cache <output>/cache``, keyed by the checkpoint's
  fingerprint (``ov_eval.lmms_patches.resume``), so rerunning the same command after a crash
  computes only what is missing; ``--no-resume`` turns it off;
* per-sample errors (corrupt video, OOM at batch size 1, ...) are logged by every
  rank to ``OV_EVAL_ERROR_LOG_DIR``; after the run they are merged into the results
  JSON as ``results["ov_eval"]["errors"] = {task: count}`` (plus the list of failed
  docs in ``<stamp>_errors.jsonl`` next to it) and summarised on one line.

Anything after ``--`` goes to lmms-eval unchanged (``--limit``, ``--gen_kwargs``, ...).

One ``ov-eval run`` at a time per ``--output_path``: it holds a lock there
(``.ov_eval_run.lock``, released when it and its lmms-eval child end, kill -9
included), so a second one is refused with a message instead of mixing its
accounting into the first one's results. The results file merged into is the one
this invocation's child wrote (new since the start), never an earlier run's.
Arguments are checked before lmms-eval starts; every problem is one line.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from ov_eval.judge import add_judge_arguments, judge_env_from_args
from ov_eval.judge.accounting import read_accounting
from ov_eval.lmms_output import results_files
from ov_eval.paths import tasks_path
from ov_eval.provenance import run_provenance
from ov_eval.run_files import (
    ERROR_LOG_DIR_ENV,
    JUDGE_ACCOUNTING_DIR_ENV,
    LOCK_NAME,
    error_log_name,
    rank_of,
    update_ov_eval_section,
)

EXIT_USAGE, EXIT_JUDGE_FAILURES = 2, 3
_ADAPTER_IDS = ("llava_onevision", "llava_onevision_hf_ov")  # model ids whose model_args are AdapterArgs


class RunError(Exception):
    """A problem with the command line or the environment, said in one line (``ov-eval: error: ...``)."""


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
        "--fail-on-judge-failures",
        dest="judge_failure_limit",
        nargs="?",
        type=float,
        const=0.0,
        default=None,
        metavar="FRACTION",
        help="exit 3 when more than FRACTION of a task's judgments failed (0 when given without a value); "
        "without the flag, exit 3 only when every judgment of a task failed (the task has no score)",
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
            raise RunError(f"--include_path {extra}: no such directory")
        shutil.copytree(extra, scratch / extra.resolve().name, ignore=shutil.ignore_patterns("__pycache__"))
    return scratch


def lmms_eval_command(
    model: str,
    model_args: str,
    tasks: str,
    include: Path,
    output_path: Path,
    options: list[str] | None = None,
    launch: list[str] | None = None,
) -> list[str]:
    """The lmms-eval command line of every ov-eval launch: ``ov-eval run``, the demo and the tests' runner.

    ``launch`` is how lmms-eval is started (default: this interpreter, one process; see ``launcher``);
    ``options`` are further lmms-eval arguments, appended last.
    """
    return [
        *(launch or launcher(1)),
        "--model", model,
        "--model_args", model_args,
        "--tasks", tasks,
        "--include_path", str(include),
        "--output_path", str(output_path),
        "--log_samples",
        *(options or []),
    ]  # fmt: skip


def build_command(
    args: argparse.Namespace, error_dir: Path, judge_dir: Path
) -> tuple[list[str], dict[str, str]]:
    """The lmms-eval command line and the environment additions for one ``ov-eval run``."""
    extra = list(args.lmms_eval_args or [])
    if extra[:1] == ["--"]:
        extra = extra[1:]
    options = ["--batch_size", str(args.batch_size)]
    if args.resume:
        options += ["--use_cache", str(args.cache_dir or args.output_path / "cache")]
    include = include_path(args.include_path, args.output_path / ".ov_eval_include")
    cmd = lmms_eval_command(
        args.model,
        args.model_args,
        args.tasks,
        include,
        args.output_path,
        [*options, *extra],
        launcher(args.num_processes),
    )
    env = {
        ERROR_LOG_DIR_ENV: str(error_dir),
        JUDGE_ACCOUNTING_DIR_ENV: str(judge_dir),
        **judge_env_from_args(args),
    }
    return cmd, env


def read_error_logs(error_dir: Path) -> list[dict[str, Any]]:
    """All ranks' per-sample error records, in (task, doc_id) order."""
    records = []
    for path in sorted(error_dir.glob(error_log_name("*"))):
        rank = rank_of(path, error_log_name)
        for line in path.read_text().splitlines():
            if line.strip():
                records.append({**json.loads(line), "rank": rank})
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


def error_section(results_path: Path, records: list[dict[str, Any]]) -> dict[str, Any]:
    """``results["ov_eval"]`` entries for the failed docs of one lmms-eval results file (``errors``:
    counts per task, ``error_log``); writes the failed docs next to it."""
    results = json.loads(results_path.read_text())
    tasks = list(results.get("configs") or results.get("results") or {})
    details = results_path.with_name(results_path.name.removesuffix("_results.json") + "_errors.jsonl")
    details.write_text("".join(json.dumps(r) + "\n" for r in records))
    return {"errors": error_counts(records, tasks), "error_log": str(details)}


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


def refuse_broken_environment() -> bool:
    """``ov-eval doctor``'s blocking checks (package metadata only, no torch import): a known-broken
    install fails now, with the doctor's line and fix, not after the model has loaded."""
    from ov_eval.doctor import refuse_known_broken

    return refuse_known_broken("ov-eval run")


def parse_model_args(model_args: str) -> dict[str, str]:
    """``a=1,b=x`` as strings (lmms-eval's own parser imports all of lmms-eval; types are checked later)."""
    parsed = {}
    for item in filter(None, model_args.split(",")):
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise RunError(f"--model_args: {item!r} is not name=value")
        parsed[name.strip()] = value
    return parsed


def check_arguments(args: argparse.Namespace) -> None:
    """Everything that can be checked before lmms-eval starts (minutes of imports and model loading)."""
    if args.num_processes < 1:
        raise RunError(f"--num_processes must be >= 1 (got {args.num_processes}); 1 runs a single process")
    limit = args.judge_failure_limit
    if limit is not None and not 0 <= limit <= 1:
        raise RunError(
            f"--fail-on-judge-failures takes a fraction from 0 to 1 (got {limit:g}); 1 never fails"
        )
    for extra in args.include_path:
        if not extra.is_dir():
            raise RunError(f"--include_path {extra}: no such directory")
    model_args = parse_model_args(args.model_args)
    if args.model in _ADAPTER_IDS:  # subclasses may take more arguments: the adapter checks those itself
        from ov_eval.models.model_args import AdapterArgs

        try:
            AdapterArgs.from_kwargs(**model_args)
        except ValueError as exc:
            raise RunError(f"--model_args: {exc}") from None


def lock_output_path(output_path: Path) -> int:
    """Create ``output_path`` and hold its run lock; returns the lock's file descriptor.

    ``flock`` is released by the kernel when every holder is gone (the lmms-eval child
    inherits it), so a killed run never leaves a stale lock behind.
    """
    try:
        output_path.mkdir(parents=True, exist_ok=True)
        fd = os.open(output_path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RunError(
            f"--output_path {output_path}: cannot write there ({exc.strerror or exc}); choose a writable directory"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise RunError(
            f"--output_path {output_path} is in use by another ov-eval run (pid {holder}); "
            "wait for it to finish or choose another --output_path"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def judge_failures_over_limit(judged: dict[str, dict[str, Any]], limit: float | None) -> list[str]:
    """``"task: failed/total"`` for tasks whose failed judgments exceed ``limit`` (a fraction);
    ``None``: only tasks where every judgment failed (they have no score at all)."""
    over = []
    for task, acc in sorted(judged.items()):
        total, failed = int(acc.get("judged", 0)), int(acc.get("failures", 0))
        if not total or not failed:
            continue
        if (failed >= total) if limit is None else (failed / total > limit):
            over.append(f"{task}: {failed}/{total}")
    return over


def own_results_file(before: set[Path], output_path: Path) -> Path | None:
    """The results file this invocation's lmms-eval wrote: new since the start (the lock keeps others out)."""
    new = [p for p in results_files(output_path) if p not in before]
    return new[-1] if new else None


def cmd_run(args: argparse.Namespace) -> int:
    if refuse_broken_environment():
        return 1
    # cheap checks, then the seconds-long data preflight; nothing (not even --output_path) is written
    # before both pass
    check_arguments(args)
    if not preflight_passes(args):
        return 2
    lock = lock_output_path(args.output_path)
    try:
        return _run_locked(args, lock)
    finally:
        os.close(lock)


def _run_locked(args: argparse.Namespace, lock: int) -> int:
    before = set(results_files(args.output_path))
    # One directory per invocation: a rerun retries failed samples (they are never cached) and must not
    # count the killed run's records a second time.
    stamp = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    error_dir = args.output_path / "ov_eval_errors" / stamp
    error_dir.mkdir(parents=True)
    # Judge accounting per invocation too: a rerun's judgments are cache hits and must be counted as such.
    judge_dir = Path(args.judge_accounting_dir or args.output_path / "ov_eval_judge" / stamp)
    cmd, env_extra = build_command(args, error_dir, judge_dir)
    print("ov-eval run: " + " ".join(cmd), flush=True)
    rc = subprocess.call(cmd, env={**os.environ, **env_extra}, pass_fds=(lock,))
    records = read_error_logs(error_dir)
    results_path = own_results_file(before, args.output_path)
    if rc != 0 or results_path is None:
        print(
            f"ov-eval run: lmms-eval failed (exit {rc}, {'a' if results_path else 'no'} results file); "
            "its log above names the cause",
            file=sys.stderr,
        )
        if records:
            print(summary_line(error_counts(records, []), None), file=sys.stderr)
        return rc or 1
    section = error_section(results_path, records)
    print(summary_line(section["errors"], Path(section["error_log"])))
    judged = read_accounting(judge_dir)
    if judged:
        section["judge"] = judged
    section["provenance"] = run_provenance(error_dir)  # versions, git commit, the adapter's settings
    update_ov_eval_section(results_path, section)  # one rewrite of the results file
    for task, acc in judged.items():
        print(
            f"ov-eval judge: {task}: {acc['judged']} judged, {acc['calls']} call(s), "
            f"{acc['cache_hits']} cache hit(s), {acc['failures']} failure(s)"
        )
    over = judge_failures_over_limit(judged, args.judge_failure_limit)
    if over:
        print(
            f"ov-eval run: too many failed judgments ({', '.join(over)}); results in {results_path}. "
            "Fix the judge (causes above) and rerun the same command: finished answers and judgments are cached",
            file=sys.stderr,
        )
        return EXIT_JUDGE_FAILURES
    return 0
