"""What scaling the machine itself allows right now, for the kinds of work preparation does.

On a shared or virtualised machine the preprocessing ceiling's worker scaling is bounded by
what the machine gives a second process. Each probe below runs in 1..N processes that share
nothing (no pickling, no I/O), measured right after the ceiling:

* ``python``: a pure-Python loop (no memory traffic): the cores themselves;
* ``memory``: float32 arithmetic streaming over 64 MiB buffers (what normalising crops and
  frames does): the memory system's share per process;
* ``resize``: PIL bicubic resizing of a 2304x1728 image (what AnyRes crops and frames cost).

A pool ratio well below these is the pool's fault; one between ``memory`` and ``resize`` is
the machine's. On the 2-vCPU development VM ``memory`` scaled 1.4x and ``resize`` 1.65-1.75x
while ``python`` scaled 1.9x+.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from ov_eval.models.preprocess_pool import START_METHOD, PreprocessPool

LOOP = 2_000_000


def spin(n: int = LOOP) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def stream(passes: int = 40) -> float:
    import numpy as np

    a = np.ones(16 << 20, dtype=np.float32)  # 64 MiB, allocated once: no page faults in the loop
    b = np.empty_like(a)
    for _ in range(passes):
        np.multiply(a, 0.5, out=b)
        np.subtract(b, 0.25, out=a)
    return float(a[0])


def resize(times: int = 12) -> int:
    import numpy as np
    from PIL import Image

    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (1728, 2304, 3), dtype=np.uint8))
    for _ in range(times):
        image.resize((1536, 1152), Image.Resampling.BICUBIC)
    return times


PROBES: dict[str, Callable[[], object]] = {"python": spin, "memory": stream, "resize": resize}


def processes_rate(workers: int, probe: Callable[[], object] = spin, tasks: int = 6) -> float:
    """Probe runs per second with ``workers`` processes (start-up excluded, as in the ceiling)."""
    context = multiprocessing.get_context(START_METHOD)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for future in [pool.submit(probe) for _ in range(workers)]:  # start and warm every worker
            future.result()
        start = time.perf_counter()
        for future in [pool.submit(probe) for _ in range(tasks * workers)]:
            future.result()
        return tasks * workers / (time.perf_counter() - start)


def scaling(worker_counts: list[int]) -> dict[str, dict[int, float]]:
    """``{probe: {workers: rate / rate with one process}}`` for every count above 1."""
    counts = sorted({w for w in worker_counts if w >= 1} | {1})
    result = {}
    for name, probe in PROBES.items():
        rates = {w: processes_rate(w, probe) for w in counts}
        result[name] = {w: rates[w] / rates[1] for w in counts if w > 1}
    return result


def _loop_rate(seconds: float) -> float:
    """Rounds of a small Python loop per second in this process: a stand-in for a model loop that
    launches kernels (CPU-bound, single-threaded)."""
    end, rounds = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        spin(10_000)
        rounds += 1
    return rounds / seconds


class Burn:
    """A pool worker's state that keeps its core busy for the seconds it is given (the same loop)."""

    def __call__(self, seconds: float) -> float:
        return _loop_rate(seconds)


def model_loop_share(workers: int, seconds: float = 3.0) -> float:
    """This process's loop rate while ``workers`` workers of the adapter's pool (pinned as by
    default, at the pool's lower priority) burn CPU, over its rate alone. With one worker per core
    the loop shares a core with one of them: near 1.0 means the loop keeps that core."""
    alone = _loop_rate(seconds / 2)
    pool = PreprocessPool(workers, Burn, (), pin=True)
    try:
        for future in [pool.submit(0.1) for _ in range(workers)]:  # every worker started
            future.result()
        busy = [pool.submit(seconds + 1.0) for _ in range(workers)]
        time.sleep(0.5)
        beside = _loop_rate(seconds)
        for future in busy:
            future.result()
    finally:
        pool.close()
    return beside / alone
