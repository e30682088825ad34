"""``ov-eval preflight``: check every task's data in seconds, before a model is loaded.

A wrong column, an int where the task expects a string or a video folder that was never
unpacked otherwise shows up hours into a run, when lmms-eval reaches that task (or, for a
column only the scorer reads, after the whole run). The preflight reads, for each task the
``--tasks`` value runs, only the first rows of its split (streaming from the hub, or the
``OV_EVAL_DATA_DIR`` copy), runs the task's own functions on them (``process_docs``, the
schema check; ``doc_to_text``; ``doc_to_target``; ``doc_to_visual``) and checks that the
visuals resolve: images decode, video files exist where the task will read them.

The answer is one table (task, dataset/config/split, rows, problem, fix); ``ov-eval run``
stops before launching lmms-eval when it has a problem (``--skip-preflight`` overrides).
Tasks that are not ov-eval's (user ``--include_path`` tasks, lmms-eval's built-ins) are
listed as not checked and never block a run.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ov_eval.lmms_patches.local_datasets import DATA_DIR_ENV, local_dataset_dir
from ov_eval.paths import tasks_path

DEFAULT_ROWS = 4
_OFFLINE_ENV = ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")
_MAX_PROBLEM_CHARS = 300


class _FunctionTags(yaml.SafeLoader):
    """Reads ``!function module.attr`` as a :class:`FunctionRef` (resolved on use)."""


@dataclass(frozen=True)
class FunctionRef:
    """A YAML ``!function`` reference; our YAMLs name functions by absolute module path."""

    target: str

    def resolve(self) -> Callable:
        module, _, attr = self.target.rpartition(".")
        return getattr(importlib.import_module(module), attr)


_FunctionTags.add_constructor("!function", lambda loader, node: FunctionRef(loader.construct_scalar(node)))


def read_task_config(path: Path) -> dict[str, Any]:
    """One task YAML with its ``include:`` files merged underneath (as lmms-eval merges them)."""
    data = yaml.load(path.read_text(), Loader=_FunctionTags) or {}
    includes = data.pop("include", None) or []
    merged: dict[str, Any] = {}
    for include in [includes] if isinstance(includes, str) else includes:
        merged |= read_task_config(path.parent / include)
    return merged | data


@dataclass
class Finding:
    """One row of the preflight table."""

    task: str
    dataset: str = "-"
    rows: str = "-"
    problem: str = ""
    fix: str = ""
    blocking: bool = True  # False for notes (task not checked), which never stop a run

    @property
    def ok(self) -> bool:
        return not self.problem or not self.blocking


@dataclass
class PreflightResult:
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    def table(self) -> str:
        """The findings as a markdown table (readable in a terminal and in a log)."""
        lines = ["| task | dataset / config / split | rows | problem | fix |", "|---|---|---|---|---|"]
        for f in self.findings:
            problem = f.problem or "ok"
            cells = (f.task, f.dataset, f.rows, problem, f.fix or "-")
            lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
        return "\n".join(lines) + "\n"


class _Problem(Exception):
    """A check failed: ``problem`` and ``fix`` go into the table."""

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(problem)
        self.problem, self.fix = problem, fix


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if not isinstance(exc, (ValueError, _Problem)):
        text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= _MAX_PROBLEM_CHARS else text[: _MAX_PROBLEM_CHARS - 3] + "..."


def task_configs(root: Path | None = None) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Every named task of the suite with its merged config (groups excluded)."""
    configs = {}
    for path in sorted(Path(root or tasks_path()).rglob("*.yaml")):
        data = read_task_config(path)
        name = data.get("task")
        if isinstance(name, str) and "group" not in data:
            configs[name] = (path, data)
    return configs


def expand_tasks(tasks: str) -> tuple[list[str], list[str]]:
    """``--tasks`` -> (the suite's leaf tasks in order, names that are not ov-eval tasks or groups)."""
    from ov_eval.task_index import leaf_tasks, suite_configs

    configs = suite_configs()
    leaves: list[str] = []
    unknown: list[str] = []
    for name in (n.strip() for n in tasks.split(",")):
        if not name:
            continue
        if name in configs:
            leaves += leaf_tasks(name, configs)
        else:
            unknown.append(name)
    return list(dict.fromkeys(leaves)), unknown


def split_of(config: dict[str, Any]) -> str | None:
    """The split lmms-eval evaluates: ``test_split``, else ``validation_split``."""
    return config.get("test_split") or config.get("validation_split")


def describe_dataset(config: dict[str, Any]) -> str:
    parts = (config.get("dataset_path"), config.get("dataset_name"), split_of(config))
    return " / ".join(str(p) for p in parts if p)


def _local_hint(config: dict[str, Any]) -> str:
    where = "/".join(str(p) for p in (config.get("dataset_path"), config.get("dataset_name")) if p)
    return f"${DATA_DIR_ENV}/{where}"


