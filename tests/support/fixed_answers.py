"""``--model ov_fixed_answers``: a test double that answers from a JSON file.

Task configs are scored by metric code we did not write (lmms-eval's) or did
(ours); either way a test needs *known* predictions to compare the metric with
a hand-computed value. This model reads them from ``answers=<file.json>``::

    {"<task>": {"<doc_id>": "answer text" | ["round 1", "round 2"]}, "*": {"*": "fallback"}}

For loglikelihood / multiple-choice requests the stored answer names the
continuation that should win (compared after stripping whitespace); it gets loss
0.0 and every other continuation loss 1.0.

It also calls each request's ``doc_to_visual`` so that broken visual plumbing in a
task config fails here too, and records every request it saw (``trace=<file>``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lmms_eval.api.instance import Instance
from lmms_eval.api.model import lmms

from ov_eval import lmms_patches

lmms_patches.install()


class FixedAnswers(lmms):
    is_simple = True

    def __init__(
        self, answers: str = "", default: str = "", trace: str = "", batch_size: int | str = 1, **kwargs: Any
    ):
        super().__init__()
        unknown = set(kwargs) - {"device", "max_batch_size"}
        if unknown:
            raise ValueError(
                f"ov_fixed_answers: unknown model_args {sorted(unknown)}; valid: answers, default, trace"
            )
        self.answers: dict[str, dict[str, Any]] = json.loads(Path(answers).read_text()) if answers else {}
        self.default = default
        self.trace_path = Path(trace) if trace else None
        self.batch_size_per_gpu = int(batch_size)

    def _answer(self, task: str, doc_id: int) -> Any:
        for task_key in (task, "*"):
            table = self.answers.get(task_key, {})
            for doc_key in (str(doc_id), "*"):
                if doc_key in table:
                    return table[doc_key]
        return self.default

    def _touch(self, request: Instance, doc_to_visual, task: str, split: str, doc_id: int) -> None:
        doc = self.task_dict[task][split][doc_id]
        visuals = doc_to_visual(doc) if callable(doc_to_visual) else []
        if self.trace_path is not None:
            with self.trace_path.open("a") as fh:
                record = {
                    "task": task,
                    "doc_id": doc_id,
                    "type": request.request_type,
                    "context": request.args[0],
                }
                record["visuals"] = [v if isinstance(v, str) else type(v).__name__ for v in (visuals or [])]
                fh.write(json.dumps(record) + "\n")

    def generate_until(self, requests: list[Instance]) -> list[str]:
        out = []
        for request in requests:
            _ctx, _gen_kwargs, doc_to_visual, doc_id, task, split = request.args
            self._touch(request, doc_to_visual, task, split, doc_id)
            answer = self._answer(task, doc_id)
            out.append(answer if isinstance(answer, str) else json.dumps(answer))
        return out

    def loglikelihood(self, requests: list[Instance]) -> list[tuple[float, bool]]:
        out = []
        for request in requests:
            _ctx, continuation, doc_to_visual, doc_id, task, split = request.args
            self._touch(request, doc_to_visual, task, split, doc_id)
            if callable(continuation):
                continuation = continuation(self.task_dict[task][split][doc_id])
            hit = str(continuation).strip() == str(self._answer(task, doc_id)).strip()
            out.append((0.0 if hit else 1.0, hit))
        return out

    def generate_until_multi_round(self, requests: list[Instance]) -> list[list[str]]:
        out = []
        for request in requests:
            doc_to_visual, doc_id, task, split = (
                request.args[2],
                request.args[4],
                request.args[5],
                request.args[6],
            )
            self._touch(request, doc_to_visual, task, split, doc_id)
            answer = self._answer(task, doc_id)
            out.append(list(answer) if isinstance(answer, list) else [answer])
        return out
