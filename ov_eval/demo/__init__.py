"""``ov-eval demo`` and what it needs: a tiny random checkpoint, encoded media and the mini datasets.

The command itself is ``ov_eval.demo.command``; ``register`` is re-exported for the CLI's command index.
"""

from ov_eval.demo.command import DEMO_TASKS, register

__all__ = ["DEMO_TASKS", "register"]
