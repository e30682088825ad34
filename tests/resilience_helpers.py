"""Shared by the resilience CLI tests: run ``ov-eval run`` offline and read back what it wrote."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.evaluate import EvalRun, offline_env, read_results

from ov_eval.lmms_output import results_files

DATA = Path(__file__).parent / "data"
RESUME_TASK, POISON_TASK = "ov_test_resume", "ov_test_poison"


def ov_eval_run_cmd(
    model_args: str, tasks: list[str], out: Path, *options: str, model: str = "ov_faults"
) -> list[str]:
    """``ov-eval run`` over the test-only tasks of tests/data (added with ``--include_path``)."""
    return [
        sys.executable, "-m", "ov_eval", "run",
        "--model", model,
        "--model_args", model_args,
        "--tasks", ",".join(tasks),
        "--include_path", str(DATA),
        "--output_path", str(out),
        *options,
    ]  # fmt: skip


def env_for(data_dir: Path, out: Path, **extra: str) -> dict[str, str]:
    return offline_env(data_dir, out / "hf_home", extra)


def read_run(out: Path, log: str = "") -> EvalRun:
    """The newest results file under ``out`` and its samples (raises with the log when there is none)."""
    found = results_files(out)
    if not found:
        raise AssertionError(f"no results under {out}\n--- log tail ---\n{log[-6000:]}")
    return read_results(found[-1], log)


def run_ov_eval(cmd: list[str], env: dict[str, str], out: Path, timeout: float = 300) -> EvalRun:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise AssertionError(f"ov-eval run failed (rc={proc.returncode})\n--- log tail ---\n{log[-6000:]}")
    return read_run(out, log)


def answers(run: EvalRun, task: str) -> dict[int, object]:
    return {s["doc_id"]: s["filtered_resps"] for s in run.samples[task]}
