"""OOM back-off and poison samples through the real CLI (``ov-eval run`` -> lmms-eval -> the adapter).

``ov_faults`` is the real adapter plus an injected ``torch.OutOfMemoryError`` for model calls with more
than ``oom_above`` samples and a log of every model call (tests/support/faults.py). ``ov_test_poison``
has 20 docs of which 2 are corrupt videos and 1 a missing image (tests/support/fixtures/resilience.py).
"""

from __future__ import annotations

from collections import Counter

import pytest
from resilience_helpers import DATA, POISON_TASK, RESUME_TASK, answers, env_for, ov_eval_run_cmd, run_ov_eval
from support.evaluate import run_lmms_eval
from support.faults import CALLS_LOG_ENV, read_calls
from support.fixtures import resilience

from ov_eval.models.errors import ERROR_MARKER

TASKS = [RESUME_TASK, POISON_TASK]
ARGS = "device=cpu,dtype=float32,max_frames_num=4"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("resilience_data")
    resilience.build(root)
    return root


@pytest.fixture(scope="module")
def batch_size_1(tiny_ov_dir, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("bs1")
    return run_lmms_eval(
        "ov_faults", f"pretrained={tiny_ov_dir},{ARGS}", TASKS, out, data_dir=data_dir,
        extra_args=["--batch_size", "1"], extra_task_dirs=[DATA],
    )  # fmt: skip


@pytest.fixture(scope="module")
def oom_at_8(tiny_ov_dir, data_dir, tmp_path_factory):
    """``ov-eval run`` at batch size 8 where any model call above 2 samples runs out of memory."""
    out = tmp_path_factory.mktemp("oom8")
    calls = out / "calls.jsonl"
    cmd = ov_eval_run_cmd(f"pretrained={tiny_ov_dir},{ARGS},oom_above=2", TASKS, out, "--batch_size", "8")
    run = run_ov_eval(cmd, env_for(data_dir, out, **{CALLS_LOG_ENV: str(calls)}), out)
    return run, read_calls(calls)


def test_oom_batches_are_split_until_they_fit(oom_at_8):
    _run, calls = oom_at_8
    oom_sizes = Counter(len(c["docs"]) for c in calls if c["outcome"] == "oom")
    ok_sizes = {len(c["docs"]) for c in calls if c["outcome"] == "ok"}
    # 20 image docs of ov_test_resume at batch 8 -> batches 8, 8, 4; each 8 fails, then its halves of 4 fail
    assert oom_sizes[8] >= 2 and oom_sizes[4] >= 4
    assert ok_sizes <= {1, 2}


def test_every_sample_is_answered_exactly_once_after_oom(oom_at_8):
    _run, calls = oom_at_8
    answered = Counter((task, doc) for c in calls if c["outcome"] == "ok" for task, doc in c["docs"])
    expected = {(RESUME_TASK, d) for d in range(20)} | {
        (POISON_TASK, d) for d in range(20) if d not in resilience.POISON_DOC_IDS
    }
    assert set(answered) == expected and set(answered.values()) == {1}


def test_predictions_after_oom_equal_batch_size_1(oom_at_8, batch_size_1):
    run, _calls = oom_at_8
    for task in TASKS:
        assert answers(run, task) == answers(batch_size_1, task), task
        assert run.results["results"][task] == batch_size_1.results["results"][task]


def test_poison_task_finishes_with_3_errors_and_17_scored_samples(oom_at_8):
    run, _calls = oom_at_8
    assert run.results["ov_eval"]["errors"] == {POISON_TASK: 3, RESUME_TASK: 0}
    assert run.metric(POISON_TASK, "scored_docs") == 17  # aggregation = number of docs that reached scoring
    assert run.metric(RESUME_TASK, "scored_docs") == 20
    failed = sorted(
        s["doc_id"] for s in run.samples[POISON_TASK] if str(s["filtered_resps"]).count(ERROR_MARKER)
    )
    assert failed == list(resilience.POISON_DOC_IDS)
    assert len(run.samples[POISON_TASK]) == 20  # failed docs stay visible in the samples log
    assert "ov-eval: 3 sample(s) failed and were excluded from scores (ov_test_poison: 3)" in run.log


def test_error_log_names_doc_and_cause(oom_at_8):
    import json
    from pathlib import Path

    run, _calls = oom_at_8
    records = [
        json.loads(line) for line in Path(run.results["ov_eval"]["error_log"]).read_text().splitlines()
    ]
    causes = {r["doc_id"]: r["cause"] for r in records}
    assert set(causes) == set(resilience.POISON_DOC_IDS)
    assert "FileNotFoundError" in causes[resilience.MISSING_IMAGE_DOC_ID]
    for doc in resilience.CORRUPT_VIDEO_DOC_IDS:
        assert f"corrupt_{doc}.mp4" in causes[doc]
    assert {r["task"] for r in records} == {POISON_TASK}


def test_results_record_what_produced_them(oom_at_8, tiny_ov_dir):
    import subprocess
    from importlib import metadata
    from pathlib import Path

    import torch
    import transformers

    from ov_eval import __version__
    from ov_eval.models.model_args import AdapterArgs

    run, _calls = oom_at_8
    provenance = run.results["ov_eval"]["provenance"]
    assert provenance["ov_eval"] == __version__
    repo = Path(__file__).resolve().parents[1]
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert provenance["git_commit"] == (head.stdout.strip() if head.returncode == 0 else "unknown")
    packages = provenance["packages"]
    assert (
        packages["torch"] == metadata.version("torch")
        and packages["transformers"] == transformers.__version__
    )
    assert packages["lmms-eval"] == metadata.version("lmms_eval")
    adapter = provenance["adapter"]
    assert adapter["class"] == "support.faults.FaultyLlavaOneVision"
    assert set(adapter["model_args"]) == set(AdapterArgs.valid_names())  # every field, new ones included
    args = adapter["model_args"]
    assert (args["pretrained"], args["max_frames_num"], args["batch_size"]) == (str(tiny_ov_dir), 4, 8)
    effective = adapter["effective"]
    assert (effective["dtype"], effective["attn_implementation"], effective["device"]) == (
        "float32",
        "sdpa",
        "cpu",
    )
    assert effective["image_processor"].startswith("LlavaOnevisionImageProcessor")
    assert effective["torch"] == torch.__version__


def test_one_ranks_sample_errors_do_not_hang_the_other(tiny_ov_dir, data_dir, tmp_path):
    """2 ranks (gloo on CPU); all 3 poison docs have odd ids, so rank 1 fails 3 samples and rank 0 none."""
    cmd = ov_eval_run_cmd(
        f"pretrained={tiny_ov_dir},{ARGS}",
        [POISON_TASK],
        tmp_path,
        "--batch_size",
        "4",
        "--num_processes",
        "2",
    )
    run = run_ov_eval(cmd, env_for(data_dir, tmp_path, ACCELERATE_USE_CPU="1"), tmp_path, timeout=240)
    assert "rank=0/2" in run.log and "rank=1/2" in run.log
    rank_logs = sorted(p.name for p in (tmp_path / "ov_eval_errors").rglob("ov_eval_errors_rank*.jsonl"))
    assert rank_logs == ["ov_eval_errors_rank1.jsonl"]
    assert run.results["ov_eval"]["errors"] == {POISON_TASK: 3}
    assert run.metric(POISON_TASK, "scored_docs") == 17
