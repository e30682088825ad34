"""lmms-eval model manifests exported through the ``lmms_eval.models`` entry point.

lmms-eval imports this module while ``lmms_eval.models`` is still initialising,
and a failure here silently drops every later plugin (all entry points share
one try/except), so it imports nothing but ``os`` at module level and names classes by
dotted path; they are imported lazily when a run asks for them.

``llava_onevision`` overrides the built-in id of the same name, whose simple
class needs the unmaintained ``llava`` package and asserts ``batch_size == 1``.
The built-in has no chat class, so setting the simple path replaces it fully.
"""

from __future__ import annotations

import os

TEST_MODELS_ENV = "OV_EVAL_TEST_MODELS"


def manifests() -> list:
    """Entry-point payload (a zero-arg callable, which lmms-eval accepts).

    A callable rather than a module-level list so that importing this module never
    imports ``lmms_eval.models`` itself: that package loads entry points while it
    initialises, and a module-level import would re-enter this half-imported module
    (lmms-eval then drops *every* plugin with one warning).
    """
    from lmms_eval.models.registry_v2 import ModelManifest

    found = [
        ModelManifest(
            model_id="llava_onevision",
            simple_class_path="ov_eval.models.llava_onevision.LlavaOneVision",
            aliases=("llava_onevision_hf_ov",),
        ),
    ]
    if os.environ.get(TEST_MODELS_ENV) == "1":
        found += test_manifests(ModelManifest)
    return found


def test_manifests(manifest: type) -> list:
    """The test doubles, registered only when the test runner sets ``OV_EVAL_TEST_MODELS=1`` and puts
    ``tests/`` on ``PYTHONPATH`` (tests/conftest.py does both), so no installation ever offers them."""
    return [
        # Answers from a JSON file: task configs checked against hand-computed metrics through the
        # real evaluator (tests/support/fixed_answers.py).
        manifest(model_id="ov_fixed_answers", simple_class_path="support.fixed_answers.FixedAnswers"),
        # The real adapter with injected out-of-memory and a call log (tests/support/faults.py).
        manifest(model_id="ov_faults", simple_class_path="support.faults.FaultyLlavaOneVision"),
    ]
