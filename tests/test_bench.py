"""The throughput harness measures what it claims on a tiny workload (no timing assertions).

One in-process run (all four variants x three workloads, 2 samples each, tiny
checkpoint, float32 CPU) is shared by the module. The checks are on what the
harness counts and compares, with golden token counts worked out by hand from
LLaVA-OV's geometry (384 px / patch 14 -> 27 x 27 = 729 tokens per image;
video frames 2x2-pooled to 14 x 14 = 196 tokens, plus one newline per video).
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.__main__ import options_from, parse_args
from bench.checkpoints import parameter_counts
from bench.flops import count_flops
from bench.harness import Options, run_benchmark
from bench.report import (
    BASELINE,
    OURS_BATCHED,
    OURS_BS1,
    OURS_OVERLAPPED,
    OURS_TASK_STOPS,
    OURS_TORCHVISION,
    append,
    format_section,
)
from bench.workloads import MULTI_IMAGE_COUNTS
from ov_eval.models.errors import ERROR_MARKER

SAMPLES = 2
LABELS = (BASELINE, OURS_BS1, OURS_BATCHED, OURS_OVERLAPPED, OURS_TASK_STOPS, OURS_TORCHVISION)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    options = Options(
        samples=SAMPLES,
        batch_size=2,
        max_new_tokens=4,
        cache_dir=tmp_path_factory.mktemp("bench"),
        matmul_size=256,
    )
    return run_benchmark(options)


def _by(result, workload: str, label: str):
    return next(m for m in result.measurements if m.workload == workload and m.variant.label == label)


def test_every_variant_answers_every_sample_of_every_workload(result):
    assert {(m.workload, m.variant.label) for m in result.measurements} == {
        (w, label) for w in ("single_image", "multi_image", "video") for label in LABELS
    }
    for m in result.measurements:
        assert len(m.predictions) == SAMPLES and all(m.predictions), (m.workload, m.variant.label)
        assert not any(p.startswith(ERROR_MARKER) for p in m.predictions), m.predictions
        assert 0 < m.counters.busy_s <= m.wall_s


def test_batching_is_real_and_invariant_in_float32(result):
    for workload, gains in result.gains.items():
        assert _by(result, workload, OURS_BS1).counters.calls == SAMPLES
        assert _by(result, workload, OURS_BATCHED).counters.calls == 1  # 2 samples, batch size 2
        assert gains.invariance_rate == 1.0, workload  # the fp32 contract: batching never changes an answer
        assert gains.distinct_answers == SAMPLES, f"{workload}: equal answers would make invariance vacuous"


def test_visual_tokens_counted_from_the_prompts_fed_to_generate(result):
    images = sum(MULTI_IMAGE_COUNTS[:SAMPLES])  # 2 + 12 = 14 images
    # ours, multi-image: 729 per image, no newline (paper layout) = 14 * 729 = 10,206
    assert _by(result, "multi_image", OURS_BS1).counters.visual_tokens == 14 * 729 == images * 729
    assert _by(result, "multi_image", OURS_BS1).counters.vision_inputs == images  # base crop only
    # video, both adapters: 32 frames * 196 + 1 newline = 6,273 per sample; 2 samples = 12,546
    for label in LABELS:
        counters = _by(result, "video", label).counters
        assert (counters.visual_tokens, counters.vision_inputs) == (2 * (32 * 196 + 1), 2 * 32), label
    # single image: both adapters run the same AnyRes-9 processor, so the same token count
    single = {_by(result, "single_image", label).counters.visual_tokens for label in LABELS}
    assert len(single) == 1
    # llava_hf gives every image of a multi-image sample its own AnyRes grid: more than 729 each
    assert _by(result, "multi_image", BASELINE).counters.visual_tokens > images * 729


def test_new_tokens_are_counted_per_sample(result):
    # greedy decoding to max_new_tokens (the "\n\n" stop is ignored except by ours_task_stops, which may
    # stop earlier): 4 new tokens x 2 samples at most, unless one ends on EOS
    for m in result.measurements:
        assert 0 < m.counters.new_tokens <= 4 * SAMPLES


def test_results_section_is_appended_with_its_provenance(result, tmp_path):
    section = format_section(
        title="tiny on cpu (float32)",
        command="python -m bench --samples 2",
        commit="abc123",
        machine_text="test machine",
        settings="test",
        measurements=result.measurements,
        workload_gains=result.gains,
        flops=result.flops,
        matmul_peak=result.matmul_peak,
    )
    path = tmp_path / "RESULTS.md"
    path.write_text("# Results\n")
    append(path, section)
    append(path, section.replace("abc123", "def456"))
    text = path.read_text()
    assert text.startswith("# Results\n")  # earlier results are kept, never rewritten
    assert text.count("`python -m bench --samples 2`") == 2 and "`abc123`" in text and "`def456`" in text
    for workload in ("single_image", "multi_image", "video"):
        assert f"| {workload} | {BASELINE} |" in text
        # the cost of exactness: both faster settings measured against the exact defaults
        assert (
            f"| {workload} | `stop_strings=task` |" in text
            and f"| {workload} | `image_backend=torchvision` |" in text
        )


def test_flop_count_follows_two_flops_per_parameter_per_token():
    params = {"llm_layers": 10, "lm_head": 3, "vision_matmul": 5, "projector": 1}
    count = count_flops(params, samples=2, prompt_tokens=100, new_tokens=4, vision_inputs=3)
    assert (
        count.llm_prefill == 2 * 10 * 100 + 2 * 3 * 2
    )  # = 2,012: layers on every prompt token, head once/sample
    assert count.llm_decode == 2 * (10 + 3) * 4  # = 104
    assert count.vision == 2 * (5 + 1) * 729 * 3  # = 26,244: 729 patch tokens per crop/frame
    assert count.total == 2012 + 104 + 26244


def test_real_size_configs_have_the_published_parameter_counts():
    # Qwen2-0.5B by hand: embed 151936*896 = 136,134,656; per layer q 896*896+896 = 803,712,
    # k,v 2*(896*128+128) = 229,632, o 896*896 = 802,816, mlp 3*896*4864 = 13,074,432, norms 1,792
    # -> 14,912,384 x 24 = 357,897,216; + final norm 896 + tied embedding = 494,032,768 (the model card's 0.49B).
    small = parameter_counts("0.5b")
    assert small["llm_total"] == 494_032_768
    # Qwen2-7B: embed 152064*3584 = 544,997,376 (untied: twice); per layer q 12,848,640, k,v 2*1,835,520,
    # o 12,845,056, mlp 3*3584*18944 = 203,685,888, norms 7,168 -> 233,057,792 x 28 = 6,525,618,176
    # + final norm 3,584 + 2 * 544,997,376 = 7,615,616,512 (the model card's 7.62B).
    big = parameter_counts("7b")
    assert big["llm_total"] == 7_615_616_512
    # SigLIP-so400m, 26 layers: per layer attn 4*(1152^2+1152) = 5,313,024, mlp 2*1152*4304+4304+1152
    # = 9,921,872, 2 layernorms 4,608 -> 15,239,504 x 26 = 396,227,104; + patch conv 3*14*14*1152+1152
    # = 678,528, positions 729*1152 = 839,808, post-layernorm 2,304 = 397,747,744.
    assert small["vision_total"] == big["vision_total"] == 397_747_744


def test_defaults_follow_the_device():
    cpu = options_from(parse_args(["--device", "cpu"]))
    gpu = options_from(parse_args(["--device", "cuda", "--config", "7b"]))
    assert (cpu.dtype, cpu.batch_size, cpu.config) == ("float32", 3, "tiny")
    assert (gpu.dtype, gpu.batch_size, gpu.samples, gpu.config) == ("bfloat16", 16, 64, "7b")


def test_preprocessing_ceiling_runs_the_adapters_preparation_beside_the_model_rate(result, tmp_path):
    from bench import workloads
    from bench.preprocess import measure as measure_preprocessing
    from bench.report import format_preprocessing

    loads = [workloads.single_image(1), workloads.video(1, tmp_path)]
    prep = measure_preprocessing(loads, [0], pretrained=result.checkpoint, batch_size=2)
    image, video = prep
    assert (image.workload, image.workers, video.workload) == ("single_image", 0, "video")
    assert image.samples_per_s > 0 and image.worker_cpu_s > 0
    # the first single image is 800x600 RGB: its raw pixels (1,440,000 bytes) travel to a worker
    assert 800 * 600 * 3 <= image.pickled_bytes < 800 * 600 * 3 + 10_000
    assert video.pickled_bytes < 10_000  # a video travels as its path
    # the tensors handed back are the image's own crops (no batch padding) and the token ids
    from transformers import AutoConfig
    from transformers.models.llava_onevision.modeling_llava_onevision import image_size_to_num_patches

    config = AutoConfig.from_pretrained(result.checkpoint)
    crops = image_size_to_num_patches((600, 800), config.image_grid_pinpoints, 384)
    pixels = crops * 3 * 384 * 384  # uint8: finished where the model runs
    assert pixels <= image.returned_bytes < pixels + 200_000
    # the in-process row times that finishing on this CPU, outside its own wall time
    assert image.finish_s > 0 and video.finish_s > 0
    # with 0 workers this process does all the work: its CPU covers the preparation's
    assert image.main_cpu_s >= 0.9 * image.worker_cpu_s
    table = format_preprocessing(prep, result.measurements)
    assert "On this CPU, in-process, ms/sample: single_image " in table
    for name in ("single_image", "video"):
        row = next(
            line for line in table.splitlines() if line.startswith(f"| {name} |") and "workers)" in line
        )
        assert row.endswith(("| model |", "| preprocessing |")), row


def test_a_timed_stream_goes_over_whole_passes_until_its_minimum_time(result):
    from bench import workloads
    from bench.preprocess import measure_workload

    load = workloads.single_image(2)
    kwargs = {"pretrained": str(result.checkpoint), "batch_size": 2}
    once = measure_workload(load, 0, **kwargs)
    assert once.passes == 1 and once.prepared == 2
    # a minimum of three passes' time: whole passes (the rule is checked when a pass is handed out),
    # at least as long as asked, every pass the same work
    several = measure_workload(load, 0, min_seconds=3 * once.wall_s, **kwargs)
    assert several.passes >= 2 and several.prepared == 2 * several.passes
    assert several.wall_s >= 3 * once.wall_s
    assert several.returned_bytes == several.passes * once.returned_bytes
    assert several.samples_per_s == pytest.approx(several.prepared / several.wall_s)


def test_ratios_are_taken_within_a_round_and_their_median_reported():
    from bench.preprocess import PrepMeasurement
    from bench.report import format_preprocessing

    def row(workers, wall_s, round_):
        # 12 samples in wall_s seconds; 0.1 CPU s per sample; 6 ms of main CPU per sample
        return PrepMeasurement("video", workers, 12, wall_s, 1.2, 0.072, 144 << 20, 100, 0.0, round_)

    # round 0: 1 worker 12 s, 2 workers 6.5 s -> 1.846x; round 1 (machine slower): 18 s vs 10 s -> 1.8x;
    # round 2: 12 s vs 8 s -> 1.5x. Rates of 2 workers: 1.846, 1.2, 1.5 samples/s -> median 1.5.
    prep = [row(1, 12, 0), row(2, 6.5, 0), row(1, 18, 1), row(2, 10, 1), row(1, 12, 2), row(2, 8, 2)]
    table = format_preprocessing(prep, [])
    assert "medians of 3 rounds" in table
    two = next(line for line in table.splitlines() if line.startswith("| video | 2 |"))
    cells = [c.strip() for c in two.strip("|").split("|")]
    assert cells[2] == "1.50"  # median samples/s
    assert cells[3] == "1.80x (1.50-1.85)"  # median of per-round ratios, not ratio of medians (1.5/1.0)
    assert cells[4] == "0.100" and cells[6] == "6.0" and cells[8] == "12.00 MiB"
    with_loop = format_preprocessing(prep, [], None, (2, 0.974))
    assert "ran at 0.97x its rate alone while 2 pool workers (pinned, lower priority" in with_loop


def test_the_jpeg_workload_is_decoded_where_its_rows_are_read(result):
    """lmms-eval's datasets decode an image when its row is read; the JPEG workload reproduces that
    (a ``datasets.Dataset`` with an ``Image`` column), so the ceiling's main-process CPU includes it."""
    from bench import workloads
    from bench.preprocess import measure as measure_preprocessing

    jpeg, raw = workloads.single_image_jpeg(2), workloads.single_image(2)
    assert jpeg.prompts == raw.prompts
    for doc, reference in zip(jpeg.docs, raw.docs, strict=True):
        (image,) = doc["visuals"]
        assert image.mode == "RGB" and image.size == reference["visuals"][0].size
        # lossy but close: JPEG at quality 90 of smooth noise
        difference = np.abs(
            np.asarray(image, dtype=np.int16) - np.asarray(reference["visuals"][0], dtype=np.int16)
        )
        assert 0 < difference.mean() < 4
    (row,) = measure_preprocessing(
        [workloads.single_image_jpeg(1)], [0], pretrained=result.checkpoint, batch_size=1
    )
    assert row.workload == "single_image_jpeg" and row.samples == 1 and row.returned_bytes > 0


