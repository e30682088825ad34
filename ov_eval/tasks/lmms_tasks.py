"""Importing lmms-eval's task modules despite what they do at import time.

We reuse lmms-eval's prompt, parsing and scoring functions instead of copying them, but
several of its task modules act when imported:

* they read ``os.environ["HF_HOME"]`` to build a video cache path (we resolve videos
  ourselves, so the path is never used) and crash when it is unset;
* the GPT-judged ones build an OpenAI client, or define class attributes, depending on
  ``API_TYPE`` and ``OPENAI_API_KEY``, and crash without a key (we never call their HTTP
  code: ``ov_eval.judge`` does the judging);
* some import optional packages (``rouge`` for LLaVA-Interleave) that a user running other
  tasks need not have.

``import_task_module`` imports such a module with placeholders set *only while importing*
and restores the environment afterwards, so our task modules import offline, without
``HF_HOME`` and without a key, and nothing leaks into the run. A lock keeps two threads from
interleaving their placeholder edits.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType

DEFAULT_HF_HOME = "~/.cache/huggingface"

# For the judged modules: no OpenAI client is built with API_TYPE=dummy; the key is a placeholder.
JUDGED_PLACEHOLDERS: Mapping[str, str] = {"API_TYPE": "dummy", "OPENAI_API_KEY": "ov-eval-placeholder"}

_import_lock = threading.Lock()


@contextmanager
def _environment(placeholders: Mapping[str, str], hf_home: bool) -> Iterator[None]:
    """``placeholders`` (and ``HF_HOME`` if unset and asked for) set, then the environment restored."""
    keys = [*placeholders, *(["HF_HOME"] if hf_home else [])]
    with _import_lock:
        saved = {key: os.environ.get(key) for key in keys}
        try:
            os.environ.update(placeholders)
            if hf_home:
                os.environ.setdefault("HF_HOME", os.path.expanduser(DEFAULT_HF_HOME))
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def import_task_module(
    name: str,
    placeholders: Mapping[str, str] = JUDGED_PLACEHOLDERS,
    *,
    hf_home: bool = True,
    needed_for: str | None = None,
) -> ModuleType:
    """Import ``lmms_eval.tasks.<name>`` (hyphens allowed) with import-time placeholders (see module doc).

    ``needed_for`` names what the module is needed for; a missing optional package then raises a
    ModuleNotFoundError saying what to install instead of a bare import error from lmms-eval.
    """
    with _environment(placeholders, hf_home):
        try:
            return importlib.import_module(f"lmms_eval.tasks.{name}")
        except ModuleNotFoundError as exc:
            if needed_for is None or exc.name is None or exc.name.startswith("lmms_eval"):
                raise
            raise ModuleNotFoundError(
                f"{needed_for} needs lmms-eval's {name}, which imports {exc.name!r}; "
                f"install it with `pip install {exc.name}`",
                name=exc.name,
            ) from exc
