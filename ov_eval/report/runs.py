"""Reading lmms-eval run outputs (``*_results.json`` + optional ``*_samples_<task>.jsonl``).

Real use produces many files: several checkpoints, partial runs (a few tasks), re-runs.
Everything is resolved to one value per (checkpoint, task): the newest file wins, and the
report lists exactly which files were used so that a surprising number can be traced.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ov_eval.lmms_output import results_files
from ov_eval.run_files import ov_eval_section

_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)b(?![a-z])", re.IGNORECASE)
_STAGE = re.compile(r"(?<![a-z])(si|ov)(?![a-z])", re.IGNORECASE)


def split_checkpoint(name: str) -> tuple[str, str | None]:
    """``"llava-onevision-qwen2-7b-ov-hf"`` → ``("7b", "ov")``; ``"tiny-si"`` → ``("tiny", "si")``.

    The size is the ``<N>b`` token when there is one, else the name without its stage token, so
    that SI/OV runs of the same (possibly non-paper) model pair up in the SI-vs-OV comparison.
    """
    stages = _STAGE.findall(name)
    stage = stages[-1].lower() if stages else None
    size = _SIZE.search(name)
    if size:
        return f"{size.group(1)}b".lower(), stage
    rest = _STAGE.sub("", name).strip("-_/ ") if stage else name
    return re.sub(r"[-_/ ]{2,}", "-", rest), stage


def checkpoint_from_model_args(model_args: str) -> str | None:
    """``size-stage`` (e.g. ``7b-ov``) from the ``pretrained=`` value of lmms-eval's ``model_args``."""
    match = re.search(r"(?:^|,)\s*pretrained=([^,]+)", model_args or "")
    if not match:
        return None
    name = match.group(1).rstrip("/").split("/")[-1]
    size, stage = split_checkpoint(name)
    if stage is None or not _SIZE.fullmatch(size):
        return None
    return f"{size}-{stage}"


@dataclass
class TaskResult:
    task: str
    metrics: dict[str, float | None]  # "<metric>,<filter>" → value; non-numbers ("N/A", null) → None
    n_samples: int | None = None
    errors: int | None = None
    judge: dict[str, Any] | None = None
    # metric → aggregation as lmms-eval recorded it in configs[task].metric_list ("mean", or
    # "<function f at 0x..>" for a task's own function): tells which per-doc scores are averaged
    aggregations: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    path: Path
    checkpoint: str
    date: str  # lmms-eval's YYYYMMDD_HHMMSS (sorts chronologically)
    mtime: float
    model_args: str
    git_hash: str | None
    tasks: dict[str, TaskResult]
    samples: dict[str, Path] = field(default_factory=dict)
    provenance: dict[str, Any] | None = None  # what produced it (ov_eval/provenance.py), ov-eval run only

    @property
    def order(self) -> tuple[str, float, str]:
        """Newest-wins key: the results' own date, then file time, then path (deterministic)."""
        return (self.date, self.mtime, str(self.path))


def _numeric(value: Any) -> float | None:
    """A score, or None: strings ("N/A"), null, booleans, and NaN/inf (a judged task whose every
    judgment failed aggregates to NaN, which lmms-eval writes as a bare ``NaN``) are no score."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _aggregations(config: Any) -> dict[str, str]:
    entries = config.get("metric_list") if isinstance(config, dict) else None
    return {
        str(e["metric"]): str(e.get("aggregation"))
        for e in entries or []
        if isinstance(e, dict) and "metric" in e and e.get("aggregation") is not None
    }


def load_run(path: Path, label: str | None = None) -> Run:
    """Read one results file; errors name the file and what is wrong with it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable lmms-eval results JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise ValueError(f"{path}: no 'results' object; is this an lmms-eval *_results.json?")
    config = data.get("config") or {}
    model_args = str(config.get("model_args") or "")
    checkpoint = label or checkpoint_from_model_args(model_args)
    if not checkpoint:
        raise ValueError(
            f"{path}: cannot tell the checkpoint (size 0.5b/7b/72b and si/ov) from "
            f"model_args {model_args!r}; name it explicitly (ov-eval report --label, ov-eval track --checkpoint)"
        )
    extra = ov_eval_section(data)
    errors, judge = extra.get("errors") or {}, extra.get("judge") or {}
    n_samples = data.get("n-samples") or {}
    configs = data.get("configs") if isinstance(data.get("configs"), dict) else {}
    tasks = {}
    for task, values in data["results"].items():
        if not isinstance(values, dict):
            raise ValueError(f"{path}: results[{task!r}] is {type(values).__name__}, expected an object")
        count = n_samples.get(task)
        tasks[task] = TaskResult(
            task=task,
            metrics={k: _numeric(v) for k, v in values.items() if k != "alias" and "," in k},
            n_samples=int(count["effective"]) if isinstance(count, dict) and "effective" in count else None,
            errors=errors.get(task),
            judge=judge.get(task),
            aggregations=_aggregations(configs.get(task)),
        )
    stamp = path.name.removesuffix("_results.json").removesuffix(".json")
    samples = {
        p.name.removeprefix(f"{stamp}_samples_").removesuffix(".jsonl"): p
        for p in path.parent.glob(f"{stamp}_samples_*.jsonl")
    }
    return Run(
        path=path,
        checkpoint=checkpoint,
        date=str(data.get("date") or ""),
        mtime=path.stat().st_mtime,
        model_args=model_args,
        git_hash=data.get("git_hash"),
        tasks=tasks,
        samples=samples,
        provenance=extra.get("provenance"),
    )


def discover(paths: list[Path]) -> list[Path]:
    """Results files named directly or found below directories (lmms-eval nests by model name)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            hits = sorted(results_files(path))
            if not hits:
                raise FileNotFoundError(f"{path}: no lmms-eval *_results.json below this directory")
            found.extend(hits)
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")
    return list(dict.fromkeys(p.resolve() for p in found))


def load_runs(paths: list[Path], label: str | None = None) -> list[Run]:
    return [load_run(p, label) for p in discover(paths)]


@dataclass(frozen=True)
class Resolved:
    """The value of one (checkpoint, task) after duplicates were resolved."""

    result: TaskResult
    run: Run
    superseded: tuple[Path, ...]  # older files that also had this task


def resolve(runs: list[Run]) -> dict[tuple[str, str], Resolved]:
    """One result per (checkpoint, task): the newest run that has the task wins."""
    by_key: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        for task in run.tasks:
            by_key.setdefault((run.checkpoint, task), []).append(run)
    resolved = {}
    for key, candidates in by_key.items():
        ordered = sorted(candidates, key=lambda r: r.order, reverse=True)
        resolved[key] = Resolved(ordered[0].tasks[key[1]], ordered[0], tuple(r.path for r in ordered[1:]))
    return resolved
