"""MMMU (val): lmms-eval's prompt and official answer parsing, with a checked ``doc_to_visual``.

lmms-eval's ``mmmu_doc_to_visual`` returns the images the question refers to as
``<image N>`` (sorted, de-duplicated) via ``doc["image_N"].convert(...)``; a reference to
an empty ``image_N`` column crashes with an anonymous ``AttributeError``. This wrapper
checks the referenced columns first and names the sample, then calls lmms-eval's function.

The YAML does not register lmms-eval's ``mmmu_doc_to_messages`` (chat models only): it
flips a module-global ``interleaved_format`` flag on first use, silently changing the
prompt text of every later ``doc_to_text`` call in the process. ``process_results`` keeps
only ``mmmu_acc`` of lmms-eval's record: its other keys (``mmmu_acc_pass_at_k``,
``submission``) have no aggregation in the val task and would be reported as empty lists.
"""

from __future__ import annotations

import re
from typing import Any

from lmms_eval.tasks.mmmu.utils import construct_prompt, mmmu_doc_to_visual, mmmu_process_results
from PIL import Image

from ov_eval.tasks.inputs import checked_image


def doc_to_visual(doc: dict[str, Any]) -> list[Image.Image]:
    """The images referenced by ``<image N>`` in the prompt, in N order (lmms-eval's rule)."""
    prompt = construct_prompt(doc)
    columns = sorted({token.strip("<>").replace(" ", "_") for token in re.findall(r"<image \d+>", prompt)})
    for column in columns:
        checked_image(doc, column)
    return mmmu_doc_to_visual(doc)


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """lmms-eval's official MMMU parsing and per-sample record, under ``mmmu_acc`` only."""
    return {"mmmu_acc": mmmu_process_results(doc, results)["mmmu_acc"]}
