"""``ov-eval preflight`` / ``run_preflight``: a task's data checked in seconds, before any model loads."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest

from ov_eval.demo.datasets import dataset_dir
from ov_eval.lmms_patches.local_datasets import DATA_DIR_ENV
from ov_eval.preflight import PreflightResult, run_preflight


def _drop_column(root: Path, dataset_path: str, split: str, column: str) -> None:
    """Rewrite a fixture split without ``column`` (a copy whose schema differs from the card)."""
    from datasets import Dataset

    parquet = dataset_dir(root, dataset_path) / "data" / f"{split}-00000-of-00001.parquet"
    Dataset.from_parquet(str(parquet)).remove_columns(column).to_parquet(str(parquet))


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    from ov_eval.demo.fixtures import single_image, video

    root = tmp_path_factory.mktemp("preflight_data")
    single_image.build_ai2d(root)
    single_image.build_chartqa(root)
    video.build_egoschema(root)
    video.build_perceptiontest(root)
    _drop_column(root, "lmms-lab-encoder/ai2d", "test", "options")
    shutil.rmtree(dataset_dir(root, "lmms-eval/egoschema") / "videos")
    return root


def _preflight(tasks: str) -> tuple[PreflightResult, str]:
    out = io.StringIO()
    return run_preflight(tasks, out=out), out.getvalue()


def _row(table: str, task: str) -> str:
    rows = [line for line in table.splitlines() if line.startswith(f"| {task} |")]
    assert len(rows) == 1, table
    return rows[0]


def test_missing_column_is_named_with_the_dataset_and_a_fix(data_root, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(data_root))
    result, table = _preflight("ov_ai2d,ov_chartqa")
    assert not result.ok
    assert [f.task for f in result.problems] == ["ov_ai2d"]
    row = _row(table, "ov_ai2d")
    # the task's own schema check (process_docs) names the missing column
    assert "lmms-lab-encoder/ai2d / test" in row and "schema check" in row and "['options']" in row
    assert f"${DATA_DIR_ENV}/lmms-lab-encoder/ai2d" in row  # the fix names the copy to rewrite
    assert _row(table, "ov_chartqa").endswith("| 4 | ok | - |")
    assert table.splitlines()[0] == "| task | dataset / config / split | rows | problem | fix |"


def test_missing_video_folder_names_the_folder_and_the_command_that_fills_it(data_root, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(data_root))
    result, table = _preflight("ov_egoschema_subset,ov_perceptiontest_val_mc")
    assert [f.task for f in result.problems] == ["ov_egoschema_subset"]
    finding = result.problems[0]
    missing = dataset_dir(data_root, "lmms-eval/egoschema") / "videos"
    assert finding.problem.startswith(f"row 0: video folder missing: {missing} (looked for {missing}/videos/")
    assert finding.fix == "ov-eval data prepare ov_egoschema_subset"
    assert "ov-eval data prepare ov_egoschema_subset" in _row(table, "ov_egoschema_subset")
    # PerceptionTest's fixture has the card's string answer_id and its videos: no problem
    assert result.findings[1].task == "ov_perceptiontest_val_mc" and result.findings[1].ok


def test_doctor_with_tasks_runs_the_preflight_and_fails_on_its_problems(data_root, monkeypatch, capsys):
    from ov_eval import doctor

    monkeypatch.setenv(DATA_DIR_ENV, str(data_root))
    bad = doctor.preflight_findings(["ov_ai2d", "ov_chartqa"])
    assert [(f.level, f.what.split(" (")[0]) for f in bad] == [(doctor.FAIL, "preflight ov_ai2d")]
    assert "['options']" in bad[0].what and DATA_DIR_ENV in bad[0].fix
    good = doctor.preflight_findings(["ov_chartqa"])
    assert [f.level for f in good] == [doctor.OK]
    assert "| ov_chartqa |" in capsys.readouterr().out  # the table is shown as well


def test_unknown_tasks_are_listed_but_never_block_and_an_unreachable_hub_is_a_problem(monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))  # empty: ov_mme must come from the (offline) hub
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    result, table = _preflight("my_own_task,ov_mme")
    mme, mine = result.findings
    assert (mine.task, mine.ok, mine.problem) == (
        "my_own_task",
        True,
        "not an ov-eval task or group: not checked",
    )
    assert (
        not mme.ok
        and "cannot read lmms-lab-encoder/MME (default, split test) from the datasets cache" in mme.problem
    )
    assert f"${DATA_DIR_ENV}/lmms-lab-encoder/MME" in mme.fix


def test_offline_the_first_rows_come_from_the_datasets_cache(data_root, monkeypatch):
    """HF_HUB_OFFLINE clusters: lmms-eval reads the datasets cache, so the preflight must too
    (streaming needs the network); the cache is stood in for by the ChartQA fixture."""
    import datasets

    parquet = dataset_dir(data_root, "lmms-lab-encoder/ChartQA") / "data" / "test-00000-of-00001.parquet"
    calls = []

    def cached_load_dataset(path, name=None, split=None, **kwargs):
        calls.append((path, name, split, kwargs.get("streaming", False)))
        return datasets.Dataset.from_parquet(str(parquet))

    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets, "load_dataset", cached_load_dataset)
    result, _ = _preflight("ov_chartqa")
    assert calls == [("lmms-lab-encoder/ChartQA", None, "test[:4]", False)]
    assert result.ok and result.findings[0].rows == "4"


def test_ov_eval_run_stops_before_lmms_eval_when_the_preflight_fails(
    data_root, monkeypatch, tmp_path, capsys
):
    from ov_eval.cli import main

    def no_launch(*args, **kwargs):
        raise AssertionError("lmms-eval must not start")

    monkeypatch.setenv(DATA_DIR_ENV, str(data_root))
    monkeypatch.setattr(subprocess, "call", no_launch)
    rc = main(["run", "--tasks", "ov_ai2d", "--output_path", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert rc == 2
    assert "| ov_ai2d |" in captured.out and "--skip-preflight" in captured.err
    assert not (tmp_path / "out").exists()  # nothing written: the run never began


def test_ov_eval_run_skip_preflight_launches_anyway(data_root, monkeypatch, tmp_path):
    from ov_eval.cli import main

    launched = []
    monkeypatch.setenv(DATA_DIR_ENV, str(data_root))
    monkeypatch.setattr(subprocess, "call", lambda cmd, env, **_: launched.append(cmd) or 3)
    rc = main(["run", "--tasks", "ov_ai2d", "--skip-preflight", "--output_path", str(tmp_path / "out")])
    assert rc == 3 and launched and "lmms_eval" in launched[0]


def test_every_suite_task_passes_on_its_fixture_in_the_card_dtypes(tmp_path, monkeypatch):
    """All fixtures (every task of ``ov_all``) through each task's own schema, prompt, target and
    visual functions: the preflight has no false alarm that would stop a good run."""
    import importlib

    from ov_eval.task_index import leaf_tasks

    # the demo's areas ship in the package, the rest are test support
    demo_areas = {"single_image", "multi_image", "video"}
    FIXTURE_PACKAGE = {
        a: "ov_eval.demo.fixtures" if a in demo_areas else "support.fixtures"
        for a in (
            "single_image",
            "multi_image",
            "video",
            "judged",
            "judged_video",
            "judged_text",
            "judged_vision",
        )
    }

    for area in (
        "single_image",
        "multi_image",
        "video",
        "judged",
        "judged_video",
        "judged_text",
        "judged_vision",
    ):
        importlib.import_module(f"{FIXTURE_PACKAGE[area]}.{area}").build(tmp_path)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    result, table = _preflight("ov_all")
    assert result.ok, table
    assert [f.task for f in result.findings] == leaf_tasks("ov_all")
    assert all(f.rows not in ("-", "0") for f in result.findings), table
