"""The run files contract: per-rank names round-trip, atomic writes leave nothing half-written, and
``results["ov_eval"]`` updates keep lmms-eval's own content and earlier updates."""

from __future__ import annotations

import json

import pytest

from ov_eval.run_files import (
    adapter_settings_name,
    atomic_write_json,
    error_log_name,
    ov_eval_section,
    rank_of,
    update_ov_eval_section,
)


def test_per_rank_names_round_trip_and_glob(tmp_path):
    for rank in (0, 3, 12):
        for name in (error_log_name, adapter_settings_name):
            (tmp_path / name(rank)).write_text("{}")
            assert rank_of(tmp_path / name(rank), name) == rank
    assert sorted(rank_of(p) for p in tmp_path.glob(error_log_name("*"))) == [0, 3, 12]
    assert error_log_name(0) != adapter_settings_name(0)


def test_update_keeps_lmms_eval_content_and_earlier_updates(tmp_path):
    path = tmp_path / "20260101_000000_results.json"
    lmms = {"results": {"ov_ai2d": {"exact_match,flexible-extract": 0.5}}, "configs": {"ov_ai2d": {}}}
    path.write_text(json.dumps(lmms))
    assert ov_eval_section(lmms) == {}
    update_ov_eval_section(path, {"errors": {"ov_ai2d": 1}})
    section = update_ov_eval_section(path, {"judge": {"ov_mmvet": {"calls": 2}}})
    data = json.loads(path.read_text())
    assert {k: v for k, v in data.items() if k != "ov_eval"} == lmms
    assert ov_eval_section(data) == section == {"errors": {"ov_ai2d": 1}, "judge": {"ov_mmvet": {"calls": 2}}}
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left behind


def test_atomic_write_failure_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.json"
    atomic_write_json(path, {"v": 1})
    with pytest.raises(TypeError):  # json's default=str cannot turn this into text
        atomic_write_json(path, {"v": object.__new__(type("Unserialisable", (), {"__str__": None}))})
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
