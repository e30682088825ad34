"""Synthetic lmms-eval 0.7.3 result files for the report tests.

The layout copies a real ``ov-eval demo`` output (``<out>/<model_name_sanitized>/<date>_results.json``
with the same top-level keys, ``"<metric>,<filter>"`` keys, ``_stderr`` siblings holding
``"N/A"``, ``alias``, ``n-samples``), so the reader is tested against the real shape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_results(
    out: Path,
    pretrained: str,
    date: str,
    metrics: dict[str, dict[str, float]],
    n: int = 10,
    ov_eval: dict[str, Any] | None = None,
    samples: bool | dict[str, list[dict[str, Any]]] = False,
    stderr: dict[str, dict[str, float]] | None = None,
    aggregation: str = "mean",
) -> Path:
    """Write one results file (and optionally one samples file per task); returns its path.

    ``samples``: True for a placeholder line per task, or per task the logged per-doc metric
    values (``{"doc_id": i, "<metric>": value}`` lines as lmms-eval writes them with
    ``--log_samples``). ``stderr``: numeric ``<metric>_stderr`` values (default ``"N/A"``, as
    lmms-eval writes for custom aggregations). ``aggregation``: what ``configs[task].metric_list``
    records (lmms-eval writes ``"mean"``, or ``"<function f at 0x..>"`` for a task's function).
    """
    sanitized = pretrained.replace("/", "__")
    folder = Path(out) / sanitized
    folder.mkdir(parents=True, exist_ok=True)
    results = {}
    for task, values in metrics.items():
        entry: dict[str, Any] = {"alias": task}
        for key, value in values.items():
            metric, filt = key.split(",")
            entry[key] = value
            entry[f"{metric}_stderr,{filt}"] = (stderr or {}).get(task, {}).get(key, "N/A")
            entry[f"{metric}_stderr_clt,{filt}"] = 0.0
        results[task] = entry
    data = {
        "results": results,
        "group_subtasks": {task: [] for task in metrics},
        "configs": {
            task: {
                "task": task,
                "output_type": "generate_until",
                "metric_list": [
                    {"metric": key.split(",")[0], "aggregation": aggregation, "higher_is_better": True}
                    for key in values
                ],
            }
            for task, values in metrics.items()
        },
        "versions": {task: "Yaml" for task in metrics},
        "n-shot": {task: 0 for task in metrics},
        "higher_is_better": {task: {k.split(",")[0]: True for k in v} for task, v in metrics.items()},
        "n-samples": {task: {"original": n, "effective": n} for task in metrics},
        "config": {
            "model": "llava_onevision",
            "model_args": f"pretrained={pretrained},device=cpu,dtype=float32",
            "batch_size": "4",
            "limit": None,
        },
        "git_hash": "abc1234",
        "git_branch": None,
        "lmms_eval_version": "unknown@unknown",
        "date": date,
        "usage": {},
        "efficiency": {},
        "task_hashes": {},
        "model_source": "llava_onevision",
        "model_name": pretrained,
        "model_name_sanitized": sanitized,
        "system_instruction": None,
        "chat_template": None,
        "fewshot_as_multiturn": False,
        "start_time": 1.0,
        "end_time": 2.0,
        "total_evaluation_time_seconds": "1.0",
    }
    if ov_eval is not None:
        data["ov_eval"] = ov_eval
    path = folder / f"{date}_results.json"
    path.write_text(json.dumps(data, indent=1))
    if samples is True:
        for task in metrics:
            (folder / f"{date}_samples_{task}.jsonl").write_text('{"doc_id": 0, "target": "A"}\n')
    elif samples:
        for task, docs in samples.items():
            lines = [
                json.dumps({"doc_id": i, "target": "A", "filtered_resps": "A", **doc})
                for i, doc in enumerate(docs)
            ]
            (folder / f"{date}_samples_{task}.jsonl").write_text("\n".join(lines) + "\n")
    return path
