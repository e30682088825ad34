"""Standard errors of run scores: lmms-eval's own stderr, else resampling the logged docs.

lmms-eval writes ``<metric>_stderr,<filter>`` for mean aggregations (and bootstraps a few
built-in ones); for the suite's custom aggregations (MME sums, CircularEval, judge relative
scores, per-category averages) it writes ``"N/A"``. ``ov-eval run`` logs every doc
(``--log_samples``: one JSON line per doc in ``<date>_samples_<task>.jsonl``, holding the
per-doc value of each metric exactly as the aggregation received it), so the error can be
recomputed from the docs:

* aggregation ``mean``: a vectorised bootstrap of the per-doc scores;
* any other aggregation: the task's OWN aggregation function re-run on random halves of the
  docs (drawn without replacement), its spread rescaled to the full sample. Halves, not
  bootstrap resamples, because several aggregations key docs by question id (MME pairs,
  MMBench rotations) and would collapse or reject a doc drawn twice. Docs that must stay
  together (MME's two questions per image, MMBench's rotations of one question) are drawn
  as one unit.

Nothing is invented: no stderr and no usable samples means no estimate.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ov_eval.report import stats
from ov_eval.report.stats import Estimate

# Docs that an aggregation only scores together: resampled as one unit (see the module docstring).
CLUSTERS: dict[str, Callable[[Any], Hashable]] = {
    "ov_mme": lambda item: (item["category"], item["question_id"]),
    "ov_mmbench_en_dev": lambda item: int(item["index"]) % 1_000_000,
}


def read_samples(path: Path) -> dict[int, dict[str, Any]]:
    """Per doc id, its logged line. lmms-eval appends to samples files, so a repeated doc id keeps
    the last line (the latest scoring of that doc)."""
    docs: dict[int, dict[str, Any]] = {}
    with Path(path).open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                docs[int(record["doc_id"])] = record
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise ValueError(
                    f"{path}:{number}: not an lmms-eval sample line with a doc_id ({exc})"
                ) from exc
    return docs


@lru_cache(maxsize=256)
def _samples_cached(path: str, mtime: float) -> dict[int, dict[str, Any]]:
    return read_samples(Path(path))


def load_samples(path: Path) -> dict[int, dict[str, Any]]:
    return _samples_cached(str(path), Path(path).stat().st_mtime)


class _FunctionLoader(yaml.SafeLoader):
    """Task YAML with ``!function a.b.c`` kept as the dotted name (as a ``_Function``)."""


@dataclass(frozen=True)
class _Function:
    name: str


_FunctionLoader.add_constructor("!function", lambda loader, node: _Function(loader.construct_scalar(node)))
_FunctionLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _yaml(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(), Loader=_FunctionLoader) or {}
    includes = data.pop("include", None) or []
    merged: dict[str, Any] = {}
    for include in [includes] if isinstance(includes, str) else includes:
        merged |= _yaml(path.parent / include)
    return merged | data


@cache
def suite_aggregation(task: str, metric: str) -> str | Callable[..., Any] | None:
    """The aggregation of ``metric`` in the suite's YAML for ``task``: ``"mean"``-like names as
    strings, ``!function`` references imported; None when the task is not one of ours."""
    from ov_eval.task_index import suite_configs

    config = suite_configs().get(task)
    if config is None:
        return None
    for entry in _yaml(config.path).get("metric_list") or []:
        if entry.get("metric") != metric:
            continue
        agg = entry.get("aggregation")
        if isinstance(agg, _Function):
            module, _, name = agg.name.rpartition(".")
            return getattr(importlib.import_module(module), name)
        return agg
    return None


def aggregation(task: str, metric: str, run_aggregations: dict[str, str]) -> str | Callable[..., Any] | None:
    """The run's own record first (``configs[task].metric_list`` in the results), then our YAML."""
    recorded = run_aggregations.get(metric)
    if recorded and not recorded.startswith("<"):  # "<function f at 0x...>": only a name, not callable
        return recorded
    return suite_aggregation(task, metric)


def _quiet(fn: Callable[..., Any]) -> Callable[[list[Any]], float]:
    """An aggregation called thousands of times: no ``args`` (it only names output files), no logs."""
    takes_args = "args" in inspect.signature(fn).parameters

    def call(items: list[Any]) -> float:
        value = fn(items, args=None) if takes_args else fn(items)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"aggregation returned {value!r}")
        return float(value)

    return call


