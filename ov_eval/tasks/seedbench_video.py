"""SEED-Bench, video part only (paper Table 5 "SeedBench video").

SEED-Bench's video questions ship pre-extracted frames as a list of images in the
``image`` column (no video files). The paper's number is ``seed_video`` of
lmms-eval's ``seedbench`` run (App. D lists ``seedbench``; it scores image and video
rows in one pass). At the LLaVA-OV release (lmms-eval 1d3f34ab) the built-in model
received those frames as a plain list of PIL images without video metadata, so it
took its *image* path: one ``<image>`` token and full image features per frame,
i.e. a multi-image sample, not a pooled video. We keep exactly that: the frames go
to the adapter as a list of images (multi-image, every frame kept). Feeding them as one video instead is a
one-line change (wrap the list in ``ov_eval.models.visuals.VideoFrames``) but
would not be the paper's protocol. Prompt, first-character scoring and the
``seed_video`` accuracy are lmms-eval's; only video rows are kept.
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset
from lmms_eval.tasks.seedbench.utils import seed_doc_to_visual, seed_process_result
from PIL import Image

from ov_eval.tasks.inputs import NoRowsSelected, check_image_list

DATA_TYPE = "video"


def process_docs(dataset: Dataset) -> Dataset:
    """Keep the video questions (lmms-eval's ``seed_video`` docs)."""
    if "data_type" not in dataset.column_names:
        raise ValueError(f"SEED-Bench: no 'data_type' column (columns: {dataset.column_names})")
    kept = dataset.filter(lambda data_type: data_type == DATA_TYPE, input_columns="data_type")
    if len(kept) == 0:
        raise NoRowsSelected(
            f"SEED-Bench: no rows with data_type == {DATA_TYPE!r} among {len(dataset)} rows",
            unfiltered=dataset,
        )
    return kept


def doc_to_visual(doc: dict[str, Any]) -> list[Image.Image]:
    """lmms-eval's RGB frames, as a list of images (what the paper's run fed the model)."""
    check_image_list(doc, "image", f"SEED-Bench video question_id={doc.get('question_id')!r}")
    return seed_doc_to_visual(doc)


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """lmms-eval's first-character scoring, keeping only ``seed_video`` (its ``seed_all`` would
    otherwise be reported as an empty extra metric of this task)."""
    return {"seed_video": seed_process_result(doc, results)["seed_video"]}
