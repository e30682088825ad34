"""Preparation in worker processes: same tensors, answers and error records as inline; ordered,
bounded, and nothing left running after a crash, Ctrl-C or a killed main process."""

from __future__ import annotations

import copy
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from adapter_helpers import attach_docs, gen_request, loglikelihood_request, random_image
from pool_helpers import Echo
from transformers import BatchFeature

from ov_eval.demo.media import write_video
from ov_eval.models.batching import plan_batches
from ov_eval.models.hf_port import concatenated_crops, resize_frames_like_original
from ov_eval.models.llava_onevision import WORKER_DIED, LlavaOneVision
from ov_eval.models.model_args import AdapterArgs
from ov_eval.models.preprocess_pool import (
    BatchPreparer,
    PreprocessPool,
    core_shares,
    default_workers,
    torch_tensors,
)

TESTS = Path(__file__).resolve().parent


def _env_with_tests_importable() -> dict[str, str]:
    """The environment for a child ``python`` that imports ``pool_helpers`` by name."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}


# ---------------------------------------------------------------- the pool itself (light workers)
@pytest.fixture(scope="module")
def echo_pool():
    pool = PreprocessPool(2, Echo, ())
    yield pool
    pool.close()


def test_results_come_in_order_with_at_most_in_flight_outstanding(echo_pool):
    pulled = []

    def items():
        for i in range(8):
            pulled.append(i)
            # late items are fast, early ones slow: completion order differs from input order
            yield i, ("sleep", 0.3 if i < 2 else 0.0, i * 10)

    seen = []
    for key, (value, _pid) in echo_pool.ordered(items(), in_flight=3, on_broken=None):
        assert len(pulled) - len(seen) <= 3  # submitted but not yet consumed
        seen.append((key, value))
    assert seen == [(i, i * 10) for i in range(8)]


def test_a_dying_worker_costs_only_its_payload(echo_pool):
    redone = []

    def on_broken(key, payload):
        redone.append(key)
        return ("redone", payload[0])

    items = [(i, ("die" if i == 2 else "sleep", 0.05, i)) for i in range(6)]
    results = list(echo_pool.ordered(items, in_flight=3, on_broken=on_broken))
    assert [key for key, _ in results] == list(range(6))
    assert results[2] == (2, ("redone", "die"))
    # batches that were in flight when the worker died are redone; later ones go to a fresh pool
    assert 2 in redone and set(redone) <= {0, 1, 2, 3, 4}
    assert all(value[0] == key for key, value in results if key not in redone)


def test_a_worker_death_noticed_at_submit_costs_only_its_payload(echo_pool):
    """The pool can break while the consumer holds a result: the next submit then meets a broken
    executor. That payload goes to a fresh pool; only the dead worker's payload is redone."""
    redone = []

    def on_broken(key, payload):
        redone.append(key)
        return ("redone", payload[0])

    items = [(0, ("sleep", 0.0, 0)), (1, ("die", 0.5, 1))] + [(i, ("sleep", 0.0, i)) for i in range(2, 5)]
    results = []
    for key, value in echo_pool.ordered(items, in_flight=2, on_broken=on_broken):
        results.append((key, value))
        if key == 0:
            time.sleep(2.0)  # the worker running payload 1 dies meanwhile; the next submit meets it
    assert [key for key, _ in results] == list(range(5))
    assert redone == [1]
    assert all(value[0] == key for key, value in results if key != 1)