@contextlib.contextmanager
def _silenced():
    """No output and no files from aggregations during resampling.

    lmms-eval's aggregations log through loguru (whose sink holds the real stderr, so redirecting
    ``sys.stderr`` alone would not silence them), and some write files relative to the working
    directory when called without ``args`` (MMBench: ``submissions/*.json``): they run in a
    throw-away directory.
    """
    from loguru import logger

    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    logger.disable("")
    cwd = os.getcwd()
    try:
        with tempfile.TemporaryDirectory(prefix="ov-eval-resample-") as scratch:
            os.chdir(scratch)
            try:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    yield
            finally:
                os.chdir(cwd)
    finally:
        logger.enable("")
        logging.disable(previous)


def function_iters(iters: int) -> int:
    """Resamples for an aggregation that is not a mean: a Python call each (MME's takes ~4 ms on
    its 2,374 questions, SEED-Bench's ~20 ms on 14,233), so a tenth of ``iters``, at least 50: the
    standard error is then within about 7 % of its exact value, enough for an interval."""
    return max(50, iters // 10)


# Per-doc numbers an aggregation may secretly be the mean of (lmms-eval's convention: a "score"
# field; SEED-Bench-style pred/answer matching), as a fraction or in percent.
_CANDIDATES: tuple[Callable[[dict[str, Any]], float], ...] = (
    lambda item: float(item["score"]),
    lambda item: float(str(item["pred"]).lower().strip() == str(item["answer"]).lower().strip()),
)


def _as_mean(s: Scores) -> np.ndarray | None:
    """Per-doc values whose mean IS the task's aggregation, or None.

    Many custom aggregations (VideoMME's 6,480-bucket tally, SEED-Bench, Interleave) only compute
    a mean of a per-doc number. When the task's own function gives exactly that mean on all docs
    and on a random half, the vectorised bootstrap replaces thousands of slow calls. Checked on
    every run against the function itself, so a different formula is never assumed.
    """
    if s.task in CLUSTERS or not all(isinstance(item, dict) for item in s.items):
        return None
    fn = _quiet(s.how)
    half = np.random.default_rng(stats.seed_for(s.task, s.metric, "check")).permutation(len(s.items))
    half = half[: max(1, len(half) // 2)]
    for candidate in _CANDIDATES:
        try:
            x = np.array([candidate(item) for item in s.items], dtype=float)
            with _silenced():
                whole, part = fn(s.items), fn([s.items[i] for i in half])
        except Exception:
            continue
        for factor in (1.0, 100.0):
            if math.isclose(whole, factor * x.mean(), rel_tol=1e-9, abs_tol=1e-9) and math.isclose(
                part, factor * x[half].mean(), rel_tol=1e-9, abs_tol=1e-9
            ):
                return factor * x
    return None


def _units(task: str, items: list[Any]) -> list[list[Any]]:
    key = CLUSTERS.get(task)
    if key is None:
        return [[item] for item in items]
    groups: dict[Hashable, list[Any]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return list(groups.values())


def _halves(n_units: int, iters: int, seed: int) -> tuple[np.ndarray, float]:
    """``iters`` random halves of ``n_units`` (without replacement) and the factor turning their
    spread into the full sample's standard error: sqrt(m / (n - m)) (finite-population correction)."""
    m = n_units // 2
    rng = np.random.default_rng(seed)
    picks = np.stack([rng.permutation(n_units)[:m] for _ in range(iters)])
    return picks, math.sqrt(m / (n_units - m))


def _flatten(units: list[list[Any]], pick: np.ndarray) -> list[Any]:
    return [item for i in pick for item in units[i]]


@dataclass(frozen=True)
class Scores:
    """One metric's per-doc values in one run, in doc-id order."""

    task: str
    metric: str
    doc_ids: list[int]
    items: list[Any]
    how: str | Callable[..., Any]  # "mean" or the task's aggregation function


def scores(
    task: str,
    metric: str,
    samples_path: Path | None,
    run_aggregations: dict[str, str],
    functions: bool = True,
) -> Scores | str:
    """The per-doc values of ``metric``, or why they cannot be used (a short reason).

    ``functions=False``: only mean aggregations (the history's non-paper metrics include
    submission writers and judge-failure counters that are not worth re-running)."""
    if samples_path is None:
        return "no samples file (run with --log_samples)"
    how = aggregation(task, metric, run_aggregations)
    if how is None:
        return f"aggregation of {metric!r} unknown"
    if not functions and how != "mean":
        return "not a mean; only paper measures re-run their aggregation"
    if isinstance(how, str) and how != "mean":
        return f"aggregation {how!r} is not resampled"
    docs = load_samples(samples_path)
    ids = sorted(d for d, record in docs.items() if metric in record)
    if len(ids) < 2:
        return f"{len(ids)} logged docs with {metric!r}"
    items = [docs[d][metric] for d in ids]
    if how == "mean" and not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in items):
        return f"per-doc {metric!r} values are not numbers"
    return Scores(task, metric, ids, items, how)


def estimate(s: Scores, iters: int = stats.DEFAULT_ITERS) -> Estimate | str:
    """The metric over all docs with its resampling standard error (in the stored unit)."""
    seed = stats.seed_for(s.task, s.metric)
    if s.how == "mean":
        return stats.mean_estimate(s.items, iters, seed)
    per_doc = _as_mean(s)
    if per_doc is not None:
        est = stats.mean_estimate(per_doc, iters, seed)
        return Estimate(est.value, est.se, f"bootstrap ({len(per_doc)} docs; the aggregation is their mean)")
    units = _units(s.task, s.items)
    if len(units) < 2:
        return "fewer than 2 resampling units"
    fn = _quiet(s.how)
    picks, factor = _halves(len(units), function_iters(iters), seed)
    try:
        with _silenced():
            value = fn(s.items)
            draws = np.array([fn(_flatten(units, pick)) for pick in picks])
    except Exception as exc:  # the task's own code: any failure means "no interval", never a crash
        return f"aggregation failed on a resample ({type(exc).__name__}: {exc})"[:200]
    return Estimate(value, stats.spread(draws) * factor, f"resampled aggregation ({len(units)} units)")


def paired(a: Scores, b: Scores, iters: int = stats.DEFAULT_ITERS) -> Estimate | str:
    """``a - b`` over the docs both runs scored, resampling the same docs in both."""
    common = sorted(set(a.doc_ids) & set(b.doc_ids))
    if len(common) < 2:
        return f"{len(common)} docs scored by both runs"
    pos_a = {d: i for i, d in enumerate(a.doc_ids)}
    pos_b = {d: i for i, d in enumerate(b.doc_ids)}
    items_a = [a.items[pos_a[d]] for d in common]
    items_b = [b.items[pos_b[d]] for d in common]
    seed = stats.seed_for(a.task, a.metric, "paired")
    if a.how == "mean" and b.how == "mean":
        return stats.paired_mean_difference(items_a, items_b, iters, seed)
    if a.how != b.how or a.how == "mean":
        return "the two runs aggregate differently"
    mean_a = _as_mean(Scores(a.task, a.metric, common, items_a, a.how))
    mean_b = _as_mean(Scores(b.task, b.metric, common, items_b, b.how))
    if mean_a is not None and mean_b is not None:
        est = stats.paired_mean_difference(mean_a, mean_b, iters, seed)
        return Estimate(
            est.value, est.se, f"paired bootstrap ({len(common)} docs; the aggregation is their mean)"
        )
    units_a, units_b = _units(a.task, items_a), _units(b.task, items_b)
    if len(units_a) != len(units_b) or len(units_a) < 2:
        return "the two runs' docs do not group alike"
    fn = _quiet(a.how)
    picks, factor = _halves(len(units_a), function_iters(iters), seed)
    try:
        with _silenced():
            value = fn(items_a) - fn(items_b)
            draws = np.array([fn(_flatten(units_a, p)) - fn(_flatten(units_b, p)) for p in picks])
    except Exception as exc:
        return f"aggregation failed on a resample ({type(exc).__name__}: {exc})"[:200]
    return Estimate(value, stats.spread(draws) * factor, f"paired resampled aggregation ({len(common)} docs)")


def standard_error(
    task: str,
    key: str,
    metrics: dict[str, float | None],
    run_aggregations: dict[str, str],
    samples_path: Path | None,
    iters: int = stats.DEFAULT_ITERS,
    functions: bool = True,
) -> tuple[float | None, str]:
    """The standard error of ``metrics[key]`` (stored unit) and where it came from, or None and why not."""
    metric, _, filt = key.partition(",")
    stderr = metrics.get(f"{metric}_stderr,{filt}")
    if stderr is not None and stderr >= 0:
        return stderr, "lmms-eval stderr"
    mtime = samples_path.stat().st_mtime if samples_path is not None and samples_path.exists() else None
    cache_key = (task, key, str(samples_path), mtime, iters, functions)
    if cache_key not in _SE_CACHE:
        _SE_CACHE[cache_key] = _resampled_se(task, metric, run_aggregations, samples_path, iters, functions)
    return _SE_CACHE[cache_key]


_SE_CACHE: dict[tuple, tuple[float | None, str]] = {}


def _resampled_se(
    task: str,
    metric: str,
    run_aggregations: dict[str, str],
    samples_path: Path | None,
    iters: int,
    functions: bool,
) -> tuple[float | None, str]:
    s = scores(task, metric, samples_path, run_aggregations, functions)
    if isinstance(s, str):
        return None, s
    est = estimate(s, iters)
    if isinstance(est, str):
        return None, est
    return est.se, est.method
