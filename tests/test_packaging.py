"""Registration and packaging: lmms-eval finds our model by entry point, and a non-editable install
(the wheel) carries every task YAML and data file and finds them without the source tree."""

from __future__ import annotations

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
