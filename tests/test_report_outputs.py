"""``ov-eval report``: what the written Markdown, HTML, CSV and JSON say for known inputs."""

from __future__ import annotations

import base64
import csv
import json
import re

import pytest
from report_helpers import write_results

from ov_eval.cli import main

OV = "llava-hf/llava-onevision-qwen2-7b-ov-hf"
SI = "llava-hf/llava-onevision-qwen2-7b-si-hf"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    write_results(
        root / "runs",
        OV,
        "20260101_000000",
        {
            "ov_ai2d": {"exact_match,flexible-extract": 0.82},
            "ov_mme": {"mme_cognition_score,none": 400.0, "mme_perception_score,none": 1590.0},
            "ov_videomme": {"videomme_perception_score,none": 55.0},
        },
        stderr={
            "ov_ai2d": {"exact_match,flexible-extract": 0.004},  # 0.4 points: 82.0 ± 0.78
            "ov_videomme": {"videomme_perception_score,none": 2.0},
        },
    )  # 0-100 already: 55.0 ± 3.92
    write_results(root / "runs", SI, "20260101_000000", {
        "ov_ai2d": {"exact_match,flexible-extract": 0.80},
        "ov_videomme": {"videomme_perception_score,none": 50.0},
    }, stderr={"ov_ai2d": {"exact_match,flexible-extract": 0.002}})  # fmt: skip
    assert main(["report", str(root / "runs"), "--out", str(root / "out")]) == 0
    return root / "out"


def _table_row(markdown: str, title: str, first_cell: str) -> list[str]:
    section = markdown.split(f"## {title}")[1].split("\n## ")[0]
    [line] = [line for line in section.splitlines() if line.startswith(f"| {first_cell} |")]
    return [c.strip() for c in line.strip("|").split("|")]


def test_markdown_mirrors_paper_table3_with_merged_cells(out):
    md = (out / "report.md").read_text()
    header = _table_row(md, "Table 3: single-image benchmarks", "Model")
    assert header[:4] == ["Model", "AI2D (test)", "ChartQA (test)", "DocVQA (val/test)"]
    assert header[8] == "MME (cognition/perception)"
    paper = _table_row(md, "Table 3: single-image benchmarks", "LLaVA-OV-7B (paper)")
    assert paper[1] == "81.4" and paper[8] == "418/1580"
    run = _table_row(md, "Table 3: single-image benchmarks", "7b-ov (run)")
    assert run[1] == "82.0 ± 0.8" and run[2] == "not run" and run[8] == "400/1590"  # 1.96 * 0.4 = 0.78
    video = _table_row(md, "Table 5: video benchmarks", "7b-si (run)")
    # VideoMME wo/w-subs: only w/o subtitles was run; [n] = its fidelity card's deviation (answer extraction)
    assert re.fullmatch(r"50\.0 \\\[\d+\\\]/not run", video[10])  # report.md escapes the footnote brackets


def test_csv_has_gap_flag_and_not_run_never_zero(out):
    with (out / "report.csv").open() as fh:
        rows = {(r["checkpoint"], r["table"], r["benchmark"], r["split"]): r for r in csv.DictReader(fh)}
    ai2d = rows[("7b-ov", "3", "AI2D", "test")]
    assert (ai2d["task"], ai2d["metric_key"], ai2d["status"]) == (
        "ov_ai2d",
        "exact_match,flexible-extract",
        "consistent",
    )
    assert float(ai2d["gap"]) == pytest.approx(0.6)  # 82.0 - 81.4
    assert float(ai2d["se"]) == pytest.approx(0.4) and float(ai2d["z"]) == pytest.approx(1.5)  # 0.6 / 0.4
    assert float(ai2d["ci_low"]) == pytest.approx(82.0 - 1.959964 * 0.4)
    assert ai2d["se_source"] == "lmms-eval stderr"
    chartqa = rows[("7b-ov", "3", "ChartQA", "test")]
    assert (chartqa["run"], chartqa["gap"], chartqa["status"]) == ("", "", "not run")
    # -18 vs tolerance 8, no stderr and no samples: the tolerance alone decides, under its own name
    mme = rows[("7b-ov", "3", "MME", "cognition")]
    assert (mme["status"], mme["se"], mme["ci_low"]) == ("below paper (no interval)", "", "")
    assert "--log_samples" in mme["se_source"]


