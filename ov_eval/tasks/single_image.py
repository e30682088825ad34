"""Input checks shared by the single-image task configs (``task_configs/single_image``).

lmms-eval's single-image ``doc_to_visual`` functions are all ``[doc["image"].convert("RGB")]``;
on a row whose image is missing that surfaces as ``AttributeError: 'NoneType' object has no
attribute 'convert'`` deep inside request building, naming neither the sample nor the cause.
The YAMLs therefore point ``doc_to_visual`` here (same output, RGB PIL images) and
``process_docs`` at :func:`require_columns`, which rejects a dataset with the wrong schema
before any model work starts. Prompts and metrics stay lmms-eval's own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from datasets import Dataset
from PIL import Image

# Columns that identify a sample in the hub datasets we read, most specific first.
_ID_COLUMNS = ("question_id", "questionId", "index", "id", "question")


def describe(doc: dict[str, Any]) -> str:
    """A short, human-readable name for a sample, for error messages."""
    for column in _ID_COLUMNS:
        value = doc.get(column)
        if value is not None and value != "":
            text = str(value)
            return f"{column}={text[:60]!r}" + ("..." if len(text) > 60 else "")
    return "<sample without an id column>"


def checked_image(doc: dict[str, Any], column: str = "image") -> Image.Image:
    """``doc[column]`` as an RGB image, or a ValueError naming the sample and what is wrong."""
    if column not in doc:
        raise ValueError(f"sample {describe(doc)}: no {column!r} column (columns: {sorted(doc)})")
    image = doc[column]
    if image is None:
        raise ValueError(f"sample {describe(doc)}: {column!r} is empty (None); the sample has no image")
    if not isinstance(image, Image.Image):
        raise ValueError(
            f"sample {describe(doc)}: {column!r} is a {type(image).__name__}, not an image "
            "(declare the column as datasets.Image())"
        )
    return image.convert("RGB")


def check_image_list(doc: dict[str, Any], column: str, where: str) -> None:
    """A ValueError naming the sample (``where``) unless ``doc[column]`` is a non-empty list of images.

    For tasks whose sample carries several images (MuirBench, SEED-Bench's frame lists): lmms-eval
    would pass a missing or undecoded image on and the model would answer without it.
    """
    images = doc.get(column)
    if not isinstance(images, list) or not images:
        raise ValueError(f"{where}: {column!r} must be a non-empty list of images")
    for i, image in enumerate(images):
        if not isinstance(image, Image.Image):
            raise ValueError(f"{where}: {column}[{i}] is {type(image).__name__}, not an image")


def doc_to_visual(doc: dict[str, Any]) -> list[Image.Image]:
    """The sample's single ``image``, RGB: what every lmms-eval single-image task returns."""
    return [checked_image(doc)]


class NoRowsSelected(ValueError):
    """A ``process_docs`` that selects part of a split (one Interleave column, SEED-Bench's videos)
    found none of its rows. On a full split that means the data changed; on the first rows that
    ``ov-eval preflight`` reads it only means the task's rows come later, so the preflight tells
    the two apart by this type. ``unfiltered`` is the split as the task prepared it before
    selecting (e.g. with a derived column), for checking rows of the same schema."""

    def __init__(self, message: str, unfiltered: Dataset | None = None) -> None:
        super().__init__(message)
        self.unfiltered = unfiltered


def require_columns(dataset: Dataset, columns: Iterable[str], benchmark: str) -> Dataset:
    """Return ``dataset`` unchanged if it has ``columns``; otherwise say which are missing."""
    missing = [c for c in columns if c not in dataset.column_names]
    if missing:
        raise ValueError(
            f"{benchmark}: dataset lacks column(s) {missing}; it has {dataset.column_names}. "
            "Is OV_EVAL_DATA_DIR pointing at a copy with the hub's schema?"
        )
    return dataset


def require_values(
    dataset: Dataset, column: str, valid, expected: str, benchmark: str, id_column: str
) -> None:
    """Raise naming the first offending samples if some ``column`` values fail ``valid``.

    Reads only the two (non-image) columns, so it is cheap on full benchmark splits.
    """
    bad = [
        f"{id_column}={sample_id!r}: {value!r}"
        for sample_id, value in zip(dataset[id_column], dataset[column], strict=True)
        if not valid(value)
    ]
    if bad:
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise ValueError(f"{benchmark}: {column!r} must be {expected}; got {'; '.join(bad[:5])}{more}")


def is_integer(value) -> bool:
    """True for ints and integer strings ("57344"), as hub id columns hold them."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.strip().lstrip("-").isdigit()


def process_docs_factory(benchmark: str, columns: tuple[str, ...]):
    """A ``process_docs`` that only checks the schema (lmms-eval calls it with the split)."""

    def process_docs(dataset: Dataset) -> Dataset:
        return require_columns(dataset, columns, benchmark)

    process_docs.__doc__ = f"Check that the {benchmark} split has the columns {list(columns)}."
    return process_docs


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
