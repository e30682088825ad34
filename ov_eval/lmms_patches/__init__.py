"""Fixes to lmms-eval 0.7.3 that ov-eval models need, one module per patched lmms-eval area.

* ``loss_pairs``: multiple-choice ``(loss, is_greedy)`` pairs survive response unwrapping;
* ``failed_samples``: samples our model could not answer are excluded from scores;
* ``local_datasets``: ``OV_EVAL_DATA_DIR`` redirects a task's hub dataset to a local copy;
* ``resume``: the response cache keyed by checkpoint fingerprint, usable for resuming a killed run.

``install()`` runs when an ov-eval model class is imported, so a plain ``python -m lmms_eval`` run is
covered too. Each replacement goes through ``patching.patch``, which makes installing idempotent.
"""

from __future__ import annotations

from ov_eval.lmms_patches import failed_samples, local_datasets, loss_pairs, resume


def install() -> None:
    """Apply every fix (idempotent)."""
    loss_pairs.install()
    failed_samples.install()
    local_datasets.install()
    resume.install()
