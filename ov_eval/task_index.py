"""The suite's task and group configs as data: what ``--tasks NAME`` runs, without running it.

lmms-eval only expands a group when it evaluates it (and builds every dataset on the way).
Users and the docs need the answer before that: which tasks ``ov_paper_table3`` holds, which
paper column each reports, on which split, with which metric, and whether it needs a judge.
``ov-eval tasks`` prints it; the README's task table is its output (a test keeps them equal).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from ov_eval.paths import tasks_path

DEFAULT_GROUP = "ov_all"
# A task YAML with ``tag: [ov_judged]`` needs an LLM judge. lmms-eval 0.7.3 also registers a tag as a
# name ``--tasks`` accepts (running its tasks, with no group score), so the tag is named apart from
# our groups: a tag named like a group would be dropped with a warning.
JUDGED_TAG = "ov_judged"
_MODALITY_BY_DIR = {"single_image": "single-image", "multi_image": "multi-image", "video": "video"}


class _IgnoreTags(yaml.SafeLoader):
    """Reads ``!function`` (and any other tag) as None: the index needs names, not callables."""


_IgnoreTags.add_multi_constructor("!", lambda loader, suffix, node: None)


def read_config(path: Path) -> dict[str, Any]:
    """One YAML with its ``include:`` files merged underneath, as lmms-eval merges them."""
    data = yaml.load(path.read_text(), Loader=_IgnoreTags) or {}
    includes = data.pop("include", None) or []
    merged: dict[str, Any] = {}
    for include in [includes] if isinstance(includes, str) else includes:
        merged |= read_config(path.parent / include)
    return merged | data


@dataclass(frozen=True)
class Config:
    name: str
    path: Path
    data: dict[str, Any]

    @property
    def is_group(self) -> bool:
        return "group" in self.data and isinstance(self.data.get("task"), list)

    @property
    def tags(self) -> list[str]:
        tags = self.data.get("tag") or []
        return [tags] if isinstance(tags, str) else list(tags)

    @property
    def judged(self) -> bool:
        """Whether this task is scored by an LLM judge (its YAML carries the ``ov_judged`` tag)."""
        return JUDGED_TAG in self.tags

    @property
    def members(self) -> list[str]:
        return [m if isinstance(m, str) else m["task"] for m in self.data["task"]] if self.is_group else []


@cache
def suite_configs(root: Path | None = None) -> dict[str, Config]:
    """Every named task and group config of the suite (include-only templates have no name)."""
    configs = {}
    for path in sorted(Path(root or tasks_path()).rglob("*.yaml")):
        data = read_config(path)
        name = data["group"] if "group" in data and isinstance(data.get("task"), list) else data.get("task")
        if name is None:
            continue
        if not isinstance(name, str):
            raise ValueError(f"{path}: task/group name {name!r} is not a string")
        if name in configs:
            raise ValueError(f"{path}: {name!r} is also defined in {configs[name].path}")
        configs[name] = Config(name, path, data)
    return configs


def lookup(name: str, configs: dict[str, Config]) -> Config:
    try:
        return configs[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a task or group of ov-eval (see `ov-eval tasks`)") from None


def leaf_tasks(name: str, configs: dict[str, Config] | None = None) -> list[str]:
    """The tasks lmms-eval evaluates for ``--tasks name``, in config order."""
    configs = configs or suite_configs()
    config = lookup(name, configs)
    if not config.is_group:
        return [name]
    return [leaf for member in config.members for leaf in leaf_tasks(member, configs)]


def needs_judge(name: str, configs: dict[str, Config] | None = None) -> bool:
    """Whether any task run by ``--tasks name`` is scored by an LLM judge."""
    configs = configs or suite_configs()
    return any(configs[leaf].judged for leaf in leaf_tasks(name, configs))


def without_judge(names: list[str], configs: dict[str, Config] | None = None) -> list[str]:
    """A ``--tasks`` list running every task of ``names`` that needs no judge.

    Groups free of judged tasks stay whole, so their own score (MVBench, Table 2's Interleave)
    is still reported; groups that hold a judged task are replaced by their members.
    """
    configs = configs or suite_configs()
    selected: list[str] = []
    for name in names:
        if not needs_judge(name, configs):
            selected.append(name)
        elif lookup(name, configs).is_group:
            selected += without_judge(lookup(name, configs).members, configs)
    return list(dict.fromkeys(selected))


@dataclass(frozen=True)
class TaskRow:
    """One line of the task table: a task, or a group that reports one paper number."""

    task: str
    modality: str
    paper: str
    dataset: str
    metric: str
    judge: bool


def paper_units(name: str, configs: dict[str, Config] | None = None) -> list[str]:
    """The entries of ``name`` that report a paper number or are plain tasks, in order.

    A group that is itself a paper column (MVBench = mean of 20 sub-tasks) is one unit; a group
    whose members are paper columns too (``ov_interleave``: Table 2's mean of 4 Table 4 columns)
    is listed together with them.
    """
    from ov_eval.report.metric_map import MEASURES

    configs = configs or suite_configs()
    referenced = {m.task for m in MEASURES.values()}
    config = lookup(name, configs)
    if not config.is_group:
        return [name]
    units = [name] if name in referenced else []
    members = config.members
    if name in referenced and not any(m in referenced for m in members):
        return units
    return units + [u for member in members for u in paper_units(member, configs)]


def task_rows(names: list[str]) -> list[TaskRow]:
    from ov_eval.report.metric_map import UNREFERENCED_TASKS
    from ov_eval.report.reference import load_reference

    configs = suite_configs()
    reference = load_reference()
    rows, seen = [], set()
    for unit in (u for name in names for u in paper_units(name, configs)):
        if unit in seen:
            continue
        seen.add(unit)
        config = configs[unit]
        leaves = leaf_tasks(unit, configs)
        first = configs[leaves[0]]
        columns = [c for c in reference if c.metric.task == unit]
        where: dict[str, list[str]] = {}
        for c in columns:
            where.setdefault(f"{c.column} ({c.split})", []).append(f"T{c.table}")
        paper = "; ".join(f"{col} [{', '.join(dict.fromkeys(tables))}]" for col, tables in where.items())
        paper += _comparability(unit)
        metrics = {c.measure: f"`{c.metric.key}` → {c.unit}" for c in columns}
        folder = first.path.parent.name
        modality = columns[0].modality if columns else _MODALITY_BY_DIR.get(folder, "single-image")
        data = first.data
        names = {configs[leaf].data.get("dataset_name") for leaf in leaves}
        dataset_name = data.get("dataset_name") if len(names) == 1 else "one config per sub-task"
        dataset = " / ".join(
            str(part) for part in (data.get("dataset_path"), dataset_name, data.get("test_split")) if part
        )
        if config.is_group:
            dataset += f" ({len(leaves)} sub-tasks)"
        rows.append(
            TaskRow(
                task=unit,
                modality=modality,
                paper=paper or f"— ({UNREFERENCED_TASKS.get(unit, 'not a paper column')})",
                dataset=dataset,
                metric="; ".join(metrics.values()) or _first_metric(data),
                judge=needs_judge(unit, configs),
            )
        )
    return rows


def _comparability(task: str) -> str:
    """The task table's note when the task's fidelity card marks its paper cell not comparable."""
    from ov_eval.fidelity import cards

    nc = cards()[task].not_comparable if task in cards() else None
    if nc is None:
        return ""
    rows = f", {'/'.join(nc.rows)}" if nc.rows else ""
    return f" — **not comparable** ({nc.kind}{rows})"


def _first_metric(data: dict[str, Any]) -> str:
    metrics = [m["metric"] for m in data.get("metric_list") or []]
    return f"`{metrics[0]}`" if metrics else "—"


def markdown_table(rows: list[TaskRow]) -> str:
    lines = [
        "| task | modality | paper column [table] | dataset / config / split | metric → paper unit | judge |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        judge = "yes" if r.judge else "no"
        lines.append(f"| `{r.task}` | {r.modality} | {r.paper} | {r.dataset} | {r.metric} | {judge} |")
    return "\n".join(lines) + "\n"


def cmd_tasks(args: argparse.Namespace) -> int:
    names = args.names or [DEFAULT_GROUP]
    try:
        if args.leaves:
            print("\n".join(dict.fromkeys(t for name in names for t in leaf_tasks(name))))
        elif args.without_judge:
            print(",".join(without_judge(names)))
        elif args.fidelity:
            from ov_eval.fidelity import fidelity_markdown

            print(fidelity_markdown([row.task for row in task_rows(names)]), end="")
        else:
            print(markdown_table(task_rows(names)), end="")
    except KeyError as exc:
        print(f"ov-eval tasks: {exc.args[0]}", file=sys.stderr)
        return 2
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "tasks",
        help="list the tasks of a group with paper column, split, metric and judge (default: ov_all)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("names", nargs="*", help=f"task or group names (default: {DEFAULT_GROUP})")
    p.add_argument(
        "--leaves", action="store_true", help="print only the task names lmms-eval will run, one per line"
    )
    p.add_argument(
        "--without-judge",
        action="store_true",
        help="print a comma-separated --tasks value running every task that needs no LLM judge",
    )
    p.add_argument(
        "--fidelity",
        action="store_true",
        help="print each task's fidelity card: the paper-era lmms-eval files, settings that still differ "
        "from them, and whether the paper's number is comparable (reports/fidelity.yaml)",
    )
    p.set_defaults(func=cmd_tasks)
