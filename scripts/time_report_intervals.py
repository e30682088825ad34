"""Time ``ov-eval report`` on SI + OV runs with logged samples at the benchmarks' real sizes.

Writes synthetic lmms-eval results and ``--log_samples`` files (per-doc values in the shapes the
tasks' own ``process_results`` produce) for the largest mean-scored benchmarks and for the
custom aggregations the report re-runs (MME, SEED-Bench, Interleave, MuirBench, VideoMME,
EgoSchema), then builds and writes the report and prints the wall time per task.

    python scripts/time_report_intervals.py [--iters 1000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from ov_eval.report.build import build_report
from ov_eval.report.runs import load_runs
from ov_eval.report.write import write_report

SI, OV = "lmms-lab/llava-onevision-qwen2-7b-si", "lmms-lab/llava-onevision-qwen2-7b-ov"
MEAN_TASKS = {  # task: (metric key, docs)
    "ov_ai2d": ("exact_match,flexible-extract", 3088),
    "ov_chartqa": ("relaxed_overall,none", 2500),
    "ov_docvqa_val": ("anls,none", 5349),
    "ov_infovqa_val": ("anls,none", 2801),
    "ov_scienceqa_img": ("exact_match,none", 2017),
    "ov_realworldqa": ("exact_match,none", 765),
    "ov_nextqa_mc_test": ("exact_match,none", 8564),
}


def _items(task: str, right: np.ndarray) -> tuple[str, list[object]]:
    """Per-doc metric values as the task logs them; ``right`` says which docs are answered correctly."""
    if task in MEAN_TASKS:
        return MEAN_TASKS[task][0], [float(r) for r in right]
    if task == "ov_mme":  # two questions per image, 14 categories
        cats = ["existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark",
                "artwork", "OCR", "commonsense_reasoning", "numerical_calculation", "text_translation",
                "code_reasoning"]  # fmt: skip
        return "mme_perception_score,none", [
            {
                "question_id": f"{cats[(i // 2) % 10]}/{i // 2}.jpg",
                "category": cats[(i // 2) % 10],
                "score": float(r),
            }
            for i, r in enumerate(right)
        ]
    if task == "ov_seedbench_image":
        return "seed_image,none", [
            {"pred": "A" if r else "B", "answer": "A", "question_id": str(i)} for i, r in enumerate(right)
        ]
    if task == "ov_interleave_nlvr2":
        return "interleave_score,none", [
            {"sample_id": i, "sub_task": "NLVR2_Mantis", "question_type": "multi-choice", "answer": "A",
             "parsed_pred": "A" if r else "B", "score": int(r)}
            for i, r in enumerate(right)
        ]  # fmt: skip
    if task == "ov_muirbench":
        return "muirbench_score_overall,flexible-extract", [
            {"pred": "A" if r else "B", "task": "Counting", "idx": f"muir_{i}", "image_relation": "Independent",
             "answer": "A", "image_type": "Photo"}
            for i, r in enumerate(right)
        ]  # fmt: skip
    if task == "ov_videomme":
        return "videomme_perception_score,none", [
            {"question_id": f"{i // 3:03d}-{i % 3}", "duration": "short", "category": "Knowledge",
             "sub_category": "Humanity & History", "task_category": "Counting Problem",
             "pred_answer": "A" if r else "B", "answer": "A", "score": float(r), "videoID": f"vid{i // 3}"}
            for i, r in enumerate(right)
        ]  # fmt: skip
    if task == "ov_egoschema_subset":
        return "score,none", [{"pred": 2 if r else 3, "ground_truth": "2"} for r in right]
    raise KeyError(task)


SIZES = {**{t: n for t, (_, n) in MEAN_TASKS.items()}, "ov_mme": 2374, "ov_seedbench_image": 14233,
         "ov_interleave_nlvr2": 6272, "ov_muirbench": 2600, "ov_videomme": 2700, "ov_egoschema_subset": 500}  # fmt: skip


def write_run(root: Path, pretrained: str, right: dict[str, np.ndarray]) -> None:
    folder = root / pretrained.replace("/", "__")
    folder.mkdir(parents=True)
    stamp = "20260101_000000"
    results, configs = {}, {}
    for task, correct in right.items():
        key, items = _items(task, correct)
        metric = key.split(",")[0]
        results[task] = {
            "alias": task,
            key: float(correct.mean()),
            f"{metric}_stderr,{key.split(',')[1]}": "N/A",
        }
        agg = "mean" if task in MEAN_TASKS else "<function aggregate at 0x0>"
        configs[task] = {"task": task, "metric_list": [{"metric": metric, "aggregation": agg}]}
        lines = (json.dumps({"doc_id": i, "target": "A", metric: item}) for i, item in enumerate(items))
        (folder / f"{stamp}_samples_{task}.jsonl").write_text("\n".join(lines) + "\n")
    data = {"results": results, "configs": configs, "date": stamp,
            "n-samples": {t: {"original": len(c), "effective": len(c)} for t, c in right.items()},
            "config": {"model_args": f"pretrained={pretrained}"}}  # fmt: skip
    (folder / f"{stamp}_results.json").write_text(json.dumps(data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        si = {t: rng.random(n) < 0.6 for t, n in SIZES.items()}
        ov = {t: np.where(rng.random(len(s)) < 0.9, s, rng.random(len(s)) < 0.65) for t, s in si.items()}
        write_run(root / "runs", SI, si)
        write_run(root / "runs", OV, ov)
        start = time.perf_counter()
        report = build_report(load_runs([root / "runs"]), iters=args.iters)
        write_report(report, root / "out")
        wall = time.perf_counter() - start
    docs = sum(SIZES.values())
    with_ci = sum(c.se is not None for c in report.cells if c.run is not None and c.table != 2)
    print(f"{len(SIZES)} tasks x 2 checkpoints, {docs} docs each, iters {args.iters}: {wall:.1f} s "
          f"({wall / len(SIZES):.2f} s per task, SI + OV + paired delta); {with_ci} scored cells with an interval")  # fmt: skip
    for d in report.deltas:
        if d.delta is not None:
            print(f"  {d.measure}: OV-SI {d.delta:+.2f} ± {d.half_width:.2f} ({d.se_method})")


if __name__ == "__main__":
    main()
