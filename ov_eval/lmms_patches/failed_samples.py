"""Failed samples are excluded from scores, not scored as wrong.

When our model cannot answer a sample (corrupt video, OOM at batch size 1, ...) it returns
``ERROR_MARKER`` text (or ``FAILED_LOGLIKELIHOOD``; ``ov_eval.models.errors``). ``process_results``
then returns no metrics for that doc, so every aggregation skips it, while the samples log still shows
the doc with its cause.
"""

from __future__ import annotations

from collections.abc import Callable

from ov_eval.lmms_patches.patching import patch
from ov_eval.models.errors import is_failed_response


def install() -> None:
    from lmms_eval.api.task import ConfigurableTask

    def make(original: Callable) -> Callable:
        def process_results(self, doc, results, *args, **kwargs):
            if any(is_failed_response(r) for r in results):
                return {}
            return original(self, doc, results, *args, **kwargs)

        return process_results

    patch(ConfigurableTask, "process_results", make)
