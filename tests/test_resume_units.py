"""Resume building blocks, in process and fast: the checkpoint fingerprint, and lmms-eval's real
``ResponseCache`` with ov-eval's patches (ov_eval/lmms_patches/resume.py), driven by a recording stand-in model.

The stand-in only answers requests: the cache key depends on the ``--model`` id, the model args and
the requests, never on the model object, so the cache behaves exactly as in a CLI run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import pytest
from lmms_eval.api.instance import Instance
from lmms_eval.caching.response_cache import ResponseCache

from ov_eval import lmms_patches
from ov_eval.fingerprint import (
    DigestCache,
    answer_settings,
    checkpoint_fingerprint,
    fingerprint_hash,
    model_fingerprint,
)
from ov_eval.lmms_patches import resume
from ov_eval.models.errors import ERROR_MARKER, is_failed_response
from ov_eval.run import build_command, error_counts, error_section, summary_line

lmms_patches.install()
GREEDY = {"max_new_tokens": 8, "temperature": 0, "do_sample": False, "until": ["\n\n"]}


class RecordingModel:
    """Answers ``generate_until`` with a text derived from the doc id; records what it was asked;
    can fail the whole call (a crash) after ``crash_after`` requests were answered in earlier calls."""

    batch_size = 1

    def __init__(self, answer_prefix: str = "answer", crash_after: int | None = None, fail_docs=()):
        self.answer_prefix = answer_prefix
        self.crash_after = crash_after
        self.fail_docs = set(fail_docs)
        self.asked: list[int] = []

    def generate_until(self, requests: list[Instance]) -> list[str]:
        if self.crash_after is not None and len(self.asked) >= self.crash_after:
            raise KeyboardInterrupt("simulated kill")
        self.asked += [r.doc_id for r in requests]
        return [
            f"{ERROR_MARKER} cannot load video"
            if r.doc_id in self.fail_docs
            else f"{self.answer_prefix} {r.doc_id}"
            for r in requests
        ]


def requests(n: int, task: str = "ov_unit") -> list[Instance]:
    return [
        Instance(
            "generate_until",
            (f"question {i}", dict(GREEDY), None, i, task, "test"),
            0,
            {"task": task, "doc_id": i, "repeats": 1},
        )
        for i in range(n)
    ]


def open_cache(
    root: Path, checkpoint: Path, model: str = "llava_onevision", extra: str = ""
) -> ResponseCache:
    return ResponseCache.create(
        str(root), model=model, model_args=f"pretrained={checkpoint},dtype=float32{extra}"
    )


def run_once(root: Path, checkpoint: Path, lm: RecordingModel, n: int = 6, **kwargs) -> list:
    cache = open_cache(root, checkpoint, **kwargs)
    try:
        out = cache.execute(lm, "generate_until", requests(n))
    except KeyboardInterrupt:
        cache.close()  # what a SIGKILL leaves: no finalize, nothing merged into cache.db
        raise
    cache.finalize(success=True)
    return out


@pytest.fixture
def checkpoint_copy(tiny_ov_dir, tmp_path) -> Path:
    target = tmp_path / "ckpt"
    shutil.copytree(tiny_ov_dir, target)
    return target


@pytest.fixture(autouse=True)
def _isolated_digest_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OV_EVAL_FINGERPRINT_CACHE", str(tmp_path / "digests.json"))
    monkeypatch.setenv(resume.CHUNK_ENV, "2")


def change_one_weight(checkpoint: Path) -> str:
    """Add 1 to one element of one tensor, in place, keeping every other byte (and the file size) the same."""
    from safetensors.torch import load_file, save_file

    path = checkpoint / "model.safetensors"
    tensors = load_file(path)
    name = sorted(tensors)[0]
    tensors[name].view(-1)[0] += 1
    save_file(tensors, path, metadata={"format": "pt"})
    return name


# ------------------------------------------------------------------ fingerprint
def test_changing_one_weight_changes_the_fingerprint(checkpoint_copy):
    before = model_fingerprint({"pretrained": str(checkpoint_copy)})
    size = (checkpoint_copy / "model.safetensors").stat().st_size
    change_one_weight(checkpoint_copy)
    after = model_fingerprint({"pretrained": str(checkpoint_copy)})
    assert (checkpoint_copy / "model.safetensors").stat().st_size == size  # same size: only content tells
    changed = {
        f for f in before["checkpoint_files"] if before["checkpoint_files"][f] != after["checkpoint_files"][f]
    }
    assert changed == {"model.safetensors"}
    assert fingerprint_hash(before) != fingerprint_hash(after)


def test_digest_cache_is_not_fooled_by_a_rewrite_that_restores_size_and_mtime(tmp_path):
    path = tmp_path / "ckpt" / "weights.bin"
    path.parent.mkdir()
    path.write_bytes(b"A" * 4096)
    cache = DigestCache(tmp_path / "digests.json")
    first = checkpoint_fingerprint(path.parent, cache)["weights.bin"]
    stat = path.stat()
    path.write_bytes(b"B" * 4096)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # size and mtime as before; ctime moved on
    second = checkpoint_fingerprint(path.parent, DigestCache(tmp_path / "digests.json"))["weights.bin"]
    import hashlib

    assert first == hashlib.sha256(b"A" * 4096).hexdigest()
    assert second == hashlib.sha256(b"B" * 4096).hexdigest()


def test_digest_cache_reuses_a_digest_without_reading_the_file_again(tmp_path, monkeypatch):
    path = tmp_path / "ckpt" / "weights.bin"
    path.parent.mkdir()
    path.write_bytes(b"x" * 100)
    checkpoint_fingerprint(path.parent, DigestCache(tmp_path / "digests.json"))
    import ov_eval.fingerprint as fp

    monkeypatch.setattr(fp, "_sha256", lambda p: pytest.fail(f"re-hashed {p}"))
    assert checkpoint_fingerprint(path.parent, DigestCache(tmp_path / "digests.json"))["weights.bin"]


def test_hub_blobs_are_identified_by_their_content_address(tmp_path):
    blob_digest = "ab" * 32
    blob = tmp_path / "blobs" / blob_digest
    blob.parent.mkdir()
    blob.write_bytes(b"not actually hashed")
    snapshot = tmp_path / "snapshots" / "rev"
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").symlink_to(blob)
    assert checkpoint_fingerprint(snapshot, DigestCache(tmp_path / "d.json")) == {
        "model.safetensors": blob_digest
    }


def test_visual_settings_are_identity_and_execution_settings_are_not():
    base = answer_settings({"pretrained": "x"})
    assert base["max_frames_num"] == 32 and base["video_decode_backend"] == "decord"  # defaults are resolved
    for changed in (
        {"max_frames_num": "8"},
        {"max_images": 4},
        {"video_decode_backend": "pyav"},
        {"system_prompt": "none"},
        {"dtype": "bfloat16"},
    ):
        assert answer_settings({"pretrained": "x", **changed}) != base, changed
    for same in (
        {"batch_size": 8},
        {"device": "cuda:1"},
        {"prefetch_batches": 0},
        {"max_frames_num": "32"},
        {"preprocess_workers": 16},
        {"pin_preprocess_workers": "false"},
    ):
        assert answer_settings({"pretrained": "x", **same}) == base, same


# ------------------------------------------------------------------ the response cache with our patches
def test_rerun_on_unchanged_checkpoint_is_served_from_cache(tmp_path, checkpoint_copy):
    first = RecordingModel()
    assert run_once(tmp_path / "cache", checkpoint_copy, first) == [f"answer {i}" for i in range(6)]
    again = RecordingModel(answer_prefix="new")
    assert run_once(tmp_path / "cache", checkpoint_copy, again) == [f"answer {i}" for i in range(6)]
    assert again.asked == []


def test_changing_one_weight_behind_the_same_path_invalidates_the_cache(tmp_path, checkpoint_copy):
    run_once(tmp_path / "cache", checkpoint_copy, RecordingModel())
    change_one_weight(checkpoint_copy)
    after = RecordingModel(answer_prefix="retrained")
    assert run_once(tmp_path / "cache", checkpoint_copy, after) == [f"retrained {i}" for i in range(6)]
    assert after.asked == list(range(6))
    records = sorted((tmp_path / "cache" / "fingerprints").glob("*.json"))
    assert len(records) == 2  # both identities are inspectable
    weights = {json.loads(r.read_text())["checkpoint_files"]["model.safetensors"] for r in records}
    assert len(weights) == 2


def test_changing_a_visual_setting_invalidates_the_cache(tmp_path, checkpoint_copy):
    run_once(tmp_path / "cache", checkpoint_copy, RecordingModel())
    fewer_frames = RecordingModel()
    run_once(tmp_path / "cache", checkpoint_copy, fewer_frames, extra=",max_frames_num=8")
    assert fewer_frames.asked == list(range(6))


def test_models_that_are_not_ov_eval_keep_lmms_eval_keys(tmp_path):
    assert resume.identity_model_args(str(tmp_path), "qwen2_vl", "pretrained=/nope") == "pretrained=/nope"
    assert not (tmp_path / "fingerprints").exists()


def test_killed_run_keeps_finished_chunks_and_the_rerun_computes_only_the_rest(tmp_path, checkpoint_copy):
    # chunk size 2 (autouse fixture): the "kill" hits during the third model call
    killed = RecordingModel(crash_after=4)
    with pytest.raises(KeyboardInterrupt):
        run_once(tmp_path / "cache", checkpoint_copy, killed)
    assert killed.asked == [0, 1, 2, 3]
    assert not (tmp_path / "cache" / "cache.db").exists()  # lmms-eval alone would have lost everything
    rerun = RecordingModel()
    assert run_once(tmp_path / "cache", checkpoint_copy, rerun) == [f"answer {i}" for i in range(6)]
    assert rerun.asked == [4, 5]
    third = RecordingModel()  # and the adopted answers reached cache.db with the rerun's merge
    shutil.rmtree(tmp_path / "cache" / "runs")
    run_once(tmp_path / "cache", checkpoint_copy, third)
    assert third.asked == []


def test_failed_samples_are_not_cached_so_a_rerun_retries_them(tmp_path, checkpoint_copy):
    flaky = RecordingModel(fail_docs={2, 5})
    out = run_once(tmp_path / "cache", checkpoint_copy, flaky)
    assert [is_failed_response(o) for o in out] == [False, False, True, False, False, True]
    fixed = RecordingModel()
    assert run_once(tmp_path / "cache", checkpoint_copy, fixed) == [f"answer {i}" for i in range(6)]
    assert fixed.asked == [2, 5]


def test_chunk_size_defaults_to_four_batches_and_at_least_16(monkeypatch):
    monkeypatch.delenv(resume.CHUNK_ENV)

    class LM:
        batch_size = 8

    assert resume.chunk_size(LM()) == 32
    LM.batch_size = 1
    assert resume.chunk_size(LM()) == 16
    monkeypatch.setenv(resume.CHUNK_ENV, "0")
    with pytest.raises(ValueError, match="OV_EVAL_RESUME_CHUNK must be >= 1"):
        resume.chunk_size(LM())


# ------------------------------------------------------------------ ov-eval run plumbing
def _run_args(tmp_path, *extra: str) -> argparse.Namespace:
    from ov_eval.cli import build_parser

    return build_parser().parse_args(["run", "--tasks", "ov_ai2d", "--output_path", str(tmp_path), *extra])


def test_run_resumes_by_default_and_no_resume_turns_it_off(tmp_path):
    cmd, env = build_command(_run_args(tmp_path), tmp_path / "errs", tmp_path / "judge")
    assert cmd[cmd.index("--use_cache") + 1] == str(tmp_path / "cache")
    assert env["OV_EVAL_ERROR_LOG_DIR"] == str(tmp_path / "errs")
    assert env["OV_EVAL_JUDGE_ACCOUNTING_DIR"] == str(tmp_path / "judge")
    assert "--include_path" in cmd and "--log_samples" in cmd
    cmd, _ = build_command(
        _run_args(tmp_path, "--no-resume", "--", "--limit", "3"), tmp_path / "errs", tmp_path / "judge"
    )
    assert "--use_cache" not in cmd and cmd[-2:] == ["--limit", "3"]


def test_run_uses_accelerate_for_several_processes(tmp_path):
    cmd, _ = build_command(_run_args(tmp_path, "--num_processes", "2"), tmp_path / "errs", tmp_path / "judge")
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"]
    assert cmd[cmd.index("--num_processes") + 1] == "2" and cmd[cmd.index("lmms_eval") - 1] == "-m"


def test_error_counts_count_docs_not_requests():
    records = [
        {"task": "mc", "doc_id": 1, "request_type": "loglikelihood"},
        {"task": "mc", "doc_id": 1, "request_type": "loglikelihood"},  # second option of the same doc
        {"task": "video", "doc_id": 4, "request_type": "generate_until"},
    ]
    assert error_counts(records, ["mc", "video", "clean"]) == {"clean": 0, "mc": 1, "video": 1}
    assert summary_line({"clean": 0, "mc": 1, "video": 1}, None) == (
        "ov-eval: 2 sample(s) failed and were excluded from scores (mc: 1, video: 1)"
    )
    assert summary_line({"clean": 0}, None) == "ov-eval: no sample errors"


def test_the_error_section_counts_failed_docs_and_lists_them_beside_the_results(tmp_path):
    results = tmp_path / "20260101_results.json"
    results.write_text(json.dumps({"results": {"a": {"acc,none": 0.5}}, "configs": {"a": {}, "b": {}}}))
    record = {
        "task": "b",
        "split": "test",
        "doc_id": 3,
        "request_type": "generate_until",
        "cause": "x",
        "rank": 0,
    }
    before = results.read_text()
    section = error_section(results, [record])
    assert section["errors"] == {"a": 0, "b": 1}
    assert results.read_text() == before  # the caller writes the whole ov_eval section once
    details = Path(section["error_log"])
    assert details.name == "20260101_errors.jsonl" and json.loads(details.read_text()) == record


# ------------------------------------------------------------------ visuals in the key, damage, odd text
def _doc_to_visual(doc: dict) -> list:
    return [doc["image"]]


def visual_requests(n: int, task: str = "ov_unit", text: str = "question") -> list[Instance]:
    return [
        Instance(
            "generate_until",
            (f"{text} {i}", dict(GREEDY), _doc_to_visual, i, task, "test"),
            0,
            {"task": task, "doc_id": i, "repeats": 1},
        )
        for i in range(n)
    ]


def _images(seed: int, n: int = 4) -> list:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)) for _ in range(n)]


def run_with_docs(root: Path, checkpoint: Path, docs: list[dict], extra: str = "", text: str = "question"):
    lm = RecordingModel()
    lm.task_dict = {"ov_unit": {"test": docs}}  # what lmms-eval's evaluator sets on the model
    cache = open_cache(root, checkpoint, extra=extra)
    out = cache.execute(lm, "generate_until", visual_requests(len(docs), text=text))
    cache.finalize(success=True)
    return lm, out


def test_same_questions_over_new_images_are_all_recomputed(tmp_path, checkpoint_copy):
    """Another dataset revision / data dir behind the same task: no answer may be reused."""
    old = [{"image": image} for image in _images(1)]
    run_with_docs(tmp_path / "cache", checkpoint_copy, old)
    same = [{"image": image.copy()} for image in _images(1)]  # equal pixels, new objects
    reused, _ = run_with_docs(tmp_path / "cache", checkpoint_copy, same)
    assert reused.asked == []
    new = [{"image": image} for image in _images(2)]
    recomputed, _ = run_with_docs(tmp_path / "cache", checkpoint_copy, new)
    assert recomputed.asked == [0, 1, 2, 3]


def test_a_replaced_media_file_under_the_same_path_is_recomputed(tmp_path, checkpoint_copy):
    paths = []
    for i, image in enumerate(_images(3, n=2)):
        paths.append(tmp_path / f"v{i}.png")
        image.save(paths[-1])
    docs = [{"image": str(p)} for p in paths]
    run_with_docs(tmp_path / "cache", checkpoint_copy, docs)
    _images(4, n=1)[0].save(paths[1])  # re-extracted: same name, new content
    rerun, _ = run_with_docs(tmp_path / "cache", checkpoint_copy, docs)
    assert rerun.asked == [1]


def test_execution_only_model_args_keep_the_cache(tmp_path, checkpoint_copy):
    run_once(tmp_path / "cache", checkpoint_copy, RecordingModel())
    for extra in (
        ",prefetch_batches=0",
        ",device=cuda:3",
        ",batch_size=8",
        ",device_map=auto",
        ",preprocess_workers=4",
        ",pin_preprocess_workers=false",
    ):
        again = RecordingModel(answer_prefix="new")
        assert run_once(tmp_path / "cache", checkpoint_copy, again, extra=extra)[0] == "answer 0"
        assert again.asked == [], extra


def test_unencodable_prompt_text_does_not_fail_the_cache(tmp_path, checkpoint_copy):
    """A lone surrogate from a task's doc_to_text used to raise UnicodeEncodeError in the cache key."""
    docs = [{"image": image} for image in _images(5, n=2)]
    lm, out = run_with_docs(tmp_path / "cache", checkpoint_copy, docs, text="broken \udc80 text")
    assert out == ["answer 0", "answer 1"] and lm.asked == [0, 1]


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 100])