def test_summary_counts_each_benchmark_once(out):
    md = (out / "report.md").read_text()
    # 7b-ov, Tables 3-5 (+ Table 2's Interleave): AI2D +0.6 (within tolerance) and VideoMME -3.2
    # (|z| = 3.2 / 2.0 = 1.6 < 1.96: noise) consistent; MME has no interval (perception +10, cognition
    # -18); 52 Table 3-5 lines + Interleave = 53 cells, 4 scored -> 49 not run.
    # 7b-si: AI2D -1.6 with se 0.2 (z = -8) significantly below; VideoMME no interval; 52 - 2 = 50 not run.
    assert (
        "7b-si: 0 consistent, 0 significantly above, 1 significantly below, 1 no interval, 0 not comparable, 50 not run"
        in md
    )
    assert (
        "7b-ov: 2 consistent, 0 significantly above, 0 significantly below, 2 no interval, 0 not comparable, 49 not run"
        in md
    )
    assert "'consistent': the paper value lies inside the run's 95 % interval" in md


def test_json_holds_the_si_vs_ov_deltas(out):
    data = json.loads((out / "report.json").read_text())
    deltas = {(d["size"], d["table"], d["measure"]): d for d in data["si_vs_ov"]}
    assert deltas[("7b", 3, "ai2d")]["delta"] == pytest.approx(2.0)  # 82.0 - 80.0
    assert deltas[("7b", 5, "videomme")]["delta"] == pytest.approx(5.0)  # 55.0 - 50.0
    video = [m for m in data["by_modality"] if (m["size"], m["modality"]) == ("7b", "video")]
    assert video[0]["mean_delta"] == pytest.approx(5.0) and video[0]["benchmarks"] == 1
    assert len(data["files"]) == 2


def test_html_is_self_contained_with_real_png_images(out):
    page = (out / "report.html").read_text()
    sources = re.findall(r"<img [^>]*src='([^']+)'", page)
    assert len(sources) == 3  # SI vs OV bars, OV-SI deltas, gap vs paper
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "<td class=notrun>not run</td>" in page
    assert "<td class=flag>⚠ significantly below (z = -8.0)</td>" in page  # SI AI2D: -1.6 / 0.2
    assert "<td class=ok>consistent</td>" in page


def test_paper_only_report(tmp_path, capsys):
    assert main(["report", "--paper", "--out", str(tmp_path)]) == 0
    md = (tmp_path / "report.md").read_text()
    assert not re.search(r"^\| \S+ \(run\) \|", md, re.MULTILINE) and "Paper-only report" in md
    row = _table_row(md, "Table 5: video benchmarks", "LLaVA-OV-7B (paper)")
    assert row[10] == "58.2/61.5"  # VideoMME w/o / w subtitles
    data = json.loads((tmp_path / "report.json").read_text())
    ego = [d for d in data["si_vs_ov"] if (d["size"], d["measure"]) == ("0.5b", "egoschema")]
    assert ego[0]["paper_delta"] == pytest.approx(-6.3)  # 26.8 - 33.1: the one video drop in the paper


def test_report_without_runs_or_paper_is_a_usage_error(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path)]) == 2
    assert "--paper" in capsys.readouterr().err


def test_hostile_strings_are_escaped_in_markdown_and_neutralised_in_csv(tmp_path):
    """A label (or task name, judge text) from outside must not become Markdown/HTML or a spreadsheet formula."""
    write_results(
        tmp_path / "runs", OV, "20260101_000000", {"ov_ai2d": {"exact_match,flexible-extract": 0.8}}
    )
    label = "=HYPERLINK(1)|<img src=x onerror=alert(1)>[x](http://e)_*"
    assert main(["report", str(tmp_path / "runs"), "--label", label, "--out", str(tmp_path / "out")]) == 0
    md = (tmp_path / "out" / "report.md").read_text()
    escaped = "\\=HYPERLINK(1)\\|&lt;img src=x onerror=alert(1)&gt;\\[x\\](http://e)\\_\\*"
    assert escaped in md and "<img" not in md and "[x](http://e)" not in md
    with (tmp_path / "out" / "report.csv").open() as fh:
        checkpoints = {row["checkpoint"] for row in csv.DictReader(fh)}
    assert "'" + label in checkpoints and label not in checkpoints