def test_workers_keep_the_memory_they_free(echo_pool):
    """A batch's 20-60 MB arrays would otherwise be mapped and page-faulted in afresh every time
    (glibc maps blocks that large on their own and unmaps them on free); workers serve them from
    the heap and keep them. The reference is a fresh process with glibc's defaults (not this one:
    after the tests before it, its heap may hold a free region large enough to serve the block)."""
    size = 64 << 20
    reference = subprocess.run(
        [sys.executable, "-c", "import pool_helpers; print(*pool_helpers.where_a_large_block_lives(64))"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env_with_tests_importable(),
    )
    assert reference.returncode == 0, reference.stderr[-2000:]
    mapped, _kept = (int(n) for n in reference.stdout.split())
    assert mapped >= size  # the default: a separate mapping, returned to the kernel on free
    (((mapped, kept), _pid),) = [v for _k, v in echo_pool.ordered([(0, ("heap", 0.0, 64))], 1, None)]
    assert mapped < size and kept >= size


def test_a_workers_tokenizer_starts_no_threads_of_its_own(tiny_ov_dir, monkeypatch):
    """The pool is the parallelism: a fast tokenizer in a worker encodes a padded batch on the
    worker's own thread. The reference is a plain process with the same (unset) environment,
    where the tokenizer starts a thread pool for the batch."""
    monkeypatch.delenv("TOKENIZERS_PARALLELISM", raising=False)
    probe = (
        "import sys; from pool_helpers import threads_started_by_batch_encoding as t; print(t(sys.argv[1]))"
    )
    plain = subprocess.run(
        [sys.executable, "-c", probe, str(tiny_ov_dir)],
        capture_output=True,
        text=True,
        check=True,
        env=_env_with_tests_importable(),
    )
    assert int(plain.stdout.strip().splitlines()[-1]) >= 1
    pool = PreprocessPool(1, Echo, ())
    try:
        (((started, _pid),),) = [
            [v for _k, v in pool.ordered([(0, ("tokenize", 0.0, str(tiny_ov_dir)))], 1, None)]
        ]
    finally:
        pool.close()
    assert started == 0


def _child(*args: str, script: str = "pool_helpers.py", stderr: Any = subprocess.PIPE) -> subprocess.Popen:
    """``python tests/<script> <args>``, its stdout read by the test (``_worker_pids``)."""
    return subprocess.Popen(
        [sys.executable, str(TESTS / script), *args],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=_env_with_tests_importable(),
    )


def _worker_pids(child: subprocess.Popen) -> list[int]:
    for line in child.stdout:
        if line.startswith("PIDS"):
            return [int(pid) for pid in line.split()[1:]]
    raise AssertionError(f"child printed no PIDS line: {child.stderr.read()[-2000:] if child.stderr else ''}")


def _gone(pids: list[int], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                os.kill(pid, 0)
                with open(f"/proc/{pid}/stat") as handle:  # a zombie is gone for our purposes
                    if handle.read().split(")")[-1].split()[0] != "Z":
                        alive.append(pid)
            except (ProcessLookupError, FileNotFoundError):
                pass
        if not alive:
            return True
        time.sleep(0.2)
    return False


def test_ctrl_c_stops_the_workers_without_waiting_for_their_batches():
    child = _child("interrupt")
    pids = _worker_pids(child)
    assert len(pids) == 2
    child.send_signal(signal.SIGINT)
    start = time.monotonic()
    assert child.wait(timeout=25) == 130, child.stderr.read()[-2000:]
    assert time.monotonic() - start < 20  # the workers were sleeping 30 s: they were terminated
    assert _gone(pids, within_s=5)


def test_ctrl_c_in_the_model_step_stops_the_workers_without_waiting_for_their_batches(tiny_ov_dir, tmp_path):
    """Ctrl-C in the adapter's model step (the main process, outside the pool's generator) closes the
    batch stream, which terminates the workers at once, not at interpreter exit after their 30-s
    batches; nothing is left behind."""
    with open(tmp_path / "stderr.txt", "w") as stderr:
        child = _child(str(tiny_ov_dir), script="interrupted_adapter.py", stderr=stderr)
        try:
            pids = _worker_pids(child)
            assert len(pids) == 2
            child.send_signal(signal.SIGINT)
            start = time.monotonic()
            code = child.wait(timeout=60)
            took = time.monotonic() - start
        finally:
            child.kill()
    log = (tmp_path / "stderr.txt").read_text()[-2000:]
    assert code == 130 and "INTERRUPTED" in child.stdout.read(), log
    assert took < 20, log  # the workers' batches had 30 s to go: they were terminated
    assert _gone(pids, within_s=5)


def test_workers_exit_when_the_main_process_is_killed():
    child = _child("kill")
    pids = _worker_pids(child)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert _gone(pids, within_s=10), "orphaned preprocessing workers"


def test_default_workers_are_the_cores_of_this_rank_on_gpu_and_none_on_cpu(monkeypatch):
    cores = len(os.sched_getaffinity(0))
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert default_workers("cpu") == 0
    assert default_workers("cuda:0") == cores
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(cores * 2))
    assert default_workers("cuda") == 1  # never zero on a GPU


@pytest.mark.parametrize(
    ("workers", "cores", "expected"),
    [
        (2, [0, 1], [{0}, {1}]),
        (4, range(8), [{0, 1}, {2, 3}, {4, 5}, {6, 7}]),
        (3, range(8), [{0, 1, 2}, {3, 4, 5}, {6, 7}]),  # the first shares take the remainder
        (2, [5, 3, 9, 7], [{3, 5}, {7, 9}]),  # a cpuset need not start at 0 or be contiguous
        (1, range(8), None),  # one worker: every core is its share, nothing to pin
        (3, [0, 1], None),  # more workers than cores: the kernel schedules
    ],
)
def test_core_shares_cut_the_usable_cores_into_contiguous_even_shares(monkeypatch, workers, cores, expected):
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    shares = core_shares(workers, cores)
    assert shares == (None if expected is None else [frozenset(share) for share in expected])


def test_no_pinning_when_several_ranks_share_this_machine(monkeypatch):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # both ranks see the same cores: pinning would stack them
    assert core_shares(2, range(8)) is None


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning needs two usable cores")
def test_pinned_workers_and_the_threads_they_start_run_on_their_own_share(monkeypatch):
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    pool = PreprocessPool(2, Echo, (), pin=True)
    try:
        # a slow first payload keeps one worker busy, so the second worker takes the other
        futures = [pool.submit(("cores", 1.0 if i == 0 else 0.0, None)) for i in range(4)]
        by_worker = {pid: cores for cores, pid in (future.result() for future in futures)}
    finally:
        pool.close()
    assert len(by_worker) == 2
    assert sorted(by_worker.values(), key=lambda pair: min(pair[0])) == [
        (share, share) for share in core_shares(2)
    ]
    unpinned = PreprocessPool(2, Echo, (), pin=False)
    try:
        process_cores, thread_cores = unpinned.submit(("cores", 0.0, None)).result()[0]
    finally:
        unpinned.close()
    assert process_cores == thread_cores == frozenset(os.sched_getaffinity(0))


def test_workers_run_at_a_lower_priority_than_the_model_loop(echo_pool):
    from ov_eval.models.preprocess_pool import WORKER_NICENESS

    niceness, _pid = echo_pool.submit(("priority", 0.0, None)).result()
    assert niceness == min(19, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS)


def test_preprocess_workers_model_arg():
    assert AdapterArgs.from_kwargs().preprocess_workers is None  # auto
    assert AdapterArgs.from_kwargs(preprocess_workers="auto").preprocess_workers is None
    assert AdapterArgs.from_kwargs(preprocess_workers="3").preprocess_workers == 3
    assert AdapterArgs.from_kwargs(preprocess_workers=0).preprocess_workers == 0
    with pytest.raises(ValueError, match="preprocess_workers"):
        AdapterArgs.from_kwargs(preprocess_workers=-1)
    with pytest.raises(ValueError, match="preprocess_workers"):
        AdapterArgs.from_kwargs(preprocess_workers="many")
    assert AdapterArgs.from_kwargs().pin_preprocess_workers is True
    assert AdapterArgs.from_kwargs(pin_preprocess_workers="false").pin_preprocess_workers is False


# ---------------------------------------------------------------- the adapter with a real pool
@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pool_media")
    corrupt = folder / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42 not a video")
    docs = [{"visuals": [random_image(w, h, seed=i)]} for i, (w, h) in enumerate([(800, 600), (300, 500)])]
    docs += [{"visuals": [random_image(1024, 256, seed=7, mode="RGBA")]}]
    docs += [{"visuals": [random_image(320 + 40 * k, 240, seed=20 + k) for k in range(n)]} for n in (2, 3)]
    docs += [{"visuals": [str(write_video(folder / f"v{n}.mp4", n))]} for n in (90, 12)]
    docs += [{"visuals": [str(folder / "missing.mp4")]}, {"visuals": [str(corrupt)]}, {"visuals": []}]
    return docs


@pytest.fixture(scope="module")
def pooled(tiny_ov_dir):
    model = LlavaOneVision(
        pretrained=str(tiny_ov_dir), device="cpu", dtype="float32", batch_size=3, preprocess_workers=2
    )
    yield model
    if model._pool is not None:
        model._pool.close()


@pytest.fixture(scope="module")
def inline(tiny_ov_dir):
    return LlavaOneVision(
        pretrained=str(tiny_ov_dir), device="cpu", dtype="float32", batch_size=3, prefetch_batches=0
    )


def _requests(docs):
    prompts = ["Describe the picture.", "What is this?", "Answer briefly:", "Compare."]
    return [gen_request(i, prompts[i % len(prompts)], max_new_tokens=6) for i in range(len(docs))]


def test_pool_answers_and_error_records_equal_inline(pooled, inline, media):
    results = {}
    for name, model in (("pool", pooled), ("inline", inline)):
        attach_docs(model, media)
        model.errors.records.clear()
        answers = model.generate_until(_requests(media))
        results[name] = (answers, list(model.errors.records))
    assert results["pool"] == results["inline"]
    answers, records = results["pool"]
    assert len(set(answers)) > len(answers) // 2, (
        "a random model must answer differently, or equality is vacuous"
    )
    assert sorted(r.doc_id for r in records) == [7, 8]  # missing and corrupt video: each costs only itself
    assert len(pooled._pool.worker_pids()) == 2  # the work really ran in worker processes


