"""Golden numbers of the report: run vs paper gaps and flags, OV−SI deltas, "not run".

Synthetic lmms-eval results in the real file format; every expected value is computed by
hand in the comments from the inputs below and the paper's numbers (seed Tables 3 and 5).
"""

from __future__ import annotations

import pytest
from report_helpers import write_results

from ov_eval.report.build import build_report
from ov_eval.report.compare import (
    NO_INTERVAL_ABOVE,
    NO_INTERVAL_BELOW,
    NO_INTERVAL_OK,
    NO_SCORE,
    NOT_COMPARABLE,
    NOT_RUN,
)
from ov_eval.report.runs import load_runs

OV = "llava-hf/llava-onevision-qwen2-7b-ov-hf"
SI = "lmms-lab/llava-onevision-qwen2-7b-si"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    write_results(root / "a", OV, "20260101_000000", {
        "ov_ai2d": {"exact_match,flexible-extract": 0.8187},  # superseded by file b
        "ov_mme": {"mme_cognition_score,none": 400.0, "mme_perception_score,none": 1590.0},
        "ov_videomme": {"videomme_perception_score,none": 55.0},
        "ov_mvbench": {"mvbench_accuracy,none": 56.7},
        "ov_docvqa_test": {"submission,none": None},
    })  # fmt: skip
    write_results(root / "b", OV, "20260102_000000", {
        "ov_ai2d": {"exact_match,flexible-extract": 0.82},
        "ov_egoschema_subset": {"score,none": 0.6},
        "ov_videochatgpt": {"gpt_eval_score,none": 3.40},
    }, ov_eval={"errors": {"ov_egoschema_subset": 2},
                "judge": {"ov_videochatgpt": {"calls": 30, "cache_hits": 3, "failures": 1,
                                              "prompt_tokens": 900, "completion_tokens": 60}}})  # fmt: skip
    write_results(root / "c", SI, "20260101_000000", {
        "ov_ai2d": {"exact_match,flexible-extract": 0.80},
        "ov_videomme": {"videomme_perception_score,none": 50.0},
        "ov_mme": {"mme_cognition_score,none": 480.0, "mme_perception_score,none": 1600.0},
    })  # fmt: skip
    return build_report(load_runs([root]), tolerance_pct=1.0)


def cell(report, checkpoint, table, measure):
    [hit] = [c for c in report.cells if (c.checkpoint, c.table, c.measure) == (checkpoint, table, measure)]
    return hit


def test_run_vs_paper_gaps_and_flags(report):
    # no stderr and no samples in these files: the tolerance decides, named "(no interval)"
    ai2d = cell(report, "7b-ov", 3, "ai2d")  # newest file b: 0.82*100 = 82.0; paper 81.4 -> +0.6 <= 1
    assert (ai2d.paper, ai2d.run, ai2d.status) == (81.4, 82.0, NO_INTERVAL_OK)
    assert ai2d.gap == pytest.approx(0.6)
    cog = cell(report, "7b-ov", 3, "mme_cognition")  # 400 - 418 = -18; tolerance 1 % of 800 = 8
    assert (cog.gap, cog.tolerance, cog.status) == (-18.0, 8.0, NO_INTERVAL_BELOW)
    perc = cell(report, "7b-ov", 3, "mme_perception")  # 1590 - 1580 = +10 <= 1 % of 2000 = 20
    assert (perc.gap, perc.status) == (10.0, NO_INTERVAL_OK)
    vmme = cell(report, "7b-ov", 5, "videomme")  # 55.0 - 58.2 = -3.2 > 1 point
    assert vmme.gap == pytest.approx(-3.2) and vmme.status == NO_INTERVAL_BELOW
    mvb = cell(report, "7b-ov", 5, "mvbench")  # group value already 0-100: 56.7 - 56.7 = 0
    assert (mvb.run, mvb.status) == (56.7, NO_INTERVAL_OK)
    ego = cell(report, "7b-ov", 5, "egoschema")  # 60.0 on the Subset; the paper: full set
    assert ego.run == 60.0 and ego.gap is None and ego.status == NOT_COMPARABLE
    vcg = cell(report, "7b-ov", 5, "videochatgpt")  # 0-5 score: 3.40 - 3.51 = -0.11; tol 1 % of 5 = 0.05
    assert vcg.gap == pytest.approx(-0.11) and vcg.tolerance == pytest.approx(0.05) and vcg.flagged
    si_ai2d = cell(report, "7b-si", 3, "ai2d")  # 80.0 - 81.6 = -1.6
    assert si_ai2d.gap == pytest.approx(-1.6) and si_ai2d.status == NO_INTERVAL_BELOW
    t2 = cell(report, "7b-ov", 2, "ai2d")  # Table 2 reuses the same task: 82.0 vs 81.4
    assert t2.run == 82.0 and t2.paper == 81.4


