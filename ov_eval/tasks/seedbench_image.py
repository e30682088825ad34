"""SEED-Bench, image part only (paper Table 3 "SeedBench image").

lmms-eval's ``seedbench`` scores image and video questions in one pass and reports
``seed_image``, ``seed_video`` and ``seed_all``; the paper's single-image column is
``seed_image``. Running only the image rows (``data_type == "image"``, 14,233 of 17,990)
gives that number without decoding the 3,757 video questions' frames. Prompt,
first-character scoring and the accuracy are lmms-eval's (``seedbench/utils.py``).
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset
from lmms_eval.tasks.seedbench.utils import seed_process_result
from PIL import Image

from ov_eval.tasks.inputs import checked_image, require_columns

DATA_TYPE = "image"


def process_docs(dataset: Dataset) -> Dataset:
    """Keep the image questions (lmms-eval's ``seed_image`` docs)."""
    require_columns(
        dataset,
        (
            "question",
            "choice_a",
            "choice_b",
            "choice_c",
            "choice_d",
            "answer",
            "data_type",
            "question_id",
            "image",
        ),
        "SEED-Bench",
    )
    kept = dataset.filter(lambda data_type: data_type == DATA_TYPE, input_columns="data_type")
    if len(kept) == 0:
        raise ValueError(f"SEED-Bench: no rows with data_type == {DATA_TYPE!r} among {len(dataset)} rows")
    return kept


def doc_to_visual(doc: dict[str, Any]) -> list[Image.Image]:
    """The question's image (SEED-Bench stores a one-element list for image questions), RGB."""
    images = doc.get("image")
    if not isinstance(images, list) or not images:
        raise ValueError(
            f"SEED-Bench question_id={doc.get('question_id')!r}: 'image' must be a non-empty list"
        )
    return [checked_image({"question_id": doc.get("question_id"), "image": image}) for image in images]


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """lmms-eval's first-character scoring, keeping only ``seed_image`` (no empty ``seed_all``)."""
    return {"seed_image": seed_process_result(doc, results)["seed_image"]}
