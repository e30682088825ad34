"""``--model llava_onevision``: LLaVA-OneVision on the Hugging Face port, batched, paper-exact.

Registered through the ``lmms_eval.models`` entry point (ov_eval/manifest.py), it
replaces lmms-eval's built-in class of the same id, which needs the unmaintained
``llava`` package and runs one sample at a time.

What it guarantees:

* The paper's visual token strategy (§3.2, App. C.1): one image -> AnyRes-Max-9;
  several images -> base resolution, 729 tokens each (all of them unless
  ``max_images`` is set); a video
  -> ``max_frames_num`` uniform frames pooled to 196 tokens each; image + video in
  one prompt works. Prompts are the original ChatML with its system turn
  (``prompting.py``); multi-image layout follows the original (``hf_port.py``).
* The original driver's decoding and scoring (lmms-eval's built-in
  ``llava_onevision``): the task's ``until`` is ignored (``stop_strings=none``),
  sampling only when the task sets ``do_sample``, PIL resampling, no output id the
  original's vocabulary lacks, and likelihood = mean loss over the continuation
  plus the closing ``<|im_end|>\n`` (``likelihood=mean``).
* Batching that does not change answers: requests are grouped by modality and
  generation settings, sorted by length, left-padded; greedy outputs at any batch
  size equal batch size 1 in float32 (tested).
* Per-sample failure isolation: a corrupt/missing visual, an unusable prompt or an
  out-of-memory at batch size 1 costs that sample only; it is logged with task,
  doc id and cause, answered with an error marker that ov-eval's scoring excludes
  (``ov_eval.lmms_patches``), and counted. An out-of-memory batch is split and retried.
* Data parallel under ``accelerate launch`` (lmms-eval shards the docs; each rank
  runs its own copy of the model), model parallel with ``device_map=auto``.
"""

from __future__ import annotations

import copy
import gc
import os
import pickle
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import torch
from accelerate import Accelerator
from lmms_eval.api.instance import Instance
from lmms_eval.api.model import lmms
from loguru import logger
from tqdm import tqdm
from transformers import BatchFeature

from ov_eval import lmms_patches
from ov_eval.models.batching import PlannedRequest, plan_batches, settings_key
from ov_eval.models.errors import ERROR_MARKER, FAILED_LOGLIKELIHOOD, ErrorLog, ErrorRecord, SampleError
from ov_eval.models.hf_port import (
    concatenated_crops,
    load_model,
    load_processor,
    resize_frames_like_original,
    vocabulary_mask,
)
from ov_eval.models.model_args import AdapterArgs, merge_cli_config
from ov_eval.models.pixels import RAW_PIXELS, PixelTables
from ov_eval.models.preprocess_pool import (
    BatchPreparer,
    BatchResult,
    PreprocessPool,
    SampleJob,
    batches_in_flight,
    default_workers,
    prepare_isolated,
    shared_memory_has_room,
    torch_tensors,
)
from ov_eval.models.prompting import chatml_prompt, user_content, validate_context
from ov_eval.models.visuals import Modality, SampleVisuals, VideoFrames, classify, is_video_path, load_visuals
from ov_eval.provenance import write_adapter_settings
from ov_eval.run_files import ERROR_LOG_DIR_ENV, error_log_name

lmms_patches.install()

T = TypeVar("T")
WORKER_DIED = (
    "preprocessing worker process died while preparing this sample (decoder crash or out of memory?)"
)


@dataclass
class PreparedSample:
    index: int
    where: str
    request_type: str
    task: str
    split: str
    doc_id: int
    prompt: str  # loglikelihood: the prompt followed by the scored text
    visuals: SampleVisuals
    continuation: str = ""  # loglikelihood only
    context_prompt: str = ""  # loglikelihood only: the prompt alone (what is not scored)
    job: SampleJob | None = None  # set when built in a worker process, whose decoded visuals stay there


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, (RuntimeError, MemoryError)) and (
        "out of memory" in text or "can't allocate memory" in text or isinstance(exc, MemoryError)
    )