def _prepared(model, docs, requests):
    planned = [
        model._plan(i, r.args[0], r.args[2], r.args[4], r.args[5], r.args[3], "k")
        for i, r in enumerate(requests)
    ]
    return list(model._prepared_batches(requests, plan_batches(planned, 3), [None] * len(requests)))


def test_pool_tensors_are_identical_to_the_inline_path(pooled, inline, media):
    docs = media[:7]  # images, RGBA, multi-image sets, videos
    requests = _requests(docs) + [loglikelihood_request(len(docs), "Is it red?", "Yes")]
    docs = docs + [media[0]]
    attach_docs(pooled, docs)
    attach_docs(inline, docs)
    _prepared(pooled, docs, requests)  # a run's first batches: they size the shared-memory slabs
    carried, images_out = pooled._pool.slabs.carried, pooled._pool.inbound.carried
    batches = _prepared(pooled, docs, requests)
    # the batches with over 1 MiB of PIL images sent them through the inbound ring; all given back
    assert pooled._pool.inbound.carried > images_out and pooled._pool.inbound.leased() == 0
    assert len(batches) >= 4 and all(encoded is not None for _b, _s, encoded in batches)
    assert pooled._pool.slabs.carried > carried  # pixels came back in shared-memory slabs
    for batch, samples, encoded in batches:
        reference_samples = inline._prepare(requests, batch, [None] * len(requests))
        reference = inline._processor_inputs(inline.processor, reference_samples)
        assert [s.prompt for s in samples] == [s.prompt for s in reference_samples]
        assert [s.continuation for s in samples] == [s.continuation for s in reference_samples]
        assert sorted(encoded.keys()) == sorted(reference.keys())
        for key in reference:
            assert encoded[key].dtype == reference[key].dtype, key
            assert torch.equal(encoded[key], reference[key]), key
        # the rare re-encode after a split decodes the sample again in this process: same tensors
        again = pooled._processor_inputs(pooled.processor, [pooled._with_visuals(s) for s in samples])
        assert all(torch.equal(again[key], reference[key]) for key in reference)


