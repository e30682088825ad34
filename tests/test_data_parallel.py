"""Data parallel under ``accelerate launch`` (2 CPU processes, gloo): every doc answered exactly once,
results identical to the single-process run.

On CPU, ``accelerate launch --cpu`` starts ONE process (multi-CPU needs mpirun); ``--multi_gpu`` with
``ACCELERATE_USE_CPU=1`` runs torchrun-style ranks on the gloo backend, which is what we test (README).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.evaluate import run_lmms_eval

LAUNCHER = [
    "accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
    "--mixed_precision", "no", "--dynamo_backend", "no",
]  # fmt: skip
TASKS = ["ai2d", "mantis", "ov_test_mc"]
GREEDY = ["--gen_kwargs", "temperature=0,do_sample=false"]  # mantis samples by default; compare greedy runs


@pytest.fixture(scope="module")
def two_process_run(tiny_ov_dir, builtin_data_dir, tmp_path_factory):
    return run_lmms_eval(
        "llava_onevision",
        f"pretrained={tiny_ov_dir},dtype=float32",
        TASKS,
        tmp_path_factory.mktemp("dp"),
        data_dir=builtin_data_dir,
        extra_args=["--batch_size", "2", *GREEDY],
        extra_task_dirs=[Path(__file__).parent / "data"],
        launcher=LAUNCHER,
        env={"ACCELERATE_USE_CPU": "1"},
    )


def test_two_ranks_really_ran(two_process_run):
    assert "rank=1/2" in two_process_run.log and "rank=0/2" in two_process_run.log


@pytest.mark.parametrize("task", TASKS)
def test_every_doc_answered_once_and_identical_to_one_process(two_process_run, builtin_tasks_run, task):
    two = two_process_run.samples[task]
    one = builtin_tasks_run.samples[task]
    assert sorted(s["doc_id"] for s in two) == sorted(s["doc_id"] for s in one) == list(range(len(one)))
    by_doc = {s["doc_id"]: s["filtered_resps"] for s in one}
    for sample in two:
        if task == "ov_test_mc":  # float losses: equal up to reduction-order noise
            got = [float(pair[0]) for pair in sample["filtered_resps"]]
            want = [float(pair[0]) for pair in by_doc[sample["doc_id"]]]
            assert got == pytest.approx(want, abs=1e-3)
        else:
            assert sample["filtered_resps"] == by_doc[sample["doc_id"]]
    assert two_process_run.results["results"][task] == pytest.approx(
        builtin_tasks_run.results["results"][task]
    )