class LlavaOneVision(lmms):
    is_simple = True

    @classmethod
    def cache_fingerprint(cls, model_args: dict[str, Any]) -> dict[str, Any]:
        """What identifies this model's answers for these ``model_args`` (checkpoint file digests, resolved
        visual settings, adapter code version). The response-cache patch asks any model class for it
        (``ov_eval.lmms_patches.resume``), so that answers of a retrained checkpoint are never reused."""
        from ov_eval.fingerprint import model_fingerprint

        return model_fingerprint(model_args)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.args = AdapterArgs.from_kwargs(**kwargs)
        self.accelerator = Accelerator()
        if self.accelerator.num_processes > 1:
            if self.args.device_map == "auto":
                raise ValueError(
                    "llava_onevision: device_map=auto (model parallel) cannot be combined with data parallel"
                )
            device = str(self.accelerator.device)
            self._rank = self.accelerator.process_index
            self._world_size = self.accelerator.num_processes
        else:
            device = self.args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.processor = load_processor(self.args)
        self.tokenizer = self.processor.tokenizer
        self._pixel_tables = PixelTables.from_processor(self.processor)  # finishes uint8 pixels (_to_device)
        self._model = load_model(self.args, device)
        # ids the original model does not have: never generated, excluded from likelihoods
        self._masked_ids = vocabulary_mask(self.processor, self._model.config.text_config.vocab_size)
        self._device = torch.device(device) if not self.args.device_map else self._model.device
        self.batch_size_per_gpu = self.args.batch_size
        log_dir = os.environ.get(ERROR_LOG_DIR_ENV)
        self.errors = ErrorLog(os.path.join(log_dir, error_log_name(self.rank)) if log_dir else None)
        self.model_calls = 0  # forward/generate calls, for tests and benchmarks
        self._prefetch_processor = None  # created on first use (see _prepared_batches)
        self._pool: PreprocessPool | None = None  # started on first use (see _pool_prepared_batches)
        self.preprocess_workers = (
            self.args.preprocess_workers
            if self.args.preprocess_workers is not None
            else default_workers(str(self._device))
        )
        logger.info(
            f"[ov-eval] llava_onevision: {self.args.pretrained} on {self._device} dtype={self._model.dtype} "
            f"attn={self.args.attn_implementation} batch_size={self.batch_size_per_gpu} rank={self.rank}/{self.world_size}"
        )
        if log_dir:  # ov-eval run records these effective settings in the results (ov_eval/provenance.py)
            write_adapter_settings(log_dir, self)

    # ------------------------------------------------------------------ lmms-eval plumbing
    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None):
        """``batch_size``/``device`` may be given in ``--model_args`` too (those win over the CLI's)."""
        from lmms_eval.utils import simple_parse_args_string

        return cls(**merge_cli_config(simple_parse_args_string(arg_string), additional_config))

    @property
    def model(self):
        return self._model

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def batch_size(self) -> int:
        return self.batch_size_per_gpu

    # ------------------------------------------------------------------ request types
    def generate_until(self, requests: list[Instance]) -> list[str]:
        outputs: list[str | None] = [None] * len(requests)
        planned = []
        for index, request in enumerate(requests):
            context, gen_kwargs, doc_to_visual, doc_id, task, split = request.args
            try:
                planned.append(
                    self._plan(index, context, doc_to_visual, task, split, doc_id, settings_key(gen_kwargs))
                )
            except SampleError as exc:
                outputs[index] = self._record_failure(request, exc.cause)
        batches = self._progress(plan_batches(planned, self.batch_size), "generate_until")
        with closing(self._prepared_batches(requests, batches, outputs)) as prepared:
            for batch, samples, encoded in prepared:
                gen_kwargs = requests[batch[0].index].args[1]
                run = partial(self._generate, gen_kwargs=gen_kwargs, encoded=encoded, encoded_for=samples)
                for sample, result in zip(samples, self._isolating_failures(samples, run), strict=True):
                    if isinstance(result, SampleError):
                        result = self._record_failure(requests[sample.index], result.cause)
                    outputs[sample.index] = result
        return [text if text is not None else "" for text in outputs]

    def loglikelihood(self, requests: list[Instance]) -> list[tuple[float, bool]]:
        outputs: list[tuple[float, bool] | None] = [None] * len(requests)
        planned = []
        for index, request in enumerate(requests):
            context, _continuation, doc_to_visual, doc_id, task, split = request.args
            try:
                planned.append(self._plan(index, context, doc_to_visual, task, split, doc_id, ""))
            except SampleError as exc:
                self._record_failure(request, exc.cause)
                outputs[index] = FAILED_LOGLIKELIHOOD
        batches = self._progress(plan_batches(planned, self.batch_size), "loglikelihood")
        failed = FAILED_LOGLIKELIHOOD
        with closing(self._prepared_batches(requests, batches, outputs, failed_value=failed)) as prepared:
            for _batch, samples, encoded in prepared:
                run = partial(self._score_continuations, encoded=encoded, encoded_for=samples)
                for sample, result in zip(samples, self._isolating_failures(samples, run), strict=True):
                    if isinstance(result, SampleError):
                        self._record_failure(requests[sample.index], result.cause)
                        result = failed
                    outputs[sample.index] = result
        return [value if value is not None else FAILED_LOGLIKELIHOOD for value in outputs]

    def generate_until_multi_round(self, requests: list[Instance]) -> list[list[str]]:
        """Each round is a fresh prompt built by the task's ``doc_to_text`` from earlier answers,
        as in the original driver; rounds of one doc are sequential by nature."""
        results: list[list[str]] = []
        for request in self._progress(requests, "generate_until_multi_round"):
            context, gen_kwargs, doc_to_visual, doc_to_text, doc_id, task, split = request.args
            doc = self.task_dict[task][split][doc_id]
            rounds: list[str] = []
            visuals_raw, round_info = doc_to_visual(doc), None
            try:
                for round_idx in range(64):  # a task that never signals the end must not hang the run
                    if round_idx > 0:
                        visuals_raw, context, terminal, rounds, round_info = doc_to_text(
                            doc, previous_output=rounds, round_idx=round_idx, previous_round_info=round_info
                        )
                        rounds = list(rounds)
                        if terminal:
                            break
                    sample = self._build_sample(request, 0, context, visuals_raw, task, split, doc_id)
                    result = self._isolating_failures(
                        [sample], partial(self._generate, gen_kwargs=gen_kwargs)
                    )[0]
                    if isinstance(result, SampleError):
                        raise result
                    rounds.append(result)
            except SampleError as exc:
                rounds.append(self._record_failure(request, exc.cause))
            results.append(rounds)
        return results

    # ------------------------------------------------------------------ planning and preparation
    def _where(self, task: str, split: str, doc_id: int) -> str:
        return f"{task}/{split}/doc {doc_id}"

    def _raw_visuals(self, doc_to_visual: Callable | None, task: str, split: str, doc_id: int) -> list:
        where = self._where(task, split, doc_id)
        try:
            doc = self.task_dict[task][split][doc_id]
            raw = doc_to_visual(doc) if callable(doc_to_visual) else []
        except Exception as exc:
            raise SampleError(where, f"doc_to_visual failed: {type(exc).__name__}: {exc}") from exc
        if raw is None:
            return []
        return list(raw) if isinstance(raw, (list, tuple)) else [raw]

    def _plan(self, index, context, doc_to_visual, task, split, doc_id, key) -> PlannedRequest:
        """Classify a request and estimate its length without decoding videos (cheap first pass).
        At batch size 1 the visuals are not read at all (``ov_eval.models.batching``)."""
        where = self._where(task, split, doc_id)
        context = validate_context(context, where)
        if self.args.batch_size == 1:
            return PlannedRequest(index=index, modality=None, est_tokens=len(context) // 3, settings_key=key)
        raw = self._raw_visuals(doc_to_visual, task, split, doc_id)
        images = [v for v in raw if v is not None and not is_video_path(v) and not _is_frames(v)]
        num_videos = len(raw) - len(images) - sum(v is None for v in raw)
        images = images[: self.args.max_images]
        modality = classify(len(images), num_videos)
        est = len(context) // 3
        if modality == Modality.IMAGE and hasattr(images[0], "size"):
            width, height = images[0].size
            est += self.processor._get_number_of_features(height, width, 384, 384)
        else:
            est += 729 * len(images) + (196 * self.args.max_frames_num + 1) * num_videos
        return PlannedRequest(index=index, modality=modality, est_tokens=est, settings_key=key)

    def _build_sample(
        self, request, index, context, raw, task, split, doc_id, continuation=""
    ) -> PreparedSample:
        where = self._where(task, split, doc_id)
        visuals = load_visuals(
            raw,
            max_images=self.args.max_images,
            max_frames=self.args.max_frames_num,
            video_backend=self.args.video_decode_backend,
            where=where,
        )
        user = user_content(
            validate_context(context, where),
            len(visuals.images),
            len(visuals.videos),
            visuals.dropped_images,
            where,
        )
        prompt = chatml_prompt(user, self.args.system_prompt)
        return PreparedSample(
            index=index,
            where=where,
            request_type=request.request_type,
            task=task,
            split=split,
            doc_id=doc_id,
            prompt=prompt + self._scored_text(continuation)
            if request.request_type == "loglikelihood"
            else prompt,
            visuals=visuals,
            continuation=continuation,
            context_prompt=prompt,
        )

    def _scored_text(self, continuation: str) -> str:
        """What a loglikelihood request scores after the prompt. The original driver fills the
        assistant turn with the continuation and renders it, so the turn's closing
        ``<|im_end|>\n`` is scored too; ``likelihood=sum`` scores the continuation alone."""
        return continuation + "<|im_end|>\n" if self.args.likelihood == "mean" else continuation

    def _prepare(
        self, requests, batch: list[PlannedRequest], outputs: list, failed_value: Any = None
    ) -> list[PreparedSample]:
        samples = []
        for index, job in self._sample_jobs(requests, batch):
            if isinstance(job, str):  # failed while reading the dataset
                self._fail_prepared(requests, index, job, outputs, failed_value)
                continue
            try:
                samples.append(self._build_from_job(job))
            except SampleError as exc:
                self._fail_prepared(requests, index, exc.cause, outputs, failed_value)
        return samples

    def _fail_prepared(self, requests, index: int, cause: str, outputs: list, failed_value: Any) -> None:
        """A sample that failed before the model: recorded, and its output set to ``failed_value``
        (loglikelihood) or the error marker (generation)."""
        marker = self._record_failure(requests[index], cause)
        outputs[index] = failed_value if failed_value is not None else marker

    @classmethod
    def preparation_view(cls, args: AdapterArgs, processor) -> LlavaOneVision:
        """An instance without model or accelerator, holding only what preparing a batch reads
        (``args``, processor, tokenizer): what a pool worker and the bench's ceiling run."""
        view = cls.__new__(cls)
        view.args = args
        view.processor = processor
        view.tokenizer = processor.tokenizer
        return view

    def _build_from_job(self, job: SampleJob) -> PreparedSample:
        """The same build for the inline path and for a worker process (``BatchPreparer``)."""
        return self._build_sample(
            job, job.index, job.context, job.raw, job.task, job.split, job.doc_id, job.continuation
        )

    # ------------------------------------------------------------------ model calls
    def _isolating_failures(
        self, samples: list[PreparedSample], run: Callable[[list[PreparedSample]], list[T]]
    ) -> list[T | SampleError]:
        """Run a batch; on failure split it in halves and retry, down to single samples.

        Halving handles an out-of-memory (smaller batches fit) and a poison sample
        (it ends up alone and fails alone) with the same mechanism, at the cost of
        log2(batch) extra calls. A single sample that still fails becomes a SampleError.
        """
        if not samples:
            return []
        try:
            return list(run(samples))
        except Exception as exc:  # noqa: BLE001 - every failure is attributed to samples below
            oom = is_out_of_memory(exc)
            self._free_memory()
            if len(samples) == 1:
                kind = "out of memory at batch size 1" if oom else "model failure"
                return [SampleError(samples[0].where, f"{kind}: {type(exc).__name__}: {str(exc)[:500]}")]
            logger.warning(
                f"[ov-eval] batch of {len(samples)} failed ({'out of memory' if oom else type(exc).__name__}); splitting"
            )
            half = len(samples) // 2
            return self._isolating_failures(samples[:half], run) + self._isolating_failures(
                samples[half:], run
            )

    def _free_memory(self) -> None:
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _processor_inputs(self, processor, samples: Sequence[PreparedSample]) -> BatchFeature:
        """Tokenize prompts and turn visuals into pixel tensors on the CPU (the expensive CPU step).

        Image crops come back concatenated over the batch, ``(crops, 3, H, W)``, not padded to the
        crop count of the batch's largest image: the port's model accepts both layouts and drops the
        padding itself before the vision tower (``get_image_features`` cuts each image to the crop
        count its ``image_sizes`` imply), so the tower sees the same pixels either way, while the
        padding would be built, copied between processes and moved to the GPU for nothing (a batch
        holding one 2304x1728 image pads every image to 31 crops, mostly zeros).

        Pixels come back as uint8, before the processor's rescale and normalise, which
        ``_to_device`` applies on the model's device (``ov_eval/models/pixels.py``: exact, a quarter
        of the bytes to build and move).
        """
        has_images = any(s.visuals.images for s in samples)
        videos = [video for s in samples for video in s.visuals.videos]
        if self.args.image_backend == "pil":
            videos = [resize_frames_like_original(v, processor.video_processor.size) for v in videos]
        encoded = processor(
            text=[s.prompt for s in samples],
            images=[s.visuals.images for s in samples] if has_images else None,
            videos=videos or None,
            padding=True,
            do_pad=False,
            return_tensors=None,
            **RAW_PIXELS,
        )
        data = dict(encoded)
        if "pixel_values" in data:
            data["pixel_values"] = concatenated_crops(data["pixel_values"])
        return BatchFeature(data, tensor_type="pt")

    def _to_device(self, inputs) -> dict[str, torch.Tensor]:
        """Move a batch to the model's device, then finish its uint8 pixels there in the model's dtype."""
        inputs = inputs.to(self.device)
        self._pixel_tables.finish_all(inputs, self._model.dtype)
        return inputs

    def _encode(self, samples, encoded=None, encoded_for=None) -> dict[str, torch.Tensor]:
        """Device tensors for ``samples``; reuse the prefetched encoding when it is for exactly these
        samples (a batch split after a failure is re-encoded here, synchronously)."""
        if (
            encoded is not None
            and encoded_for is not None
            and [s.index for s in samples] == [s.index for s in encoded_for]
        ):
            return self._to_device(encoded)
        return self._to_device(
            self._processor_inputs(self.processor, [self._with_visuals(s) for s in samples])
        )

    def _with_visuals(self, sample: PreparedSample) -> PreparedSample:
        """A sample built in a worker process comes back without its decoded visuals; decode them
        again here for the rare re-encode (a batch split after a failure)."""
        if sample.visuals is not None or sample.job is None:
            return sample
        rebuilt = self._build_from_job(sample.job)
        rebuilt.job = sample.job
        return rebuilt

    def _prepare_and_encode(self, requests, batch, outputs, failed_value) -> tuple[list[PreparedSample], Any]:
        samples = self._prepare(requests, batch, outputs, failed_value)
        try:
            return samples, self._processor_inputs(self._prefetch_processor, samples) if samples else None
        except Exception:  # noqa: BLE001 - the model step re-encodes and isolates the culprit sample
            return samples, None

    def _prepared_batches(
        self, requests, batches, outputs, failed_value=None
    ) -> Iterator[tuple[list, list, Any]]:
        """Yield ``(batch, samples, encoded)`` in order, preparing up to ``prefetch_batches`` batches ahead.

        Decoding videos, building AnyRes crops and tokenizing are CPU work that the
        original driver does on the thread that waits for the GPU. Here one background
        thread does it for the next batches while the model runs the current one
        (memory stays bounded: at most ``prefetch_batches`` prepared batches exist).
        The thread uses its own processor copy: a fast tokenizer must not be used by
        two threads at once ("Already borrowed"). With ``preprocess_workers`` > 0 the
        same work runs in a pool of worker processes instead (``_pool_prepared_batches``).

        Callers hold it in ``contextlib.closing``: an exception or Ctrl-C in their model step closes
        it then and there, not whenever the generator happens to be collected, and closing it drops
        the batches not yet started (pool workers are terminated, the prefetch thread's queue is
        cancelled) rather than preparing them for nobody.
        """
        if self.preprocess_workers > 0:
            yield from self._pool_prepared_batches(requests, batches, outputs, failed_value)
            return
        if self.args.prefetch_batches == 0:
            for batch in batches:
                yield batch, self._prepare(requests, batch, outputs, failed_value), None
            return
        if self._prefetch_processor is None:
            self._prefetch_processor = copy.deepcopy(self.processor)
        upcoming = iter(batches)
        pending: deque = deque()
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ov-eval-prefetch")

        def submit_next() -> None:
            batch = next(upcoming, None)
            if batch is not None:
                pending.append(
                    (batch, pool.submit(self._prepare_and_encode, requests, batch, outputs, failed_value))
                )

        try:
            for _ in range(self.args.prefetch_batches):
                submit_next()
            while pending:
                batch, future = pending.popleft()
                submit_next()
                samples, encoded = future.result()
                yield batch, samples, encoded
        finally:
            # closed early: the batch being prepared finishes (a thread cannot be stopped), the
            # queued ones are dropped; after a full pass there is nothing left to cancel
            pool.shutdown(wait=True, cancel_futures=True)

    def _sample_jobs(self, requests, batch: list[PlannedRequest]) -> list[tuple[int, SampleJob | str]]:
        """Each sample's inputs read from the dataset (which lives in this process), as plain data a
        worker process can receive; a sample that already fails here carries its cause instead."""
        jobs: list[tuple[int, SampleJob | str]] = []
        for item in batch:
            request = requests[item.index]
            context, second, doc_to_visual, doc_id, task, split = request.args
            continuation = ""
            try:
                if request.request_type == "loglikelihood":
                    doc = self.task_dict[task][split][doc_id]
                    continuation = second(doc) if callable(second) else second
                    if isinstance(continuation, list):  # doc_to_target may return a list; score the first
                        continuation = continuation[0]
                    continuation = str(continuation)
                    if not continuation:  # the original's prompt then has no answer turn to score
                        raise SampleError(self._where(task, split, doc_id), "empty continuation to score")
                raw = self._raw_visuals(doc_to_visual, task, split, doc_id)
            except SampleError as exc:
                jobs.append((item.index, exc.cause))
                continue
            job = SampleJob(item.index, request.request_type, context, raw, task, split, doc_id, continuation)
            jobs.append((item.index, job))
        return jobs

    def _preprocess_pool(self) -> PreprocessPool:
        if self._pool is None:
            factory_args = (type(self), self.args, pickle.dumps(self.processor))
            self._pool = PreprocessPool(
                self.preprocess_workers,
                BatchPreparer,
                factory_args,
                pin=self.args.pin_preprocess_workers,
                slabs=shared_memory_has_room(),
            )
            shares = self._pool.shares
            logger.info(
                f"[ov-eval] preparing batches in {self.preprocess_workers} worker processes"
                + (f", each on its own {len(shares[-1])}+ core(s)" if shares else "")
            )
        return self._pool

    def _pool_prepared_batches(
        self, requests, batches, outputs, failed_value=None
    ) -> Iterator[tuple[list, list, Any]]:
        """``_prepared_batches`` on worker processes: the same samples, tensors and error records.

        Up to ``batches_in_flight(preprocess_workers, prefetch_batches)`` batches are in flight
        (every worker busy, memory bounded). Failures are recorded when their batch is consumed, in sample
        order, so the error log reads as the inline path's.
        """
        pool = self._preprocess_pool()

        def payloads():
            for batch in batches:
                jobs = self._sample_jobs(requests, batch)
                yield (batch, jobs), [job for _, job in jobs if isinstance(job, SampleJob)]

        def on_broken(_key, payload: list[SampleJob]) -> BatchResult:
            return prepare_isolated(pool, payload, WORKER_DIED)

        in_flight = batches_in_flight(self.preprocess_workers, self.args.prefetch_batches)
        with closing(pool.ordered(payloads(), in_flight, on_broken)) as stream:  # closed early: workers stop
            for (batch, jobs), result in stream:
                outcomes = iter(result.outcomes)
                samples = []
                for index, job in jobs:
                    outcome = job if isinstance(job, str) else next(outcomes)
                    if isinstance(outcome, PreparedSample):
                        outcome.job = job
                        samples.append(outcome)
                        continue
                    self._fail_prepared(requests, index, outcome, outputs, failed_value)
                yield batch, samples, torch_tensors(result.encoded)

    def _generation_config(self, gen_kwargs: dict[str, Any]) -> dict[str, Any]:
        """The task's settings as the original driver applies them: greedy unless ``do_sample``
        (a temperature alone does not sample), ``until`` only with ``stop_strings=task``."""
        temperature = float(gen_kwargs.get("temperature", 0) or 0)
        do_sample = _as_bool(gen_kwargs.get("do_sample", False))
        config: dict[str, Any] = {
            "max_new_tokens": int(
                gen_kwargs.get("max_new_tokens", gen_kwargs.get("max_gen_toks", self.args.max_new_tokens))
            ),
            "do_sample": do_sample,
            "num_beams": int(gen_kwargs.get("num_beams", 1) or 1),
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.tokenizer.convert_tokens_to_ids("<|im_end|>"),
            "use_cache": True,
            "suppress_tokens": self._masked_ids,
        }
        if do_sample:
            config["temperature"] = temperature if temperature > 0 else 1.0
            if gen_kwargs.get("top_p") is not None:
                config["top_p"] = float(gen_kwargs["top_p"])
        else:  # checkpoint generation_config may carry sampling knobs; greedy must not see them
            config.update(temperature=None, top_p=None, top_k=None)
        stops = (
            [s for s in _as_list(gen_kwargs.get("until")) if s] if self.args.stop_strings == "task" else []
        )
        if stops:
            config["stop_strings"] = stops
            config["tokenizer"] = self.tokenizer
        return config

    def _generate(
        self, samples: list[PreparedSample], gen_kwargs: dict[str, Any], encoded=None, encoded_for=None
    ) -> list[str]:
        inputs = self._encode(samples, encoded, encoded_for)
        config = self._generation_config(gen_kwargs)
        self.model_calls += 1
        with torch.inference_mode():
            output = self._model.generate(**inputs, **config)
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return [cut_at_stop_strings(text, config.get("stop_strings", [])).strip() for text in texts]

    def _score_continuations(
        self, samples: list[PreparedSample], encoded=None, encoded_for=None
    ) -> list[tuple[float, bool]]:
        """Negative log-likelihood of each sample's scored text given its prompt, and whether greedy
        decoding would produce it; lmms-eval's multiple-choice scoring takes the argmin (a loss).

        ``likelihood=mean`` is the original driver's number: the model's mean token loss
        over the continuation plus ``<|im_end|>\n``. The scored tokens are, as there, the
        ones the full text has beyond the prompt's own tokenization (the prompt and the
        full text are tokenized separately). Probabilities are normalised over the
        original's vocabulary (``vocabulary_mask``).
        """
        inputs = self._encode(samples, encoded, encoded_for)  # full texts, left-padded
        scored = []
        for sample in samples:
            full = len(self.tokenizer(sample.prompt, add_special_tokens=False)["input_ids"])
            prompt = len(self.tokenizer(sample.context_prompt, add_special_tokens=False)["input_ids"])
            if not sample.continuation or full <= prompt:
                raise SampleError(sample.where, "empty continuation to score")
            scored.append(full - prompt)
        keep = max(scored) + 1  # rows end together (left padding): only the last positions are needed
        self.model_calls += 1
        with torch.inference_mode():
            logits = self._model(**inputs, logits_to_keep=keep).logits.float()
            logits[..., self._masked_ids] = float("-inf")
        width = inputs["input_ids"].shape[1]
        results = []
        for i, n in enumerate(scored):
            predicting = logits[i, keep - n - 1 : keep - 1]  # position t predicts token t+1
            targets = inputs["input_ids"][i, width - n :]
            logprobs = torch.log_softmax(predicting, dim=-1).gather(-1, targets[:, None]).squeeze(-1)
            greedy = bool((predicting.argmax(-1) == targets).all())
            loss = -logprobs.mean() if self.args.likelihood == "mean" else -logprobs.sum()
            results.append((float(loss), greedy))
        return results

    # ------------------------------------------------------------------ failures and progress
    def _record_failure(self, request: Instance, cause: str) -> str:
        task = (
            request.metadata.get("task", "?")
            if isinstance(request.metadata, dict)
            else getattr(request, "task_name", "?")
        )
        split = request.metadata.get("split", "?") if isinstance(request.metadata, dict) else "?"
        doc_id = request.metadata.get("doc_id", -1) if isinstance(request.metadata, dict) else -1
        self.errors.add(
            ErrorRecord(
                task=task, split=split, doc_id=int(doc_id), request_type=request.request_type, cause=cause
            )
        )
        _make_loggable(request)
        return f"{ERROR_MARKER} {cause}"

    def _progress(self, items: list, desc: str):
        return tqdm(items, desc=f"llava_onevision {desc}", disable=self.rank != 0 or len(items) < 2)


def _make_loggable(request: Instance) -> None:
    """Replace text that cannot be written as UTF-8 (lone surrogates) in a failed request's arguments
    by its escaped form: lmms-eval writes the arguments to the samples log, and one such string used to
    abort writing the task's whole samples file."""
    args = request.arguments if isinstance(request.arguments, tuple) else (request.arguments,)
    if any(isinstance(a, str) and not _encodable(a) for a in args):
        request.arguments = tuple(
            a.encode("utf-8", "backslashreplace").decode("utf-8") if isinstance(a, str) else a for a in args
        )


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_frames(value: object) -> bool:
    return isinstance(value, VideoFrames) or getattr(value, "ndim", 0) == 4


def _as_bool(value: Any) -> bool:
    """``do_sample`` from a YAML is a bool; from ``--gen_kwargs`` it may still be a string."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def cut_at_stop_strings(text: str, stops: Sequence[str]) -> str:
    """Truncate at the first stop string (generate stops *after* the token containing it)."""
    cut = len(text)
    for stop in stops:
        position = text.find(stop)
        if position != -1:
            cut = min(cut, position)
    return text[:cut]
