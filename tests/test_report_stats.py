"""Signal vs noise: intervals, significance-based paper flags, paired OV−SI deltas, the gate.

Every expected number is computed by hand in the comments (binomial standard errors
sqrt(p(1-p)/n), z = gap / se) or comes from lmms-eval's own ``mean_stderr``. Bootstrap
results are Monte-Carlo estimates of those hand values, so they are compared with a relative
tolerance a few times their Monte-Carlo error (about 1/sqrt(2·iters)).
"""

from __future__ import annotations

import math

import pytest
from lmms_eval.api.metrics import mean_stderr
from report_helpers import write_results

from ov_eval.cli import main
from ov_eval.report import samples, stats
from ov_eval.report.build import build_report
from ov_eval.report.compare import ABOVE, BELOW, CONSISTENT, group_members
from ov_eval.report.runs import load_runs

OV = "llava-hf/llava-onevision-qwen2-7b-ov-hf"
SI = "llava-hf/llava-onevision-qwen2-7b-si-hf"
AI2D = "exact_match,flexible-extract"
Z95 = 1.959964


def _docs(key: str, values: list[float]) -> list[dict]:
    metric = key.split(",")[0]
    return [{metric: v} for v in values]


def _cell(report, checkpoint, table, measure):
    [hit] = [c for c in report.cells if (c.checkpoint, c.table, c.measure) == (checkpoint, table, measure)]
    return hit


def test_binomial_accuracy_interval_by_hand(tmp_path):
    # 80 of 100 right. lmms-eval's stderr: sample sd / sqrt(n) = sqrt(0.8*0.2*100/99) / 10 = 0.040202
    scores = [1.0] * 80 + [0.0] * 20
    hand = math.sqrt(0.8 * 0.2 * 100 / 99) / 10
    assert mean_stderr(scores) == pytest.approx(hand)  # lmms-eval's own function agrees with the hand value
    write_results(tmp_path / "a", OV, "20260101_000000", {"ov_ai2d": {AI2D: 0.8}}, n=100,
                  stderr={"ov_ai2d": {AI2D: hand}})  # fmt: skip
    cell = _cell(build_report(load_runs([tmp_path / "a"])), "7b-ov", 3, "ai2d")
    # paper unit ×100: 80.0 ± 1.96 * 4.0202 = [72.12, 87.88]; the paper's 81.4 is inside
    assert cell.se == pytest.approx(100 * hand) and cell.se_method == "lmms-eval stderr"
    assert cell.interval == pytest.approx((80 - Z95 * 4.0202, 80 + Z95 * 4.0202), abs=1e-3)
    assert cell.status == CONSISTENT and not cell.flagged

    # the same docs without a stderr, from the logged samples: a bootstrap of the mean has
    # se -> sqrt(0.8 * 0.2 / 100) = 0.04 (no Bessel correction), i.e. 4.0 points
    write_results(tmp_path / "b", OV, "20260101_000000", {"ov_ai2d": {AI2D: 0.8}}, n=100,
                  samples={"ov_ai2d": _docs(AI2D, scores)})  # fmt: skip
    report = build_report(load_runs([tmp_path / "b"]), iters=4000)
    cell = _cell(report, "7b-ov", 3, "ai2d")
    assert cell.se == pytest.approx(4.0, rel=0.06) and cell.se_method == "bootstrap (100 docs)"
    again = _cell(build_report(load_runs([tmp_path / "b"]), iters=4000), "7b-ov", 3, "ai2d")
    assert again.se == cell.se  # seeded: the same files give the same interval