def test_a_damaged_cache_db_is_moved_aside_and_the_run_goes_on(tmp_path, checkpoint_copy):
    root = tmp_path / "cache"
    docs = [{"image": image} for image in _images(6, n=40)]
    run_with_docs(root, checkpoint_copy, docs)
    _truncate(root / "cache.db")
    rerun, out = run_with_docs(root, checkpoint_copy, docs)
    assert out == [f"answer {i}" for i in range(40)] and rerun.asked == list(range(40))
    assert len(list(root.glob("cache.db.damaged-*"))) == 1
    third, _ = run_with_docs(root, checkpoint_copy, docs)  # the fresh cache.db took the answers
    shutil.rmtree(root / "runs")
    assert third.asked == []


def test_a_cache_db_damaged_during_the_run_does_not_fail_the_final_merge(tmp_path, checkpoint_copy):
    root = tmp_path / "cache"
    docs = [{"image": image} for image in _images(7, n=40)]
    run_with_docs(root, checkpoint_copy, docs)
    lm = RecordingModel()
    lm.task_dict = {"ov_unit": {"test": docs}}
    cache = open_cache(root, checkpoint_copy, extra=",max_images=3")  # new identity: all computed
    cache.execute(lm, "generate_until", visual_requests(len(docs)))
    _truncate(root / "cache.db")
    cache.finalize(success=True)  # lmms-eval alone: "database disk image is malformed", run lost
    assert list(root.glob("cache.db.damaged-*"))
    again = RecordingModel()
    again.task_dict = lm.task_dict
    reopened = open_cache(root, checkpoint_copy, extra=",max_images=3")
    reopened.execute(again, "generate_until", visual_requests(len(docs)))
    reopened.finalize(success=True)
    assert again.asked == []


