"""Child process for the adapter's Ctrl-C test: two pool workers are 30 s into later batches when
Ctrl-C lands in the model step of the first batch (the main process, outside the pool's generator).

``python tests/interrupted_adapter.py CHECKPOINT`` prints ``PIDS`` with the workers' pids from inside
the model step and waits there; on SIGINT it prints ``INTERRUPTED`` and exits with 130. Workers
import this module by name (the adapter class travels to them), so ``tests`` must be importable."""

from __future__ import annotations

import sys
import time

from adapter_helpers import attach_docs, gen_request, random_image
from pool_helpers import ctrl_c_as_in_a_terminal

from ov_eval.models.llava_onevision import LlavaOneVision

SLOW_S = 30.0


class SlowWorkersAdapter(LlavaOneVision):
    def _build_from_job(self, job):
        if job.doc_id != 0:  # in a worker: every sample but the first takes 30 s to build
            time.sleep(SLOW_S)
        return super()._build_from_job(job)

    def _generate(self, *args, **kwargs):
        while len(self._pool.worker_pids()) < 2:
            time.sleep(0.1)
        print("PIDS", *self._pool.worker_pids(), flush=True)
        time.sleep(600)  # the model step of the first batch: the test interrupts it


def main(checkpoint: str) -> None:
    ctrl_c_as_in_a_terminal()
    model = SlowWorkersAdapter(
        pretrained=checkpoint, device="cpu", dtype="float32", batch_size=1, preprocess_workers=2
    )
    attach_docs(model, [{"visuals": [random_image(64, 48, seed=i)]} for i in range(6)])
    # at batch size 1 the longest prompt goes first: doc 0's, so the first batch is the quick one
    prompts = ["Describe this picture in every detail, please."] + ["What?"] * 5
    try:
        model.generate_until([gen_request(i, prompt) for i, prompt in enumerate(prompts)])
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
        sys.exit(130)


if __name__ == "__main__":
    from interrupted_adapter import main as main_by_name  # the class pickled by module name, not __main__

    main_by_name(sys.argv[1])
