"""Input checks and sample ids shared by the task modules of every modality.

A dataset with the wrong schema, or a sample whose image is missing, otherwise surfaces deep
inside lmms-eval's request building (``AttributeError: 'NoneType' object has no attribute
'convert'``) naming neither the sample nor the cause. The task modules check their inputs with
these helpers before any model work starts, and name the offending sample with the same ids
(``sample_label``, ``describe``, ``sample_where``) in error messages and judge accounting.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from datasets import Dataset
from PIL import Image

# Columns that identify a sample in the hub datasets we read, most specific first.
_ID_COLUMNS = ("question_id", "questionId", "index", "id", "question")


def _first_id(doc: dict[str, Any], keys: Iterable[str]) -> tuple[str, str] | None:
    """The first of ``keys`` with a non-empty value in ``doc``, with that value as text."""
    for key in keys:
        value = doc.get(key)
        if value is not None and value != "":
            return key, str(value)
    return None


def sample_label(doc: dict[str, Any], *keys: str) -> str:
    """A human-readable id for error messages and accounting (first key present in ``doc``)."""
    found = _first_id(doc, keys)
    return found[1] if found else "?"


def describe(doc: dict[str, Any]) -> str:
    """A short, human-readable name for a sample, for error messages."""
    found = _first_id(doc, _ID_COLUMNS)
    if found is None:
        return "<sample without an id column>"
    column, text = found
    return f"{column}={text[:60]!r}" + ("..." if len(text) > 60 else "")


def sample_where(benchmark: str, doc: dict[str, Any], *keys: str, context: str | None = None) -> str:
    """``"<benchmark> key=value ... (context value)"``: which sample an error is about, for messages."""
    ids = " ".join(f"{key}={doc.get(key)!r}" for key in keys)
    return f"{benchmark} {ids}" + (f" ({context} {doc.get(context)!r})" if context else "")


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
