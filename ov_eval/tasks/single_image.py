"""The single-image tasks' own functions (``task_configs/single_image``).

lmms-eval's single-image ``doc_to_visual`` functions are all ``[doc["image"].convert("RGB")]``;
the YAMLs point ``doc_to_visual`` here (same output, RGB PIL images, but a missing image is
named with its sample) and ``process_docs`` at a per-benchmark schema check. Prompts and
metrics stay lmms-eval's own, except MMStar's release-era scoring rule below. The checks
themselves are shared by all modalities: ``ov_eval.tasks.inputs``.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from ov_eval.tasks.inputs import checked_image, process_docs_factory


def doc_to_visual(doc: dict[str, Any]) -> list[Image.Image]:
    """The sample's single ``image``, RGB: what every lmms-eval single-image task returns."""
    return [checked_image(doc)]


# One schema check per benchmark, referenced by the YAMLs as ``!function ...process_docs_<name>``.
# Columns are the ones the prompt and scoring functions read (hub names).
process_docs_ai2d = process_docs_factory("AI2D", ("question", "options", "answer", "image"))
process_docs_chartqa = process_docs_factory("ChartQA", ("question", "answer", "type", "image"))
process_docs_mmstar = process_docs_factory(
    "MMStar", ("index", "question", "answer", "category", "l2_category", "image")
)
process_docs_scienceqa = process_docs_factory("ScienceQA", ("question", "choices", "answer", "hint", "image"))
process_docs_realworldqa = process_docs_factory("RealWorldQA", ("question", "answer", "image"))
process_docs_mmmu = process_docs_factory(
    "MMMU", ("id", "question", "options", "question_type", "answer", "image_1")
)


# --------------------------------------------------------------------------- MMStar, release scoring


def mmstar_first_letter_match(prediction: str, answer: str) -> float:
    """MMStar's own answer rule, which lmms-eval applied at the LLaVA-OneVision release.

    After lower-casing and folding newlines to spaces, the answer letter must be the response's
    first character, or follow a leading "(", "option " or "the answer is ". Anything else
    (including an empty response) scores 0. lmms-eval 0.7.3 replaced it with
    ``extract_mcq_answer``, which also reads letters later in the response; the paper's numbers
    were scored with this rule (reports/fidelity.yaml).
    """
    gold = answer.lower().strip().replace("\n", " ")
    text = prediction.lower().strip().replace("\n", " ")
    prefixes = ("", "(", "option ", "the answer is ")
    hit = any(text.startswith(p) and len(text) > len(p) and text[len(p)] == gold for p in prefixes)
    return 1.0 if hit else 0.0


def mmstar_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """lmms-eval's per-sample MMStar record (L1 category and ``average``), scored by the release rule."""
    record = {"question_id": doc["index"], "l2_category": doc["l2_category"], "score": 0.0}
    record["score"] = mmstar_first_letter_match(results[0], doc["answer"])
    return {doc["category"]: record, "average": dict(record)}
