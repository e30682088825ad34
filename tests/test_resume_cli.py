"""Kill ``ov-eval run`` with SIGKILL at a random (seeded) point, rerun the same command: the results equal an
uninterrupted run's, and the rerun computes exactly the samples whose answers were not stored yet.

Chunks of 4 requests at batch size 4 (one model call per chunk); ``call_delay`` keeps each call ~0.4 s so
the kill lands between stored chunks. What was stored is read from the cache's SQLite shards after the
kill, independently of ov-eval's code. While the first run holds the output path, a second ``ov-eval run``
into it is refused (a real second process), and the kill -9 releases that lock for the rerun.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from resilience_helpers import RESUME_TASK, answers, env_for, ov_eval_run_cmd, run_ov_eval
from support.faults import CALLS_LOG_ENV, read_calls
from support.fixtures import resilience

from ov_eval.lmms_patches.resume import CHUNK_ENV
from ov_eval.run_files import LOCK_NAME

SEED = 20260722
ALL_DOCS = set(range(resilience.NUM_DOCS))


def _cmd(checkpoint: Path, out: Path) -> list[str]:
    args = f"pretrained={checkpoint},device=cpu,dtype=float32,call_delay=0.4"
    return ov_eval_run_cmd(args, [RESUME_TASK], out, "--batch_size", "4")


def _computed(calls_log: Path) -> list[int]:
    return [doc for call in read_calls(calls_log) if call["outcome"] == "ok" for _task, doc in call["docs"]]


def _stored_doc_ids(cache: Path) -> set[int]:
    docs: set[int] = set()
    for db in cache.rglob("*.db"):
        with sqlite3.connect(db) as connection:
            rows = connection.execute("SELECT doc_id FROM responses WHERE task_name = ?", (RESUME_TASK,))
            docs |= {row[0] for row in rows}
    return docs


@pytest.fixture(scope="module")
def runs(tiny_ov_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("resume_data")
    resilience.build_resume(data)
    chunking = {CHUNK_ENV: "4"}

    straight_out = tmp_path_factory.mktemp("uninterrupted")
    straight = run_ov_eval(
        _cmd(tiny_ov_dir, straight_out), env_for(data, straight_out, **chunking), straight_out
    )

    out = tmp_path_factory.mktemp("killed")
    kill_after = random.Random(SEED).randint(
        2, 4
    )  # finished calls before the kill: 1..3 chunks stored, 5 in all
    killed_calls = out / "killed_calls.jsonl"
    proc = subprocess.Popen(
        _cmd(tiny_ov_dir, out),
        env=env_for(data, out, **chunking, **{CALLS_LOG_ENV: str(killed_calls)}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill takes ov-eval and lmms-eval together
    )
    deadline = time.monotonic() + 180
    lock = out / LOCK_NAME
    while (
        not (lock.exists() and lock.read_text().strip())
        and proc.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.02)  # the first run holds the output path once its pid is in the lock file
    concurrent = subprocess.run(
        _cmd(tiny_ov_dir, out),
        env=env_for(data, out, **chunking),
        capture_output=True,
        text=True,
        timeout=120,
    )
    while len(read_calls(killed_calls)) < kill_after and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    rc = proc.wait(timeout=30)
    stored = _stored_doc_ids(out / "cache")

    rerun_calls = out / "rerun_calls.jsonl"
    rerun = run_ov_eval(
        _cmd(tiny_ov_dir, out), env_for(data, out, **chunking, **{CALLS_LOG_ENV: str(rerun_calls)}), out
    )
    return {
        "concurrent": concurrent,
        "first_pid": proc.pid,
        "straight": straight,
        "killed_rc": rc,
        "computed_before_kill": _computed(killed_calls),
        "stored_at_kill": stored,
        "rerun": rerun,
        "computed_by_rerun": _computed(rerun_calls),
    }


def test_the_run_really_was_killed_part_way(runs):
    assert runs["killed_rc"] == -signal.SIGKILL
    assert runs["computed_before_kill"] and set(runs["computed_before_kill"]) != ALL_DOCS
    assert runs["stored_at_kill"] and runs["stored_at_kill"] < ALL_DOCS
    assert runs["stored_at_kill"] <= set(runs["computed_before_kill"])  # stored means computed


def test_rerun_computes_only_the_unfinished_samples(runs):
    computed = runs["computed_by_rerun"]
    assert sorted(computed) == sorted(ALL_DOCS - runs["stored_at_kill"])  # each missing doc exactly once


def test_rerun_gives_the_results_of_an_uninterrupted_run(runs):
    straight, rerun = runs["straight"], runs["rerun"]
    assert answers(rerun, RESUME_TASK) == answers(straight, RESUME_TASK)
    assert rerun.results["results"][RESUME_TASK] == straight.results["results"][RESUME_TASK]
    assert rerun.results["ov_eval"]["errors"] == {RESUME_TASK: 0}


def test_a_second_run_into_the_same_output_path_is_refused_while_the_first_runs(runs):
    concurrent = runs["concurrent"]
    assert concurrent.returncode == 2
    assert f"is in use by another ov-eval run (pid {runs['first_pid']})" in concurrent.stderr
    assert "Traceback" not in concurrent.stderr
