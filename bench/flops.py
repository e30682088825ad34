"""FLOP-utilisation arithmetic: model FLOPs actually done per second vs a measured matmul ceiling.

Counting rule: a matmul with a weight of P parameters costs 2*P FLOPs per
token it is applied to. Per workload:

* LLM prefill: 2 x (decoder-layer params) x prompt tokens (visual placeholders included),
  + 2 x (LM head) per sample (only the last prompt position is projected to the vocabulary).
* LLM decode: 2 x (decoder-layer params + LM head) per generated token.
* Vision: 2 x (vision tower params without the position table, a lookup) x 729 patch tokens
  per crop/frame, + 2 x (projector params) x 729 per crop/frame.

Attention's score/value products (4 x T^2 x hidden per layer) are NOT counted: the
utilisation is therefore a lower bound, which is what a ceiling claim needs.
The ceiling is a measured large matmul in the run's dtype on the run's device,
not a datasheet number.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

PATCH_TOKENS = 729  # (384 / 14)^2 = 27^2 patch tokens per crop or frame


@dataclass(frozen=True)
class FlopCount:
    llm_prefill: float
    llm_decode: float
    vision: float

    @property
    def total(self) -> float:
        return self.llm_prefill + self.llm_decode + self.vision


def count_flops(
    params: dict[str, int], *, samples: int, prompt_tokens: int, new_tokens: int, vision_inputs: int
) -> FlopCount:
    return FlopCount(
        llm_prefill=2.0 * params["llm_layers"] * prompt_tokens + 2.0 * params["lm_head"] * samples,
        llm_decode=2.0 * (params["llm_layers"] + params["lm_head"]) * new_tokens,
        vision=2.0 * (params["vision_matmul"] + params["projector"]) * PATCH_TOKENS * vision_inputs,
    )


def matmul_peak_flops(device: str, dtype: torch.dtype, size: int, repeats: int = 5) -> float:
    """Best observed FLOP/s of an ``size x size`` matmul (2*size^3 FLOPs), after one warm-up."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    cuda = device.startswith("cuda")
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        torch.matmul(a, b)
        if cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best
