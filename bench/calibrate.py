"""What scaling the machine itself allows right now: a pure-Python CPU loop in 1..N processes.

On a shared machine the preprocessing ceiling's worker scaling is bounded by the cores
other jobs leave free. The same worker count running a loop that shares nothing
(no memory traffic, no I/O, no pickling) shows that bound, measured at the same time,
so a scaling ratio below it is the pool's fault and one at it is the machine's.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

from ov_eval.models.preprocess_pool import START_METHOD

LOOP = 2_000_000


def spin(n: int = LOOP) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def processes_rate(workers: int, tasks: int = 12) -> float:
    """Loops per second with ``workers`` processes (start-up excluded, as in the ceiling)."""
    context = multiprocessing.get_context(START_METHOD)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        list(pool.map(spin, [LOOP // 10] * workers))  # start every worker
        start = time.perf_counter()
        list(pool.map(spin, [LOOP] * tasks))
        return tasks / (time.perf_counter() - start)


def scaling(worker_counts: list[int]) -> dict[int, float]:
    """``{workers: rate / rate with one process}`` for every count above 1."""
    counts = sorted({w for w in worker_counts if w >= 1} | {1})
    rates = {w: processes_rate(w) for w in counts}
    return {w: rates[w] / rates[1] for w in counts if w > 1}
