"""Batching is real and does not change answers: bs=8 equals bs=1 token for token in float32."""

from __future__ import annotations

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
