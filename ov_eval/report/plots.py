"""PNG charts (matplotlib, Agg backend: no display needed, works on CI and over SSH)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ov_eval.report import stats  # noqa: E402
from ov_eval.report.compare import Cell, Delta  # noqa: E402
from ov_eval.report.reference import MODALITIES  # noqa: E402

SI_COLOR, OV_COLOR, PAPER_COLOR = "#8da0cb", "#fc8d62", "#999999"


def _label(d: Delta | Cell) -> str:
    return f"{d.column} ({d.split})" if d.split not in ("test", "val") else d.column


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _errors(halves: list[float | None]) -> list[float] | None:
    """Error-bar lengths (the 95 % interval's half-width); 0 where a value has no interval."""
    return [h or 0.0 for h in halves] if any(h is not None for h in halves) else None


def _half(se: float | None) -> float | None:
    return None if se is None else stats.z_value() * se


def _placeholder(ax: plt.Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666")
    ax.set_xticks([])
    ax.set_yticks([])


def si_vs_ov_bars(deltas: list[Delta], path: Path, use_paper: bool = False) -> Path:
    """Grouped SI/OV bars per benchmark, one panel per (size, modality); percent units only
    (MME raw sums and 0-5 scores would flatten every other bar)."""
    sizes = list(dict.fromkeys(d.size for d in deltas)) or ["-"]
    fig, axes = plt.subplots(len(sizes), 3, figsize=(18, 3.6 * len(sizes)), squeeze=False)
    for i, size in enumerate(sizes):
        for j, modality in enumerate(MODALITIES):
            ax = axes[i][j]
            rows = [d for d in deltas if d.size == size and d.modality == modality and "%" in d.unit]
            si = [d.paper_si if use_paper else d.si for d in rows]
            ov = [d.paper_ov if use_paper else d.ov for d in rows]
            keep = [k for k in range(len(rows)) if si[k] is not None and ov[k] is not None]
            ax.set_title(f"{size} {modality}: SI vs OV{' (paper)' if use_paper else ''}", fontsize=10)
            if not keep:
                _placeholder(ax, "no benchmark with both SI and OV results")
                continue
            xs = range(len(keep))
            si_err = None if use_paper else _errors([_half(rows[k].si_se) for k in keep])
            ov_err = None if use_paper else _errors([_half(rows[k].ov_se) for k in keep])
            ax.bar(
                [x - 0.2 for x in xs],
                [si[k] for k in keep],
                0.4,
                label="SI",
                color=SI_COLOR,
                yerr=si_err,
                capsize=2,
            )
            ax.bar(
                [x + 0.2 for x in xs],
                [ov[k] for k in keep],
                0.4,
                label="OV",
                color=OV_COLOR,
                yerr=ov_err,
                capsize=2,
            )
            ax.set_xticks(list(xs), [_label(rows[k]) for k in keep], rotation=60, ha="right", fontsize=7)
            ax.set_ylabel("score (%)")
            ax.legend(fontsize=8)
    return _save(fig, path)


def delta_chart(deltas: list[Delta], path: Path, use_paper: bool = False) -> Path:
    """Horizontal OV−SI bars per benchmark (percent units), colored by modality, with the delta's
    95 % interval as error bars (paired when both runs logged samples)."""
    colors = dict(zip(MODALITIES, ("#66c2a5", "#fc8d62", "#8da0cb"), strict=True))
    rows = [
        (d, d.paper_delta if use_paper else d.delta)
        for d in deltas
        if "%" in d.unit and (d.paper_delta if use_paper else d.delta) is not None
    ]
    fig, ax = plt.subplots(figsize=(9, max(3.0, 0.22 * len(rows) + 1.2)))
    ax.set_title(f"OV minus SI, points{' (paper)' if use_paper else ''}")
    if not rows:
        _placeholder(ax, "no benchmark with both SI and OV results")
        return _save(fig, path)
    ys = range(len(rows))
    err = None if use_paper else _errors([d.half_width for d, _ in rows])
    ax.barh(list(ys), [v for _, v in rows], color=[colors[d.modality] for d, _ in rows], xerr=err, capsize=2)
    ax.set_yticks(list(ys), [f"{d.size} {_label(d)}" for d, _ in rows], fontsize=7)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.invert_yaxis()
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colors.values()]
    ax.legend(handles, list(colors), fontsize=8, loc="lower right")
    return _save(fig, path)


def gap_chart(cells: list[Cell], path: Path) -> Path:
    """Run minus paper per benchmark and checkpoint (percent units), with the run's 95 % interval
    as error bars; red when flagged (significant and beyond the tolerance)."""
    rows = [c for c in cells if c.gap is not None and "%" in c.unit and c.table != 2]
    fig, ax = plt.subplots(figsize=(9, max(3.0, 0.22 * len(rows) + 1.2)))
    ax.set_title("run minus paper, points, ± 95 % interval (red: flagged)")
    if not rows:
        _placeholder(ax, "no run checkpoint matches a paper row (0.5b/7b/72b si/ov)")
        return _save(fig, path)
    ys = range(len(rows))
    colors = ["#d62728" if c.flagged else "#2ca02c" for c in rows]
    ax.barh(
        list(ys), [c.gap for c in rows], color=colors, xerr=_errors([c.half_width for c in rows]), capsize=2
    )
    ax.set_yticks(list(ys), [f"{c.checkpoint} {_label(c)}" for c in rows], fontsize=7)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.invert_yaxis()
    return _save(fig, path)


def trend_chart(title: str, series: dict[str, list[tuple[str, float, float | None]]], path: Path) -> Path:
    """One benchmark over tracked runs: x = tracking order (label), one line per checkpoint,
    error bars = 95 % interval of each tracked value (none where it had no standard error)."""
    fig, ax = plt.subplots(figsize=(4.5, 2.8))
    ax.set_title(title, fontsize=9)
    for name, points in series.items():
        err = _errors([_half(p[2]) for p in points])
        ax.errorbar(
            [p[0] for p in points], [p[1] for p in points], yerr=err, marker="o", capsize=2, label=name
        )
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.legend(fontsize=7)
    return _save(fig, path)
