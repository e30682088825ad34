"""Registration and packaging: lmms-eval finds our model by entry point, and a non-editable install
(the wheel) carries every task YAML and data file and finds them without the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_entry_point_replaces_the_builtin_llava_onevision():
    from lmms_eval.models import get_model

    cls = get_model("llava_onevision")
    assert f"{cls.__module__}.{cls.__name__}" == "ov_eval.models.llava_onevision.LlavaOneVision"
    assert cls.is_simple


def test_manifest_module_stays_light():
    # lmms-eval imports it while building its registry; heavy imports there slow every CLI start
    code = "import sys, ov_eval.manifest; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _registered_test_models(**env: str) -> dict[str, str]:
    """In a fresh interpreter: which test-only model ids lmms-eval resolves, and to which module."""
    code = (
        "from lmms_eval.models import get_model\n"
        "for model_id in ('ov_faults', 'ov_fixed_answers'):\n"
        "    try:\n"
        "        print(model_id, get_model(model_id).__module__)\n"
        "    except Exception as exc:\n"
        "        print(model_id, 'unavailable:', type(exc).__name__)\n"
    )
    base = {k: v for k, v in os.environ.items() if k != "OV_EVAL_TEST_MODELS"}
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return dict(line.split(" ", 1) for line in out.stdout.splitlines() if line.startswith("ov_"))


def test_test_only_models_exist_only_for_the_test_runner():
    # an installation (no OV_EVAL_TEST_MODELS) offers no test double; the test runner's environment does
    assert _registered_test_models() == {
        "ov_faults": "unavailable: ValueError",
        "ov_fixed_answers": "unavailable: ValueError",
    }
    assert _registered_test_models(OV_EVAL_TEST_MODELS="1") == {
        "ov_faults": "support.faults",
        "ov_fixed_answers": "support.fixed_answers",
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """Build from a copy: an in-tree build leaves build/ and a *.egg-info whose stale entry points
    would shadow the installed ones for anything run from the repository root."""
    out = tmp_path_factory.mktemp("wheel")
    source = out / "src"
    ignore = shutil.ignore_patterns(
        ".git", "__pycache__", "build", "*.egg-info", ".ruff_cache", ".pytest_cache"
    )
    shutil.copytree(REPO, source, ignore=ignore)
    if not (source / "constraints.txt").is_file():  # the lock must travel into the wheel (setup.py)
        (source / "constraints.txt").write_text("filelock==4.2.12\n")
    # built from a clone (as pip install git+URL does): the wheel records the commit (setup.py)
    git = ["git", "-C", str(source), "-c", "user.name=ov-eval", "-c", "user.email=ov-eval@localhost"]
    for step in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "wheel test"]):
        subprocess.run([*git, *step], check=True, capture_output=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(source),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("ov_eval-*.whl")
    return path


def test_wheel_carries_every_package_module_and_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"ov_eval/task_configs/{p.relative_to(REPO / 'task_configs')}"
        for p in (REPO / "task_configs").rglob("*.yaml")
    }
    expected |= {f"ov_eval/{p.relative_to(REPO / 'ov_eval')}" for p in (REPO / "ov_eval").rglob("*.py")}
    expected |= {
        f"ov_eval/reports/{p.relative_to(REPO / 'reports')}"
        for p in (REPO / "reports").rglob("*")
        if p.is_file() and p.suffix in {".csv", ".json", ".yaml", ".md", ".html", ".css"}
    }
    assert len([n for n in expected if n.endswith(".yaml")]) > 0
    assert expected - names == set()
    assert not [n for n in names if n.startswith(("support/", "tests/", "ov_eval/testing/"))]


def test_installed_copy_finds_its_tasks_without_the_source_tree(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        f"import sys; sys.path.insert(0, {str(site)!r})\n"
        "from ov_eval.paths import tasks_path\n"
        "from lmms_eval.tasks import TaskManager\n"
        "path = tasks_path(); assert str(path).startswith(sys.path[0]), path\n"
        "names = TaskManager(include_path=str(path)).all_tasks\n"
        "print(sorted(n for n in names if n.startswith('ov_')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    found = eval(out.stdout.strip().splitlines()[-1])  # noqa: S307 - our own subprocess' repr of a list
    yamls = {p.stem for p in (REPO / "task_configs").rglob("ov_*.yaml")}
    assert yamls and yamls <= set(found)


def test_wheel_carries_the_tested_lock_and_doctor_reads_it(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    assert (site / "ov_eval" / "constraints.txt").is_file()
    code = (
        f"import sys; sys.path.insert(0, {str(site)!r})\n"
        "from ov_eval.doctor import parse_lock, tested_lock\n"
        "text, path = tested_lock(); assert str(path).startswith(sys.path[0]), path\n"
        "print(parse_lock(text)['filelock'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    lock = REPO / "constraints.txt"
    expected = "4.2.12"
    if lock.is_file():  # the real lock travelled, not a placeholder
        expected = next(
            line.split("==")[1].strip()
            for line in lock.read_text().splitlines()
            if line.startswith("filelock==")
        )
    assert out.stdout.strip() == expected


def test_wheel_built_from_a_clone_records_its_commit(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    source = wheel.parent / "src"
    head = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True)
    code = (
        f"import sys; sys.path.insert(0, {str(site)!r})\n"
        "from ov_eval.provenance import git_state\n"
        "print(git_state()[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == head.stdout.strip() != ""
