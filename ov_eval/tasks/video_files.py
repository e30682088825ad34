"""Where a video task's media files are, for hub data and for ``OV_EVAL_DATA_DIR`` copies alike.

lmms-eval's task utils build video paths from ``$HF_HOME/<cache_dir>`` at import
time, so they cannot follow the local-dataset redirect (ov_eval.lmms_patches.local_datasets) and they
``sys.exit`` or only log when a file is missing. Our video tasks resolve paths here:

* redirected dataset (``OV_EVAL_DATA_DIR`` holds ``<root>/<dataset_path>``):
  ``<root>/<dataset_path>/videos/<relative><ext>``;
* otherwise lmms-eval's own location: ``$HF_HOME/<cache_dir>/<relative><ext>``
  (``cache_dir`` resolved by lmms-eval's ``resolve_cache_dir``, so absolute paths,
  ``~`` and ``$VARS`` work as in the YAML's ``dataset_kwargs.cache_dir``).

A missing file raises ``FileNotFoundError`` listing every path tried.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from lmms_eval.utils import resolve_cache_dir

from ov_eval.lmms_patches.local_datasets import local_dataset_dir

DEFAULT_HF_HOME = "~/.cache/huggingface"


def video_root(dataset_path: str, cache_dir: str) -> str:
    """The directory ``relative`` paths are taken from (see the module docstring)."""
    local = local_dataset_dir(dataset_path)
    if local is not None:
        return str(local / "videos")
    hf_home = os.path.expanduser(os.environ.get("HF_HOME") or DEFAULT_HF_HOME)
    return resolve_cache_dir(cache_dir, base_dir=hf_home)


def resolve_video(
    dataset_path: str, cache_dir: str, relative: str, extensions: Sequence[str] = (".mp4",)
) -> str:
    """Absolute path of ``relative`` + the first of ``extensions`` that exists (``""`` = as given)."""
    root = video_root(dataset_path, cache_dir)
    tried = [os.path.abspath(os.path.join(root, f"{relative}{ext}")) for ext in extensions]
    for path in tried:
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"{dataset_path}: media file not found; tried {tried}")
