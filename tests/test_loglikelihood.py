"""loglikelihood: the original driver's mean loss over continuation + "<|im_end|>\\n" by default, the summed
loss over the continuation with ``likelihood=sum``; both checked against a hand computation from one plain
forward pass, normalised over the original's vocabulary (the tokenizer without the <image>/<video> rows)."""

from __future__ import annotations

import pytest
import torch
from adapter_helpers import attach_docs, gen_request, loglikelihood_request, random_image
from transformers import AutoImageProcessor, LlavaOnevisionProcessor

from ov_eval.models.errors import FAILED_LOGLIKELIHOOD
from ov_eval.models.llava_onevision import LlavaOneVision

SYSTEM = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"


def hand_computed_nll(model_dir, model, image, question, scored_text, reduce):
    """-log p of the tokens ``scored_text`` adds to the prompt, like the original driver: the prompt and
    prompt + scored text are tokenized separately and the tokens beyond the prompt's are scored."""
    pil = AutoImageProcessor.from_pretrained(model_dir, backend="pil")  # the original's resampling
    processor = LlavaOnevisionProcessor.from_pretrained(model_dir, image_processor=pil)
    prompt = f"{SYSTEM}<|im_start|>user\n<image>\n{question}<|im_end|>\n<|im_start|>assistant\n"
    full = prompt + scored_text
    tok = processor.tokenizer
    n = len(tok(full)["input_ids"]) - len(tok(prompt)["input_ids"])
    enc = processor(text=[full], images=[[image]], return_tensors="pt")
    with torch.inference_mode():
        logits = model(**enc).logits[0]
    original_vocab = min(processor.image_token_id, processor.video_token_id)  # 454 of 512 rows
    ids = enc["input_ids"][0]
    terms = [
        -torch.log_softmax(logits[k - 1, :original_vocab], dim=-1)[ids[k]].item()
        for k in range(len(ids) - n, len(ids))
    ]
    return (sum(terms) / len(terms) if reduce == "mean" else sum(terms)), n


@pytest.fixture(scope="module")
def setup(tiny_ov_dir):
    docs = [{"visuals": [random_image(640, 480, seed=3)]}, {"visuals": [random_image(300, 500, seed=4)]}]
    return docs


def test_default_is_the_original_mean_loss_over_continuation_and_end_of_turn(tiny_ov_dir, setup):
    model = LlavaOneVision(pretrained=str(tiny_ov_dir), device="cpu", dtype="float32", batch_size=4)
    attach_docs(model, setup)
    choices = [" red", " green apple", " a blue square"]
    *results, empty = model.loglikelihood(
        [loglikelihood_request(0, "What color?", c) for c in [*choices, ""]]
    )
    assert empty == FAILED_LOGLIKELIHOOD  # nothing to score: that request fails alone
    image = setup[0]["visuals"][0]
    for choice, (loss, _greedy) in zip(choices, results, strict=True):
        expected, n = hand_computed_nll(
            tiny_ov_dir, model.model, image, "What color?", choice + "<|im_end|>\n", "mean"
        )
        assert n == len(model.tokenizer(choice)["input_ids"]) + 2  # + <|im_end|> and "\n"
        assert loss == pytest.approx(expected, rel=1e-4, abs=1e-4)
    assert len({round(loss, 3) for loss, _ in results}) == 3


def test_sum_option_is_the_summed_loss_over_the_continuation(tiny_ov_dir, setup):
    model = LlavaOneVision(
        pretrained=str(tiny_ov_dir), device="cpu", dtype="float32", batch_size=4, likelihood="sum"
    )
    attach_docs(model, setup)
    choices = [" red", " green apple", " a blue square"]
    results = model.loglikelihood([loglikelihood_request(0, "What color?", c) for c in choices])
    for choice, (loss, _greedy) in zip(choices, results, strict=True):
        expected, _ = hand_computed_nll(
            tiny_ov_dir, model.model, setup[0]["visuals"][0], "What color?", choice, "sum"
        )
        assert loss == pytest.approx(expected, rel=1e-4, abs=1e-4)


def _clean_greedy(model, doc, question):
    """Three greedy tokens from a plain ``generate`` call, as text, or None if the text does not map back
    to exactly those tokens."""
    prompt = f"{SYSTEM}<|im_start|>user\n<image>\n{question}<|im_end|>\n<|im_start|>assistant\n"
    enc = model.processor(text=[prompt], images=[doc["visuals"]], return_tensors="pt")
    with torch.inference_mode():
        out = model.model.generate(**enc, max_new_tokens=3, do_sample=False, num_beams=1)
    ids = out[0, enc["input_ids"].shape[1] :].tolist()
    text = model.tokenizer.decode(ids)
    clean = text == text.strip() and model.tokenizer(text, add_special_tokens=False)["input_ids"] == ids
    return text if clean else None


def test_greedy_flag_is_true_exactly_for_the_greedy_continuation(tiny_ov_dir, setup):
    model = LlavaOneVision(
        pretrained=str(tiny_ov_dir), device="cpu", dtype="float32", batch_size=1, likelihood="sum"
    )
    attach_docs(model, setup)
    # a random model's greedy tokens may be partial UTF-8 or start with a space (the adapter strips
    # answers): take the first prompt whose plain greedy ids decode to text that encodes back to them
    prompt, greedy_text = next(
        (q, text)
        for q in ("Name it.", "What is it?", "Say something.", "Describe.")
        if (text := _clean_greedy(model, setup[1], q))
    )
    assert model.generate_until([gen_request(1, prompt, max_new_tokens=3)]) == [greedy_text]
    (loss_greedy, is_greedy), (_, other) = model.loglikelihood(
        [
            loglikelihood_request(1, prompt, greedy_text),
            loglikelihood_request(1, prompt, greedy_text + "zz"),
        ]
    )
    assert is_greedy is True and other is False and loss_greedy > 0


def test_batched_scores_equal_single_scores(tiny_ov_dir, setup):
    requests = [loglikelihood_request(i % 2, "Which one?", f" option {i}") for i in range(6)]
    scores = {}
    for batch_size in (1, 4):
        model = LlavaOneVision(
            pretrained=str(tiny_ov_dir), device="cpu", dtype="float32", batch_size=batch_size
        )
        attach_docs(model, setup)
        scores[batch_size] = model.loglikelihood(requests)
    for (a, ga), (b, gb) in zip(scores[1], scores[4], strict=True):
        assert a == pytest.approx(b, abs=1e-3) and ga == gb
