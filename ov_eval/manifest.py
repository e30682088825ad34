"""lmms-eval model manifests exported through the ``lmms_eval.models`` entry point.

lmms-eval imports this module while ``lmms_eval.models`` is still initialising,
and a failure here silently drops every later plugin (all entry points share
one try/except), so it imports nothing at module level and names classes by
dotted path; they are imported lazily when a run asks for them.

``llava_onevision`` overrides the built-in id of the same name, whose simple
class needs the unmaintained ``llava`` package and asserts ``batch_size == 1``.
The built-in has no chat class, so setting the simple path replaces it fully.
"""

from __future__ import annotations


def manifests() -> list:
    """Entry-point payload (a zero-arg callable, which lmms-eval accepts).

    A callable rather than a module-level list so that importing this module never
    imports ``lmms_eval.models`` itself: that package loads entry points while it
    initialises, and a module-level import would re-enter this half-imported module
    (lmms-eval then drops *every* plugin with one warning).
    """
    from lmms_eval.models.registry_v2 import ModelManifest

    return [
        ModelManifest(
            model_id="llava_onevision",
            simple_class_path="ov_eval.models.llava_onevision.LlavaOneVision",
            aliases=("llava_onevision_hf_ov",),
        ),
        # Test double: answers from a JSON file. Lets task configs be checked against
        # hand-computed metrics through the real evaluator (see tests/support/fixed_answers.py).
        ModelManifest(
            model_id="ov_fixed_answers",
            simple_class_path="support.fixed_answers.FixedAnswers",
        ),
        # Test double: the real adapter with injected out-of-memory and a call log (tests/support/faults.py).
        ModelManifest(
            model_id="ov_faults",
            simple_class_path="support.faults.FaultyLlavaOneVision",
        ),
    ]
