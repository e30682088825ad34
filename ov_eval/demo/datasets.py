"""Write fixture datasets where ``OV_EVAL_DATA_DIR`` redirection (ov_eval.lmms_patches.local_datasets) finds them.

Layout: ``<root>/<hub dataset_path>[/<dataset_name>]/data/<split>-00000-of-00001.parquet`` —
the hub's own parquet naming, which ``datasets.load_dataset(<dir>)`` maps to the
split name verbatim (a bare ``dev.parquet`` would be renamed to "validation").
Image columns declared as ``datasets.Image()`` survive the parquet round trip, so
tasks see PIL images exactly as they do from the hub.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def dataset_dir(root: str | Path, dataset_path: str, dataset_name: str | None = None) -> Path:
    base = Path(root) / dataset_path
    return base / dataset_name if dataset_name else base


def write_split(
    root: str | Path,
    dataset_path: str,
    split: str,
    rows: list[dict[str, Any]],
    features=None,
    dataset_name: str | None = None,
) -> Path:
    """Write ``rows`` as one split of a local dataset copy and return the parquet path."""
    from datasets import Dataset

    target = dataset_dir(root, dataset_path, dataset_name) / "data" / f"{split}-00000-of-00001.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    Dataset.from_list(rows, features=features).to_parquet(str(target))
    return target
