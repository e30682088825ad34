"""Multiple-choice scoring: ``(loss, is_greedy)`` pairs survive lmms-eval's response unwrapping.

lmms-eval 0.7.3 pipes every response through ``lmms_eval.evaluator.unwrap_generation_output``, which
``str()``s the pairs that ``loglikelihood`` must return, so every ``multiple_choice`` task dies in
``process_results`` ("too many values to unpack"), with or without ``--use_cache`` (cached pairs come
back as lists). The least invasive fix lets exactly that shape through: a 2-sequence of (real number,
bool). Everything else goes to the original function untouched. Verified against lmms-eval 0.7.3 only
(pinned in pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ov_eval.lmms_patches.patching import patch
from ov_eval.models.errors import is_loss_pair


def install() -> None:
    import lmms_eval.evaluator as evaluator

    def make(original: Callable) -> Callable:
        def unwrap_generation_output(output: Any):
            if is_loss_pair(output):
                return (float(output[0]), bool(output[1])), None
            return original(output)

        return unwrap_generation_output

    patch(evaluator, "unwrap_generation_output", make)
