"""Fidelity cards: in sync with the task YAMLs and the paper tables, used by the report, and the
release-era scoring the tasks follow.

The release is lmms-eval at its LLaVA-OneVision release, commit 1d3f34ab316d4a4ac1d7b2c656e2631a127104f9
("LLaVA OneVision Release", 2024-08-07). Golden values of the scorer tests are derived by hand from
that commit's code (file named in each test); where lmms-eval 0.7.3 still ships the release's
function unchanged, the test calls it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from report_helpers import write_results

from ov_eval import fidelity
from ov_eval.paths import reports_path
from ov_eval.report.build import build_report
from ov_eval.report.compare import NOT_COMPARABLE
from ov_eval.report.metric_map import MEASURES, UNREFERENCED_TASKS
from ov_eval.report.reference import load_reference
from ov_eval.report.runs import load_runs
from ov_eval.report.write import write_report
from ov_eval.task_index import suite_configs


class _KeepTags(yaml.SafeLoader):
    """Reads ``!function x.y`` as the string ``"!function x.y"`` so card settings can name it."""


_KeepTags.add_multi_constructor("!", lambda loader, suffix, node: f"!{suffix} {node.value}")


def _raw_config(path: Path) -> dict:
    data = yaml.load(path.read_text(), Loader=_KeepTags) or {}
    merged: dict = {}
    includes = data.pop("include", None) or []
    for include in [includes] if isinstance(includes, str) else includes:
        merged |= _raw_config(path.parent / include)
    return merged | data


def _at(data, dotted: str):
    for part in dotted.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


# --------------------------------------------------------------------------- the cards themselves


def test_every_paper_task_has_a_card_and_every_card_a_task():
    tasks = {m.task for m in MEASURES.values()} | set(UNREFERENCED_TASKS)
    assert set(fidelity.cards()) == tasks
    assert tasks <= set(suite_configs())
    assert fidelity.release_commit().startswith("1d3f34ab")


@pytest.mark.parametrize("task", sorted(t for t, c in fidelity.cards().items() if c.settings))
def test_card_settings_match_the_task_yaml(task):
    config = _raw_config(suite_configs()[task].path)
    for key, value in fidelity.card(task).settings.items():
        assert _at(config, key) == value, f"{task}: {key} is {_at(config, key)!r}, its card says {value!r}"


def test_every_table2_vs_detailed_table_disagreement_is_a_paper_note():
    reference = load_reference()
    detailed = {(c.measure, row): v for c in reference if c.table != 2 for row, v in c.values.items()}
    disagreements = {
        (c.measure, row)
        for c in reference
        if c.table == 2
        for row, v in c.values.items()
        if (c.measure, row) in detailed and detailed[(c.measure, row)] != v
    }
    # the paper's own inconsistencies, found by reading Tables 2, 3 and 5 side by side
    assert disagreements == {
        ("imagedc", "7b-ov"),
        ("videochatgpt", "7b-ov"),
        ("longvideobench", "7b-ov"),
        ("longvideobench", "72b-ov"),
        ("longvideobench", "gpt-4v"),
    }
    for measure, row in disagreements:
        assert fidelity.paper_notes(measure, row), (measure, row)


def test_interleave_table2_is_not_comparable_for_05b_only():
    # Mean of the paper's Table 4 out-domain columns (BLINK, Mantis, MathVerse, SciVerse):
    # 0.5B (52.1+39.6+60.0+29.1)/4 = 45.2 vs Table 2's 33.3; 72B (55.4+77.6+91.6+94.9)/4 = 79.9 = Table 2
    reference = load_reference()
    t4 = {c.measure: c.values for c in reference if c.table == 4}
    out_domain = ("blink", "mantis", "mathverse_mv", "sciverse_mv")
    assert sum(t4[m]["0.5b-ov"] for m in out_domain) / 4 == pytest.approx(45.2)
    assert sum(t4[m]["72b-ov"] for m in out_domain) / 4 == pytest.approx(79.875)
    assert fidelity.not_comparable("interleave", "0.5b-ov").kind == "paper inconsistency"
    assert fidelity.not_comparable("interleave", "72b-ov") is None
    assert fidelity.not_comparable("egoschema", "7b-ov").kind == "subset"
    assert fidelity.not_comparable("docvqa_test", "7b-ov").kind == "server-scored split"
    assert fidelity.not_comparable("ai2d", "7b-ov") is None


def test_bad_card_names_the_task(tmp_path):
    path = tmp_path / "fidelity.yaml"
    path.write_text(
        "release_commit: abc\ntasks:\n  ov_x:\n    release: [a.yaml]\n    not_comparable: {kind: odd, why: w}\n"
    )
    with pytest.raises(ValueError, match="task ov_x: not_comparable kind 'odd'"):
        fidelity.load(path)


def test_cards_ship_with_the_package():
    assert (reports_path() / "fidelity.yaml").is_file()


def test_tasks_fidelity_lists_every_card(capsys):
    from ov_eval.cli import main

    assert main(["tasks", "--fidelity", "ov_paper_table5"]) == 0
    out = capsys.readouterr().out
    assert "### `ov_egoschema_subset`" in out and "**not comparable** — subset" in out
    assert "### `ov_mvbench`" in out and "release (1d3f34ab)" in out


# --------------------------------------------------------------------------- the report uses them

OV = "llava-hf/llava-onevision-qwen2-7b-ov-hf"
OV05 = "llava-hf/llava-onevision-qwen2-0.5b-ov-hf"


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    write_results(root / "a", OV, "20260101_000000", {
        "ov_egoschema_subset": {"score,none": 0.50},  # 50.0 on the Subset; paper 60.1 on the full test set
        "ov_scienceqa_img": {"exact_match,none": 0.90},  # 90.0 vs 96.0: a real gap, with a deviation note
        "ov_ai2d": {"exact_match,flexible-extract": 0.814},
    })  # fmt: skip
    write_results(root / "b", OV05, "20260101_000000", {
        "ov_interleave": {"interleave_score,none": 0.452},  # 45.2 vs the paper's inconsistent 33.3
    })  # fmt: skip
    report = build_report(load_runs([root]), tolerance_pct=1.0)
    out = tmp_path_factory.mktemp("report")
    write_report(report, out)
    return report, out


def _cell(report, checkpoint, table, measure):
    [hit] = [c for c in report.cells if (c.checkpoint, c.table, c.measure) == (checkpoint, table, measure)]
    return hit


def test_egoschema_subset_is_never_compared_with_the_full_test_number(report_dir):
    report, out = report_dir
    ego = _cell(report, "7b-ov", 5, "egoschema")
    assert (ego.paper, ego.run) == (60.1, 50.0)  # both shown ...
    assert ego.gap is None and ego.status == NOT_COMPARABLE and not ego.flagged  # ... never compared
    rows = list(csv.DictReader((out / "report.csv").open()))
    [row] = [
        r for r in rows if (r["checkpoint"], r["task"], r["table"]) == ("7b-ov", "ov_egoschema_subset", "5")
    ]
    assert (row["gap"], row["status"], row["comparable"]) == ("", NOT_COMPARABLE, "False")
    assert "subset" in row["notes"]
    md = (out / "report.md").read_text()
    ego_line = next(line for line in md.splitlines() if line.startswith("| 7b-ov | 5 | EgoSchema |"))
    assert "below" not in ego_line and "above" not in ego_line and "not comparable" in ego_line
    [json_cell] = [c for c in json.loads((out / "report.json").read_text())["cells"]
                   if (c["checkpoint"], c["task"], c["table"]) == ("7b-ov", "ov_egoschema_subset", 5)]  # fmt: skip
    assert json_cell["comparable"] is False and json_cell["gap"] is None


def test_interleave_05b_is_labelled_not_a_gap(report_dir):
    report, _ = report_dir
    cell = _cell(report, "0.5b-ov", 2, "interleave")
    assert (cell.paper, cell.status, cell.gap) == (33.3, NOT_COMPARABLE, None)


def test_deviation_marks_point_to_footnotes(report_dir):
    report, out = report_dir
    sqa = _cell(report, "7b-ov", 3, "scienceqa")
    assert sqa.comparable and sqa.flagged  # a deviation does not hide a gap
    md = (out / "report.md").read_text()
    line = next(line for line in md.splitlines() if line.startswith("| 7b-ov | 3 | S-QA |"))
    mark = line.split("|")[7].strip().split(" ", 1)[1]  # run column: "90.0 [n]"
    notes = md[md.index("## Notes: comparability and protocol deviations") :]
    assert f'| {mark} | protocol deviation: "X. text" answers' in notes
    html = (out / "report.html").read_text()
    assert "Notes: comparability and protocol deviations" in html
    # AI2D has no card entries: no mark
    ai2d = next(line for line in md.splitlines() if line.startswith("| 7b-ov | 3 | AI2D |"))
    assert "[" not in ai2d


# --------------------------------------------------------------------------- release-era scoring


def test_mmstar_first_character_rule_of_the_release():
    """lmms_eval/tasks/mmstar/utils.py@1d3f34ab, ``exact_match``: lower-case, newlines to spaces; the
    answer must be character 0, or follow a leading "(", "option " or "the answer is "; IndexError -> 0."""
    from ov_eval.tasks.single_image import mmstar_first_letter_match, mmstar_process_results

    cases = {  # prediction: score for gold "B"
        "B": 1.0,
        "b. a cat": 1.0,
        "(B) a cat": 1.0,
        "Option B": 1.0,
        "The answer is B.": 1.0,
        "\nB": 1.0,  # strip() first
        "I think B": 0.0,  # 0.7.3's extract_mcq_answer reads this one as B
        "The answer is (B)": 0.0,  # character 14 is "("
        "": 0.0,
        "(": 0.0,
        "option ": 0.0,
        "A": 0.0,
    }
    assert {p: mmstar_first_letter_match(p, "B") for p in cases} == cases
    doc = {"index": 7, "answer": "B", "category": "math", "l2_category": "geometry"}
    record = {"question_id": 7, "l2_category": "geometry", "score": 1.0}
    assert mmstar_process_results(doc, ["B"]) == {"math": record, "average": record}


def test_mmstar_differs_from_lmms_eval_073_where_the_release_did():
    from lmms_eval.tasks.mmstar.utils import exact_match as scorer_073

    from ov_eval.tasks.single_image import mmstar_first_letter_match

    assert scorer_073("I think B", "B") == 1.0 and mmstar_first_letter_match("I think B", "B") == 0.0


def _apply_realworldqa_filter(responses: list[str], question: str) -> list[str]:
    """Our YAML's filter_list through lmms-eval's own filter machinery."""
    from lmms_eval.api.instance import Instance
    from lmms_eval.filters import build_filter_ensemble

    from ov_eval.task_index import suite_configs

    config = _raw_config(suite_configs()["ov_realworldqa"].path)
    [spec] = config["filter_list"]
    steps = []
    for step in spec["filter"]:
        module, _, name = step["function"].split(" ", 1)[1].rpartition(".")
        cls = getattr(__import__(module, fromlist=[name]), name)
        steps.append([cls, {k: v for k, v in step.items() if k != "function"}])
    ensemble = build_filter_ensemble(spec["name"], steps)
    docs = [{"question": question, "answer": "?"} for _ in responses]
    instances = [
        Instance("generate_until", ("", {}), 0, {"task": "ov_realworldqa", "doc_id": i, "repeats": 1}, [r])
        for i, r in enumerate(responses)
    ]
    ensemble.apply(instances, docs)
    return [inst.filtered_resps[spec["name"]] for inst in instances]


def test_realworldqa_release_filter_and_exact_match():
    """lmms_eval/tasks/realworldqa/realworldqa.yaml + utils.py@1d3f34ab: NumberWordsToDigitsFilter (a lone
    number word -> digit), MultiChoiceRegexFilter (strip punctuation; an option's text found in the response
    -> its letter; else the stripped response), exact_match ignoring case and punctuation. lmms-eval 0.7.3
    still ships both filter classes unchanged, and its exact_match_hf_evaluate is the release's."""
    from lmms_eval.api.metrics import exact_match_hf_evaluate

    question = "Which way does the road turn?\nA. Left\nB. Right\nC. Straight on\nPlease answer directly."
    responses = ["B", "Right.", "It turns right", "The answer is (A)", "b"]
    filtered = _apply_realworldqa_filter(responses, question)
    # "B" -> "B"; "Right." -> "Right" = option B's text -> "B"; "It turns right": case-sensitive text search
    # misses "Right" -> unchanged; "(A)" stripped -> "The answer is A"; "b" -> "b"
    assert filtered == ["B", "B", "It turns right", "The answer is A", "b"]
    scores = [exact_match_hf_evaluate([f], ["B"], ignore_case=True, ignore_punctuation=True)["exact_match"]
              for f in filtered]  # fmt: skip
    assert scores == [1.0, 1.0, 0.0, 0.0, 1.0]
    assert _apply_realworldqa_filter(["three", "3.", "Three cars"], "How many cars?") == [
        "3",
        "3",
        "Three cars",
    ]


