"""Small, targeted fixes to lmms-eval 0.7.3 that our models need; applied once, idempotently.

1. Multiple-choice scoring. lmms-eval 0.7.3 pipes every response through
   ``lmms_eval.evaluator.unwrap_generation_output``, which ``str()``s the
   ``(loss, is_greedy)`` pairs that ``loglikelihood`` must return, so every
   ``multiple_choice`` task dies in ``process_results`` ("too many values to
   unpack"), with or without ``--use_cache`` (cached pairs come back as lists).
   The least invasive fix is to let exactly that shape through: a 2-sequence of
   (real number, bool). Everything else goes to the original function untouched.
   Verified against lmms-eval 0.7.3 only (pinned in pyproject.toml).

2. Failed samples are excluded from scores, not scored as wrong. When our model
   cannot answer a sample (corrupt video, OOM at batch size 1, ...) it returns
   ``ERROR_MARKER`` text (or ``FAILED_LOGLIKELIHOOD``); ``process_results`` then
   returns no metrics for that doc, so every aggregation skips it, while the
   samples log still shows the doc with its cause. ``EXCLUDED`` counts them per task.

3. Local datasets. ``OV_EVAL_DATA_DIR=/path`` maps a task's hub ``dataset_path``
   (and ``dataset_name``) to ``/path/<org>/<name>[/<dataset_name>]`` when that
   directory exists, for built-in and ov-eval tasks alike, without editing any
   YAML. Used by the tests, the demo and air-gapped clusters.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Any

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

ERROR_MARKER = "[ov-eval sample error]"
FAILED_LOGLIKELIHOOD = (float("inf"), False)
EXCLUDED: dict[str, int] = {}  # task name -> docs excluded from scoring in this process

_installed = False


def is_loss_pair(output: Any) -> bool:
    """True for the ``(loss, is_greedy)`` pair a loglikelihood request returns."""
    return (
        isinstance(output, (tuple, list))
        and len(output) == 2
        and isinstance(output[0], numbers.Real)
        and not isinstance(output[0], bool)
        and isinstance(output[1], (bool, int))
    )


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


def _patch_unwrap_generation_output() -> None:
    import lmms_eval.evaluator as evaluator

    original = evaluator.unwrap_generation_output
    if getattr(original, "_ov_eval_patched", False):
        return

    def unwrap_generation_output(output: Any):
        if is_loss_pair(output):
            return (float(output[0]), bool(output[1])), None
        return original(output)

    unwrap_generation_output._ov_eval_patched = True  # type: ignore[attr-defined]
    evaluator.unwrap_generation_output = unwrap_generation_output


def is_failed_response(value: Any) -> bool:
    """True for what our models return when a sample could not be answered."""
    if isinstance(value, str):
        return value.startswith(ERROR_MARKER)
    if is_loss_pair(value):
        return float(value[0]) == float("inf")
    if isinstance(value, (list, tuple)):  # multi-round answers, multiple-choice result lists
        return any(is_failed_response(v) for v in value)
    return False


def _patch_exclude_failed_samples() -> None:
    from lmms_eval.api.task import ConfigurableTask

    original = ConfigurableTask.process_results
    if getattr(original, "_ov_eval_patched", False):
        return

    def process_results(self, doc, results, *args, **kwargs):
        if any(is_failed_response(r) for r in results):
            name = getattr(self.config, "task", None) or "?"
            EXCLUDED[name] = EXCLUDED.get(name, 0) + 1
            return {}
        return original(self, doc, results, *args, **kwargs)

    process_results._ov_eval_patched = True  # type: ignore[attr-defined]
    ConfigurableTask.process_results = process_results


def _patch_dataset_redirect() -> None:
    from lmms_eval.api.task import ConfigurableTask

    original = ConfigurableTask.download
    if getattr(original, "_ov_eval_patched", False):
        return

    def download(self, dataset_kwargs=None):
        local = local_dataset_dir(self.DATASET_PATH, self.DATASET_NAME)
        if local is not None:
            from loguru import logger

            logger.info(f"[ov-eval] {self.DATASET_PATH} ({self.DATASET_NAME}) read from local copy {local}")
            self.DATASET_PATH, self.DATASET_NAME = str(local), None
            if dataset_kwargs:
                dataset_kwargs = {
                    k: v for k, v in dataset_kwargs.items() if k not in _HUB_ONLY_DATASET_KWARGS
                }
        return original(self, dataset_kwargs)

    download._ov_eval_patched = True  # type: ignore[attr-defined]
    ConfigurableTask.download = download


def install() -> None:
    """Apply all fixes (idempotent). Called when an ov-eval model class is imported."""
    global _installed
    if _installed:
        return
    _patch_unwrap_generation_output()
    _patch_exclude_failed_samples()
    _patch_dataset_redirect()
    __import__("ov_eval.lmms_patches.resume").lmms_patches.resume.install()  # cache identity + crash resume
    _installed = True
