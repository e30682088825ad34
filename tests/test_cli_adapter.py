"""The adapter through the real ``python -m lmms_eval`` CLI, on lmms-eval's own built-in tasks.

ai2d (one image), mantis (several images), videomme (video files) and a
multiple-choice task run offline against the tiny checkpoint, from fixture
datasets in each task's real column schema (``tests/support/fixtures/adapter.py``).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from support.evaluate import run_lmms_eval

from ov_eval.models.errors import ERROR_MARKER

TEST_TASKS = Path(__file__).parent / "data"  # ov_test_mc.yaml
MC_TASK = "ov_test_mc"


@pytest.fixture(scope="module")
def run(builtin_tasks_run):
    return builtin_tasks_run


def test_our_class_serves_the_builtin_model_id(run):
    assert run.results["config"]["model_backend"].startswith("ov_eval.models.llava_onevision.LlavaOneVision")


def test_builtin_tasks_produce_their_real_metric_keys(run):
    assert 0.0 <= run.metric("ai2d", "exact_match", "flexible-extract") <= 1.0
    assert "mantis_score,none" in run.results["results"]["mantis"]
    assert "videomme_perception_score,none" in run.results["results"]["videomme"]
    assert run.results["n-samples"]["ai2d"]["effective"] == 7
    assert run.results["n-samples"]["videomme"]["effective"] == 2


def test_every_sample_was_answered_not_errored(run):
    for task in ("ai2d", "mantis", "videomme"):
        responses = [s["filtered_resps"] for s in run.samples[task]]
        assert responses and not any(str(r).startswith(ERROR_MARKER) for r in responses), task


def test_multiple_choice_task_is_scored(run):
    acc = run.metric("ov_test_mc", "acc")
    # 5 docs: accuracy is a multiple of 1/5, and every doc carried one scored (loss, greedy) pair per choice
    assert acc * 5 == pytest.approx(round(acc * 5))
    for sample in run.samples["ov_test_mc"]:
        losses = [float(pair[0]) for pair in sample["filtered_resps"]]
        assert len(losses) == 3 and all(math.isfinite(x) and x > 0 for x in losses)


def test_multiple_choice_works_when_answers_come_back_from_the_response_cache(
    tiny_ov_dir, builtin_data_dir, builtin_cache_dir, run, tmp_path
):
    # the shared run filled its --use_cache; a rerun on the same cache reads (loss, greedy) pairs back as lists
    cache = builtin_cache_dir
    assert (cache / "cache.db").exists()
    again = run_lmms_eval(
        "llava_onevision",
        # the same model_args string as the shared run: lmms-eval's cache key includes it
        f"pretrained={tiny_ov_dir},device=cpu,dtype=float32,preprocess_workers=2",
        [MC_TASK],
        tmp_path,
        data_dir=builtin_data_dir,
        extra_args=[
            "--batch_size",
            "2",
            "--gen_kwargs",
            "temperature=0,do_sample=false",
            "--use_cache",
            str(cache),
        ],
        extra_task_dirs=[TEST_TASKS],
    )
    assert "served from cache — skipping model inference" in again.log  # the pairs really came from the cache
    assert again.metric(MC_TASK, "acc") == run.metric(MC_TASK, "acc")
    assert [s["filtered_resps"] for s in again.samples[MC_TASK]] == [
        s["filtered_resps"] for s in run.samples[MC_TASK]
    ]
