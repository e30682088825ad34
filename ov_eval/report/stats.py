"""Sampling uncertainty of benchmark scores: intervals, bootstrap, paired differences, z-tests.

Pure numpy/stdlib, no lmms-eval: the report, the history and the gate all ask the same two
questions ("how far could this number move if the benchmark drew other questions?" and "is this
difference larger than that?") and must answer them identically.

Every interval here is a *normal* interval ``value ± z·se``. The standard error ``se`` comes from
lmms-eval (its ``<metric>_stderr`` key) or from the spread of a bootstrap over the logged docs.
One shape for all intervals keeps them comparable across methods, makes ``±`` in the tables
exact, and lets a flagged cell quote its z-score. Bootstraps are seeded per task (not per
process), so the same files always give the same report.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

DEFAULT_ITERS = 1000
DEFAULT_ALPHA = 0.05
_CHUNK_CELLS = 2_000_000  # resample-index cells per chunk (16 MB of int64): bounded memory on long tasks


def z_value(alpha: float = DEFAULT_ALPHA) -> float:
    """Two-sided critical value: 1.96 for ``alpha`` = 0.05."""
    return NormalDist().inv_cdf(1 - alpha / 2)


def p_value(z: float) -> float:
    """Two-sided p-value of a z-score (normal approximation)."""
    return math.erfc(abs(z) / math.sqrt(2))


def seed_for(*parts: str) -> int:
    """A stable seed from names (task, metric): the same inputs resample the same docs in any process."""
    return zlib.crc32("\x1f".join(parts).encode())


@dataclass(frozen=True)
class Estimate:
    """A number with its standard error, in one unit; ``method`` says where the error came from."""

    value: float
    se: float
    method: str  # "lmms-eval stderr", "bootstrap (N docs)", "paired bootstrap (N docs)", ...

    def interval(self, alpha: float = DEFAULT_ALPHA) -> tuple[float, float]:
        half = self.half_width(alpha)
        return self.value - half, self.value + half

    def half_width(self, alpha: float = DEFAULT_ALPHA) -> float:
        return z_value(alpha) * self.se

    def z(self, reference: float = 0.0) -> float:
        """How many standard errors ``value`` lies from ``reference`` (inf when se is 0 and they differ)."""
        diff = self.value - reference
        if self.se > 0:
            return diff / self.se
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)

    def significant(self, reference: float = 0.0, alpha: float = DEFAULT_ALPHA) -> bool:
        """``reference`` lies outside the ``1 - alpha`` interval."""
        return p_value(self.z(reference)) < alpha

    def scaled(self, factor: float) -> Estimate:
        return Estimate(self.value * factor, abs(factor) * self.se, self.method)


def difference(a: Estimate, b: Estimate) -> Estimate:
    """``a - b`` for independent estimates (two runs scored on separate samples): errors add in quadrature."""
    return Estimate(a.value - b.value, math.hypot(a.se, b.se), "independent stderrs")


def mean_of(estimates: Sequence[Estimate]) -> Estimate | None:
    """Mean of independent estimates (e.g. OV−SI over a modality's benchmarks); None when empty."""
    if not estimates:
        return None
    k = len(estimates)
    se = math.sqrt(sum(e.se**2 for e in estimates)) / k
    return Estimate(sum(e.value for e in estimates) / k, se, f"mean of {k}")


def resample_indices(n: int, iters: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap draws of ``n`` doc positions with replacement, ``iters`` rows in total, in chunks."""
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK_CELLS // max(n, 1))
    done = 0
    while done < iters:
        k = min(rows, iters - done)
        yield rng.integers(0, n, size=(k, n))
        done += k


def bootstrap_means(scores: np.ndarray, iters: int, seed: int) -> np.ndarray:
    """Means of ``iters`` resamples of ``scores`` (vectorised: one fancy-index per chunk)."""
    scores = np.asarray(scores, dtype=float)
    return np.concatenate([scores[idx].mean(axis=1) for idx in resample_indices(len(scores), iters, seed)])


def bootstrap_statistic(
    items: Sequence[Any], statistic: Callable[[list[Any]], float], iters: int, seed: int
) -> np.ndarray:
    """``statistic`` (a task's own aggregation) on ``iters`` resamples of ``items``.

    A Python call per resample: for aggregations that are not a mean (sums, per-category
    averages, CircularEval, relative scores) there is nothing to vectorise without rewriting them.
    """
    out = []
    for idx in resample_indices(len(items), iters, seed):
        out.extend(float(statistic([items[i] for i in row])) for row in idx)
    return np.asarray(out, dtype=float)


def bootstrap_paired_statistic(
    items_a: Sequence[Any],
    items_b: Sequence[Any],
    statistic: Callable[[list[Any]], float],
    iters: int,
    seed: int,
) -> np.ndarray:
    """``statistic(a) - statistic(b)`` on the same resampled docs of both runs (aligned lists)."""
    if len(items_a) != len(items_b):
        raise ValueError(f"paired bootstrap needs aligned docs, got {len(items_a)} and {len(items_b)}")
    out = []
    for idx in resample_indices(len(items_a), iters, seed):
        for row in idx:
            out.append(
                float(statistic([items_a[i] for i in row])) - float(statistic([items_b[i] for i in row]))
            )
    return np.asarray(out, dtype=float)


def spread(draws: np.ndarray) -> float:
    """Bootstrap standard error: the standard deviation of the resampled statistic."""
    return float(np.std(draws, ddof=1)) if len(draws) > 1 else 0.0


def mean_estimate(scores: Sequence[float], iters: int, seed: int) -> Estimate:
    """Mean of per-doc scores with a bootstrap standard error."""
    arr = np.asarray(scores, dtype=float)
    return Estimate(
        float(arr.mean()), spread(bootstrap_means(arr, iters, seed)), f"bootstrap ({len(arr)} docs)"
    )


def paired_mean_difference(a: Sequence[float], b: Sequence[float], iters: int, seed: int) -> Estimate:
    """Mean of ``a - b`` over aligned docs with a paired bootstrap error.

    Pairing removes the between-question variance both runs share (an easy question is easy for
    both checkpoints), so a small but consistent difference can be significant even when the
    two runs' separate intervals overlap.
    """
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return Estimate(
        float(diff.mean()), spread(bootstrap_means(diff, iters, seed)), f"paired bootstrap ({len(diff)} docs)"
    )
