"""Multi-image task configs scored end to end with known predictions (``ov_fixed_answers``).

One real ``python -m lmms_eval`` run over ``ov_multi_image`` (all 18 Table 4 columns plus
the Table 2 ``ov_interleave`` group) on the fixture datasets. Every expected value is
hand-computed below from the fixture answers and the predictions in ``ANSWERS``.

The open-ended metric is lmms-eval's: the ``rouge`` package's ROUGE-L F, which (read
from rouge 1.0.1) splits the text into sentences on ".", words on " ", is
case-sensitive and counts DISTINCT words (m, n and the LCS union are sets):
F = 2PR / (P + R + 1e-8), P = LCS/n_pred_distinct, R = LCS/m_ref_distinct.
For lowercase, punctuation-free, repetition-free text that equals textbook ROUGE-L F1,
which we cross-check with Google's independent ``rouge_score`` implementation.
"""

from __future__ import annotations

import json

import pytest
from support.evaluate import run_fixed_answers

from ov_eval.demo.fixtures import multi_image
from ov_eval.tasks import interleave, muirbench

pytestmark = pytest.mark.slow

ANSWERS = {
    "ov_interleave_iei": {"0": "make the sky very blue", "1": "Add a hat."},
    "ov_interleave_mivqa": {"0": "A", "1": "C"},
    "ov_interleave_nlvr2": {"0": "(A)", "1": "B. False"},
    "ov_interleave_puzzle": {"0": "The answer is D", "1": "I think it is D"},
    "ov_interleave_qbench": {"0": "a dog is on the left", "1": ""},
    "ov_interleave_spot_diff": {"0": "the car is gone", "1": "nothing"},
    "ov_interleave_trvqa": {"0": "42", "1": "york"},
    "ov_interleave_vst": {"0": "the family went to a beach", "1": ""},
    "ov_interleave_3d_chat": {"0": "a chair"},
    "ov_interleave_3d_td": {"0": "open the fridge"},
    "ov_interleave_scanqa": {"0": "Brown", "1": "under the table"},
    "ov_interleave_alfred": {"0": "pick up the apple."},
    "ov_interleave_nuscenes": {"0": "Yes"},
    "ov_blink": {"0": "A", "1": "A"},
    "ov_mantis": {"0": "C", "1": "two"},
    "ov_mathverse_mv": {"0": "B", "1": "D", "2": "B"},
    "ov_sciverse_mv": {"0": "B", "1": "C"},
    "ov_muirbench": {"0": "A", "1": "B. the second one", "2": "The answer is C"},
}

# Per-doc scores, hand-computed. MC = lmms-eval's mcq_acc: "X. ..." -> X; otherwise
# punctuation is stripped, lowercased, and the first standalone a-e is taken as the letter.
DOC_SCORES = {
    # 0: ref {make,the,sky,blue} m=4, pred adds "very" n=5, LCS 4: P=4/5 R=1 F=(8/5)/(9/5)=8/9
    # 1: '.'-split drops the period; case-sensitive "Add"!="add"; ref m=7 {add,a,red,hat,to,the,man},
    #    pred n=3 {Add,a,hat}, LCS {a,hat}=2: P=2/3 R=2/7 F=(8/21)/(20/21)=2/5
    "ov_interleave_iei": [8 / 9, 2 / 5],
    "ov_interleave_mivqa": [1, 0],  # "A"==A; "C"!=B
    "ov_interleave_nlvr2": [1, 1],  # "(A)" -> parens stripped -> a -> A; "B. False" -> B
    "ov_interleave_puzzle": [0, 1],  # "the answer is d" -> first standalone letter d != C; "...is d" == D
    "ov_interleave_qbench": [
        1,
        0,
    ],  # "a dog ..." -> the article "a" reads as letter A (lmms-eval quirk); "" != B
    "ov_interleave_spot_diff": [1, 0],  # identical; no common word
    "ov_interleave_trvqa": [1, 1 / 2],  # identical; "york" vs {new,york,city}: P=1 R=1/3 F=(2/3)/(4/3)=1/2
    # 0: ref words the,family,went,to,the,beach -> distinct m=5; pred distinct n=6 (adds "a");
    #    LCS the,family,went,to,beach=5: P=5/6 R=5/5 F=(10/6)/(11/6)=10/11
    # 1: empty prediction scores 0 (oe_rogue)
    "ov_interleave_vst": [10 / 11, 0],
    "ov_interleave_3d_chat": [4 / 5],  # {a,chair} vs {a,wooden,chair}: P=1 R=2/3 F=(4/3)/(5/3)=4/5
    # ref distinct {walk,to,the,kitchen,then,open,fridge} m=7 ("the" twice), LCS open,the,fridge=3:
    # P=1 R=3/7 F=(6/7)/(10/7)=3/5 (textbook ROUGE-L with m=8 would give 6/11)
    "ov_interleave_3d_td": [3 / 5],
    "ov_interleave_scanqa": [0, 2 / 3],  # "Brown"!="brown" (case-sensitive); {the,table} 2 of 3 each: F=2/3
    "ov_interleave_alfred": [1],  # the trailing "." is a sentence split, not part of "apple"
    "ov_interleave_nuscenes": [0],  # "Yes" != "yes"
    "ov_blink": [1, 0],
    "ov_mantis": [1, 2 / 3],  # MC "C"; open-ended {two} vs {two,apples}: P=1 R=1/2 F=(1)/(3/2)=2/3
    "ov_mathverse_mv": [1, 1, 0],
    "ov_sciverse_mv": [0, 1],
}
# Column score = lmms-eval's overall_score on one category = mean of its doc scores.
COLUMN_SCORES = {task: sum(s) / len(s) for task, s in DOC_SCORES.items()}
# e.g. iei (8/9 + 2/5)/2 = 29/45; vst (10/11)/2 = 5/11; mathverse 2/3; mantis (1 + 2/3)/2 = 5/6
TABLE4_ORDER = [c.task for c in interleave.COLUMNS[:16]] + ["ov_muirbench", "ov_sciverse_mv"]
TOL = 1e-6  # rouge adds 1e-8 to the F denominator


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi_image")
    multi_image.build(root / "data")
    return run_fixed_answers(ANSWERS, ["ov_multi_image"], root)


