"""The three GPT-judged tasks with the real adapter (tiny random LLaVA-OV) and a local judge server.

One CLI run, batch size 4, generation capped at 16 tokens (``--gen_kwargs``; the
tasks' own caps are 64-4096). The model's answers are random, so scores that depend
on them are only range-checked; scores fixed by the judge's verdicts are exact.
"""

from __future__ import annotations

import pytest
from support.evaluate import run_lmms_eval
from support.fake_openai import FakeOpenAI, judge_env, last_user_text
from support.fixtures import judged as fixtures

from ov_eval.models.errors import ERROR_MARKER

pytestmark = pytest.mark.slow

TASKS = ["ov_llava_in_the_wild", "ov_activitynetqa", "ov_mathvista_testmini"]


def verdict(body: dict) -> str:
    text = last_user_text(body)
    if "Extracted answer:" in text:
        return "A"
    if "Predicted Answer:" in text:
        return "{'pred': 'no', 'score': 1}"
    return "6 7\nThe second answer is slightly better."


@pytest.fixture(scope="module")
def judged(tmp_path_factory, tiny_ov_dir):
    root = tmp_path_factory.mktemp("judged_tiny")
    fixtures.build(root / "data")
    with FakeOpenAI(verdict, lifetime=600) as server:
        env = judge_env(server, root / "cache.sqlite")
        run = run_lmms_eval(
            "llava_onevision",
            f"pretrained={tiny_ov_dir},device=cpu,dtype=float32",
            TASKS,
            root / "out",
            data_dir=root / "data",
            extra_args=["--batch_size", "4", "--gen_kwargs", "max_new_tokens=16"],
            env=env,
        )
        return run, list(server.requests)


def test_real_generations_reach_the_judge_and_every_metric_is_reported(judged):
    run, requests = judged
    for task in TASKS:
        for sample in run.samples[task]:
            assert not str(sample["filtered_resps"]).startswith(ERROR_MARKER), (task, sample["doc_id"])
        assert run.metric(task, "judge_failures") == 0
    # every judgment said "reference 6, model 7": 100 * 7/6 = 116.7 whatever the model wrote
    assert run.metric("ov_llava_in_the_wild", "gpt_eval_llava_all") == 116.7
    # every ActivityNet-QA review is ('no', 1): mean score 1, accuracy 0 %
    assert run.metric("ov_activitynetqa", "gpt_eval_score") == 1.0
    assert run.metric("ov_activitynetqa", "gpt_eval_accuracy") == 0.0
    assert 0.0 <= run.metric("ov_mathvista_testmini", "llm_as_judge_eval") <= 100.0
    # the judge saw the model's actual answers
    predictions = {s["filtered_resps"] for s in run.samples["ov_activitynetqa"]}
    judged_predictions = {
        last_user_text(r["body"]).split("Predicted Answer: ", 1)[1].rsplit("\n\nProvide", 1)[0]
        for r in requests
        if "Predicted Answer: " in last_user_text(r["body"])
    }
    assert judged_predictions == predictions