def first_rows(config: dict[str, Any], n: int):
    """The split's first ``n`` rows as a ``datasets.Dataset``, and where they were read from.

    Streaming reads only what the first rows need, from the ``OV_EVAL_DATA_DIR`` copy when there
    is one (the same directory ``ov_eval.lmms_patches.local_datasets`` hands lmms-eval) and from the hub otherwise.
    """
    import datasets

    path, name, split = config.get("dataset_path"), config.get("dataset_name"), split_of(config)
    local = local_dataset_dir(path, name)
    revision = (config.get("dataset_kwargs") or {}).get("revision")  # lmms-eval loads that revision too
    hub = {"revision": revision} if revision else {}
    try:
        if local is not None:
            source = str(local)
            stream = datasets.load_dataset(source, split=split, streaming=True)
        elif _offline():
            # Streaming needs the network; offline, lmms-eval reads the datasets cache, and so do we.
            source = f"cached {path}"
            stream = datasets.load_dataset(path, name, split=f"{split}[:{n}]", **hub)
        else:
            source = f"hub {path}"
            stream = datasets.load_dataset(path, name, split=split, streaming=True, **hub)
        rows = list(stream.take(n))
    except Exception as exc:
        if local is not None:
            raise _Problem(
                f"cannot read split {split!r} from the local copy {local}: {_one_line(exc)}",
                f"write the split as {local}/data/{split}-00000-of-00001.parquet (the hub's layout)",
            ) from exc
        where = "the datasets cache (offline)" if _offline() else "the hub"
        raise _Problem(
            f"cannot read {path} ({name or 'default'}, split {split}) from {where}: {_one_line(exc)}",
            f"check the network / HF_TOKEN, or put a copy at {_local_hint(config)}",
        ) from exc
    if not rows:
        raise _Problem(f"split {split!r} of {source} is empty", "re-download the dataset")
    features = getattr(stream, "features", None)
    return datasets.Dataset.from_list(rows, features=features), source


def _offline() -> bool:
    return any(os.environ.get(v, "").upper() in ("1", "ON", "YES", "TRUE") for v in _OFFLINE_ENV)


def _call_with_kwargs(fn: Callable, doc: dict[str, Any], kwargs: dict[str, Any] | None) -> Any:
    """``fn(doc)`` or ``fn(doc, lmms_eval_specific_kwargs)``, as lmms-eval calls prompt functions."""
    try:
        takes_kwargs = len(inspect.signature(fn).parameters) > 1
    except (TypeError, ValueError):
        takes_kwargs = True
    return fn(doc, kwargs) if takes_kwargs else fn(doc)


def _check_field(value: Any, doc: dict[str, Any], what: str, kwargs: dict[str, Any] | None) -> None:
    """Run a ``doc_to_text``/``doc_to_target`` entry: a function, or a column name / template."""
    if isinstance(value, FunctionRef):
        _call_with_kwargs(value.resolve(), doc, kwargs)
    elif isinstance(value, str) and "{{" not in value and value not in doc:
        raise ValueError(f"{what} reads column {value!r}, which the data lacks (columns: {sorted(doc)})")


def _missing_folder(path: str) -> str:
    """The topmost directory on ``path``'s way that does not exist (the folder to fill)."""
    missing = Path(path).parent
    while not missing.parent.exists() and missing.parent != missing:
        missing = missing.parent
    return str(missing)


def _check_visuals(visuals: Iterable[Any], hint: str) -> None:
    for visual in visuals:
        if isinstance(visual, str):
            if not os.path.isfile(visual):
                raise _Problem(_missing_video(visual), hint)
        elif hasattr(visual, "load"):
            visual.load()  # PIL decodes lazily; a truncated file fails here
        elif isinstance(visual, dict) and "array" in visual:
            continue  # audio
        else:
            raise ValueError(
                f"doc_to_visual returned a {type(visual).__name__}, not an image or a video path"
            )


def prepare_hint(task: str, config: dict[str, Any]) -> str:
    kwargs = config.get("dataset_kwargs") or {}
    if kwargs.get("video"):
        return f"ov-eval data prepare {task}"
    return "re-download the dataset"


def check_task(task: str, config: dict[str, Any], rows: int = DEFAULT_ROWS) -> Finding:
    """Preflight one task (see the module docstring); never raises for bad data."""
    from ov_eval.tasks.inputs import NoRowsSelected

    finding = Finding(task, dataset=describe_dataset(config))
    try:
        dataset, _ = first_rows(config, rows)
        read = len(dataset)
        finding.rows = str(read)
        process_docs = config.get("process_docs")
        if isinstance(process_docs, FunctionRef):
            try:
                selected = process_docs.resolve()(dataset)
            except NoRowsSelected as exc:
                # The task keeps part of a config whose rows share one schema: check the rows read.
                selected = exc.unfiltered if exc.unfiltered is not None else dataset
                finding.rows = f"0 of {read} (rows of other sub-tasks checked)"
            except Exception as exc:
                raise _Problem(f"schema check: {_one_line(exc)}", _schema_fix(config)) from exc
            else:
                finding.rows = str(len(selected)) if len(selected) == read else f"{len(selected)} of {read}"
            dataset = selected
        with _judge_check_off():
            for i in range(len(dataset)):
                _check_row(task, config, dataset[i], i)
    except _Problem as problem:
        finding.problem, finding.fix = problem.problem, problem.fix
    except Exception as exc:  # an unexpected failure is a finding too, never a crash
        finding.problem, finding.fix = _one_line(exc), _schema_fix(config)
    return finding


