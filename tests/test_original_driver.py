"""The adapter's defaults behave like the driver that produced the paper's numbers (lmms-eval's built-in
``llava_onevision`` on the original LLaVA-NeXT code), each checked against an independent reference:

* pixels: plain PIL (bicubic resize on uint8, then (x / 255 - 0.5) / 0.5), as the original's SigLIP
  image processor computes them, for a squashed base view, an upscaled base view and crop, grey-padded
  multi-image views and video frames;
* stop strings: the original pops ``until``; a scripted answer with a blank line comes back whole;
* vocabulary: the original model has ``len(tokenizer)`` rows minus the <image>/<video> placeholders; a
  checkpoint whose extra rows would win greedy decoding never emits them (reference: a hand greedy loop
  over the original's rows);
* sampling: only ``do_sample`` samples (the original drops ``temperature`` when not sampling).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from adapter_helpers import attach_docs, gen_request, random_image
from PIL import Image

from ov_eval.models.llava_onevision import LlavaOneVision

SYSTEM = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"


def load(tiny_ov_dir, **kwargs) -> LlavaOneVision:
    return LlavaOneVision(pretrained=str(tiny_ov_dir), device="cpu", dtype="float32", **kwargs)


def original_pixels(image: Image.Image) -> torch.Tensor:
    """What the original's SigLipImageProcessor makes of an already-sized uint8 view: (3, H, W) float."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy((array - 0.5) / 0.5).permute(2, 0, 1)


def tower_inputs(model: LlavaOneVision, doc: dict) -> torch.Tensor:
    """The pixel tensor the vision tower receives when the adapter answers ``doc`` (one new token)."""
    seen = []
    hook = model.model.model.vision_tower.register_forward_pre_hook(
        lambda _module, args: seen.append(args[0].detach().clone())
    )
    try:
        attach_docs(model, [doc])
        model.generate_until([gen_request(0, "Describe.", max_new_tokens=1)])
    finally:
        hook.remove()
    assert len(seen) == 1
    return seen[0]


@pytest.fixture(scope="module")
def exact(tiny_ov_dir):
    return load(tiny_ov_dir)


