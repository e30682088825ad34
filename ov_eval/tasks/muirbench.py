"""MuirBench: lmms-eval's task functions, with input checks that name the failing sample.

Prompt, answer filter and accuracy are lmms-eval's own (imported by the YAML). Only
``doc_to_visual`` is wrapped: lmms-eval's calls ``.convert`` on every entry of
``image_list``, so a missing image surfaces as an anonymous ``AttributeError`` deep in
request building; here it says which sample and why.
"""

from __future__ import annotations

from typing import Any

from lmms_eval.tasks.muirbench.utils import muir_doc_to_visual
from PIL import Image

from ov_eval.tasks.inputs import check_image_list


def doc_to_visual(doc: dict[str, Any]) -> list[Image.Image]:
    """All images of the sample, RGB, in order (the model caps the count, not the task)."""
    check_image_list(doc, "image_list", f"MuirBench idx={doc.get('idx')!r} (task {doc.get('task')!r})")
    return muir_doc_to_visual(doc)
