"""``ov-eval demo``: the README's first command, fully offline, in a few minutes on a laptop CPU.

Runs the bundled tiny random SI and OV checkpoints through the real ``python -m lmms_eval``
CLI and the real ``llava_onevision`` adapter on the bundled mini datasets, then writes the
report and the regression dashboard. It demonstrates the pipeline end to end; the tiny
checkpoints are random, so their scores mean nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# The tasks the demo runs, per modality: small enough for a few minutes on 2 CPU cores, and covering
# every visual path of the adapter (AnyRes single image, base-resolution multi-image, pooled video).
DEMO_TASKS: dict[str, list[str]] = {
    "single-image": ["ov_ai2d", "ov_mme", "ov_chartqa"],
    "multi-image": ["ov_interleave_nlvr2", "ov_muirbench"],
    "video": ["ov_egoschema_subset", "ov_videomme"],
}
RANDOM_WARNING = (
    "The demo checkpoints are TINY RANDOM models (a few MB of random weights in the real "
    "LLaVA-OneVision format): their scores are meaningless. The demo only shows the pipeline."
)


def build_fixtures(root: Path) -> None:
    """The bundled mini datasets of every modality, in the real hub schemas."""
    from ov_eval.demo.fixtures import multi_image, single_image, video

    for module in (single_image, multi_image, video):
        module.build(root)


def run_demo(out: Path, batch_size: int = 4) -> dict[str, Path]:
    from ov_eval.demo.launch import offline_env, run_offline
    from ov_eval.demo.tiny_checkpoint import ensure_tiny_checkpoint
    from ov_eval.paths import tasks_path
    from ov_eval.report.build import build_report
    from ov_eval.report.dashboard import write_dashboard
    from ov_eval.report.history import connect, track
    from ov_eval.report.runs import discover, load_run
    from ov_eval.report.write import write_report
    from ov_eval.run import lmms_eval_command

    tasks = [task for modality in DEMO_TASKS.values() for task in modality]
    out = Path(out).resolve()
    data = out / "data"
    build_fixtures(data)
    print(f"[demo] fixture datasets (single-image, multi-image, video) -> {data}")
    runs = []
    for stage in ("si", "ov"):
        checkpoint = ensure_tiny_checkpoint(stage)
        print(f"[demo] lmms-eval: tiny {stage.upper()} checkpoint on {', '.join(tasks)}")
        stage_out = out / "runs" / stage
        cmd = lmms_eval_command(
            "llava_onevision",
            f"pretrained={checkpoint},device=cpu,dtype=float32",
            ",".join(tasks),
            tasks_path(),
            stage_out,
            ["--batch_size", str(batch_size)],
        )
        results, _log = run_offline(cmd, offline_env(data, stage_out / "hf_home"), stage_out)
        newest = max(discover([results.parent]), key=lambda p: p.stat().st_mtime)
        runs.append(load_run(newest, label=f"tiny-{stage}"))
    report = build_report(runs)
    title = "ov-eval demo report (tiny random checkpoints)"
    paths = write_report(report, out / "report", title=title, banner=RANDOM_WARNING)
    db = out / "history.sqlite"
    con = connect(db)
    for run in runs:
        track(con, run, run.checkpoint)
    paths["dashboard.html"] = write_dashboard(con, out / "dashboard", baseline="tiny-si", candidate="tiny-ov")
    paths["history"] = db
    return paths


def cmd_demo(args: argparse.Namespace) -> int:
    from ov_eval.doctor import refuse_known_broken

    if refuse_known_broken("ov-eval demo"):  # the newcomer's first command: say why, and the fix
        return 1
    start = time.monotonic()
    print(f"[demo] {RANDOM_WARNING}")
    try:
        paths = run_demo(Path(args.out), args.batch_size)
    except RuntimeError as exc:
        print(f"ov-eval demo: {exc}", file=sys.stderr)
        return 1
    print(f"report:    {paths['report.html']}\n           {paths['report.md']}")
    print(f"dashboard: {paths['dashboard.html']}")
    print(f"history:   {paths['history']}")
    print(f"wall time: {time.monotonic() - start:.1f} s")
    print(f"[demo] reminder: {RANDOM_WARNING}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="offline end-to-end demo on tiny random checkpoints")
    p.add_argument("--out", default="ov-eval-demo", help="output directory (default: ov-eval-demo)")
    p.add_argument("--batch-size", type=int, default=4)
    p.set_defaults(func=cmd_demo)
