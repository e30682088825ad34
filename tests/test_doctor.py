"""``ov-eval doctor`` and the check ``ov-eval run`` makes first.

The known-bad case is real: with filelock 4.3.1, lmms-eval 0.7.3's evaluator fails on
``import filelock._api`` at the start of every evaluation. Tests fake the version and file
lookups (``ov_eval.doctor.Installed``) rather than install it, and the same checks must pass
on this (healthy) environment.
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from ov_eval import doctor
from ov_eval.cli import main
from ov_eval.judge.config import DEFAULT_MODEL

FILELOCK_FIX = "pip install 'filelock<4.3'"


class FakeInstalled(doctor.Installed):
    """The real lookups, except for the versions and missing modules a test names."""

    def __init__(self, versions: dict[str, str | None], missing: tuple[str, ...] = ()):
        self.versions = {doctor.normalize(k): v for k, v in versions.items()}
        self.missing = set(missing)

    def version(self, dist: str) -> str | None:
        key = doctor.normalize(dist)
        return self.versions[key] if key in self.versions else super().version(dist)

    def ships(self, dist: str, module: str) -> bool | None:
        return False if module in self.missing else super().ships(dist, module)


# filelock 4.3.1 as published: a new version number, and no filelock/_api.py
FILELOCK_431 = FakeInstalled({"filelock": "4.3.1", "lmms-eval": "0.7.3"}, missing=("filelock._api",))


@pytest.fixture
def fake_filelock_431(monkeypatch):
    monkeypatch.setattr(doctor, "Installed", lambda: FILELOCK_431)


def test_doctor_fails_on_filelock_4_3_1_naming_the_import_and_the_fix(fake_filelock_431, capsys):
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    failing = [line for line in out.splitlines() if line.startswith("[FAIL]")]
    # one line for the problem (the file check does not repeat what the known-bad row said)
    assert len(failing) == 1, out
    assert "filelock 4.3.1" in failing[0] and "filelock._api" in failing[0]
    assert failing[0].endswith(f"-> fix: {FILELOCK_FIX}")
    assert not any(line.startswith("[ok] filelock") for line in out.splitlines())  # no contradicting line
    assert out.splitlines()[-1].startswith("ov-eval doctor: 1 problem(s)")


@pytest.mark.parametrize("command", ["run", "demo"])
def test_run_and_demo_refuse_the_same_environment_with_the_same_line(
    command, fake_filelock_431, tmp_path, capsys, monkeypatch
):
    def no_lmms_eval(*args, **kwargs):
        raise AssertionError("lmms-eval must not start in a known-broken environment")

    monkeypatch.setattr(subprocess, "call", no_lmms_eval)
    monkeypatch.setattr(subprocess, "run", no_lmms_eval)
    out = tmp_path / "out"
    argv = (
        ["run", "--tasks", "ov_ai2d", "--output_path", str(out)]
        if command == "run"
        else ["demo", "--out", str(out)]
    )
    assert main(argv) == 1
    err = capsys.readouterr().err
    (problem,) = doctor.blocking_problems(FILELOCK_431)
    assert f"ov-eval {command}: {problem.line()}" in err.splitlines()
    assert not out.exists()  # refused before creating anything


@pytest.mark.parametrize(
    ("filelock", "lmms_eval", "broken"),
    [
        ("4.2.12", "0.7.3", False),
        ("4.3.0", "0.7.3", True),
        ("4.3.1", "0.7.3", True),
        ("4.3.1", "0.7.4", False),
    ],
)
def test_known_bad_row_matches_exactly_the_broken_combination(filelock, lmms_eval, broken):
    installed = FakeInstalled({"filelock": filelock, "lmms-eval": lmms_eval})
    assert bool(doctor.known_bad_findings(installed)) is broken


def test_a_missing_private_module_fails_whatever_the_version_says():
    installed = FakeInstalled({"datasets": "9.0.0"}, missing=("datasets.utils._filelock",))
    (problem,) = doctor.blocking_problems(installed)
    assert problem.level == doctor.FAIL
    assert "datasets 9.0.0 has no module datasets.utils._filelock" in problem.what


def test_file_lookup_agrees_with_the_import_system_here():
    # independent reference: where Python's import machinery finds each module
    for dist, module, _user in doctor.PRIVATE_MODULES:
        assert doctor.Installed().ships(dist, module) is (importlib.util.find_spec(module) is not None)


def test_doctor_passes_in_this_environment(capsys, monkeypatch):
    monkeypatch.delenv("OV_EVAL_JUDGE_API_KEY", raising=False)
    code = main(["doctor"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "[FAIL]" not in out
    for name in (
        "Python",
        "torch",
        "transformers",
        "lmms-eval",
        "datasets",
        "filelock",
        "video decoding",
        "judge",
    ):
        assert name in out, name


def test_python_too_old_is_a_problem():
    (finding,) = doctor.python_findings((3, 9, 18))
    assert finding.level == doctor.FAIL and "3.9.18" in finding.what


def test_lock_comparison_names_the_untested_package_and_the_locked_install():
    lock = (
        "# pip freeze\nTransformers==5.0.0 ; python_version >= '3.10'\ntorch==2.14.1\n-e .\nrouge[x]==1.0.1\n"
    )
    assert doctor.parse_lock(lock) == {"transformers": "5.0.0", "torch": "2.14.1", "rouge": "1.0.1"}
    installed = FakeInstalled({"transformers": "5.24.0", "torch": "2.14.1+cu130", "datasets": None})
    found = {f.what.split()[0].rstrip(":"): f for f in doctor.lock_findings(installed, lock, Path("c.txt"))}
    assert found["transformers"].level == doctor.WARN and "tested 5.0.0" in found["transformers"].what
    assert "constraints.txt" in found["transformers"].fix
    assert found["torch"].level == doctor.OK  # a local build tag is the same release
    assert found["datasets"].level == doctor.FAIL  # not installed at all


def test_judge_line_says_whether_a_key_is_present_never_the_key(capsys, monkeypatch):
    secret = "sk-doctor-never-print-0f3a"
    monkeypatch.setenv("OV_EVAL_JUDGE_API_KEY", secret)
    main(["doctor"])
    out = capsys.readouterr().out
    assert secret not in out
    assert "API key present: yes ($OV_EVAL_JUDGE_API_KEY)" in out


def test_judged_task_without_judge_is_a_problem(monkeypatch, capsys):
    for name in (
        "OV_EVAL_JUDGE_API_KEY",
        "OPENAI_API_KEY",
        "OV_EVAL_JUDGE_BASE_URL",
        "OV_EVAL_JUDGE_API_KEY_ENV",
        "OV_EVAL_JUDGE_MODEL",
        "MODEL_VERSION",
        "OV_EVAL_JUDGE_PROVIDER",
    ):
        monkeypatch.delenv(name, raising=False)
    (finding,) = doctor.judge_findings(["ov_mmvet", "ov_ai2d"])
    assert finding.level == doctor.FAIL and "ov_mmvet" in finding.what and "ov_ai2d" not in finding.what
    (finding,) = doctor.judge_findings(["ov_ai2d"])
    assert finding.level == doctor.OK and "API key present: no" in finding.what
    # the --judge-* flags of ov-eval run configure it as well (a local server needs no key)
    main(["doctor", "--tasks", "ov_mmvet", "--judge-base-url", "http://judge:8000/v1"])
    judge_lines = [line for line in capsys.readouterr().out.splitlines() if "judge:" in line]
    assert judge_lines == [f"[ok] judge: openai:{DEFAULT_MODEL} at http://judge:8000/v1; API key present: no"]


def test_tasks_datasets_local_copy_or_a_clear_problem(tmp_path, monkeypatch):
    from huggingface_hub import constants

    (tmp_path / "data" / "lmms-lab-encoder" / "ai2d").mkdir(parents=True)
    monkeypatch.setenv("OV_EVAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "empty"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    ai2d, chartqa = doctor.dataset_findings(["ov_ai2d", "ov_chartqa"])
    assert ai2d.level == doctor.OK and str(tmp_path / "data" / "lmms-lab-encoder" / "ai2d") in ai2d.what
    assert chartqa.level == doctor.FAIL and "lmms-lab-encoder/ChartQA (ov_chartqa)" in chartqa.what
    assert "HF_HUB_OFFLINE" in chartqa.what and "lmms-lab-encoder/ChartQA" in chartqa.fix
    # a snapshot in the hub cache serves it too
    (tmp_path / "empty" / "datasets--lmms-lab-encoder--ChartQA").mkdir(parents=True)
    assert doctor.dataset_findings(["ov_chartqa"])[0].level == doctor.OK


def test_tasks_datasets_asks_the_hub_once_it_is_unreachable(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.delenv("OV_EVAL_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    asked = []

    def down(path):
        asked.append(path)
        raise ConnectionError("no route to host")

    found = doctor.dataset_findings(["ov_ai2d", "ov_chartqa"], probe=down)
    assert asked == ["lmms-lab-encoder/ai2d"] and [f.level for f in found] == [doctor.FAIL, doctor.FAIL]
    assert all("unreachable" in f.what for f in found)
    found = doctor.dataset_findings(["ov_ai2d", "no_such_task"], probe=lambda path: None)
    assert [f.level for f in found] == [doctor.WARN, doctor.OK] and "no_such_task" in found[0].what


def test_each_gpu_is_listed_with_its_memory(monkeypatch):
    # no GPU on the test machines: fake what torch.cuda reports for two devices
    import torch

    props = [
        SimpleNamespace(name="NVIDIA H200", major=9, minor=0),
        SimpleNamespace(name="NVIDIA A10", major=8, minor=6),
    ]
    memory = [(100 * 2**30, 139 * 2**30), (3 * 2**29, 24 * 2**30)]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: props[i])
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda i: memory[i])
    lines = [f.what for f in doctor.torch_findings()]
    assert lines[1:] == [
        "GPU 0: NVIDIA H200, 139.0 GiB (100.0 GiB free), compute capability 9.0",
        "GPU 1: NVIDIA A10, 24.0 GiB (1.5 GiB free), compute capability 8.6",
    ]