def _check_row(task: str, config: dict[str, Any], doc: dict[str, Any], i: int) -> None:
    """Prompt, target and visuals of one row, through the task's own functions."""
    kwargs = (config.get("lmms_eval_specific_kwargs") or {}).get("default")
    for what in ("doc_to_text", "doc_to_target"):
        if what in config:
            try:
                _check_field(config[what], doc, what, kwargs)
            except Exception as exc:
                raise _Problem(f"row {i}: {what}: {_one_line(exc)}", _schema_fix(config)) from exc
    to_visual = config.get("doc_to_visual")
    if not isinstance(to_visual, FunctionRef):
        return
    hint = prepare_hint(task, config)
    try:
        _check_visuals(_call_with_kwargs(to_visual.resolve(), doc, kwargs) or [], hint)
    except _Problem as problem:
        raise _Problem(f"row {i}: {problem.problem}", problem.fix) from problem
    except FileNotFoundError as exc:
        raise _Problem(f"row {i}: {_video_problem(exc)}", hint) from exc
    except Exception as exc:
        raise _Problem(f"row {i}: doc_to_visual: {_one_line(exc)}", hint) from exc


@contextmanager
def _judge_check_off() -> Iterator[None]:
    """Judged tasks refuse to build prompts when no judge is configured (``require_judge``).

    That is an environment question (``ov-eval run`` passes its ``--judge-*`` flags to lmms-eval
    only), not a data one: the preflight checks the data of judged tasks as of any other.
    """
    from ov_eval.judge import runtime

    original = runtime.require_judge
    runtime.require_judge = lambda task: None
    try:
        yield
    finally:
        runtime.require_judge = original


def _missing_video(path: str) -> str:
    """``video not found``, or the folder that is missing altogether (the one to fill)."""
    folder = _missing_folder(path)
    if not Path(folder).exists():
        return f"video folder missing: {folder} (looked for {path})"
    return f"video not found: {path}"


def _video_problem(exc: FileNotFoundError) -> str:
    """Name what is missing; ``ov_eval.tasks.video_files`` lists the paths it tried (first = preferred)."""
    tried = re.search(r"tried \[['\"]([^'\"]+)['\"]", str(exc))
    return _missing_video(tried.group(1)) if tried else _one_line(exc)


def _schema_fix(config: dict[str, Any]) -> str:
    if local_dataset_dir(config.get("dataset_path"), config.get("dataset_name")) is not None:
        return f"rewrite the local copy ({_local_hint(config)}) with the hub dataset card's columns and types"
    return "the hub data no longer has the columns this task reads: pin the dataset revision or report it"


def run_preflight(
    tasks: str, rows: int = DEFAULT_ROWS, configs_root: Path | None = None, out=None
) -> PreflightResult:
    """Check every task that ``--tasks tasks`` runs; print the table to ``out`` (default stdout).

    The function ``ov-eval run`` (and ``ov-eval doctor --tasks``) calls; ``result.ok`` says
    whether the run may go on.
    """
    out = out if out is not None else sys.stdout
    leaves, unknown = expand_tasks(tasks)
    result = PreflightResult()
    if leaves:  # (only foreign tasks: nothing to import, the run starts at once)
        from datasets.utils import logging as datasets_logging

        configs = task_configs(configs_root)
        bars = datasets_logging.is_progress_bar_enabled()
        datasets_logging.disable_progress_bar()  # a bar per 4-row filter buries the table
        try:
            for task in leaves:
                if task in configs:  # else a group name that lmms-eval expands itself
                    result.findings.append(check_task(task, configs[task][1], rows))
        finally:
            if bars:
                datasets_logging.enable_progress_bar()
    for name in unknown:
        result.findings.append(
            Finding(name, problem="not an ov-eval task or group: not checked", blocking=False)
        )
    print(result.table(), end="", file=out)
    return result


def cmd_preflight(args: argparse.Namespace) -> int:
    result = run_preflight(args.tasks, rows=args.rows)
    if not result.ok:
        print(f"ov-eval preflight: {len(result.problems)} task(s) with problems", file=sys.stderr)
        return 1
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "preflight",
        help="read the first rows of every task's data and check schema and visuals (no model)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--tasks", required=True, help="comma-separated task/group names, as for `ov-eval run`")
    p.add_argument(
        "--rows", type=int, default=DEFAULT_ROWS, help=f"rows read per task (default {DEFAULT_ROWS})"
    )
    p.set_defaults(func=cmd_preflight)
