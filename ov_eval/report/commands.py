"""``ov-eval report | track | dashboard | gate`` (registered by ov_eval.cli)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_DB = "ov-eval-history.sqlite"


def _db(args: argparse.Namespace) -> Path:
    return Path(args.db or os.environ.get("OV_EVAL_HISTORY") or DEFAULT_DB)


def cmd_report(args: argparse.Namespace) -> int:
    from ov_eval.report.build import build_report
    from ov_eval.report.runs import load_runs
    from ov_eval.report.write import write_report

    if not args.runs and not args.paper:
        print(
            "ov-eval report: give RUN files/directories, or --paper for the paper-only report",
            file=sys.stderr,
        )
        return 2
    runs = load_runs([Path(p) for p in args.runs], label=args.label) if args.runs else []
    report = build_report(runs, tolerance_pct=args.tolerance, iters=args.bootstrap_iters)
    paths = write_report(report, Path(args.out))
    for name in ("report.md", "report.html", "report.csv", "report.json"):
        print(paths[name])
    flagged = sum(c.flagged for c in report.cells)
    if runs:
        print(
            f"{flagged} cells flagged (significantly off the paper and beyond the {args.tolerance:g} % tolerance)"
        )
    return 0


def cmd_track(args: argparse.Namespace) -> int:
    from ov_eval.report.history import connect, track
    from ov_eval.report.runs import load_runs

    con = connect(_db(args))
    for run in load_runs([Path(p) for p in args.runs], label=args.checkpoint):
        n = track(con, run, args.label, step=args.step, commit=args.commit)
        print(f"tracked {run.path} as {args.label!r} ({run.checkpoint}): {n} scores -> {_db(args)}")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from ov_eval.report.dashboard import write_dashboard
    from ov_eval.report.history import connect

    path = write_dashboard(
        connect(_db(args)),
        Path(args.out),
        args.baseline,
        args.candidate,
        args.max_drop,
        alpha=args.alpha,
        iters=args.bootstrap_iters,
    )
    print(path)
    return 0


def cmd_gate(args: argparse.Namespace) -> int:
    from ov_eval.report.dashboard import regressions
    from ov_eval.report.history import compare_labels, connect, labels, missing_in

    con = connect(_db(args))
    candidate = args.candidate or (labels(con) or [None])[-1]
    if candidate is None:
        print(f"ov-eval gate: the history {_db(args)} is empty", file=sys.stderr)
        return 2
    try:
        changes = compare_labels(con, args.baseline, candidate)
    except KeyError as exc:
        print(f"ov-eval gate: {exc.args[0]}", file=sys.stderr)
        return 2
    missing = missing_in(con, args.baseline, candidate)
    if not changes:
        print(f"ov-eval gate: {candidate!r} and {args.baseline!r} share no benchmark", file=sys.stderr)
        return 2
    bad = regressions(changes, args.max_drop, args.alpha, args.bootstrap_iters)
    for r, test in bad:
        print(f"REGRESSION {r.measure}: {r.baseline:.2f} -> {r.candidate:.2f} ({r.change:+.2f}; {test})")
    for measure in missing:
        print(f"MISSING {measure}: the baseline has a score, {candidate} has none")
    print(f"{candidate} vs {args.baseline}: {len(changes)} benchmarks compared, {len(bad)} regressions, "
          f"{len(missing)} missing (max drop {args.max_drop:g}, alpha {args.alpha:g})")  # fmt: skip
    return 1 if bad or missing else 0


def _alpha(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"--alpha must be in (0, 1], got {text}")
    return value


def _iters(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"--bootstrap-iters must be at least 2, got {text}")
    return value


def iters_arg(q: argparse.ArgumentParser) -> None:
    q.add_argument("--bootstrap-iters", type=_iters, default=1000,
                   help="resamples per standard error computed from logged samples (default 1000; seeded)")  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="paper tables vs your lmms-eval runs (md, html, csv, json, png)")
    p.add_argument("runs", nargs="*", metavar="RUN", help="lmms-eval *_results.json files or directories")
    p.add_argument("--out", default="ov-eval-report", help="output directory (default: ov-eval-report)")
    p.add_argument("--paper", action="store_true", help="paper-only report (no runs needed)")
    p.add_argument("--label", help="checkpoint label for all RUNs, e.g. 7b-ov (default: from model_args)")
    p.add_argument("--tolerance", type=float, default=1.0,
                   help="never flag gaps within this %% of the unit's range (default 1.0 = 1 point)")  # fmt: skip
    iters_arg(p)
    p.set_defaults(func=cmd_report)

    def db_arg(q: argparse.ArgumentParser) -> None:
        q.add_argument("--db", help=f"SQLite history (default: $OV_EVAL_HISTORY or ./{DEFAULT_DB})")

    def alpha_arg(q: argparse.ArgumentParser) -> None:
        q.add_argument("--alpha", type=_alpha, default=0.05,
                       help="a drop counts only when significant at this level (default 0.05; 1 = any drop)")  # fmt: skip

    p = subparsers.add_parser("track", help="store runs in the SQLite history (idempotent)")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--label", required=True, help="name of this point in history (e.g. step-2000)")
    p.add_argument("--checkpoint", help="checkpoint name (default: from model_args)")
    p.add_argument("--step", help="training step or other ordering key")
    p.add_argument("--commit", help="git commit (default: the results' git_hash)")
    db_arg(p)
    p.set_defaults(func=cmd_track)

    p = subparsers.add_parser("dashboard", help="HTML trends + regressions table from the history")
    p.add_argument("--out", default="ov-eval-dashboard")
    p.add_argument("--baseline", help="label to compare against (default: first tracked)")
    p.add_argument("--candidate", help="label to check (default: last tracked)")
    p.add_argument("--max-drop", type=float, default=1.0, help="largest tolerated drop, paper units")
    alpha_arg(p)
    iters_arg(p)
    db_arg(p)
    p.set_defaults(func=cmd_dashboard)

    p = subparsers.add_parser(
        "gate",
        help="exit 1 when a benchmark dropped significantly by more than --max-drop, or lost its score",
    )
    p.add_argument("--baseline", required=True)
    p.add_argument("--candidate", help="label to check (default: last tracked)")
    p.add_argument("--max-drop", type=float, default=1.0)
    alpha_arg(p)
    iters_arg(p)
    db_arg(p)
    p.set_defaults(func=cmd_gate)