def test_only_the_real_gap_is_flagged(tmp_path):
    # Every gap is beyond the old 1-point tolerance, all but MMStar are noise (|z| < 1.96):
    #   AI2D     80.2 - 81.4 = -1.2, se 100*sqrt(.802*.198/3087) = 0.717 -> z = -1.67
    #   ChartQA  81.3 - 80.0 = +1.3, se 100*sqrt(.813*.187/2499) = 0.780 -> z = +1.67
    #   MMMU     47.5 - 48.8 = -1.3, se 100*sqrt(.475*.525/899)  = 1.666 -> z = -0.78
    #   RealWorldQA (samples, 497/765 = 64.97) - 66.3 = -1.33, se ~ 100*sqrt(.6497*.3503/765) = 1.72 -> z ~ -0.77
    #   MMStar   51.7 - 61.7 = -10,  se 100*sqrt(.517*.483/1499) = 1.291 -> z = -7.75: the real miss
    def se(p, n):
        return math.sqrt(p * (1 - p) / (n - 1))

    metrics = {
        "ov_ai2d": {AI2D: 0.802},
        "ov_chartqa": {"relaxed_overall,none": 0.813},
        "ov_mmmu_val": {"mmmu_acc,none": 0.475},
        "ov_mmstar": {"average,none": 0.517},
        "ov_realworldqa": {"exact_match,flexible-extract": 497 / 765},
    }
    stderr = {
        "ov_ai2d": {AI2D: se(0.802, 3088)},
        "ov_chartqa": {"relaxed_overall,none": se(0.813, 2500)},
        "ov_mmmu_val": {"mmmu_acc,none": se(0.475, 900)},
        "ov_mmstar": {"average,none": se(0.517, 1500)},
    }
    rwqa = _docs("exact_match,flexible-extract", [1.0] * 497 + [0.0] * 268)
    write_results(tmp_path, OV, "20260101_000000", metrics, stderr=stderr, samples={"ov_realworldqa": rwqa})
    report = build_report(load_runs([tmp_path]))
    scored = [c for c in report.cells if c.table == 3 and c.run is not None]
    assert len(scored) == 5 and all(abs(c.gap) > c.tolerance for c in scored)  # the old rule flags all 5
    assert [c.measure for c in scored if c.flagged] == ["mmstar"]
    mmstar = _cell(report, "7b-ov", 3, "mmstar")
    assert mmstar.status == BELOW and mmstar.z == pytest.approx(-10 / (100 * se(0.517, 1500)), rel=1e-6)
    assert _cell(report, "7b-ov", 3, "ai2d").z == pytest.approx(-1.2 / (100 * se(0.802, 3088)), rel=1e-6)
    rw = _cell(report, "7b-ov", 3, "realworldqa")
    assert rw.status == CONSISTENT and rw.se == pytest.approx(
        100 * math.sqrt(0.6497 * 0.3503 / 765), rel=0.08
    )


def test_significantly_above_needs_both_significance_and_the_tolerance(tmp_path):
    # ScienceQA 96.8 - 96.0 = +0.8 with se 0.1 (z = 8) is "significant" but within the 1-point floor;
    # AI2D 83.0 - 81.4 = +1.6 with se 0.5 (z = 3.2) is both.
    write_results(tmp_path, OV, "20260101_000000",
                  {"ov_scienceqa_img": {"exact_match,none": 0.968}, "ov_ai2d": {AI2D: 0.83}},
                  stderr={"ov_scienceqa_img": {"exact_match,none": 0.001}, "ov_ai2d": {AI2D: 0.005}})  # fmt: skip
    report = build_report(load_runs([tmp_path]))
    assert _cell(report, "7b-ov", 3, "scienceqa").status == CONSISTENT
    assert _cell(report, "7b-ov", 3, "ai2d").status == ABOVE


def _paired_runs(tmp_path, si_scores, ov_scores):
    for name, scores in ((SI, si_scores), (OV, ov_scores)):
        write_results(tmp_path, name, "20260101_000000", {"ov_ai2d": {AI2D: sum(scores) / len(scores)}},
                      n=len(scores), samples={"ov_ai2d": _docs(AI2D, scores)})  # fmt: skip
    report = build_report(load_runs([tmp_path]), iters=4000)
    [delta] = [d for d in report.deltas if d.measure == "ai2d"]
    si, ov = _cell(report, "7b-si", 3, "ai2d"), _cell(report, "7b-ov", 3, "ai2d")
    return delta, si, ov


