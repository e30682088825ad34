"""``ov-eval run``'s guards, in process: one-line errors before lmms-eval starts, the output-path lock,
the results file it merges into, and the exit status when judgments failed.

lmms-eval itself is replaced by a stand-in child (``subprocess.call`` patched) that writes what a real run
writes: a results file under ``<output_path>/<model>/`` and the judge accounting files. Two real concurrent
processes are tested in tests/test_resume_cli.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ov_eval import run as run_module
from ov_eval.cli import main
from ov_eval.judge.accounting import TaskAccounting


def _run(out: Path, *extra: str) -> list[str]:
    # no dataset here: lmms-eval is faked, and the data preflight has its own tests (test_preflight.py)
    return ["run", "--tasks", "ov_ai2d", "--output_path", str(out), "--skip-preflight", *extra]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--num_processes", "0"], "--num_processes must be >= 1 (got 0)"),
        (["--include_path", "/no/such/dir"], "--include_path /no/such/dir: no such directory"),
        (["--model_args", "batch_size=abc"], "--model_args: llava_onevision: batch_size must be an integer"),
        (
            ["--model_args", "pretrained=/no/ckpts/step1"],
            "pretrained='/no/ckpts/step1' is a local path but no",
        ),
        (["--model_args", "dtype"], "--model_args: 'dtype' is not name=value"),
        (["--fail-on-judge-failures", "5"], "takes a fraction from 0 to 1 (got 5)"),
    ],
)
def test_bad_arguments_are_one_line_before_lmms_eval_starts(tmp_path, capsys, monkeypatch, extra, needle):
    monkeypatch.setattr(run_module.subprocess, "call", lambda *a, **k: pytest.fail("lmms-eval started"))
    assert main(_run(tmp_path / "out", *extra)) == 2
    line = _one_line_error(capsys)
    assert line.startswith("ov-eval run: error: ") and needle in line


def test_an_unwritable_output_path_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(_run(blocker / "out")) == 2
    line = _one_line_error(capsys)
    assert f"--output_path {blocker / 'out'}: cannot write there" in line and "writable directory" in line


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(run_module.RunError, match="num_processes"):
        main(["--debug", *_run(tmp_path, "--num_processes", "0")])
    with pytest.raises(run_module.RunError):
        main([*_run(tmp_path, "--num_processes", "0"), "--debug"])


class FakeLmmsEval:
    """Writes a results file (and judge accounting) like an lmms-eval child; can start a second run."""

    def __init__(self, out: Path, judged: dict[str, tuple[int, int]] | None = None, during=None):
        self.out, self.judged, self.during = out, judged or {}, during
        self.calls = 0

    def __call__(self, cmd: list[str], env: dict[str, str], pass_fds=()) -> int:
        self.calls += 1
        if self.during:
            self.during()
        folder = self.out / "model"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"2026010{self.calls}_000000_results.json"
        path.write_text(json.dumps({"results": {"ov_ai2d": {}}, "configs": {"ov_ai2d": {}}}))
        for task, (total, failed) in self.judged.items():
            acc = TaskAccounting(task, "judge")
            for i in range(total):
                acc.record_outcome(str(i), False, "http_error" if i < failed else None)
            acc.write(Path(env["OV_EVAL_JUDGE_ACCOUNTING_DIR"]))
        return 0


def test_a_second_run_into_a_busy_output_path_is_refused(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    second: list[int] = []
    child = FakeLmmsEval(out, during=lambda: second.append(main(_run(out))))
    monkeypatch.setattr(run_module.subprocess, "call", child)
    assert main(_run(out)) == 0
    assert second == [2] and child.calls == 1  # the second never started lmms-eval
    err = capsys.readouterr().err
    assert f"--output_path {out} is in use by another ov-eval run (pid {os.getpid()})" in err
    (results,) = sorted(out.rglob("*_results.json"))
    assert json.loads(results.read_text())["ov_eval"]["errors"] == {"ov_ai2d": 0}
    assert main(_run(out)) == 0  # the lock went with the first run


def test_the_run_merges_into_its_own_results_file_not_an_earlier_one(tmp_path, monkeypatch):
    out = tmp_path / "out"
    earlier = out / "model" / "20251231_000000_results.json"
    earlier.parent.mkdir(parents=True)
    earlier.write_text(json.dumps({"results": {"other": {}}}))
    os.utime(earlier, (4e9, 4e9))  # newest by mtime (clock skew, a copied file): must still not be chosen
    monkeypatch.setattr(run_module.subprocess, "call", FakeLmmsEval(out))
    assert main(_run(out)) == 0
    assert "ov_eval" not in json.loads(earlier.read_text())
    assert "ov_eval" in json.loads((out / "model" / "20260101_000000_results.json").read_text())


@pytest.mark.parametrize(
    ("judged", "extra", "status"),
    [
        ({"ov_mmvet": (5, 5)}, [], 3),  # judge unreachable: no score, CI must not pass
        ({"ov_mmvet": (5, 1)}, [], 0),
        ({"ov_mmvet": (5, 1)}, ["--fail-on-judge-failures"], 3),
        ({"ov_mmvet": (5, 1)}, ["--fail-on-judge-failures", "0.25"], 0),
        ({"ov_mmvet": (5, 2)}, ["--fail-on-judge-failures", "0.25"], 3),
        ({"ov_mmvet": (5, 0)}, ["--fail-on-judge-failures"], 0),
    ],
)
def test_failed_judgments_decide_the_exit_status(tmp_path, capsys, monkeypatch, judged, extra, status):
    out = tmp_path / "out"
    monkeypatch.setattr(run_module.subprocess, "call", FakeLmmsEval(out, judged))
    assert main(_run(out, *extra)) == status
    (results,) = out.rglob("*_results.json")
    accounting = json.loads(results.read_text())["ov_eval"]["judge"]["ov_mmvet"]
    assert (accounting["judged"], accounting["failures"]) == judged["ov_mmvet"]
    if status:
        assert "too many failed judgments (ov_mmvet: " in capsys.readouterr().err
