"""``--tasks ov_dev_quick`` end to end with the real adapter and the tiny random LLaVA-OV.

One CLI run over the fixture datasets with ``--model llava_onevision`` (batch size 4): the
group must resolve to exactly the paper's App. D.1 development suite, and every task must
produce its real metric keys from real generations. Answers are random, so values are only
range-checked. ``--gen_kwargs max_new_tokens=8`` caps decoding (MMBench asks for up to 1024
tokens, which a random model would use in full) to keep the run short; it changes no code path.
"""

from __future__ import annotations

import pytest
from support.evaluate import run_lmms_eval

from ov_eval.demo.fixtures import single_image
from ov_eval.models.errors import ERROR_MARKER

pytestmark = pytest.mark.slow

# Paper App. D.1: AI2D, ChartQA, DocVQA, InfoVQA, MME, MMBench-dev, MMMU-val.
DEV_QUICK = [
    "ov_ai2d",
    "ov_chartqa",
    "ov_docvqa_val",
    "ov_infovqa_val",
    "ov_mme",
    "ov_mmbench_en_dev",
    "ov_mmmu_val",
]
# task -> (metric key, filter, lowest value, highest value)
METRICS = {
    "ov_ai2d": [("exact_match", "flexible-extract", 0.0, 1.0)],
    "ov_chartqa": [("relaxed_overall", "none", 0.0, 1.0)],
    "ov_docvqa_val": [("anls", "none", 0.0, 1.0)],
    "ov_infovqa_val": [("anls", "none", 0.0, 1.0)],
    "ov_mme": [("mme_perception_score", "none", 0.0, 2000.0), ("mme_cognition_score", "none", 0.0, 800.0)],
    "ov_mmbench_en_dev": [("circular_accuracy", "none", 0.0, 100.0)],
    "ov_mmmu_val": [("mmmu_acc", "none", 0.0, 1.0)],
}


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_ov_dir):
    root = tmp_path_factory.mktemp("single_image_tiny")
    single_image.build(root / "data")
    return run_lmms_eval(
        "llava_onevision",
        f"pretrained={tiny_ov_dir},device=cpu,dtype=float32",
        ["ov_dev_quick"],
        root / "out",
        data_dir=root / "data",
        extra_args=["--batch_size", "4", "--gen_kwargs", "max_new_tokens=8"],
    )


def test_dev_quick_group_is_exactly_the_papers_development_suite(run):
    assert run.results["group_subtasks"]["ov_dev_quick"] == DEV_QUICK


def test_every_task_reports_its_metrics_from_real_generations(run):
    for task, metrics in METRICS.items():
        for metric, filter_name, low, high in metrics:
            value = run.metric(task, metric, filter_name)
            assert isinstance(value, float) and low <= value <= high, (task, metric, value)
        samples = run.samples[task]
        assert samples, task
        for sample in samples:
            response = sample["filtered_resps"]
            assert isinstance(response, str) and not response.startswith(ERROR_MARKER), (
                task,
                sample["doc_id"],
            )