def doc_scores(run, task: str) -> list[float]:
    rows = sorted(run.samples[task], key=lambda r: r["doc_id"])
    return [r[interleave.METRIC]["score"] for r in rows]


def test_multiple_choice_letter_matching_per_doc(run):
    for task in [
        "ov_interleave_mivqa",
        "ov_interleave_nlvr2",
        "ov_interleave_puzzle",
        "ov_interleave_qbench",
    ]:
        assert doc_scores(run, task) == DOC_SCORES[task], task
    for task in ["ov_blink", "ov_mathverse_mv", "ov_sciverse_mv"]:
        assert doc_scores(run, task) == DOC_SCORES[task], task


def test_open_ended_rouge_l_equals_reference_implementation_on_clean_text(run):
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    clean = [  # (task, doc_id, reference, prediction): lowercase, no punctuation, no repeated word
        ("ov_interleave_iei", 0, "make the sky blue", "make the sky very blue"),
        ("ov_interleave_trvqa", 1, "new york city", "york"),
        ("ov_interleave_3d_chat", 0, "a wooden chair", "a chair"),
        ("ov_mantis", 1, "two apples", "two"),
    ]
    for task, doc_id, ref, pred in clean:
        independent = scorer.score(ref, pred)["rougeL"].fmeasure
        assert independent == pytest.approx(DOC_SCORES[task][doc_id], abs=1e-12), (task, doc_id)
        assert doc_scores(run, task)[doc_id] == pytest.approx(independent, abs=TOL), (task, doc_id)


def test_open_ended_rouge_l_quirks_of_the_papers_metric(run):
    """Case, '.'-splitting, repeated words and empty answers behave as lmms-eval scored the paper."""
    for task in [
        "ov_interleave_iei",
        "ov_interleave_vst",
        "ov_interleave_3d_td",
        "ov_interleave_scanqa",
        "ov_interleave_alfred",
        "ov_interleave_nuscenes",
        "ov_interleave_spot_diff",
    ]:
        assert doc_scores(run, task) == pytest.approx(DOC_SCORES[task], abs=TOL), task


def test_every_column_score(run):
    for task, expected in COLUMN_SCORES.items():
        assert run.metric(task, interleave.METRIC) == pytest.approx(expected, abs=TOL), task


def test_columns_are_split_by_sub_task_and_visual_cloze_is_in_none(run):
    for task, rows in {**multi_image.IN_DOMAIN, **multi_image.MULTI_VIEW, **multi_image.OUT_DOMAIN}.items():
        got = [r[interleave.METRIC]["sub_task"] for r in sorted(run.samples[task], key=lambda r: r["doc_id"])]
        assert got == [r.sub_task for r in rows], task
    seen = {
        r[interleave.METRIC]["sub_task"]
        for rows in run.samples.values()
        for r in rows
        if interleave.METRIC in r
    }
    assert multi_image.VISUAL_CLOZE_ROW.sub_task not in seen