def test_paired_delta_significant_where_unpaired_intervals_overlap(tmp_path):
    # 400 docs; SI right on the first 200; OV right on those and 12 more: OV−SI = +3.0 points.
    # Unpaired: se 2.50 and 2.50 -> the 95 % intervals [47.6, 52.4] and [48.1, 57.9] overlap.
    # Paired: per-doc difference is 1 on 12 docs, 0 elsewhere -> se = 100*sqrt(.03*.97/400) = 0.853,
    # z = 3.5: significant.
    si = [1.0] * 200 + [0.0] * 200
    ov = [1.0] * 212 + [0.0] * 188
    delta, si_cell, ov_cell = _paired_runs(tmp_path, si, ov)
    assert si_cell.interval[1] > ov_cell.interval[0]  # the separate intervals overlap
    assert delta.delta == pytest.approx(3.0)
    assert delta.se == pytest.approx(100 * math.sqrt(0.03 * 0.97 / 400), rel=0.06)
    assert delta.se_method == "paired bootstrap (400 docs)" and delta.significant is True


def test_paired_delta_not_significant_where_independent_errors_would_say_so(tmp_path):
    # The reverse: OV right on 232/400 (58 %), SI on 200/400 (50 %), but mostly on DIFFERENT docs:
    # SI is right on all 168 docs OV missed plus 32 of OV's. Independent stderrs: sqrt(.58*.42/400)
    # and sqrt(.5*.5/400) -> se 3.51, z = 8 / 3.51 = 2.28 (would be "significant"). Paired: the
    # difference is +1 on 200 docs, -1 on 168, 0 on 32: var = 368/400 - 0.08^2 = 0.9136,
    # se = 100*sqrt(0.9136/400) = 4.78, z = 1.67: not significant.
    ov = [1.0] * 232 + [0.0] * 168
    si = [0.0] * 200 + [1.0] * 32 + [1.0] * 168
    delta, _, _ = _paired_runs(tmp_path, si, ov)
    assert delta.delta == pytest.approx(8.0)
    assert math.hypot(100 * math.sqrt(0.58 * 0.42 / 400), 100 * math.sqrt(0.25 / 400)) == pytest.approx(
        3.51, abs=0.01
    )
    assert delta.se == pytest.approx(100 * math.sqrt(0.9136 / 400), rel=0.06) and delta.significant is False


def test_modality_mean_interval_pools_independent_benchmarks(tmp_path):
    # two video benchmarks with stderr only (no samples): OV−SI se = hypot of the two runs' se
    # VideoMME: 55 vs 50, se 1.0 each -> 1.414; EgoSchema 0-1 ×100: 60 vs 58, se 0.02 each -> 2.828
    # mean = (5 + 2) / 2 = 3.5, se = sqrt(1.414² + 2.828²) / 2 = 1.581
    for name, vmme, ego in ((SI, 50.0, 0.58), (OV, 55.0, 0.60)):
        write_results(tmp_path, name, "20260101_000000",
                      {"ov_videomme": {"videomme_perception_score,none": vmme}, "ov_egoschema_subset": {"score,none": ego}},
                      stderr={"ov_videomme": {"videomme_perception_score,none": 1.0},
                              "ov_egoschema_subset": {"score,none": 0.02}})  # fmt: skip
    report = build_report(load_runs([tmp_path]))
    [video] = [m for m in report.modalities if m.modality == "video"]
    assert video.mean_delta == pytest.approx(3.5) and video.se == pytest.approx(1.5811, abs=1e-3)
    assert video.significant is True  # 3.5 / 1.581 = 2.21


