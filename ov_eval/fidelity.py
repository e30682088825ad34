"""Fidelity cards: how far each task is from the protocol behind the paper's numbers.

The paper's numbers came from lmms-eval at its LLaVA-OneVision release (``RELEASE_COMMIT``);
ov-eval runs on lmms-eval 0.7.3. Each task's card (``reports/fidelity.yaml``) says which
release files define the paper-era protocol, where the task follows the release although 0.7.3
differs, which settings still differ (with direction and size), and whether a paper cell can
be compared with a run at all (a subset, a server-scored split, a paper inconsistency).

One module owns that knowledge so that ``ov-eval tasks --fidelity`` and ``ov-eval report``
cannot disagree: the report asks :func:`not_comparable` before computing a gap and
:func:`cell_notes` for the footnotes next to a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from ov_eval.paths import reports_path

COMPARABILITY_KINDS = ("subset", "server-scored split", "inferred mapping", "paper inconsistency")
DIRECTIONS = ("+", "-", "±", "0")


@dataclass(frozen=True)
class Deviation:
    """A setting that still differs from the release, and why it is kept."""

    what: str
    release: str
    ours: str
    direction: str  # "+": raises our score vs the paper's protocol, "-" lowers, "±" either, "0" none
    size: str
    why: str

    def text(self) -> str:
        return f"{self.what}: release {self.release}; ours {self.ours} ({self.direction}, {self.size}; {self.why})"


@dataclass(frozen=True)
class NotComparable:
    kind: str
    why: str
    rows: tuple[str, ...] | None = None  # paper rows it applies to; None = every row

    def applies(self, row: str | None) -> bool:
        return self.rows is None or row in self.rows


@dataclass(frozen=True)
class PaperNote:
    """An inconsistency inside the paper (two tables disagree, a baseline measured differently)."""

    measure: str
    rows: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class FidelityCard:
    task: str
    release: tuple[str, ...]
    aligned: tuple[str, ...] = ()
    deviations: tuple[Deviation, ...] = ()
    not_comparable: NotComparable | None = None
    paper_notes: tuple[PaperNote, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)


def default_path() -> Path:
    return reports_path() / "fidelity.yaml"


def _card(task: str, data: dict[str, Any], where: str) -> FidelityCard:
    unknown = set(data) - {"release", "aligned", "deviations", "not_comparable", "paper_notes", "settings"}
    if unknown:
        raise ValueError(f"{where}: unknown card field(s) {sorted(unknown)}")
    if not data.get("release"):
        raise ValueError(f"{where}: 'release' must name the release's task file(s)")
    deviations = []
    for item in data.get("deviations") or []:
        try:
            deviation = Deviation(**{k: str(item[k]) for k in Deviation.__dataclass_fields__})
        except KeyError as missing:
            raise ValueError(f"{where}: a deviation lacks {missing}") from None
        if deviation.direction not in DIRECTIONS:
            raise ValueError(f"{where}: direction {deviation.direction!r} is not one of {DIRECTIONS}")
        deviations.append(deviation)
    nc = data.get("not_comparable")
    not_comparable = None
    if nc:
        if nc.get("kind") not in COMPARABILITY_KINDS:
            raise ValueError(
                f"{where}: not_comparable kind {nc.get('kind')!r} is not one of {COMPARABILITY_KINDS}"
            )
        rows = nc.get("rows")
        not_comparable = NotComparable(nc["kind"], nc["why"], tuple(rows) if rows else None)
    notes = tuple(PaperNote(n["measure"], tuple(n["rows"]), n["note"]) for n in data.get("paper_notes") or [])
    return FidelityCard(
        task=task,
        release=tuple(data["release"]),
        aligned=tuple(data.get("aligned") or ()),
        deviations=tuple(deviations),
        not_comparable=not_comparable,
        paper_notes=notes,
        settings=dict(data.get("settings") or {}),
    )


@cache
def load(path: Path | None = None) -> tuple[str, dict[str, FidelityCard]]:
    """``(release_commit, {task: card})``; every problem names the file and the task."""
    path = Path(path or default_path())
    data = yaml.safe_load(path.read_text())
    cards = {
        task: _card(task, body or {}, f"{path.name}: task {task}") for task, body in data["tasks"].items()
    }
    return str(data["release_commit"]), cards


def release_commit() -> str:
    return load()[0]


def cards() -> dict[str, FidelityCard]:
    return load()[1]


def card(task: str) -> FidelityCard:
    try:
        return cards()[task]
    except KeyError:
        raise KeyError(f"{task!r} has no fidelity card in reports/fidelity.yaml") from None


def _task_of(measure: str) -> str:
    from ov_eval.report.metric_map import MEASURES

    return MEASURES[measure].task


def not_comparable(measure: str, row: str | None) -> NotComparable | None:
    """Why the paper's ``measure`` cell for ``row`` must not be compared with a run, if it must not."""
    task = _task_of(measure)
    nc = cards()[task].not_comparable if task in cards() else None
    return nc if nc and nc.applies(row) else None


def run_notes(measure: str, row: str | None) -> list[str]:
    """The footnotes of a run's number: why it is not comparable, then the protocol deviations."""
    task = _task_of(measure)
    if task not in cards():
        return []
    nc = not_comparable(measure, row)
    notes = [f"not comparable ({nc.kind}): {nc.why}"] if nc else []
    return notes + [f"protocol deviation: {d.text()}" for d in cards()[task].deviations]


def cell_notes(measure: str, row: str | None) -> list[str]:
    """Every footnote of one report cell: :func:`run_notes`, then the paper's own notes."""
    return run_notes(measure, row) + paper_notes(measure, row)


def paper_notes(measure: str, row: str | None) -> list[str]:
    """The paper's own inconsistencies about one of its cells (shown next to the paper's value)."""
    task = _task_of(measure)
    c = cards().get(task)
    return [
        f"paper: {n.note}" for n in (c.paper_notes if c else ()) if n.measure == measure and row in n.rows
    ]


class Footnotes:
    """Numbers each distinct note once per report, in order of first use: ``mark`` → ``" [1,3]"``."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}

    def mark(self, notes: list[str]) -> str:
        if not notes:
            return ""
        numbers = [self.numbers.setdefault(note, len(self.numbers) + 1) for note in notes]
        return " [" + ",".join(map(str, numbers)) + "]"

    def rows(self) -> list[list[str]]:
        return [[f"[{number}]", note] for note, number in self.numbers.items()]


# ---------------------------------------------------------------- ov-eval tasks --fidelity


def card_lines(task: str) -> list[str]:
    """A card as Markdown bullet lines (``ov-eval tasks --fidelity``)."""
    if task not in cards():
        return [f"### `{task}`", "", "- no fidelity card", ""]
    c = cards()[task]
    commit = release_commit()[:8]
    lines = [f"### `{task}`", "", f"- release ({commit}): " + ", ".join(f"`{f}`" for f in c.release)]
    if c.not_comparable:
        rows = f" (rows {', '.join(c.not_comparable.rows)})" if c.not_comparable.rows else ""
        lines.append(f"- **not comparable{rows}** — {c.not_comparable.kind}: {c.not_comparable.why}")
    else:
        lines.append("- comparable with the paper")
    lines += [f"- follows the release: {a}" for a in c.aligned]
    lines += [f"- deviation: {d.text()}" for d in c.deviations]
    lines += [f"- paper note ({', '.join(n.rows)}): {n.note}" for n in c.paper_notes]
    return lines + [""]


def fidelity_markdown(tasks: list[str]) -> str:
    return "\n".join(line for task in tasks for line in card_lines(task))
