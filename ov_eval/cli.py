"""``ov-eval``: the suite's command line.

Each area registers its own sub-commands (``register(subparsers)`` in the
modules listed in ``COMMAND_MODULES``) so that the CLI stays a thin index and
importing it stays cheap: heavy imports happen inside the command handlers.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ov_eval import __version__
from ov_eval.paths import tasks_path

COMMAND_MODULES = [
    "ov_eval.report.commands",
    "ov_eval.judge.commands",
    "ov_eval.demo",
    "ov_eval.run",
    "ov_eval.task_index",
    "ov_eval.preflight",
    "ov_eval.data_prepare",
]


def _cmd_tasks_path(_args: argparse.Namespace) -> int:
    print(tasks_path())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ov-eval", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"ov-eval {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("tasks-path", help="print the directory to pass to lmms_eval --include_path")
    p.set_defaults(func=_cmd_tasks_path)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
