"""Bad input costs one sample, with an error naming the doc and the cause; the run goes on."""

from __future__ import annotations

import numpy as np
import pytest
from adapter_helpers import attach_docs, gen_request, loglikelihood_request, random_image
from PIL import Image

from ov_eval.demo.media import write_video
from ov_eval.models.errors import ERROR_MARKER, FAILED_LOGLIKELIHOOD
from ov_eval.models.llava_onevision import LlavaOneVision


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10)
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    good = random_image(320, 240, seed=7)
    good.save(root / "good.png")
    return {
        "root": root,
        "good": good,
        "short_video": str(write_video(root / "short.mp4", 5)),
    }


@pytest.fixture(scope="module")
def model(tiny_ov_dir):
    return LlavaOneVision(pretrained=str(tiny_ov_dir), device="cpu", dtype="float32", batch_size=4)


def test_each_bad_input_fails_alone_and_the_rest_is_answered(model, media):
    root = media["root"]
    docs = [
        {"visuals": [media["good"]]},  # 0 good
        {"visuals": [str(root / "corrupt.png")]},  # 1 corrupt image file
        {"visuals": [str(root / "missing.jpg")]},  # 2 missing image
        {"visuals": [str(root / "corrupt.mp4")]},  # 3 corrupt video
        {"visuals": [str(root / "missing.mp4")]},  # 4 missing video
        {"visuals": [media["short_video"]]},  # 5 shorter than the 32-frame budget: answered
        {"visuals": [str(root / "good.png")]},  # 6 image given as a path: answered
        {"visuals": []},  # 7 empty prompt and nothing to look at
        {"visuals": [media["good"]]},  # 8 empty prompt with an image: answered
    ]
    attach_docs(model, docs)
    before = len(model.errors.records)
    contexts = ["Describe."] * 7 + ["", ""]
    out = model.generate_until([gen_request(i, contexts[i]) for i in range(len(docs))])
    failed = {i for i, text in enumerate(out) if text.startswith(ERROR_MARKER)}
    assert failed == {1, 2, 3, 4, 7}
    records = {r.doc_id: r.cause for r in model.errors.records[before:]}
    assert set(records) == failed
    assert "corrupt.png" in records[1] and "missing.jpg" in records[2] and "no such file" in records[2]
    assert "corrupt.mp4" in records[3] and "missing.mp4" in records[4]
    assert "empty prompt" in records[7]
    assert all(r.task == "unit_task" for r in model.errors.records[before:])


def test_good_samples_in_a_batch_with_a_poison_sample_are_unchanged(model, media, tiny_ov_dir):
    docs = [{"visuals": [random_image(300 + 50 * i, 240, seed=i)]} for i in range(4)]
    docs[2] = {"visuals": [str(media["root"] / "corrupt.png")]}
    attach_docs(model, docs)
    batched = model.generate_until([gen_request(i, "What?") for i in range(4)])
    alone = LlavaOneVision(pretrained=str(tiny_ov_dir), device="cpu", dtype="float32", batch_size=1)
    attach_docs(alone, docs)
    single = alone.generate_until([gen_request(i, "What?") for i in (0, 1, 3)])
    assert [batched[i] for i in (0, 1, 3)] == single and batched[2].startswith(ERROR_MARKER)


@pytest.mark.parametrize("mode", ["RGBA", "CMYK", "L", "P", "I;16"])
def test_unusual_image_modes_are_answered(model, mode):
    base = random_image(200, 150, seed=11)
    image = (
        base.convert(mode)
        if mode != "I;16"
        else Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16) * 256)
    )
    attach_docs(model, [{"visuals": [image]}])
    (text,) = model.generate_until([gen_request(0, "Describe.")])
    assert not text.startswith(ERROR_MARKER)


def test_fully_opaque_rgba_answers_like_rgb(model):
    rgb = random_image(200, 150, seed=12)
    attach_docs(model, [{"visuals": [rgb]}, {"visuals": [rgb.convert("RGBA")]}])
    a, b = model.generate_until([gen_request(0, "Describe."), gen_request(1, "Describe.")])
    assert a == b


def test_extreme_aspect_ratio_image_is_answered(model):
    attach_docs(
        model,
        [{"visuals": [random_image(20000, 50, seed=13)]}, {"visuals": [random_image(50, 20000, seed=14)]}],
    )
    out = model.generate_until([gen_request(0, "Read it."), gen_request(1, "Read it.")])
    assert not any(text.startswith(ERROR_MARKER) for text in out)


def test_loglikelihood_failures_are_marked_not_scored(model, media):
    docs = [{"visuals": [media["good"]]}, {"visuals": [str(media["root"] / "missing.png")]}]
    attach_docs(model, docs)
    good, bad = model.loglikelihood(
        [loglikelihood_request(0, "Q?", " yes"), loglikelihood_request(1, "Q?", " yes")]
    )
    assert np.isfinite(good[0]) and bad == FAILED_LOGLIKELIHOOD


def test_mismatched_inline_image_markers_are_an_error(model, media):
    attach_docs(model, [{"visuals": [media["good"], media["good"]]}])
    (text,) = model.generate_until([gen_request(0, "Look at <image> only.")])
    assert text.startswith(ERROR_MARKER) and "1 <image> markers but the sample has 2 images" in text


def test_unencodable_prompt_text_fails_one_sample_and_the_samples_log_can_be_written(model, media, tmp_path):
    """A lone surrogate from a task's doc_to_text: one failed sample, and lmms-eval's own samples writer
    still writes every sample (it used to stop at that one, leaving the task's samples file empty)."""
    import json

    from lmms_eval.loggers.evaluation_tracker import EvaluationTracker

    attach_docs(model, [{"visuals": [media["good"]]}, {"visuals": [media["good"]]}])
    before = len(model.errors.records)
    requests = [gen_request(0, "Broken \udc80 text."), gen_request(1, "Describe.")]
    bad, good = model.generate_until(requests)
    assert bad.startswith(ERROR_MARKER) and not good.startswith(ERROR_MARKER)
    (record,) = model.errors.records[before:]
    assert record.doc_id == 0 and "cannot be encoded as UTF-8" in record.cause and "\\udc80" in record.cause
    tracker = EvaluationTracker(output_path=str(tmp_path))
    tracker.general_config_tracker.model_name_sanitized = "m"
    tracker.date_id = "20260101T000000"  # set by save_results_aggregated in a real run
    samples = [
        {
            "doc_id": r.doc_id,
            "doc": {},
            "target": "",
            "arguments": r.args,
            "resps": [[o]],
            "filtered_resps": [o],
        }
        for r, o in zip(requests, (bad, good), strict=True)
    ]
    tracker.save_results_samples("unit_task", samples)
    (written,) = (tmp_path / "m").glob("*_samples_unit_task.jsonl")
    lines = [json.loads(line) for line in written.read_text().splitlines()]
    assert [line["doc_id"] for line in lines] == [0, 1] and "\\udc80" in lines[0]["input"]
