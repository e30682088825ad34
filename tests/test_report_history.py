"""``ov-eval track | dashboard | gate``: SQLite history, idempotence, regression exit codes."""

from __future__ import annotations

import sqlite3

import pytest
from report_helpers import write_results

from ov_eval.cli import main

OV = "llava-hf/llava-onevision-qwen2-7b-ov-hf"


@pytest.fixture
def history(tmp_path):
    base = write_results(tmp_path / "base", OV, "20260101_000000", {
        "ov_ai2d": {"exact_match,flexible-extract": 0.80},
        "ov_videomme": {"videomme_perception_score,none": 55.0},
        "ov_mme": {"mme_cognition_score,none": 400.0, "mme_perception_score,none": 1500.0},
    })  # fmt: skip
    new = write_results(tmp_path / "new", OV, "20260102_000000", {
        "ov_ai2d": {"exact_match,flexible-extract": 0.785},  # 78.5 - 80.0 = -1.5 points
        "ov_videomme": {"videomme_perception_score,none": 55.5},  # +0.5
        "ov_mme": {"mme_cognition_score,none": 399.5, "mme_perception_score,none": 1500.0},  # -0.5
    })  # fmt: skip
    db = tmp_path / "h.sqlite"
    assert main(["track", str(base), "--label", "step-1000", "--step", "1000", "--db", str(db)]) == 0
    assert main(["track", str(new), "--label", "step-2000", "--db", str(db)]) == 0
    return db, new


def _count(db, table):
    return sqlite3.connect(db).execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_tracking_stores_paper_unit_scores_and_is_idempotent(history):
    db, new = history
    before = (_count(db, "runs"), _count(db, "scores"))
    assert before == (2, 8)  # 4 measures per run (ai2d, videomme, MME cognition + perception)
    assert main(["track", str(new), "--label", "step-2000", "--db", str(db)]) == 0
    assert (_count(db, "runs"), _count(db, "scores")) == before
    con = sqlite3.connect(db)
    value, commit = con.execute(
        "SELECT s.value, r.git_commit FROM scores s JOIN runs r ON r.id = s.run_id "
        "WHERE r.label = 'step-2000' AND s.measure = 'ai2d'"
    ).fetchone()
    assert value == pytest.approx(78.5) and commit == "abc1234"


def test_gate_fails_on_a_drop_beyond_max_drop(history, capsys):
    db, _ = history
    assert main(["gate", "--baseline", "step-1000", "--max-drop", "1.0", "--db", str(db)]) == 1
    out = capsys.readouterr().out
    # no stderr and no samples: the drop cannot be tested, so it counts (a gate must not pass blind)
    assert "REGRESSION ai2d: 80.00 -> 78.50 (-1.50; not testable: no standard error" in out
    assert "1 regressions" in out
    assert (
        main(["gate", "--baseline", "step-1000", "--max-drop", "1.5", "--db", str(db)]) == 0
    )  # -1.5 is not < -1.5
    assert main(["gate", "--baseline", "nope", "--db", str(db)]) == 2
    assert "not in the history" in capsys.readouterr().err


def test_dashboard_lists_regressions_and_embeds_trend_plots(history, tmp_path):
    db, _ = history
    assert (
        main(["dashboard", "--out", str(tmp_path / "dash"), "--baseline", "step-1000", "--db", str(db)]) == 0
    )
    page = (tmp_path / "dash" / "dashboard.html").read_text()
    assert "Changes against the baseline (1 regressions)" in page
    assert "<td>AI2D (test)</td><td>80.00</td><td>78.50</td><td>-1.50</td><td>not testable: " in page
    assert "<td class=flag>⚠ regression</td>" in page
    assert page.count("src='data:image/png;base64,") == 4  # one trend per measure