def test_a_sample_that_kills_its_worker_costs_only_itself(pooled, inline, media):
    class KillsTheWorker:
        """Unpickling it ends the worker process, as a decoder segfault would."""

        size = (64, 64)

        def __reduce__(self):
            return (os._exit, (7,))

    docs = [media[0], {"visuals": [KillsTheWorker()]}, media[1], media[5]]
    attach_docs(pooled, docs)
    pooled.errors.records.clear()
    answers = pooled.generate_until(_requests(docs))
    attach_docs(inline, docs)  # the inline run never reads doc 1
    expected = inline.generate_until([_requests(docs)[i] for i in (0, 2, 3)])
    assert [answers[i] for i in (0, 2, 3)] == expected
    assert [(r.doc_id, r.cause) for r in pooled.errors.records] == [(1, WORKER_DIED)]
    assert pooled._pool.inbound.leased() == 0  # the dead worker's batch gave its image slab back


def test_a_pil_backend_processor_prepares_identically_after_pickling(inline, media, tiny_ov_dir):
    """Workers get the adapter's processor by pickle, whatever its image backend."""
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import (
        LlavaOnevisionImageProcessorPil,
    )

    processor = copy.deepcopy(inline.processor)
    processor.image_processor = LlavaOnevisionImageProcessorPil.from_pretrained(str(tiny_ov_dir))
    preparer = BatchPreparer(LlavaOneVision, inline.args, pickle.dumps(processor))
    assert type(preparer.view.processor.image_processor) is LlavaOnevisionImageProcessorPil
    preparer.pipe_tensors = True  # the path taken when /dev/shm is too small: tensors as bytes
    requests = _requests(media[:2])
    attach_docs(inline, media[:2])
    jobs = [job for _i, job in inline._sample_jobs(requests, [_Item(0), _Item(1)])]
    result = preparer(jobs)
    reference = inline._processor_inputs(
        processor, inline._prepare(requests, [_Item(0), _Item(1)], [None] * 2)
    )
    encoded = torch_tensors(result.encoded)
    assert all(torch.equal(encoded[key], reference[key]) for key in reference)