def test_non_mean_aggregation_resamples_the_tasks_own_function():
    # MME (lmms-eval's sum over categories of per-image acc + acc+), one category, 100 images:
    # 50 images with both answers right (score 200), 50 with both wrong (0): MME = 100.
    # Per-image scores are the resampling units (pairs stay together); se = sd/sqrt(n) with the
    # sample sd = 100*sqrt(100/99) -> 10.05.
    items = []
    for image in range(100):
        score = 1.0 if image < 50 else 0.0
        items += [{"question_id": f"img{image}.png", "category": "OCR", "score": score}] * 2
    s = samples.Scores("ov_mme", "mme_perception_score", list(range(200)), items,
                       samples.suite_aggregation("ov_mme", "mme_perception_score"))  # fmt: skip
    est = samples.estimate(s, iters=5000)  # 1000 calls of the aggregation
    assert est.value == pytest.approx(100.0)
    assert est.se == pytest.approx(100 * math.sqrt(100 / 99) / 10, rel=0.08)
    assert est.method == "resampled aggregation (100 units)"


def test_stats_helpers_by_hand():
    assert stats.z_value(0.05) == pytest.approx(Z95, abs=1e-6)
    assert stats.p_value(1.959964) == pytest.approx(0.05, abs=1e-6)
    est = stats.Estimate(10.0, 2.0, "x")
    assert est.interval() == pytest.approx((10 - Z95 * 2, 10 + Z95 * 2), abs=1e-5)
    assert est.significant(5.0) and not est.significant(7.0)  # z = 2.5 and 1.5
    assert stats.difference(est, stats.Estimate(4.0, 1.5, "y")).se == pytest.approx(2.5)  # 3-4-5


@pytest.fixture
def gate_history(tmp_path):
    """Four labels on the 7b-ov AI2D/VideoMME measures, tracked through the CLI."""
    db = tmp_path / "h.sqlite"

    def track(label, ai2d, ai2d_se, vmme, date, docs=None, drop_vmme=False):
        metrics = {"ov_ai2d": {AI2D: ai2d}}
        stderr = {"ov_ai2d": {AI2D: ai2d_se}} if ai2d_se is not None else {}
        if not drop_vmme:
            metrics["ov_videomme"] = {"videomme_perception_score,none": vmme}
            stderr["ov_videomme"] = {"videomme_perception_score,none": 0.5}
        samples_arg = {"ov_ai2d": _docs(AI2D, docs)} if docs else False
        path = write_results(tmp_path / label, OV, date, metrics, stderr=stderr, samples=samples_arg)
        assert main(["track", str(path), "--label", label, "--db", str(db)]) == 0

    track("base", 0.80, 0.02, 60.0, "20260101_000000")
    track("noisy", 0.785, 0.02, 60.0, "20260102_000000")  # -1.5, se hypot(2, 2) = 2.83: z = -0.53
    track("real", 0.785, 0.002, 60.0, "20260103_000000")  # vs "precise": -1.5, se hypot(.2, .2): z = -5.3
    track("precise", 0.80, 0.002, 60.0, "20260104_000000")
    track("lost", 0.80, 0.02, 60.0, "20260105_000000", drop_vmme=True)
    # paired: 400 docs, base-s right on 200, drop-s right on 192 of the same (8 flipped, -2.0 points).
    # Independent se would be 100*hypot(sqrt(.25/400), sqrt(.48*.52/400)) = 3.53 (z = -0.57); paired
    # se = 100*sqrt(.02*.98/400) = 0.70 (z = -2.86).
    track("base-s", 0.50, None, 60.0, "20260106_000000", docs=[1.0] * 200 + [0.0] * 200)
    track("drop-s", 0.48, None, 60.0, "20260107_000000", docs=[1.0] * 192 + [0.0] * 208)
    return db


