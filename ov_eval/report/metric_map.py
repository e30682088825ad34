"""Which lmms-eval number each paper measure is, and how to convert it to the paper's unit.

This is the ONE place that ties the paper (``reports/paper_tables.csv``, column ``measure``) to
lmms-eval output: ``results["results"][task][metric_key] * scale`` is the value in the paper's
unit. A wrong key or scale is fixed here in one line. Keys are lmms-eval's ``"<metric>,<filter>"``
strings; scales follow each aggregation's range (see the
area docs: most accuracies are 0-1 fractions, judge scores already 0-100 or 0-5, MME raw sums).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    task: str  # ov-eval task or group name
    key: str  # key inside results["results"][task]
    scale: float  # multiply the stored value by this to get the paper's unit


M = Metric
MEASURES: dict[str, Metric] = {
    # ---- single-image (Table 3; Table 2 single-image rows reuse these)
    "ai2d": M("ov_ai2d", "exact_match,flexible-extract", 100),
    "chartqa": M("ov_chartqa", "relaxed_overall,none", 100),
    "docvqa_val": M("ov_docvqa_val", "anls,none", 100),
    # test splits are scored by the official server: the task only writes a submission file and
    # reports `submission` = null, which the report shows as "no score" (not "not run", not 0)
    "docvqa_test": M("ov_docvqa_test", "submission,none", 100),
    "infovqa_val": M("ov_infovqa_val", "anls,none", 100),
    "infovqa_test": M("ov_infovqa_test", "submission,none", 100),
    "mathverse": M("ov_mathverse_testmini_vision", "gpt_eval_score,none", 100),
    "mathvista": M("ov_mathvista_testmini", "llm_as_judge_eval,none", 1),  # aggregation already 0-100
    "mmbench": M("ov_mmbench_en_dev", "circular_accuracy,none", 1),  # CircularEval, 0-100, no API
    "mme_cognition": M("ov_mme", "mme_cognition_score,none", 1),  # raw MME sum (max 800)
    "mme_perception": M("ov_mme", "mme_perception_score,none", 1),  # raw MME sum (max 2000)
    "mmmu": M("ov_mmmu_val", "mmmu_acc,none", 100),
    "mmvet": M("ov_mmvet", "gpt_eval_score,none", 1),  # 0-100
    "mmstar": M("ov_mmstar", "average,none", 100),
    "seedbench_image": M("ov_seedbench_image", "seed_image,none", 100),
    "scienceqa": M("ov_scienceqa_img", "exact_match,none", 100),
    "imagedc": M("ov_imagedc", "gpt_eval_avg_score,none", 1),  # paper-era dc100_en 0-100 rating
    "mmlivebench": M("ov_mmlivebench", "gpt4_eval_score,none", 1),  # 0-100
    "realworldqa": M("ov_realworldqa", "exact_match,flexible-extract", 100),  # the release filter
    "vibe_eval": M("ov_vibe_eval", "all,none", 1),  # 25*(rating-1), 0-100
    "llava_w": M("ov_llava_in_the_wild", "gpt_eval_llava_all,none", 1),  # relative score, %
    "llava_wilder": M("ov_llava_wilder_small", "gpt_eval_llava_all,none", 1),  # relative score, %
    # ---- multi-image (Table 4; Table 2's "LLaVA-Interleave" is the ov_interleave group)
    "interleave": M("ov_interleave", "interleave_score,none", 100),
    "interleave_iei": M("ov_interleave_iei", "interleave_score,none", 100),
    "interleave_mivqa": M("ov_interleave_mivqa", "interleave_score,none", 100),
    "interleave_nlvr2": M("ov_interleave_nlvr2", "interleave_score,none", 100),
    "interleave_puzzle": M("ov_interleave_puzzle", "interleave_score,none", 100),
    "interleave_qbench": M("ov_interleave_qbench", "interleave_score,none", 100),
    "interleave_spot_diff": M("ov_interleave_spot_diff", "interleave_score,none", 100),
    "interleave_trvqa": M("ov_interleave_trvqa", "interleave_score,none", 100),
    "interleave_vst": M("ov_interleave_vst", "interleave_score,none", 100),
    "interleave_3d_chat": M("ov_interleave_3d_chat", "interleave_score,none", 100),
    "interleave_3d_td": M("ov_interleave_3d_td", "interleave_score,none", 100),
    "interleave_scanqa": M("ov_interleave_scanqa", "interleave_score,none", 100),
    "interleave_alfred": M("ov_interleave_alfred", "interleave_score,none", 100),
    "interleave_nuscenes": M("ov_interleave_nuscenes", "interleave_score,none", 100),
    "blink": M("ov_blink", "interleave_score,none", 100),
    "mantis": M("ov_mantis", "interleave_score,none", 100),
    "mathverse_mv": M("ov_mathverse_mv", "interleave_score,none", 100),
    "muirbench": M("ov_muirbench", "muirbench_score_overall,flexible-extract", 100),
    "sciverse_mv": M("ov_sciverse_mv", "interleave_score,none", 100),
    # ---- video (Table 5)
    "activitynetqa": M("ov_activitynetqa", "gpt_eval_accuracy,none", 1),  # % of "yes" verdicts
    "egoschema": M("ov_egoschema_subset", "score,none", 100),  # Subset: not comparable
    "mlvu": M("ov_mlvu_dev", "mlvu_percetion_score,none", 1),  # (sic) M-Avg, 0-100
    "mvbench": M("ov_mvbench", "mvbench_accuracy,none", 1),  # group mean of 20 sub-tasks, 0-100
    "nextqa": M("ov_nextqa_mc_test", "exact_match,none", 100),
    "perceptiontest": M("ov_perceptiontest_val_mc", "accuracy,none", 100),
    "seedbench_video": M("ov_seedbench_video", "seed_video,none", 100),
    "videochatgpt": M("ov_videochatgpt", "gpt_eval_score,none", 1),  # 0-5
    "videodc": M("ov_videodc", "gpt_eval_score,none", 1),  # 0-5
    "videomme": M("ov_videomme", "videomme_perception_score,none", 1),  # 0-100
    "videomme_subtitles": M("ov_videomme_subtitles", "videomme_perception_score,none", 1),
    "longvideobench": M("ov_longvideobench_val", "lvb_acc,none", 100),
}

# Suite tasks that no cell of Tables 2-5 reports (the paper cites them elsewhere or not at all).
UNREFERENCED_TASKS: dict[str, str] = {
    "ov_ocrbench": "OCRBench is not a column of the paper's Tables 2-5",
    "ov_wildvision": "WildVision is not a column of the paper's Tables 2-5",
}

# Full range of each paper unit: the report's tolerance is a percentage of it, so "1 %" means
# 1 point of accuracy, 0.05 of a 0-5 GPT score, and 20 points of MME perception (max 2000).
UNIT_RANGE: dict[str, float] = {
    "accuracy %": 100,
    "ANLS %": 100,
    "GPT accuracy %": 100,
    "GPT score 0-100": 100,
    "Reka score 0-100": 100,
    "GPT relative score %": 100,
    "GPT score 0-5": 5,
    "MME score": 2000,
}
MME_RANGE = {"mme_cognition": 800.0, "mme_perception": 2000.0}


def unit_range(measure: str, unit: str) -> float:
    """The span of ``unit`` for ``measure`` (MME's two halves have different maxima)."""
    if measure in MME_RANGE:
        return MME_RANGE[measure]
    try:
        return UNIT_RANGE[unit]
    except KeyError:
        raise KeyError(f"unknown paper unit {unit!r} for measure {measure!r}; add it to UNIT_RANGE") from None