def _keyframes_codec_size(path) -> tuple[list[int], str, tuple[int, int]]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        keys = [i for i, packet in enumerate(container.demux(stream)) if packet.size and packet.is_keyframe]
        return keys, stream.codec_context.name, (stream.width, stream.height)


def test_the_video_workload_decodes_like_web_video_and_the_short_gop_one_seeks(tmp_path):
    """The default clips must cost what real ones do: H.264, keyframes ``VIDEO_GOP`` apart, frames with
    texture that moves (flat frames decode for nothing). The short-GOP clips put every sampled frame
    of a 32-frame budget in a new GOP."""
    from bench import workloads
    from ov_eval.models.video import frame_indices, load_video_frames

    (clip,) = workloads.video(1, tmp_path / "web").docs
    frames_in_file = workloads.VIDEO_FRAMES[0]
    keys, codec, size = _keyframes_codec_size(clip["visuals"][0])
    assert (codec, size) == ("h264", workloads.VIDEO_SIZE)
    assert keys == list(range(0, frames_in_file, workloads.VIDEO_GOP))
    frames = load_video_frames(clip["visuals"][0], 32)
    assert frames.shape == (32, workloads.VIDEO_SIZE[1], workloads.VIDEO_SIZE[0], 3)
    assert frames.std(axis=(1, 2, 3)).min() > 20  # texture, not a flat colour
    assert np.abs(frames[1].astype(np.int16) - frames[0]).mean() > 10  # the window pans

    (short,) = workloads.video_short_gop(1, tmp_path / "short").docs
    keys, codec, size = _keyframes_codec_size(short["visuals"][0])
    assert (codec, size) == ("mpeg4", (320, 240)) and keys == list(range(0, frames_in_file, 12))
    gops = {int(i) // 12 for i in frame_indices(frames_in_file, 32)}
    assert len(gops) >= 24  # nearly every sampled frame opens a new GOP: a seek each


def test_bench_clips_are_the_same_bytes_for_the_same_seed(tmp_path):
    from bench.workloads import write_bench_clip

    first, again, other = (
        write_bench_clip(tmp_path / f"{n}.mp4", 20, s) for n, s in (("a", 7), ("b", 7), ("c", 8))
    )
    assert first.read_bytes() == again.read_bytes() != other.read_bytes()