def test_gate_passes_noise_and_fails_real_drops(gate_history, capsys):
    db = str(gate_history)
    gate = ["gate", "--db", db, "--max-drop", "1.0"]
    assert main([*gate, "--baseline", "base", "--candidate", "noisy"]) == 0
    assert "0 regressions" in capsys.readouterr().out
    assert main([*gate, "--baseline", "precise", "--candidate", "real"]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION ai2d: 80.00 -> 78.50 (-1.50; ± 0.55 at alpha 0.05" in out  # 1.96 * 0.283
    # --alpha 1: any drop beyond --max-drop counts, as before significance testing
    assert main([*gate, "--baseline", "base", "--candidate", "noisy", "--alpha", "1"]) == 1
    # paired over the logged docs: the same -2 points that independent errors call noise
    assert main([*gate, "--baseline", "base-s", "--candidate", "drop-s"]) == 1
    assert "paired bootstrap (400 docs)" in capsys.readouterr().out


def test_gate_fails_on_a_score_missing_in_the_candidate(gate_history, capsys):
    assert main(["gate", "--db", str(gate_history), "--baseline", "base", "--candidate", "lost"]) == 1
    out = capsys.readouterr().out
    assert "MISSING videomme: the baseline has a score, lost has none" in out and "1 missing" in out


def test_dashboard_shows_intervals_and_the_test(gate_history, tmp_path):
    out = tmp_path / "dash"
    args = [
        "dashboard",
        "--db",
        str(gate_history),
        "--out",
        str(out),
        "--baseline",
        "precise",
        "--candidate",
        "real",
    ]
    assert main(args) == 0
    page = (out / "dashboard.html").read_text()
    # AI2D: 80.00 ± 1.96*0.2, 78.50 ± 0.39; -1.5 with z = -5.3 -> regression
    assert "<td>AI2D (test)</td><td>80.00 ± 0.39</td><td>78.50 ± 0.39</td><td>-1.50</td>" in page
    assert "± 0.55 at alpha 0.05, p = " in page and "⚠ regression" in page


def test_custom_aggregation_that_is_a_mean_is_bootstrapped_vectorised():
    # VideoMME's aggregation tallies 6,480 buckets but returns 100 * (right / answered): checked
    # against the function itself, the per-doc "score" mean takes the fast path.
    # 400 docs, 200 right: 50.0, se = 100 * sqrt(0.25 / 400) = 2.5
    items = [
        {"question_id": f"{i:03d}-1", "duration": "short", "category": "Knowledge",
         "sub_category": "Humanity & History", "task_category": "Counting Problem",
         "pred_answer": "A" if i < 200 else "B", "answer": "A", "score": float(i < 200), "videoID": f"v{i}"}
        for i in range(400)
    ]  # fmt: skip
    how = samples.suite_aggregation("ov_videomme", "videomme_perception_score")
    est = samples.estimate(
        samples.Scores("ov_videomme", "videomme_perception_score", list(range(400)), items, how)
    )
    assert est.value == pytest.approx(50.0) and est.se == pytest.approx(2.5, rel=0.06)
    assert est.method == "bootstrap (400 docs; the aggregation is their mean)"


def test_group_interval_pools_its_members(tmp_path):
    # MVBench = unweighted mean of its 20 sub-tasks (lmms-eval reports no group stderr here).
    # Each member se 2.0 points -> group se = sqrt(20 * 2.0²) / 20 = 0.447; 58.7 - 56.7 = +2.0 -> z = 4.47
    members, by_size = group_members("ov_mvbench", "mvbench_accuracy")
    assert len(members) == 20 and by_size is False
    key = "mvbench_accuracy,none"
    metrics = {"ov_mvbench": {key: 58.7}, **{m: {key: 58.7} for m in members}}
    stderr = {m: {key: 2.0} for m in members}
    write_results(tmp_path, OV, "20260101_000000", metrics, stderr=stderr)
    cell = _cell(build_report(load_runs([tmp_path])), "7b-ov", 5, "mvbench")
    assert cell.se == pytest.approx(math.sqrt(20 * 4.0) / 20) and cell.se_method == "group of 20 members"
    assert cell.status == ABOVE and cell.z == pytest.approx(2.0 / 0.4472, rel=1e-3)
