"""Visual token counts per modality equal the paper's formulas (LLaVA-OV §3.2, App. C.1).

The expected numbers are computed here from the paper's description and the
original LLaVA-NeXT reference code (select best grid, unpad, bilinear reduction
to 9 crops, one newline per row), independently of transformers. The adapter's
prompt must carry exactly that many placeholders AND the model must accept them
(a forward pass raises if placeholders and features disagree).
"""

from __future__ import annotations

import math

import pytest
import torch
from adapter_helpers import SPLIT, TASK, attach_docs, random_image

from ov_eval.demo.media import write_video

BASE = 729  # (384 / 14)^2 tokens for one 384x384 view
SIDE = 27
CROP = 384
PINPOINTS = [(CROP * w, CROP * h) for w in range(1, 7) for h in range(1, 7)]  # (width, height)


def best_grid(width: int, height: int) -> tuple[int, int]:
    """LLaVA-NeXT select_best_resolution: most effective pixels, then least waste."""
    best, best_effective, best_waste = None, -1, math.inf
    for pw, ph in PINPOINTS:
        scale = min(pw / width, ph / height)
        effective = min(int(width * scale) * int(height * scale), width * height)
        waste = pw * ph - effective
        if effective > best_effective or (effective == best_effective and waste < best_waste):
            best, best_effective, best_waste = (pw, ph), effective, waste
    return best[0] // CROP, best[1] // CROP  # crops across, crops down


def anyres_max9_tokens(width: int, height: int) -> int:
    cols, rows = best_grid(width, height)
    cur_w, cur_h = cols * SIDE, rows * SIDE
    if width / height > cur_w / cur_h:  # unpad: remove rows that only hold padding
        new_h = int(height * cur_w / width)
        cur_h -= 2 * ((cur_h - new_h) // 2)
    else:
        new_w = int(width * cur_h / height)
        cur_w -= 2 * ((cur_w - new_w) // 2)
    times = math.sqrt(cur_h * cur_w / (9 * SIDE * SIDE))
    if times > 1.1:  # bilinear reduction to the 9-crop budget
        cur_h, cur_w = int(cur_h // times), int(cur_w // times)
    return BASE + cur_h * (cur_w + 1)  # base view + grid with one newline per row


def test_reference_formula_matches_hand_computed_cases():
    # 800x600: best grid 3 cols x 2 rows (1152x768) -> 81x54 features. The image is less wide than the grid
    # (1.33 < 1.5), so columns are trimmed: new_w = int(800 * 54/600) = 72, pad (81-72)//2 = 4 -> 73 columns.
    # 729 base + 54 rows * (73 + 1 newline) = 4725.
    assert anyres_max9_tokens(800, 600) == 729 + 54 * 74 == 4725
    # 384x384: 1x1 grid -> 27x27 + 27 newlines
    assert anyres_max9_tokens(384, 384) == 729 + 27 * 28


def _count(model, doc, context="Describe."):
    model_docs = [doc]
    attach_docs(model, model_docs)
    sample = model._build_sample(_FakeRequest(), 0, context, doc["visuals"], TASK, SPLIT, 0)
    inputs = model._encode([sample])
    ids = inputs["input_ids"][0]
    image_tokens = int((ids == model.model.config.image_token_id).sum())
    video_tokens = int((ids == model.model.config.video_token_id).sum())
    with torch.inference_mode():  # raises if the model's feature count differs from the placeholders
        model.model(**inputs)
    return image_tokens, video_tokens


class _FakeRequest:
    request_type = "generate_until"


@pytest.mark.parametrize(
    ("width", "height"), [(800, 600), (384, 384), (300, 500), (1025, 1247), (2304, 1728), (3000, 400)]
)
def test_single_image_is_anyres_max_9(tiny_model, width, height):
    image_tokens, video_tokens = _count(tiny_model, {"visuals": [random_image(width, height)]})
    assert (image_tokens, video_tokens) == (anyres_max9_tokens(width, height), 0)
    # the reduction keeps the grid at ~9 crops: never more than 10 views' worth plus newlines and the 1.1 tolerance
    assert image_tokens <= BASE + int(9 * BASE * 1.1**2) + 3 * SIDE * 2


def test_reduction_actually_triggers_for_large_images(tiny_model):
    # 2304x1728 -> grid 6 cols x 5 rows (2304x1920) = 162x135 features; unpad rows: int(1728*162/2304) = 121,
    # pad 7 -> 121x162. times = sqrt(121*162 / (9*729)) = 1.7285 > 1.1 -> int(121//1.7285) = 70 rows,
    # int(162//1.7285) = 93 cols. 729 + 70 * (93 + 1) = 7309.
    assert anyres_max9_tokens(2304, 1728) == 7309
    image_tokens, _ = _count(tiny_model, {"visuals": [random_image(2304, 1728)]})
    assert image_tokens == anyres_max9_tokens(2304, 1728)
    assert image_tokens < 729 + 162 * 135  # strictly fewer than the unreduced grid


@pytest.mark.parametrize("num_images", [2, 5, 12])
def test_multi_image_is_base_resolution_729_each(tiny_model, num_images):
    images = [random_image(200 + 97 * i, 640 - 41 * i, seed=i) for i in range(num_images)]
    assert _count(tiny_model, {"visuals": images}) == (729 * num_images, 0)


def test_a_15_image_sample_keeps_all_15_images(tiny_model):
    # the original driver passes every image; a cap is opt-in (max_images)
    images = [random_image(64 + i, 64, seed=i) for i in range(15)]
    assert _count(tiny_model, {"visuals": images}) == (729 * 15, 0)


def test_max_images_caps_when_asked(tiny_ov_dir):
    from ov_eval.models.llava_onevision import LlavaOneVision

    model = LlavaOneVision(pretrained=str(tiny_ov_dir), device="cpu", dtype="float32", max_images=12)
    images = [random_image(64 + i, 64, seed=i) for i in range(15)]
    assert _count(model, {"visuals": images}) == (729 * 12, 0)


@pytest.mark.parametrize("num_frames", [90, 12])
def test_video_is_32_frames_of_196_tokens(tiny_model, tmp_path, num_frames):
    path = write_video(tmp_path / f"clip{num_frames}.mp4", num_frames)
    # 27x27 per frame pooled 2x2 (bilinear, ceil) -> 14x14 = 196; one newline closes the video (original "one_token")
    assert _count(tiny_model, {"visuals": [str(path)]}) == (0, 32 * 196 + 1)


def test_image_and_video_in_one_prompt(tiny_model, tmp_path):
    path = write_video(tmp_path / "clip.mp4", 40)
    image_tokens, video_tokens = _count(tiny_model, {"visuals": [random_image(800, 600), str(path)]})
    assert (image_tokens, video_tokens) == (anyres_max9_tokens(800, 600), 32 * 196 + 1)