class _Item:
    def __init__(self, index: int) -> None:
        self.index = index


def test_unpadded_crops_reach_the_tower_and_answer_as_the_ports_padded_batch(inline, media):
    """Crops travel concatenated, not padded to the batch's largest crop count: the reference is
    the port's own processor output (padded, ``do_pad`` default) fed to the same HF model."""
    docs = media[:3]  # 800x600, 300x500, 1024x256 RGBA: different crop counts in one batch
    requests = _requests(docs)
    attach_docs(inline, docs)
    samples = inline._prepare(requests, [_Item(i) for i in range(len(docs))], [None] * len(docs))
    ours = inline._to_device(inline._processor_inputs(inline.processor, samples))
    padded = inline.processor(
        text=[s.prompt for s in samples],
        images=[s.visuals.images for s in samples],
        padding=True,
        return_tensors="pt",
    )
    crops = [int((p.flatten(1) != 0).any(1).sum()) for p in padded["pixel_values"]]
    assert padded["pixel_values"].dim() == 5 and len(set(crops)) > 1, "the batch must need padding"
    assert ours["pixel_values"].shape[0] == sum(crops) < padded["pixel_values"].shape[:2].numel()
    assert torch.equal(
        ours["pixel_values"], torch.cat([p[:n] for p, n in zip(padded["pixel_values"], crops, strict=True)])
    )
    for key in ("input_ids", "attention_mask", "image_sizes", "batch_num_images"):
        assert torch.equal(ours[key], padded[key]), key

    hf_model = inline.model
    seen = []
    hook = hf_model.model.vision_tower.register_forward_pre_hook(
        lambda _module, args: seen.append(args[0].detach().clone())
    )
    try:
        with torch.no_grad():
            logits = [hf_model(**inputs).logits for inputs in (ours, padded)]
    finally:
        hook.remove()
    assert torch.equal(seen[0], seen[1])
    assert torch.equal(logits[0], logits[1])


def test_workers_hand_back_uint8_pixels_that_finish_as_the_inline_float_path(inline, media):
    """Pixels cross the process boundary as uint8 (a quarter of float32's bytes) and are finished
    on the model's side; token ids are untouched. The reference is the processor's own float
    output, as the adapter used it before pixels were finished on the device."""
    preparer = BatchPreparer(LlavaOneVision, inline.args, pickle.dumps(inline.processor))
    preparer.pipe_tensors = False
    attach_docs(inline, media)
    requests = _requests(media)
    size = inline.processor.video_processor.size  # frames resized with PIL first (image_backend=pil)
    for group, key in (([0, 1], "pixel_values"), ([5, 6], "pixel_values_videos")):
        items = [_Item(i) for i in group]
        jobs = [job for _i, job in inline._sample_jobs(requests, items)]
        encoded = preparer(jobs).encoded
        samples = inline._prepare(requests, items, [None] * len(media))
        reference = inline.processor(
            text=[s.prompt for s in samples],
            images=[s.visuals.images for s in samples] if key == "pixel_values" else None,
            videos=[resize_frames_like_original(s.visuals.videos[0], size) for s in samples]
            if key != "pixel_values"
            else None,
            padding=True,
            do_pad=False,
            return_tensors=None,
        )
        expected = torch.from_numpy(
            concatenated_crops(reference[key]) if key == "pixel_values" else np.stack(reference[key])
        )
        assert encoded[key].dtype == torch.uint8 and expected.dtype == torch.float32
        assert encoded[key].nbytes * 4 == expected.nbytes
        finished = inline._to_device(BatchFeature(dict(encoded)))
        assert torch.equal(finished[key], expected), key
        assert torch.equal(encoded["input_ids"], torch.tensor(reference["input_ids"]))
