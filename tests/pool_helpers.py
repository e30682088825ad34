"""Light worker payloads for the preprocessing-pool tests (imported by spawned workers by name)."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

from ov_eval.models.preprocess_pool import PreprocessPool


class Echo:
    """A worker state: ``("sleep", s, value)`` sleeps then answers, ``("die", s, ...)`` sleeps then kills the worker
    the way a decoder segfault would (no exception, the process is just gone); ``heap`` and
    ``tokenize`` report what a worker's allocator and tokenizer do."""

    def __call__(self, payload):
        kind, seconds, value = payload
        time.sleep(seconds)
        if kind == "die":
            os._exit(3)
        if kind == "heap":
            return (where_a_large_block_lives(value), os.getpid())
        if kind == "tokenize":
            return (threads_started_by_batch_encoding(value), os.getpid())
        if kind == "priority":
            return (os.getpriority(os.PRIO_PROCESS, 0), os.getpid())
        if kind == "cores":
            return (cores_of_this_process_and_a_new_thread(), os.getpid())
        return (value, os.getpid())


class Encoder:
    """A worker state that answers like ``BatchPreparer``: ``(value, megabytes, dtype)`` -> a
    ``BatchResult`` whose ``encoded`` holds a large tensor filled with ``value`` and a small one;
    a negative ``value`` kills the worker."""

    def __call__(self, payload):
        import torch

        from ov_eval.models.preprocess_pool import BatchResult

        value, megabytes, dtype = payload
        if value < 0:
            os._exit(3)  # dies as a decoder segfault would
        dtype = getattr(torch, dtype)
        count = (megabytes << 20) // torch.empty((), dtype=dtype).element_size()
        return BatchResult(
            outcomes=[value],
            encoded={"pixel_values": torch.full((count,), value, dtype=dtype), "ids": torch.tensor([value])},
        )


def threads_started_by_batch_encoding(tokenizer_dir: str) -> int:
    """Threads this process gained from one padded batch through a fast tokenizer."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    before = len(os.listdir("/proc/self/task"))
    tokenizer([f"sample number {i} of a batch" for i in range(256)], padding=True)
    return len(os.listdir("/proc/self/task")) - before


def cores_of_this_process_and_a_new_thread() -> tuple[frozenset[int], frozenset[int]]:
    """The cores this worker may run on, and those of a thread it starts now (as decord starts its
    decoding thread for every video): pinning must hold for both."""
    import threading

    seen: list[frozenset[int]] = []
    thread = threading.Thread(
        target=lambda: seen.append(frozenset(os.sched_getaffinity(threading.get_native_id())))
    )
    thread.start()
    thread.join()
    return frozenset(os.sched_getaffinity(0)), seen[0]


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def where_a_large_block_lives(megabytes: int) -> tuple[int, int]:
    """Allocate and free a ``megabytes`` array; return (bytes glibc held in separate ``mmap``s while
    the array lived, bytes of free memory glibc kept in its heap after the free). glibc's default
    maps such a block on its own and unmaps it on free (every batch then page-faults its memory in
    again); a process that keeps freed memory serves it from the heap and keeps it there."""
    import numpy as np

    mallinfo2 = ctypes.CDLL(None).mallinfo2
    mallinfo2.restype = _MallInfo2
    block = np.ones(megabytes << 20, dtype=np.uint8)
    mapped = mallinfo2().hblkhd
    del block
    return mapped, mallinfo2().fordblks


def ctrl_c_as_in_a_terminal() -> None:
    """Child processes of the Ctrl-C tests: a process started in the background of a non-interactive
    shell inherits an ignored SIGINT, and Python then installs no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def run_and_hang(mode: str) -> None:
    """Child-process body for the shutdown tests: start 2 workers on slow payloads, print their pids,
    then get killed (``kill``: SIGKILL from the test) or interrupted (``interrupt``: SIGINT)."""
    ctrl_c_as_in_a_terminal()
    pool = PreprocessPool(2, Echo, ())
    items = ((i, ("sleep", 30.0 if i else 0.0, i)) for i in range(10))
    stream = pool.ordered(items, in_flight=3, on_broken=lambda key, payload: None)
    next(stream)  # both workers up (the first answer arrived), the next payloads sleep for 30 s
    while len(pool.worker_pids()) < 2:
        time.sleep(0.1)
    try:  # the test sends SIGINT as soon as it reads the pids: it may land in the print
        print("PIDS", *pool.worker_pids(), flush=True)
        for _ in stream:
            pass
    except KeyboardInterrupt:
        # a Ctrl-C that lands here, between two results, leaves the generator suspended: closing it
        # runs its cleanup (the workers are terminated), as it does when Ctrl-C lands inside it
        stream.close()
        print("INTERRUPTED", flush=True)
        sys.exit(130)


if __name__ == "__main__":
    run_and_hang(sys.argv[1])


def use_slabs_and_exit_without_closing() -> None:
    """Child-process body: a pool with slabs prepares a few batches, one result is still held, and
    the process exits without closing the pool (as an adapter does); prints the slabs' names."""
    pool = PreprocessPool(2, Encoder, (), slabs=True)
    held = None
    for _key, result in pool.ordered(((v, (v, 2, "uint8")) for v in range(6)), 3, None):
        held = result
    assert held is not None
    print(" ".join(sorted(pool.slabs.names())), flush=True)
