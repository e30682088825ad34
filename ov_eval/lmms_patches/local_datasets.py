"""Local datasets: ``OV_EVAL_DATA_DIR=/path`` maps a task's hub ``dataset_path`` (and ``dataset_name``)
to ``/path/<org>/<name>[/<dataset_name>]`` when that directory exists, for built-in and ov-eval tasks
alike, without editing any YAML. Used by the tests, the demo and air-gapped clusters.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ov_eval.lmms_patches.patching import patch

DATA_DIR_ENV = "OV_EVAL_DATA_DIR"

# lmms-eval-only dataset_kwargs that make sense only for the hub copy (they trigger
# snapshot downloads or auth); a local directory is read with plain load_dataset.
_HUB_ONLY_DATASET_KWARGS = {
    "video",
    "cache_dir",
    "token",
    "force_download",
    "force_unzip",
    "local_files_only",
    "create_link",
    "builder_script",
    "From_YouTube",
    "revision",
}


def local_dataset_dir(dataset_path: str | None, dataset_name: str | None = None) -> Path | None:
    """Where ``OV_EVAL_DATA_DIR`` keeps a local copy of a hub dataset, if it does."""
    root = os.environ.get(DATA_DIR_ENV)
    if not root or not dataset_path or os.path.isabs(dataset_path):
        return None
    base = Path(root).expanduser() / dataset_path
    if dataset_name:
        named = base / dataset_name
        if named.is_dir():
            return named
    return base if base.is_dir() else None


def install() -> None:
    from lmms_eval.api.task import ConfigurableTask

    def make(original: Callable) -> Callable:
        def download(self, dataset_kwargs=None):
            local = local_dataset_dir(self.DATASET_PATH, self.DATASET_NAME)
            if local is not None:
                from loguru import logger

                logger.info(
                    f"[ov-eval] {self.DATASET_PATH} ({self.DATASET_NAME}) read from local copy {local}"
                )
                self.DATASET_PATH, self.DATASET_NAME = str(local), None
                if dataset_kwargs:
                    dataset_kwargs = {
                        k: v for k, v in dataset_kwargs.items() if k not in _HUB_ONLY_DATASET_KWARGS
                    }
            return original(self, dataset_kwargs)

        return download

    patch(ConfigurableTask, "download", make)
