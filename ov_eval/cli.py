"""``ov-eval``: the suite's command line.

Each area registers its own sub-commands (``register(subparsers)`` in the
modules listed in ``COMMAND_MODULES``) so that the CLI stays a thin index and
importing it stays cheap: heavy imports happen inside the command handlers.

An error in a command is one line on stderr (``ov-eval <command>: error: ...``) and
exit status 2; ``--debug`` (anywhere before a ``--``) shows the traceback instead.
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
    "ov_eval.doctor",
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
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("tasks-path", help="print the directory to pass to lmms_eval --include_path")
    p.set_defaults(func=_cmd_tasks_path)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _pop_debug(argv: list[str]) -> tuple[list[str], bool]:
    """``--debug`` is accepted anywhere before ``--`` (after it, arguments belong to lmms-eval)."""
    end = argv.index("--") if "--" in argv else len(argv)
    if "--debug" not in argv[:end]:
        return argv, False
    return [a for a in argv[:end] if a != "--debug"] + argv[end:], True


def error_line(command: str, exc: BaseException) -> str:
    """One line naming the cause; the exception type only when the message alone would be unclear."""
    from ov_eval.run import RunError

    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc  # KeyError's str() quotes it
    text = " ".join(str(message).split()) or type(exc).__name__
    if not isinstance(exc, (RunError, ValueError, KeyError, FileNotFoundError)):
        text = f"{type(exc).__name__}: {text}"
    return f"ov-eval {command}: error: {text} (--debug shows the traceback)"


def main(argv: list[str] | None = None) -> int:
    argv, debug = _pop_debug(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Exception as exc:  # noqa: BLE001 - every failure reaches the user as one line
        if debug or args.debug:
            raise
        print(error_line(args.command, exc), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
