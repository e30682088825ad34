"""``--model ov_faults``: the real adapter with injected faults and a call log, for the resilience tests.

The resume and back-off guarantees are about what the *real* adapter does under
lmms-eval, so this is a thin subclass, not a mock: every answer still comes from
the tiny checkpoint. Extra model_args (removed before the adapter sees them):

* ``oom_above=N``: a model call with more than N samples raises
  ``torch.OutOfMemoryError`` before touching the model, like an allocator would.
* ``call_delay=S``: sleep S seconds after each successful call, so a test can
  kill the process between calls at a point it chooses.

With ``OV_EVAL_CALLS_LOG=<file>`` every model call appends one JSON line
``{"rank", "outcome": "ok"|"oom", "docs": [[task, doc_id], ...]}`` (``O_APPEND``
writes of one line each: safe across the ranks of an ``accelerate launch``), so a
test in another process can count exactly which docs the model computed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from ov_eval.models.llava_onevision import LlavaOneVision

CALLS_LOG_ENV = "OV_EVAL_CALLS_LOG"


class FaultyLlavaOneVision(LlavaOneVision):
    def __init__(self, oom_above: int | str = 0, call_delay: float | str = 0.0, **kwargs: Any) -> None:
        self.oom_above = int(oom_above)
        self.call_delay = float(call_delay)
        super().__init__(**kwargs)

    def _log_call(self, samples: list, outcome: str) -> None:
        path = os.environ.get(CALLS_LOG_ENV)
        if not path:
            return
        line = json.dumps(
            {"rank": self.rank, "outcome": outcome, "docs": [[s.task, s.doc_id] for s in samples]}
        )
        with open(path, "a") as fh:
            fh.write(line + "\n")

    def _call(self, samples: list, run) -> list:
        if self.oom_above and len(samples) > self.oom_above:
            self._log_call(samples, "oom")
            raise torch.OutOfMemoryError(f"injected: batch of {len(samples)} > oom_above={self.oom_above}")
        result = run()
        self._log_call(samples, "ok")
        if self.call_delay:
            time.sleep(self.call_delay)
        return result

    def _generate(self, samples, gen_kwargs, encoded=None, encoded_for=None):
        return self._call(
            samples,
            lambda: super(FaultyLlavaOneVision, self)._generate(samples, gen_kwargs, encoded, encoded_for),
        )

    def _score_continuations(self, samples, encoded=None, encoded_for=None):
        return self._call(
            samples,
            lambda: super(FaultyLlavaOneVision, self)._score_continuations(samples, encoded, encoded_for),
        )


def read_calls(path: str | os.PathLike) -> list[dict]:
    """The call log as a list of records (missing file: no calls)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]
