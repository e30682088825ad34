"""Run the real ``python -m lmms_eval`` CLI in a subprocess and read back what it wrote.

End-to-end tests go through the exact entry point users type, offline (``ov_eval.demo.launch``),
with the command line ``ov-eval run`` builds (``ov_eval.run.lmms_eval_command``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ov_eval.demo.launch import offline_env, run_offline
from ov_eval.run import include_path, lmms_eval_command

__all__ = ["EvalRun", "offline_env", "read_results", "run_fixed_answers", "run_lmms_eval"]


@dataclass
class EvalRun:
    results: dict[str, Any]
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    output_dir: Path | None = None
    log: str = ""
    trace: list[dict[str, Any]] = field(default_factory=list)  # requests ov_fixed_answers received

    def metric(self, task: str, metric: str, filter_name: str = "none") -> Any:
        return self.results["results"][task][f"{metric},{filter_name}"]


def run_lmms_eval(
    model: str,
    model_args: str,
    tasks: list[str] | str,
    output_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 900,
    launcher: list[str] | None = None,
    extra_task_dirs: list[str | os.PathLike] | None = None,
) -> EvalRun:
    """Run lmms-eval once over ``tasks`` (one process: pay the start-up once) and parse its outputs.

    ``extra_task_dirs``: more YAML directories (e.g. test-only tasks). lmms-eval takes one
    ``--include_path`` and does not follow symlinks, so they are copied next to ours.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    include = include_path([Path(d) for d in extra_task_dirs or []], output_dir / "_include")
    task_arg = tasks if isinstance(tasks, str) else ",".join(tasks)
    launch = [*launcher, "-m", "lmms_eval"] if launcher else None
    cmd = lmms_eval_command(model, model_args, task_arg, include, output_dir, extra_args, launch)
    results_path, log = run_offline(
        cmd, offline_env(data_dir, output_dir / "hf_home", env), output_dir, timeout
    )
    return read_results(results_path, log)


def read_results(results_path: Path, log: str = "") -> EvalRun:
    """One lmms-eval results file and the samples files of the same run (``<stamp>_samples_<task>.jsonl``)."""
    stamp = results_path.name.removesuffix("_results.json")
    samples = {}
    for path in results_path.parent.glob(f"{stamp}_samples_*.jsonl"):
        task = path.name.removeprefix(f"{stamp}_samples_").removesuffix(".jsonl")
        samples[task] = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    results = json.loads(results_path.read_text())
    return EvalRun(results=results, samples=samples, output_dir=results_path.parent, log=log)


def run_fixed_answers(
    answers: dict[str, dict[str, Any]],
    tasks: list[str],
    root: Path,
    *,
    run_name: str = "out",
    env: dict[str, str] | None = None,
) -> EvalRun:
    """lmms-eval over ``tasks`` with ``ov_fixed_answers`` answering ``answers`` (``{task: {doc_id: answer}}``).

    Data come from ``root/data`` (the fixture builders' layout); outputs go to ``root/run_name``.
    ``run.trace`` lists every request the model received (task, doc id, context, visuals), so a test
    can check prompts and media as well as scores.
    """
    answers_file, trace_file = root / f"{run_name}_answers.json", root / f"{run_name}_trace.jsonl"
    answers_file.write_text(json.dumps(answers))
    trace_file.unlink(missing_ok=True)
    run = run_lmms_eval(
        "ov_fixed_answers",
        f"answers={answers_file},trace={trace_file}",
        tasks,
        root / run_name,
        data_dir=root / "data",
        env=env,
    )
    if trace_file.exists():
        run.trace = [json.loads(line) for line in trace_file.read_text().splitlines()]
    return run
