"""Batching is real and does not change answers: bs=8 equals bs=1 token for token in float32."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from adapter_helpers import attach_docs, gen_request, random_image

from ov_eval.demo.media import write_video
from ov_eval.models.batching import PlannedRequest, plan_batches
from ov_eval.models.llava_onevision import LlavaOneVision
from ov_eval.models.visuals import Modality

SIZES = [
    (800, 600),
    (300, 500),
    (1024, 256),
    (640, 480),
    (384, 384),
    (500, 900),
    (1280, 720),
    (200, 200),
    (960, 540),
]


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    docs = [{"visuals": [random_image(w, h, seed=i)]} for i, (w, h) in enumerate(SIZES)]
    docs += [{"visuals": [random_image(320 + 40 * k, 240, seed=50 + k) for k in range(n)]} for n in (2, 3, 4)]
    docs += [{"visuals": [str(write_video(folder / f"v{n}.mp4", n))]} for n in (90, 12, 40)]
    docs += [{"visuals": []}, {"visuals": []}]  # text-only
    return docs


def _run(model_dir, docs, batch_size, prefetch_batches=2):
    model = LlavaOneVision(
        pretrained=str(model_dir),
        device="cpu",
        dtype="float32",
        batch_size=batch_size,
        prefetch_batches=prefetch_batches,
    )
    attach_docs(model, docs)
    prompts = ["Describe the picture.", "What is this?", "Answer briefly:", "Compare."]
    requests = [gen_request(i, prompts[i % len(prompts)], max_new_tokens=8) for i in range(len(docs))]
    return model.generate_until(requests), model.model_calls


def test_batch_size_8_equals_batch_size_1_token_for_token(tiny_ov_dir, docs):
    single, calls_single = _run(tiny_ov_dir, docs, 1)
    batched, calls_batched = _run(tiny_ov_dir, docs, 8)
    assert batched == single
    assert len(set(single)) > len(single) // 2, (
        "random model must answer differently per prompt, or equality is vacuous"
    )
    # 9 single images -> 2 batches, 3 multi-image -> 1, 3 videos -> 1, 2 text -> 1
    assert (calls_single, calls_batched) == (len(docs), 5)
    # preparing batches on the background thread (default) or inline gives the same answers
    inline, _ = _run(tiny_ov_dir, docs, 8, prefetch_batches=0)
    assert inline == batched


class CountedRows(list):
    """A split as lmms-eval hands it over, counting reads: reading a real dataset's row decodes its image."""

    def __init__(self, rows: list[dict]) -> None:
        super().__init__(rows)
        self.reads: Counter[int] = Counter()

    def __getitem__(self, doc_id):
        self.reads[doc_id] += 1
        return super().__getitem__(doc_id)


def test_batch_size_1_reads_each_row_once_and_records_the_same_failures(tiny_ov_dir, docs):
    rows = [
        docs[0],
        docs[9],
        docs[12],
        {"no visuals key": True},
        docs[15],
    ]  # image, 2 images, video, broken, text
    seen = {}
    for batch_size in (1, 2):
        model = LlavaOneVision(
            pretrained=str(tiny_ov_dir), device="cpu", dtype="float32", batch_size=batch_size
        )
        counted = CountedRows(rows)
        attach_docs(model, counted)
        answers = model.generate_until(
            [gen_request(i, "Describe it.", max_new_tokens=6) for i in range(len(rows))]
        )
        causes = [(r.doc_id, r.cause) for r in model.errors.records]
        seen[batch_size] = (answers, causes, dict(counted.reads))
    (answers_1, causes_1, reads_1), (answers_2, causes_2, reads_2) = seen[1], seen[2]
    assert reads_1 == dict.fromkeys(range(len(rows)), 1)  # built once, never read for planning
    # planning groups by modality, so it reads the visuals; the broken row fails there and is not built
    assert reads_2 == {0: 2, 1: 2, 2: 2, 3: 1, 4: 2}
    assert answers_1 == answers_2 and len(set(answers_1)) >= 3
    assert causes_1 == causes_2 and len(causes_1) == 1
    assert causes_1[0][0] == 3 and "doc_to_visual failed: KeyError" in causes_1[0][1]


def test_plan_at_batch_size_1_orders_by_prompt_length_without_modalities():
    items = [PlannedRequest(i, None, est, "greedy") for i, est in enumerate([5, 40, 12, 40])]
    assert [[item.index for item in batch] for batch in plan_batches(items, batch_size=1)] == [
        [1],
        [3],
        [2],
        [0],
    ]


def test_plan_groups_by_modality_and_settings_longest_first():
    items = [
        PlannedRequest(0, Modality.IMAGE, 100, "greedy"),
        PlannedRequest(1, Modality.VIDEO, 6000, "greedy"),
        PlannedRequest(2, Modality.IMAGE, 300, "greedy"),
        PlannedRequest(3, Modality.IMAGE, 200, "sampled"),
        PlannedRequest(4, Modality.IMAGE, 250, "greedy"),
        PlannedRequest(5, Modality.MULTI_IMAGE, 1500, "greedy"),
    ]
    batches = [[item.index for item in batch] for batch in plan_batches(items, batch_size=2)]
    assert sorted(batches) == sorted([[2, 4], [0], [3], [1], [5]])
    assert all(len(batch) <= 2 for batch in batches)


def test_ctrl_c_in_the_model_step_drops_the_batches_not_yet_prepared(tiny_ov_dir, docs, monkeypatch):
    """The prefetch thread's stream is closed as the interrupt leaves ``generate_until``: the batch
    being prepared finishes (a thread cannot be stopped), the queued one is never prepared (shutting
    the thread's executor down without cancelling prepared it for nobody), and no prefetch thread
    outlives the call."""
    model = LlavaOneVision(
        pretrained=str(tiny_ov_dir), device="cpu", dtype="float32", batch_size=1, prefetch_batches=2
    )
    attach_docs(model, docs[:5])
    prepared: list[int] = []
    prepare = model._prepare_and_encode

    def slow_second(requests, batch, outputs, failed_value):
        prepared.append(batch[0].index)
        if len(prepared) == 2:
            time.sleep(2.0)  # still preparing when the model step is interrupted
        return prepare(requests, batch, outputs, failed_value)

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(model, "_prepare_and_encode", slow_second)
    monkeypatch.setattr(model, "_generate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.generate_until([gen_request(i, "Describe it.") for i in range(5)])
    # the thread was joined on the way out: nothing more can be prepared after this point
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("ov-eval-prefetch")]
    assert 1 <= len(prepared) <= 2  # the first batch, and the second if the thread had started it