def test_missing_benchmarks_are_not_run_never_zero(report):
    chartqa = cell(report, "7b-ov", 3, "chartqa")
    assert chartqa.run is None and chartqa.gap is None and chartqa.status == NOT_RUN
    assert cell(report, "7b-si", 5, "egoschema").status == NOT_RUN
    # ran, but the test split is server-scored (null): a distinct status, still never 0
    docvqa = cell(report, "7b-ov", 3, "docvqa_test")
    assert docvqa.run is None and docvqa.status == NO_SCORE
    # Table 2 has no SI rows: SI checkpoints are compared in Tables 3-5 only
    assert not [c for c in report.cells if c.checkpoint == "7b-si" and c.table == 2]


def test_ov_minus_si_per_benchmark_and_modality(report):
    deltas = {(d.table, d.measure): d for d in report.deltas if d.size == "7b"}
    assert deltas[(3, "ai2d")].delta == pytest.approx(2.0)  # 82.0 - 80.0
    assert deltas[(3, "ai2d")].paper_delta == pytest.approx(-0.2)  # 81.4 - 81.6
    assert deltas[(5, "videomme")].delta == pytest.approx(5.0)  # 55.0 - 50.0
    assert deltas[(5, "videomme")].paper_delta == pytest.approx(3.2)  # 58.2 - 55.0
    assert deltas[(3, "mme_cognition")].delta == pytest.approx(-80.0)  # 400 - 480
    assert deltas[(5, "mvbench")].delta is None  # SI not run
    summary = {m.modality: m for m in report.modalities if m.size == "7b"}
    # single-image: only AI2D has both (MME is a raw sum, excluded from the percent mean)
    assert (summary["single-image"].mean_delta, summary["single-image"].benchmarks) == (pytest.approx(2.0), 1)
    assert summary["multi-image"].mean_delta is None and summary["multi-image"].benchmarks == 0
    # paper, video, 7b, percent columns: 1.5 + 7.2 + 4.5 + 5.5 + 17.8 + 2.2 + 5.8 + 3.2 + 2.4 + 2.1 = 52.2 / 10
    assert summary["video"].paper_mean_delta == pytest.approx(5.22)
    assert summary["video"].paper_benchmarks == 10


def test_sources_name_the_used_file_and_the_superseded_one(report):
    uses = {(u.checkpoint, u.task): u for u in report.uses}
    ai2d = uses[("7b-ov", "ov_ai2d")]
    assert ai2d.path.parent.parent.name == "b" and [p.parent.parent.name for p in ai2d.superseded] == ["a"]
    assert uses[("7b-ov", "ov_egoschema_subset")].errors == 2
    assert uses[("7b-ov", "ov_videochatgpt")].judge["failures"] == 1
    assert uses[("7b-si", "ov_ai2d")].n_samples == 10
    assert len(report.run_files) == 3


def test_tolerance_is_a_share_of_the_units_range(tmp_path):
    write_results(tmp_path, OV, "20260101_000000", {"ov_ai2d": {"exact_match,flexible-extract": 0.8187}})
    loose = build_report(load_runs([tmp_path]), tolerance_pct=0.4)  # 0.4 points < |81.87 - 81.4| = 0.47
    assert cell(loose, "7b-ov", 3, "ai2d").status == NO_INTERVAL_ABOVE
