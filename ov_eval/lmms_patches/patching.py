"""``patch()``: the one way ov-eval replaces an lmms-eval function, and the one guard against doing it twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MARK = "_ov_eval_patched"  # set on every replacement; its presence means "already ours"


def patch(owner: Any, name: str, make: Callable[[Callable], Callable]) -> None:
    """Replace ``owner.<name>`` (a module or class attribute) by ``make(original)``, unless it is ours already.

    Installing runs whenever a model class of ours is imported (the adapter, test doubles, re-imports in
    one interpreter), so it must be idempotent: the replacement carries ``MARK``, and a second call that
    finds it does nothing. ``classmethod``/``staticmethod`` attributes are unwrapped for ``make`` and
    wrapped again, so ``make`` always sees and returns a plain function.
    """
    raw = owner.__dict__.get(name) if isinstance(owner, type) else None
    descriptor = type(raw) if isinstance(raw, (classmethod, staticmethod)) else None
    original = raw.__func__ if descriptor else getattr(owner, name)
    if getattr(original, MARK, False):
        return
    replacement = make(original)
    setattr(replacement, MARK, True)
    setattr(owner, name, descriptor(replacement) if descriptor else replacement)
