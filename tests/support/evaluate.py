"""Run the real ``python -m lmms_eval`` CLI in a subprocess and read back what it wrote.

End-to-end tests go through the exact entry point users type, offline: the
hub is disabled and ``OV_EVAL_DATA_DIR`` points at locally written fixtures.
lmms-eval exits 0 even when evaluation fails (it logs "Error during evaluation"),
so success is judged by the results file, and the log is attached to the error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ov_eval.lmms_output import results_files
from ov_eval.run import include_path


@dataclass
class EvalRun:
    results: dict[str, Any]
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    output_dir: Path | None = None
    log: str = ""
    trace: list[dict[str, Any]] = field(default_factory=list)  # requests ov_fixed_answers received

    def metric(self, task: str, metric: str, filter_name: str = "none") -> Any:
        return self.results["results"][task][f"{metric},{filter_name}"]


def offline_env(
    data_dir: str | os.PathLike | None, hf_home: str | os.PathLike, extra: dict[str, str] | None = None
) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HOME": str(hf_home),
            "TOKENIZERS_PARALLELISM": "false",
            "WANDB_MODE": "disabled",
        }
    )
    if data_dir is not None:
        env["OV_EVAL_DATA_DIR"] = str(data_dir)
    env.update(extra or {})
    return env


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
    cmd = [*(launcher or [sys.executable]), "-m", "lmms_eval"]
    cmd += [
        "--model", model,
        "--model_args", model_args,
        "--tasks", task_arg,
        "--include_path", str(include),
        "--output_path", str(output_dir),
        "--log_samples",
        *(extra_args or []),
    ]  # fmt: skip
    proc = subprocess.run(
        cmd,
        env=offline_env(data_dir, output_dir / "hf_home", env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    log = proc.stdout + proc.stderr
    result_files = results_files(output_dir)
    if proc.returncode != 0 or not result_files or "Error during evaluation" in log:
        raise RuntimeError(
            f"lmms_eval failed (rc={proc.returncode}): {' '.join(cmd)}\n--- log tail ---\n{log[-6000:]}"
        )
    results_path = Path(result_files[-1])
    results = json.loads(results_path.read_text())
    stamp = results_path.name.removesuffix("_results.json")
    samples = {}
    for path in results_path.parent.glob(f"{stamp}_samples_*.jsonl"):
        task = path.name.removeprefix(f"{stamp}_samples_").removesuffix(".jsonl")
        samples[task] = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
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
