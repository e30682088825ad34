"""Batch planning: which requests run together, in which order.

Requests are grouped by modality (a batch never mixes single images, multi-image
samples and videos, whose token layouts differ and whose video frame counts must
match) and by generation settings (one ``generate`` call takes one set), then
sorted longest first inside a group: padding waste is smallest when neighbours
have similar lengths, and an out-of-memory shows up in the first batch instead
of hour 9. Results are put back in request order by the caller (``index``).

At batch size 1 there is nothing to group or pad, so the adapter plans without
reading the visuals (``modality=None``, length = prompt text only, longest first,
as the original driver orders its requests; it counts the text's tokens, we its
characters). Reading a dataset row decodes its image in the main process, the
one serial step the preprocessing pool does not spread; planning from the
visuals would decode every image twice.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ov_eval.models.visuals import Modality


@dataclass
class PlannedRequest:
    index: int  # position in the request list handed over by lmms-eval
    modality: Modality | None  # None: planned without reading the visuals (batch size 1)
    est_tokens: int  # prompt text + visual tokens (text only when modality is None), for sorting only
    settings_key: str  # canonical generation settings ("" for loglikelihood)


def settings_key(gen_kwargs: dict[str, Any]) -> str:
    return json.dumps(gen_kwargs, sort_keys=True, default=str)


def plan_batches(items: list[PlannedRequest], batch_size: int) -> list[list[PlannedRequest]]:
    groups: dict[tuple[str, str], list[PlannedRequest]] = defaultdict(list)
    for item in items:
        groups[(item.modality.value if item.modality else "", item.settings_key)].append(item)
    batches: list[list[PlannedRequest]] = []
    for key in sorted(groups):
        ordered = sorted(groups[key], key=lambda item: (-item.est_tokens, item.index))
        batches.extend(ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size))
    return batches
