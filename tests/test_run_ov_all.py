"""``ov-eval run --tasks ov_all``: every task of the suite in ONE lmms-eval call, as a user runs it.

What only this test shows: the nested groups load together (lmms-eval refuses a task that two
requested groups share), every task finds its fixture data through ``OV_EVAL_DATA_DIR``, judged
tasks reach the judge configured by ``--judge-*`` flags, and ``ov-eval run`` merges the per-task
error counts and judge accounting into the results file. Answers are fixed ("A" for everything)
and the judge always says the same thing, so no score is asserted here: the area tests assert them.
"""

from __future__ import annotations

import json

import pytest
from support.fake_openai import FakeOpenAI
from support.fixtures import (
    judged,
    judged_text,
    judged_video,
    judged_vision,
)

from ov_eval.cli import main
from ov_eval.demo.fixtures import multi_image, single_image, video
from ov_eval.lmms_output import results_files
from ov_eval.task_index import leaf_tasks, suite_configs

pytestmark = pytest.mark.slow
KEY = "sk-ov-eval-run-all-4d2c"
# Parsable by some judged tasks' parsers, not by others: either way the run must finish, and
# unparsable judgments are counted as failures, never scored.
JUDGE_REPLY = "Rating: 3\nFinal Score: 60\n{'pred': 'yes', 'score': 3}\n8 6\n1"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ov_all")
    for fixtures in (
        single_image,
        multi_image,
        video,
        judged,
        judged_text,
        judged_vision,
        judged_video,
    ):
        fixtures.build(root / "data")
    out = root / "out"
    mp = pytest.MonkeyPatch()
    mp.setenv("OV_EVAL_DATA_DIR", str(root / "data"))
    mp.setenv("OV_EVAL_JUDGE_API_KEY", KEY)
    mp.delenv("OPENAI_API_KEY", raising=False)
    try:
        with FakeOpenAI(lambda body: JUDGE_REPLY, api_key=KEY, lifetime=600, max_requests=5000) as server:
            code = main(
                [
                    "run", "--model", "ov_fixed_answers", "--model_args", "default=A",
                    "--tasks", "ov_all", "--output_path", str(out),
                    "--judge-base-url", server.url, "--judge-model", "fake-judge",
                    "--judge-cache", str(root / "judge.sqlite"), "--judge-max-tries", "1",
                    "--fail-on-judge-failures", "1",  # tasks whose parser rejects every reply: still exit 0
                ]
            )  # fmt: skip
            requests = len(server.requests)
    finally:
        mp.undo()
    found = results_files(out)
    return code, json.loads(found[-1].read_text()) if found else {}, requests


def test_every_task_of_ov_all_runs_in_one_call(run):
    code, results, _ = run
    assert code == 0
    leaves = leaf_tasks("ov_all")
    assert len(leaves) == len(set(leaves)) > 60
    assert set(leaves) <= set(results["results"]), sorted(set(leaves) - set(results["results"]))
    for group in ("ov_all", "ov_single_image", "ov_multi_image", "ov_video", "ov_interleave", "ov_mvbench"):
        assert group in results["group_subtasks"], group


def test_run_merges_error_counts_and_judge_accounting(run):
    _, results, requests = run
    errors = results["ov_eval"]["errors"]
    assert set(leaf_tasks("ov_all")) <= set(errors) and sum(errors.values()) == 0
    judged_tasks = {name for name, c in suite_configs().items() if c.judged and not c.is_group}
    accounting = results["ov_eval"]["judge"]
    assert set(accounting) == judged_tasks
    assert all(a["judged"] >= 1 and a["judge"] == "fake-judge" for a in accounting.values())
    assert sum(a["calls"] for a in accounting.values()) == requests > 0
    assert KEY not in json.dumps(results)
