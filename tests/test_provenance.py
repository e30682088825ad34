"""Provenance: what produced a results file (the end-to-end check is in test_faults_cli.py)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from report_helpers import write_results

from ov_eval import provenance
from ov_eval.report.build import build_report
from ov_eval.report.render_md import render_markdown
from ov_eval.report.runs import load_runs
from ov_eval.report.sections import sections
from ov_eval.run_files import update_ov_eval_section

REPO = Path(__file__).resolve().parents[1]


def test_git_state_of_this_checkout_and_of_none(tmp_path, monkeypatch):
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:  # a clean clone in CI, a worktree here
        assert provenance.git_state()[0] == head.stdout.strip()
    assert provenance.git_state(tmp_path) == ("unknown", None)  # an installed copy: no .git beside it
    (tmp_path / "ov_eval").mkdir()
    (tmp_path / "ov_eval" / "BUILD_COMMIT").write_text(
        "0123abc\n"
    )  # installed from a wheel built from a clone
    assert provenance.git_state(tmp_path) == ("0123abc", None)

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", no_git)
    assert provenance.git_state(REPO) == ("unknown", None)  # never a crash at the end of a long run


@dataclasses.dataclass(frozen=True)
class FutureArgs:
    """An adapter's args with a field this module has never heard of."""

    pretrained: str = "llava-hf/llava-onevision-qwen2-7b-ov-hf"
    dtype: str = "auto"
    max_frames_num: int = 32
    stop_strings: str = "task"


def fake_adapter(rank: int = 0) -> SimpleNamespace:
    model = SimpleNamespace(dtype="torch.float16", config=SimpleNamespace(_attn_implementation="sdpa"))
    processor = SimpleNamespace(image_processor=SimpleNamespace())
    return SimpleNamespace(args=FutureArgs(), model=model, processor=processor, device="cpu", rank=rank)


def test_adapter_settings_are_read_generically_and_rank_0_wins(tmp_path):
    provenance.write_adapter_settings(tmp_path, fake_adapter(rank=1))
    written = provenance.write_adapter_settings(tmp_path, fake_adapter(rank=0))
    assert written == tmp_path / "ov_eval_adapter_settings_rank0.json"
    (tmp_path / "ov_eval_adapter_settings_rank1.json").write_text(json.dumps({"rank": 1}))
    settings = provenance.read_adapter_settings(tmp_path)
    assert settings["model_args"] == dataclasses.asdict(FutureArgs())
    assert (
        settings["effective"]["dtype"] == "float16" and settings["effective"]["attn_implementation"] == "sdpa"
    )
    assert provenance.read_adapter_settings(tmp_path / "none") is None


def test_writing_settings_never_raises(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert provenance.write_adapter_settings(blocked / "sub", fake_adapter()) is None


def test_merge_keeps_the_results_and_adds_provenance(tmp_path):
    path = write_results(tmp_path, "llava-hf/llava-onevision-qwen2-7b-ov-hf", "20260101_000000", {"ov_ai2d": {"exact_match,flexible-extract": 0.5}}, ov_eval={"errors": {"ov_ai2d": 0}})  # fmt: skip
    before = json.loads(path.read_text())
    provenance.write_adapter_settings(tmp_path / "logs", fake_adapter())
    update_ov_eval_section(path, {"provenance": provenance.run_provenance(tmp_path / "logs")})
    after = json.loads(path.read_text())
    added = after["ov_eval"].pop("provenance")
    assert after == before
    assert added["adapter"]["model_args"]["stop_strings"] == "task"
    assert set(added["packages"]) >= {"torch", "transformers", "lmms-eval"}


@pytest.mark.parametrize("recorded", [True, False])
def test_report_sources_show_what_produced_each_file(tmp_path, recorded):
    extra = None
    if recorded:
        extra = {
            "provenance": {
                "ov_eval": "0.1.0",
                "git_commit": "0123456789abcdef0123",
                "git_dirty": True,
                "packages": {"torch": "2.14.1", "transformers": "5.24.0", "lmms-eval": "0.7.3"},
                "adapter": {
                    "model_args": dataclasses.asdict(FutureArgs()),
                    "effective": {
                        "dtype": "float16",
                        "attn_implementation": "sdpa",
                        "image_processor": "Fast",
                    },
                },
            }
        }
    write_results(tmp_path, "llava-hf/llava-onevision-qwen2-7b-ov-hf", "20260101_000000", {"ov_ai2d": {"exact_match,flexible-extract": 0.5}}, ov_eval=extra)  # fmt: skip
    report = build_report(load_runs([tmp_path]))
    (source,) = [s for s in sections(report, {}) if s.title == "Sources"]
    assert source.header == ["file", "produced by"]
    ((_file, produced),) = source.rows
    if recorded:
        assert produced.startswith("ov-eval 0.1.0 (0123456789ab+dirty); torch 2.14.1; transformers 5.24.0")
        assert "dtype=float16 attn=sdpa image_processor=Fast" in produced
        assert "max_frames_num=32 stop_strings=task" in produced  # a new model_arg shows without an edit
        escaped = produced.replace("_", "\\_")  # report.md escapes Markdown in strings from outside
        assert escaped in render_markdown("report", sections(report, {}))
    else:
        assert produced == "-"  # a plain lmms-eval run records nothing
