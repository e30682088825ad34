"""Build the adapters under test and time one workload through ``generate_until``.

Both adapters are driven exactly as lmms-eval drives them: ``task_dict`` holds the
docs, requests are real ``Instance`` objects whose ``doc_to_visual`` reads the doc.
Every run gets fresh requests with fresh ``gen_kwargs`` dicts because ``llava_hf``
mutates them (it pops ``until`` and writes ``image_sizes``).
"""

from __future__ import annotations

import copy
import gc
import time
from dataclasses import dataclass, field

import torch
from lmms_eval.api.instance import Instance

from bench.instrument import Counters, ModelProbe, PeakMemory
from bench.workloads import Workload
from ov_eval.models.model_args import DEFAULT_SYSTEM_PROMPT

TASK, SPLIT = "bench", "test"

# llava_hf applies the *tokenizer's* chat template to string content. The llava-hf OneVision
# template expects a list of typed parts and silently drops string content (no <image>
# token -> the processor refuses the sample), so the baseline gets plain ChatML with the
# same system turn as ours: both adapters then see the same prompt text.
BASELINE_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first %}<|im_start|>system\n"
    + DEFAULT_SYSTEM_PROMPT
    + "<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class Variant:
    label: str
    adapter: str  # "llava_hf" (baseline) or "ov" (ours)
    batch_size: int = 1
    prefetch_batches: int = 0
    stop_strings: str = "none"  # ours: the original driver's default; "task" honours `until`
    image_backend: str = "pil"  # ours: the original's resampling; "torchvision" is the port's default
    preprocess_workers: int | None = 0  # None = the adapter's default (cores per rank on GPU, 0 on CPU)


@dataclass
class Measurement:
    variant: Variant
    workload: str
    samples: int
    wall_s: float
    counters: Counters
    peak_memory_bytes: int
    peak_memory_resettable: bool
    predictions: list[str] = field(default_factory=list)

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.wall_s

    @property
    def visual_tokens_per_s(self) -> float:
        return self.counters.visual_tokens / self.wall_s

    @property
    def busy_fraction(self) -> float:
        return self.counters.busy_s / self.wall_s


def _doc_to_visual(doc: dict) -> list:
    return doc["visuals"]


def requests_for(workload: Workload, max_new_tokens: int) -> list[Instance]:
    """Greedy answers with lmms-eval's default stop ``["\n\n"]``, which ``llava_hf`` and our default
    (``stop_strings=none``) ignore: both generate the same number of tokens, so the comparison times
    the same work; the ``stop_strings=task`` variant shows what honouring the stop costs or saves."""
    return [
        Instance(
            request_type="generate_until",
            arguments=(
                prompt,
                {"max_new_tokens": max_new_tokens, "temperature": 0, "do_sample": False, "until": ["\n\n"]},
                _doc_to_visual,
                doc_id,
                TASK,
                SPLIT,
            ),
            idx=0,
            metadata={"task": TASK, "doc_id": doc_id, "repeats": 1, "split": SPLIT},
        )
        for doc_id, prompt in enumerate(workload.prompts)
    ]


def load_adapter(variant: Variant, pretrained: str, device: str, dtype: str, attn: str):
    if variant.adapter == "llava_hf":
        from lmms_eval.models.simple.llava_hf import LlavaHf

        # device_map must name the device: transformers 5 rejects llava_hf's default "".
        return LlavaHf(
            pretrained=pretrained,
            device=device,
            device_map=device,
            dtype=dtype,
            batch_size=1,
            attn_implementation=attn,
            chat_template=BASELINE_CHAT_TEMPLATE,
        )
    from ov_eval.models.llava_onevision import LlavaOneVision

    return LlavaOneVision(
        pretrained=pretrained,
        device=device,
        dtype=dtype,
        attn_implementation=attn,
        batch_size=variant.batch_size,
        prefetch_batches=variant.prefetch_batches,
        stop_strings=variant.stop_strings,
        image_backend=variant.image_backend,
        preprocess_workers="auto" if variant.preprocess_workers is None else variant.preprocess_workers,
    )


def measure(
    variant: Variant,
    workloads: list[Workload],
    *,
    pretrained: str,
    device: str,
    dtype: str,
    attn: str = "sdpa",
    max_new_tokens: int = 16,
) -> list[Measurement]:
    """Load the adapter once, then per workload: warm up on one sample (lazy init, kernel
    selection, first-touch allocations), and time the whole workload in one ``generate_until``
    call, as lmms-eval issues it. The model is freed before returning so that variants never
    share memory (a 7B copy per variant would not fit next to the next one)."""
    adapter = load_adapter(variant, pretrained, device, dtype, attn)
    probe = ModelProbe(adapter.model, adapter.tokenizer.pad_token_id)
    memory = PeakMemory(device)
    results = []
    try:
        for workload in workloads:
            adapter.task_dict = {TASK: {SPLIT: workload.docs}}
            adapter.generate_until(requests_for(workload, max_new_tokens)[:1])
            probe.reset()
            gc.collect()
            memory.start()
            start = time.perf_counter()
            predictions = adapter.generate_until(requests_for(workload, max_new_tokens))
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            wall = time.perf_counter() - start
            results.append(
                Measurement(
                    variant=variant,
                    workload=workload.name,
                    samples=len(workload),
                    wall_s=wall,
                    counters=copy.copy(probe.counters),  # the next warm-up must not count here
                    peak_memory_bytes=memory.peak_bytes(),
                    peak_memory_resettable=memory.resettable,
                    predictions=list(predictions),
                )
            )
        return results
    finally:
        probe.detach()
        del adapter, probe
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