def test_a_damaged_shard_of_a_killed_run_is_moved_aside(tmp_path, checkpoint_copy):
    killed = RecordingModel(crash_after=4)
    with pytest.raises(KeyboardInterrupt):
        run_once(tmp_path / "cache", checkpoint_copy, killed, n=40)
    (shard,) = (tmp_path / "cache" / "runs").glob("*/rank_0.db")
    import sqlite3

    sqlite3.connect(shard).execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    shard.write_bytes(b"\0" * 100 + shard.read_bytes()[100:])  # header overwritten
    rerun = RecordingModel()
    assert run_once(tmp_path / "cache", checkpoint_copy, rerun, n=40) == [f"answer {i}" for i in range(40)]
    assert rerun.asked == list(range(40)) and list(shard.parent.glob("rank_0.db.damaged-*"))


def test_visuals_digest_tells_apart_what_the_model_would_see_differently(tmp_path):
    import numpy as np
    from PIL import Image

    from ov_eval.fingerprint import visuals_digest
    from ov_eval.models.visuals import VideoFrames

    gray = Image.fromarray(np.zeros((4, 4), np.uint8)).convert("P")
    red = gray.copy()
    red.putpalette([255, 0, 0] * 256)
    assert visuals_digest([gray]) == visuals_digest([gray.copy()])
    assert visuals_digest([gray]) != visuals_digest([red])  # same indices, another palette
    frames = [Image.new("RGB", (4, 4), c) for c in ("red", "blue")]
    assert visuals_digest(frames) != visuals_digest(VideoFrames(frames))  # 2 images vs one video
    assert visuals_digest(np.zeros((2, 3), np.float32)) != visuals_digest(np.zeros((3, 2), np.float32))
    video = tmp_path / "v.mp4"
    video.write_bytes(b"a" * (3 << 20))
    before = visuals_digest([str(video)])
    assert visuals_digest([str(video)]) == before
    video.write_bytes(b"a" * (3 << 20) + b"b")  # re-extracted: size and mtime change
    assert visuals_digest([str(video)]) != before