def test_scienceqa_keeps_the_fix_of_the_release_bug():
    """lmms_eval/tasks/scienceqa/utils.py@1d3f34ab, ``sqa_process_results``: the prediction is lower-cased
    before ``pred[0].isupper()``, so "B. text" scored 0 at the release. lmms-eval 0.7.3 (our task's
    scorer) reads it as B; the card records the deviation and its direction."""
    from lmms_eval.tasks.scienceqa.utils import sqa_process_results

    doc = {"choices": ["one", "two", "three"], "answer": 1}
    assert sqa_process_results(doc, ["B. two"]) == {"exact_match": 1.0}  # release: 0.0
    assert sqa_process_results(doc, ["b"]) == {"exact_match": 1.0}  # release: 1.0 too
    [deviation] = fidelity.card("ov_scienceqa_img").deviations
    assert deviation.direction == "+" and "bug" in deviation.why


def test_mlvu_letter_rule_of_the_release():
    """lmms_eval/tasks/mlvu/utils.py@1d3f34ab, ``extract_characters_regex``: strip; if ")" occurs, the
    one character before the first ")" (``s[i - 1 : i]``, empty when ")" opens the text); else the text."""
    from lmms_eval.tasks.mlvu.utils import extract_characters_regex as rule_073

    from ov_eval.tasks.mlvu import process_results, release_letter

    cases = {"A)": "A", " (B) red": "B", "C": "C", "The answer is D": "The answer is D", ")A": "", "": ""}
    assert {r: release_letter(r) for r in cases} == cases
    assert rule_073("The answer is D") == "D"  # where 0.7.3 reads more than the release did
    doc = {"question": "q", "task_type": "count", "answer": "B"}
    assert process_results(doc, ["(B) two"])["mlvu_percetion_score"]["pred_answer"] == "B"


def test_llava_w_judge_messages_are_the_releases():
    """lmms_eval/tasks/llava-in-the-wild/utils.py@1d3f34ab, ``get_eval``: a fixed system turn, then the
    review prompt; temperature 0.2; called with max_tokens 1024."""
    from ov_eval.tasks import llava_in_the_wild as task

    assert task.judge_messages("REVIEW") == [
        {
            "role": "system",
            "content": "You are a helpful and precise assistant for checking the quality of the answer.",
        },
        {"role": "user", "content": "REVIEW"},
    ]
    assert (task.JUDGE_TEMPERATURE, task.JUDGE_MAX_TOKENS) == (0.2, 1024)
