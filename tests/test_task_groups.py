"""What ``--tasks <group>`` runs, read from the configs the way lmms-eval reads them.

Expected lists are typed from the paper's tables (shared/seeds/000, Tables 3-5 headers, left to
right), not derived from the YAMLs. The end-to-end area tests run these tasks through lmms-eval.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ov_eval.cli import main
from ov_eval.report.metric_map import MEASURES, UNREFERENCED_TASKS
from ov_eval.task_index import (
    leaf_tasks,
    markdown_table,
    read_config,
    suite_configs,
    task_rows,
    without_judge,
)

# Table 3: AI2D ChartQA DocVQA(val/test) InfoVQA(val/test) MathVerse MathVista MMBench MME MMMU MMVet
# MMStar S-Bench S-QA ImageDC MMLBench RealWorldQA Vibe-Eval LLaVA-W L-Wilder
PAPER_TABLE3 = """ov_ai2d ov_chartqa ov_docvqa_val ov_docvqa_test ov_infovqa_val ov_infovqa_test
ov_mathverse_testmini_vision ov_mathvista_testmini ov_mmbench_en_dev ov_mme ov_mmmu_val ov_mmvet ov_mmstar
ov_seedbench_image ov_scienceqa_img ov_imagedc ov_mmlivebench ov_realworldqa ov_vibe_eval ov_llava_in_the_wild
ov_llava_wilder_small""".split()  # noqa: SIM905 - a pasted list reads better
# Table 4: in-domain multi-image (8), multi-view (5), out-domain (5)
PAPER_TABLE4 = """ov_interleave_iei ov_interleave_mivqa ov_interleave_nlvr2 ov_interleave_puzzle ov_interleave_qbench
ov_interleave_spot_diff ov_interleave_trvqa ov_interleave_vst ov_interleave_3d_chat ov_interleave_3d_td
ov_interleave_scanqa ov_interleave_alfred ov_interleave_nuscenes ov_blink ov_mantis ov_mathverse_mv ov_muirbench
ov_sciverse_mv""".split()  # noqa: SIM905
# Table 5: ActNet-QA EgoSchema MLVU MVBench NextQA PercepTest SeedBench VideoChatGPT VideoDC VideoMME L-VideoBench
PAPER_TABLE5 = """ov_activitynetqa ov_egoschema_subset ov_mlvu_dev ov_mvbench ov_nextqa_mc_test
ov_perceptiontest_val_mc ov_seedbench_video ov_videochatgpt ov_videodc ov_videomme ov_videomme_subtitles
ov_longvideobench_val""".split()  # noqa: SIM905
DEV_QUICK = [
    "ov_ai2d",
    "ov_chartqa",
    "ov_docvqa_val",
    "ov_infovqa_val",
    "ov_mme",
    "ov_mmbench_en_dev",
    "ov_mmmu_val",
]


def members(group: str) -> list[str]:
    return suite_configs()[group].members


def test_paper_table_groups_list_exactly_the_papers_columns_in_order():
    assert members("ov_paper_table3") == PAPER_TABLE3
    assert members("ov_paper_table4") == PAPER_TABLE4
    assert members("ov_paper_table5") == PAPER_TABLE5
    assert members("ov_dev_quick") == DEV_QUICK


def test_modality_groups_hold_every_task_of_their_modality():
    single = leaf_tasks("ov_single_image")
    assert single == PAPER_TABLE3 + ["ov_ocrbench", "ov_wildvision"]
    # ov_multi_image: the 13 in-domain columns and MuirBench, then the 4 out-domain Interleave columns
    # inside ov_interleave (so Table 2's Interleave score is reported too)
    multi = leaf_tasks("ov_multi_image")
    assert sorted(multi) == sorted(PAPER_TABLE4) and len(multi) == len(set(multi))
    assert members("ov_interleave") == ["ov_blink", "ov_mantis", "ov_mathverse_mv", "ov_sciverse_mv"]
    assert members("ov_video") == PAPER_TABLE5
    mvbench = leaf_tasks("ov_mvbench")
    assert len(mvbench) == 20 and all(t.startswith("ov_mvbench_") for t in mvbench)


def test_ov_all_is_single_multi_video_with_every_task_once():
    assert members("ov_all") == ["ov_single_image", "ov_multi_image", "ov_video"]
    everything = leaf_tasks("ov_all")
    assert len(everything) == len(set(everything))
    tasks = {name for name, config in suite_configs().items() if not config.is_group}
    assert set(everything) == tasks  # no task config is left out of ov_all


def test_every_paper_measure_has_a_task_config():
    configs = suite_configs()
    missing = sorted({m.task for m in MEASURES.values()} - set(configs))
    assert not missing, f"metric_map names tasks without a config: {missing}"
    assert set(UNREFERENCED_TASKS) <= set(configs)


def test_leaf_tasks_rejects_unknown_names_with_a_clear_message():
    with pytest.raises(KeyError, match="'ov_nope' is not a task or group of ov-eval"):
        leaf_tasks("ov_nope")


def test_read_config_merges_includes_under_the_file(tmp_path):
    (tmp_path / "_base.yaml").write_text(
        "dataset_path: a/b\ntest_split: test\nprocess_results: !function m.f\n"
    )
    (tmp_path / "t.yaml").write_text("include: _base.yaml\ntask: t\ntest_split: val\n")
    assert read_config(tmp_path / "t.yaml") == {
        "dataset_path": "a/b",
        "test_split": "val",
        "process_results": None,
        "task": "t",
    }


def test_task_rows_carry_paper_column_split_metric_and_judge():
    rows = {r.task: r for r in task_rows(["ov_all"])}
    assert rows["ov_mme"].paper == "MME (cognition) [T2, T3]; MME (perception) [T2, T3]"
    assert rows["ov_mme"].metric == (
        "`mme_cognition_score,none` → MME score; `mme_perception_score,none` → MME score"
    )
    assert rows["ov_docvqa_val"].dataset == "lmms-lab-encoder/DocVQA / DocVQA / validation"
    assert rows["ov_mvbench"].dataset.endswith("(20 sub-tasks)") and "ov_mvbench_action_count" not in rows
    assert rows["ov_interleave"].paper == (
        "LLaVA-Interleave (out-domain) [T2] — **not comparable** (paper inconsistency, 0.5b-ov)"
    )  # from the task's fidelity card, like EgoSchema's subset
    assert rows["ov_egoschema_subset"].paper.endswith("— **not comparable** (subset)")
    assert rows["ov_ocrbench"].paper.startswith("— (OCRBench is not a column")
    judged = {task for task, row in rows.items() if row.judge}
    assert {"ov_llava_in_the_wild", "ov_mathvista_testmini", "ov_activitynetqa", "ov_mmvet"} <= judged
    assert not judged & {"ov_ai2d", "ov_mme", "ov_mvbench", "ov_interleave", "ov_videomme"}
    assert [r.modality for r in rows.values()].count("multi-image") == len(PAPER_TABLE4) + 1


def test_readme_task_table_is_the_generated_one():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    found = re.search(
        r"<!-- BEGIN ov-eval tasks ov_all -->\n(.*?)<!-- END ov-eval tasks ov_all -->", readme, re.S
    )
    assert found, "README has no generated task table"
    assert found.group(1) == markdown_table(task_rows(["ov_all"])), (
        "README task table is stale: run `python scripts/update_readme_tasks.py`"
    )


def test_cli_lists_leaves_and_fails_clearly_on_unknown_names(capsys):
    assert main(["tasks", "--leaves", "ov_dev_quick"]) == 0
    assert capsys.readouterr().out.split() == DEV_QUICK
    assert main(["tasks", "ov_nope"]) == 2
    assert "'ov_nope' is not a task or group" in capsys.readouterr().err


def test_without_judge_runs_every_unjudged_task_once_and_keeps_unjudged_groups_whole():
    selection = without_judge(["ov_all"])
    judged = {t for t in leaf_tasks("ov_all") if suite_configs()[t].judged}
    assert len(judged) == 14
    leaves = [leaf for name in selection for leaf in leaf_tasks(name)]
    assert len(leaves) == len(set(leaves))  # lmms-eval refuses a task requested twice
    assert set(leaves) == set(leaf_tasks("ov_all")) - judged
    assert "ov_multi_image" in selection and "ov_mvbench" in selection  # group scores still reported
    assert "ov_video" not in selection and "ov_videochatgpt" not in selection
    assert without_judge(["ov_paper_table4"]) == ["ov_paper_table4"]
    assert without_judge(["ov_mmvet"]) == []