def smooth_image(width: int, height: int, seed: int) -> Image.Image:
    """Photo-like content (bilinear-upsampled noise): resampling kernels differ most on such edges."""
    small = random_image(max(1, width // 16), max(1, height // 16), seed=seed)
    return small.resize((width, height), Image.Resampling.BILINEAR)


def test_squashed_base_view_has_the_original_pil_pixels(exact, tiny_ov_dir):
    image = smooth_image(300, 1200, seed=1)
    golden = original_pixels(image.resize((384, 384), Image.Resampling.BICUBIC))  # base: squashed, not padded
    base = tower_inputs(exact, {"visuals": [image]})[0]
    assert torch.allclose(base, golden, atol=1e-6)
    # the port's default (torchvision) resampling is measurably off on the same view: the check can fail
    other = tower_inputs(load(tiny_ov_dir, image_backend="torchvision"), {"visuals": [image]})[0]
    assert (other - golden).abs().max() * 255 / 2 >= 1.0


def test_upscaled_image_base_view_and_crop_have_the_original_pil_pixels(exact):
    image = smooth_image(200, 150, seed=2)
    patches = tower_inputs(exact, {"visuals": [image]})
    assert patches.shape[0] == 2  # base + one 384x384 crop (the 384x384 grid fits a 200x150 image best)
    assert torch.allclose(
        patches[0], original_pixels(image.resize((384, 384), Image.Resampling.BICUBIC)), atol=1e-6
    )
    # LLaVA-NeXT resize_and_pad_image: scale to fit (ceil on the short side), paste centred on black
    new_w, new_h = 384, min(math.ceil(150 * 384 / 200), 384)  # 384 x 288
    canvas = Image.new("RGB", (384, 384), (0, 0, 0))
    canvas.paste(image.resize((new_w, new_h), Image.Resampling.BICUBIC), (0, (384 - new_h) // 2))
    assert torch.allclose(patches[1], original_pixels(canvas), atol=1e-6)


def test_multi_image_views_are_the_originals_grey_padded_squares(exact):
    images = [smooth_image(300, 200, seed=3), smooth_image(150, 260, seed=4)]
    pixels = tower_inputs(exact, {"visuals": images})
    golden = []
    for image in images:  # LLaVA-NeXT expand2square with the image mean (0.5 * 255 -> 127), centred
        side = max(image.size)
        square = Image.new("RGB", (side, side), (127, 127, 127))
        square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
        golden.append(original_pixels(square.resize((384, 384), Image.Resampling.BICUBIC)))
    assert pixels.shape == (2, 3, 384, 384)
    assert torch.allclose(pixels, torch.stack(golden), atol=1e-6)


def test_video_frames_have_the_original_pil_pixels(exact):
    rng = np.random.default_rng(5)
    small = rng.integers(0, 256, (32, 15, 20, 3), dtype=np.uint8)
    frames = np.stack(
        [np.asarray(Image.fromarray(f).resize((320, 240), Image.Resampling.BILINEAR)) for f in small]
    )
    pixels = tower_inputs(exact, {"visuals": [frames]})  # 32 frames: linspace(0, 31, 32) keeps them all
    golden = torch.stack(
        [original_pixels(Image.fromarray(f).resize((384, 384), Image.Resampling.BICUBIC)) for f in frames]
    )
    assert pixels.shape == golden.shape == (32, 3, 384, 384)
    assert torch.allclose(pixels, golden, atol=1e-6)


class ScriptedHead(torch.nn.Module):
    """An output layer that answers a fixed token sequence, one token per forward call (greedy)."""

    def __init__(self, script: list[int], rows: int):
        super().__init__()
        self.script, self.rows, self.step = script, rows, 0

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(*hidden.shape[:-1], self.rows, dtype=hidden.dtype, device=hidden.device)
        logits[..., self.script[min(self.step, len(self.script) - 1)]] = 100.0
        self.step += 1
        return logits


def scripted_answer(model: LlavaOneVision, text: str, **gen_kwargs) -> str:
    tokenizer = model.tokenizer
    script = tokenizer(text, add_special_tokens=False)["input_ids"] + [
        tokenizer.convert_tokens_to_ids("<|im_end|>")
    ]
    original_head = model.model.lm_head
    model.model.lm_head = ScriptedHead(script, model.model.config.text_config.vocab_size)
    try:
        attach_docs(model, [{"visuals": [random_image(64, 48, seed=0)]}])
        return model.generate_until([gen_request(0, "Answer.", max_new_tokens=16, **gen_kwargs)])[0]
    finally:
        model.model.lm_head = original_head


def test_an_answer_with_a_blank_line_comes_back_whole(exact, tiny_ov_dir):
    answer = "Yes.\n\nNo."
    # lmms-eval's default `until` for a task without one; the original driver pops it
    assert scripted_answer(exact, answer, until=["\n\n"]) == answer
    # stop_strings=task honours it (lmms-eval's convention): the answer is cut at the blank line
    assert scripted_answer(load(tiny_ov_dir, stop_strings="task"), answer, until=["\n\n"]) == "Yes."


def test_rows_beyond_the_original_vocabulary_are_never_generated(exact):
    model, tokenizer = exact, exact.tokenizer
    first_extra = min(
        model.processor.image_token_id, model.processor.video_token_id
    )  # 454: <image>, <video>, pad
    rows = model.model.config.text_config.vocab_size
    assert (
        rows > len(tokenizer) > first_extra
    )  # 512 rows, 456 tokens: the situation of llava-hf's 152128 rows
    head = model.model.lm_head.weight
    saved = head.detach().clone()
    generated = []
    generate = model.model.generate

    def recording_generate(*args, **kwargs):
        out = generate(*args, **kwargs)
        generated.append(out[:, kwargs["input_ids"].shape[1] :].clone())
        return out

    try:
        with torch.no_grad():  # make the extra rows the strongest: unmasked greedy decoding picks them
            head[first_extra:] = 50 * head[:first_extra].mean(0, keepdim=True) + head[first_extra:]
        doc = {"visuals": [random_image(120, 90, seed=7)]}
        prompt = f"{SYSTEM}<|im_start|>user\n<image>\nName it.<|im_end|>\n<|im_start|>assistant\n"
        enc = model.processor(text=[prompt], images=[doc["visuals"]], return_tensors="pt")
        with torch.inference_mode():
            unmasked = model.model.generate(**enc, max_new_tokens=4, do_sample=False)[
                0, enc["input_ids"].shape[1] :
            ]
        assert (unmasked >= first_extra).any()  # precondition: without the mask they would be emitted
        # reference: greedy by hand over the original's rows only, full forward each step
        ids, reference = enc["input_ids"], []
        for _ in range(4):
            with torch.inference_mode():
                logits = model.model(
                    **{**enc, "input_ids": ids, "attention_mask": torch.ones_like(ids)}
                ).logits
            token = int(logits[0, -1, :first_extra].argmax())
            reference.append(token)
            if token == tokenizer.convert_tokens_to_ids("<|im_end|>"):
                break
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
        model.model.generate = recording_generate
        attach_docs(model, [doc])
        model.generate_until([gen_request(0, "Name it.", max_new_tokens=4)])
    finally:
        model.model.generate = generate
        with torch.no_grad():
            head.copy_(saved)
    emitted = generated[0][0].tolist()
    assert max(emitted) < first_extra
    assert emitted[: len(reference)] == reference


def test_temperature_without_do_sample_is_greedy(exact):
    attach_docs(exact, [{"visuals": [random_image(160, 120, seed=9)]}])
    greedy = exact.generate_until([gen_request(0, "Name it.", max_new_tokens=6)])
    for seed in (0, 1):
        torch.manual_seed(seed)
        hot = exact.generate_until(
            [gen_request(0, "Name it.", max_new_tokens=6, temperature=5.0, do_sample=False)]
        )
        assert hot == greedy
    torch.manual_seed(0)
    sampled = [
        exact.generate_until([gen_request(0, "Name it.", max_new_tokens=6, temperature=5.0, do_sample=True)])
        for _ in range(3)
    ]
    assert any(s != greedy for s in sampled)  # do_sample really samples: the check above can fail
