"""``patch()``, the one way ov-eval replaces lmms-eval functions: wraps the original, applies once."""

from __future__ import annotations

import types

from ov_eval.lmms_patches.patching import patch


def _doubling(original):
    return lambda *args: 2 * original(*args)


def test_patch_wraps_module_functions_methods_and_static_and_class_methods_once():
    class Owner:
        def method(self):
            return 1

        @staticmethod
        def static():
            return 2

        @classmethod
        def klass(cls):
            return cls.__name__

    module = types.SimpleNamespace(function=lambda: 3)
    for _ in range(2):  # the second round must change nothing
        patch(Owner, "method", _doubling)
        patch(Owner, "static", _doubling)
        patch(Owner, "klass", _doubling)
        patch(module, "function", _doubling)
    assert Owner().method() == 2
    assert Owner.static() == 4 and isinstance(Owner.__dict__["static"], staticmethod)
    assert Owner.klass() == "OwnerOwner" and isinstance(Owner.__dict__["klass"], classmethod)
    assert module.function() == 6