def test_table2_score_is_unweighted_mean_of_the_four_out_domain_columns(run):
    # (BLINK 1/2 + Mantis 5/6 + MathVerse 2/3 + SciVerse 1/2) / 4 = (3/6 + 5/6 + 4/6 + 3/6) / 4 = 15/24
    expected = 15 / 24
    # A mean over the 9 samples would differ: (1 + 5/3 + 2 + 1) / 9 = 17/27 = 0.6296...
    assert abs(expected - 17 / 27) > 1e-3
    assert run.metric("ov_interleave", interleave.METRIC) == pytest.approx(expected, abs=TOL)
    assert run.results["group_subtasks"]["ov_interleave"] == list(interleave.TABLE2_COLUMNS)


def test_muirbench_instance_accuracy_after_letter_filter(run):
    # "A" == A; "B. the second one" -> filter keeps "B" == B; "The answer is C" has no leading
    # "X." so stays verbatim and != "c": 2/3
    assert run.metric("ov_muirbench", "muirbench_score_overall", "flexible-extract") == pytest.approx(2 / 3)


def test_multi_image_group_runs_each_table4_column_once(run):
    members = run.results["group_subtasks"]["ov_multi_image"]
    leaves = [t for t in members if t != "ov_interleave"] + run.results["group_subtasks"]["ov_interleave"]
    assert sorted(leaves) == sorted(TABLE4_ORDER)
    assert len(leaves) == len(set(leaves)) == 18


# ---------------------------------------------------------------- input checks (no CLI)
def _dataset(sub_tasks: list[str]):
    from datasets import Dataset

    return Dataset.from_dict({"sub_task": sub_tasks, "sample_id": list(range(len(sub_tasks)))})


def test_column_filter_keeps_only_its_categories():
    ds = _dataset(["IEdit", "VIST", "HQ-Edit", "COMICS_Dialogue", "MagicBrush"])
    assert interleave.process_docs_interleave_iei(ds)["sample_id"] == [0, 2, 4]


def test_column_filter_with_no_matching_rows_names_the_task_and_what_is_there():
    with pytest.raises(ValueError, match=r"ov_blink: no rows with sub_task in \['BLINK'\].*\['VIST'\]"):
        interleave.process_docs_blink(_dataset(["VIST"]))


def test_multi_view_prompt_is_lmms_evals_json_which_the_adapter_replays_as_turns():
    from ov_eval.models.prompting import chatml_prompt

    one = {"sample_id": 7, "conversations": [{"from": "human", "value": "<image>\nWhere is the lamp?"}]}
    assert json.loads(interleave.doc_to_text_multi_view(one)) == one["conversations"]
    # replayed like the release's llava_onevision: one user turn with the turn's text
    prompt = chatml_prompt(interleave.doc_to_text_multi_view(one), None)
    assert prompt == "<|im_start|>user\n<image>\nWhere is the lamp?<|im_end|>\n<|im_start|>assistant\n"
    turns = [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}, {"from": "human", "value": "c"}]
    assert json.loads(interleave.doc_to_text_multi_view({"conversations": turns})) == turns


@pytest.mark.parametrize(
    ("conversations", "cause"),
    [
        ([], "non-empty list"),
        ([{"from": "human"}], r"conversations\[0\] has no text"),
        ([{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}], "odd count"),
    ],
)
def test_multi_view_prompt_rejects_bad_conversations(conversations, cause):
    with pytest.raises(ValueError, match=rf"sample_id=9 .*{cause}"):
        interleave.doc_to_text_multi_view(
            {"sample_id": 9, "sub_task": "ScanQA", "conversations": conversations}
        )


def test_interleave_sample_without_images_is_an_error_naming_it():
    doc = {"sample_id": 5, "sub_task": "VIST", **{f"image_{i}": None for i in range(12)}}
    with pytest.raises(ValueError, match="sample_id=5 .*no images"):
        interleave.doc_to_visual(doc)


def test_muirbench_missing_image_is_an_error_naming_the_sample():
    with pytest.raises(ValueError, match=r"idx='m1' .*image_list\[1\] is NoneType"):
        muirbench.doc_to_visual(
            {"idx": "m1", "task": "Counting", "image_list": [multi_image.image(1, 0), None]}
        )
