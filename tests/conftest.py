"""Shared fixtures. Everything runs offline on CPU; nothing here touches the network."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_MODE", "disabled")
# The test-only lmms-eval models (ov_fixed_answers, ov_faults; see ov_eval/manifest.py) live in
# tests/support/: register them, and let every lmms-eval subprocess import them.
os.environ["OV_EVAL_TEST_MODELS"] = "1"
_TESTS = os.path.dirname(os.path.abspath(__file__))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_TESTS, os.environ.get("PYTHONPATH")) if p)

import pytest  # noqa: E402

from ov_eval.demo.tiny_checkpoint import ensure_tiny_checkpoint  # noqa: E402


@pytest.fixture(scope="session")
def tiny_ov_dir():
    return ensure_tiny_checkpoint("ov")


@pytest.fixture(scope="session")
def tiny_si_dir():
    return ensure_tiny_checkpoint("si")


@pytest.fixture(scope="session")
def tiny_model(tiny_ov_dir):
    """One float32 CPU adapter instance shared by the in-process adapter tests (loading costs ~1 s)."""
    from ov_eval.models.llava_onevision import LlavaOneVision

    return LlavaOneVision(pretrained=str(tiny_ov_dir), device="cpu", dtype="float32", batch_size=1)


@pytest.fixture(scope="session")
def builtin_data_dir(tmp_path_factory):
    """Fixture copies of lmms-eval built-in task datasets (ai2d 7 docs, mantis 3, ov_test_mc 5)."""
    from support.fixtures import adapter as fixtures

    root = tmp_path_factory.mktemp("builtin_data")
    fixtures.build_ai2d(root, n=7)
    fixtures.build_mantis(root)
    fixtures.build_mc(root, n=5)
    return root


@pytest.fixture(scope="session")
def builtin_cache_dir(tmp_path_factory):
    """The lmms-eval response cache (--use_cache) filled by ``builtin_tasks_run``."""
    return tmp_path_factory.mktemp("builtin_cache")


@pytest.fixture(scope="session")
def builtin_tasks_run(tiny_ov_dir, builtin_data_dir, builtin_cache_dir, tmp_path_factory):
    """ONE single-process lmms-eval CLI run over built-in SI/MI/video tasks + a multiple-choice task,
    shared by the CLI tests and the data-parallel comparison (a CLI start costs ~10 s). Greedy everywhere
    (mantis samples at temperature 0.2 by default) so runs are comparable."""
    from pathlib import Path

    from support.evaluate import run_lmms_eval
    from support.fixtures import adapter as fixtures

    out = tmp_path_factory.mktemp("builtin_run")
    fixtures.build_videomme(
        builtin_data_dir, out / "hf_home"
    )  # run_lmms_eval points HF_HOME at <out>/hf_home
    return run_lmms_eval(
        "llava_onevision",
        # preparation in 2 worker processes: the data-parallel run (no workers) must answer identically
        f"pretrained={tiny_ov_dir},device=cpu,dtype=float32,preprocess_workers=2",
        ["ai2d", "mantis", "videomme", "ov_test_mc"],
        out,
        data_dir=builtin_data_dir,
        extra_args=[
            "--batch_size",
            "2",
            "--gen_kwargs",
            "temperature=0,do_sample=false",
            "--use_cache",
            str(builtin_cache_dir),
        ],
        extra_task_dirs=[Path(__file__).parent / "data"],
    )
