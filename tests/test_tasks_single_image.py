"""Single-image task configs scored end to end with known predictions (``ov_fixed_answers``).

One real ``python -m lmms_eval`` run over every single-image task that needs no judge, on the fixture datasets of ``ov_eval.demo.fixtures.single_image``.
Every expected value below is hand-computed from the fixture rows and the predictions in
``ANSWERS``; the arithmetic is in the comments. Doc ids are row positions in the fixture.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.evaluate import run_fixed_answers

from ov_eval.demo.fixtures import single_image

pytestmark = pytest.mark.slow

ANSWERS = {
    "ov_ai2d": {"0": "D", "1": "B. larva", "2": "The answer is A", "3": "c"},
    "ov_chartqa": {"0": "43", "1": "45", "2": "0.12", "3": "yes", "4": "0.0"},
    "ov_docvqa_val": {"0": "smith", "1": "ITC Limted", "2": "1992"},
    "ov_docvqa_test": {"0": "ANNUAL REPORT 1986", "1": "Washington"},
    "ov_infovqa_val": {"0": "4.5 Million", "1": "20 %", "2": "blue"},
    "ov_infovqa_test": {"0": "Japan", "1": "64%"},
    "ov_mme": {
        **{"0": "Yes", "1": "No", "2": "yes.", "3": "Yes", "4": "No", "5": "Yes, it is"},
        **{"6": "Y", "7": "n", "8": "Maybe", "9": "Yes", "10": "Yes", "11": "Not at all"},
    },
    "ov_mmbench_en_dev": {
        **{"0": "B", "1": "A. rabbit", "2": "The answer is D", "3": "Neither A nor B; the answer is C"},
        **{"4": "A", "5": "A", "6": "C", "7": "a bird", "8": "A"},
    },
    "ov_mmmu_val": {"0": "B", "1": "x = 12", "2": "(A)"},
    "ov_mmstar": {"0": "A", "1": "C", "2": "The answer is D.", "3": "C"},
    "ov_seedbench_image": {"0": "A", "1": "Dog"},
    "ov_scienceqa_img": {"0": "B", "1": "A. true", "2": "The answer is D"},
    "ov_realworldqa": {"0": "B", "1": "2.", "2": "The answer is (A)"},
    "ov_ocrbench": {"0": "Starbucks Coffee", "1": "x^{2}+1", "2": "June 1998", "3": "abc corp"},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("single_image")
    single_image.build(root / "data")
    # every single-image task that needs no judge (group lists: test_task_groups.py)
    result = run_fixed_answers(ANSWERS, list(ANSWERS), root)
    result.output_path = root / "out"
    return result


def per_doc(run, task: str, key: str) -> list:
    return [s[key] for s in sorted(run.samples[task], key=lambda s: s["doc_id"])]


def test_anls_docvqa_and_infovqa(run):
    # ANLS = 1 - NL (Levenshtein / max length, lower-cased, whitespace-collapsed), best reference, 0 if < 0.5.
    # DocVQA  0: "smith" vs "Smith" -> 1
    #         1: "itc limted" vs "itc limited": 1 edit / 11 chars -> 10/11 (vs "itc": 7/10 -> 0.3; best 10/11)
    #         2: "1992" vs "march 3, 1992": 9 edits / 13 -> 4/13 < 0.5 -> 0
    assert per_doc(run, "ov_docvqa_val", "anls") == pytest.approx([1.0, 10 / 11, 0.0])
    assert run.metric("ov_docvqa_val", "anls") == pytest.approx((1 + 10 / 11 + 0) / 3)  # = 7/11
    # InfoVQA 0: "4.5 million" exact after lower-casing -> 1
    #         1: "20 %" vs "20%": 1 edit / 4 -> 0.75
    #         2: "blue" vs "red": 4 edits / 4 -> 0
    assert per_doc(run, "ov_infovqa_val", "anls") == pytest.approx([1.0, 0.75, 0.0])
    assert run.metric("ov_infovqa_val", "anls") == pytest.approx(1.75 / 3)  # = 7/12


def test_chartqa_relaxed_accuracy(run):
    # 0 human "43" vs 42: |1|/42 = 2.4% <= 5% -> 1     1 human "45" vs 42: 3/42 = 7.1% -> 0
    # 2 aug "0.12" vs "12%" = 0.12 -> 1                 3 aug "yes" vs "Yes": text, case-insensitive -> 1
    # 4 aug "0.0" vs "0": a zero target falls back to exact string match ("0.0" != "0") -> 0
    assert per_doc(run, "ov_chartqa", "relaxed_overall") == [1.0, 0.0, 1.0, 1.0, 0.0]
    assert run.metric("ov_chartqa", "relaxed_overall") == pytest.approx(3 / 5)
    assert run.metric("ov_chartqa", "relaxed_human_split") == pytest.approx(1 / 2)
    assert run.metric("ov_chartqa", "relaxed_augmented_split") == pytest.approx(2 / 3)


def test_mme_category_sums_of_acc_and_acc_plus(run):
    # Per image: acc = 100 * correct/2, acc+ = 100 if both correct. Category = mean over images of acc + acc+.
    # existence: img 8277 Yes/No both right -> 100+100 = 200; img 12345 "yes." right, "Yes" vs No wrong -> 50+0
    #            -> (200 + 50) / 2 = 125
    # OCR: "No" vs Yes wrong, "Yes, it is" (prefix "yes,") vs No wrong -> 0
    # perception = 125 + 0 = 125
    # code_reasoning: 0020 "Y"->yes right, "n"->no right -> 200; 0021 "Maybe"->other, "Yes" vs No -> 0 => 100
    # commonsense_reasoning: "Yes" right, "Not at all" (prefix "not " contains "no") right -> 200
    # cognition = 100 + 200 = 300
    assert run.metric("ov_mme", "mme_perception_score") == pytest.approx(125.0)
    assert run.metric("ov_mme", "mme_cognition_score") == pytest.approx(300.0)


def test_mmbench_circular_evaluation(run):
    # Q0 (docs 0-3, answers B A D C): "B"; "A. rabbit" -> A; "The answer is D" -> D; "Neither A nor B; the
    #    answer is C" -> no single letter for the rule matcher, extract_mcq_answer -> C. All right -> 1
    # Q1 (docs 4-5, answers A B): "A" right, "A" wrong for the rotation -> 0 (one miss fails the question)
    # Q2 (docs 6-8, answers C B A): "C"; "a bird" matches option B's text; "A" -> all right -> 1
    # circular accuracy = 100 * 2/3
    assert run.metric("ov_mmbench_en_dev", "circular_accuracy") == pytest.approx(200 / 3)


def test_letter_matching_multiple_choice(run):
    # AI2D exact match after the "X." filter, case/punctuation-insensitive:
    #   "D" = D; "B. larva" -> B = B; "The answer is A" (no leading "X.") != A; "c" = C -> 3/4
    assert run.metric("ov_ai2d", "exact_match", "flexible-extract") == pytest.approx(3 / 4)
    # ScienceQA: "B" = B; "A. true" -> A = A; "The answer is D" is neither a letter nor "X." -> 2/3
    assert per_doc(run, "ov_scienceqa_img", "exact_match") == [1.0, 1.0, 0.0]
    # RealWorldQA, the release's flexible-extract filter + exact_match (case/punctuation-insensitive):
    #   "B" = B; open answer "2." -> "2" = 2; "The answer is (A)" -> "The answer is A" != C -> 2/3
    assert per_doc(run, "ov_realworldqa", "exact_match") == [1.0, 1.0, 0.0]
    assert run.metric("ov_realworldqa", "exact_match", "flexible-extract") == pytest.approx(2 / 3)
    # SEED-Bench image rows (answers A, B): first character "A" = A; "D" of "Dog" != B -> 1/2
    assert run.metric("ov_seedbench_image", "seed_image") == pytest.approx(1 / 2)
    # MMMU: MC "B" = B; open "x = 12" -> number 12 = "12"; MC "(A)" -> A != D -> 2/3
    assert run.metric("ov_mmmu_val", "mmmu_acc") == pytest.approx(2 / 3, abs=1e-5)  # lmms-eval rounds to 5 dp
    # MMStar (the release's first-character rule) macro average over L2 categories: scene [1], style ["C" != B:
    # 0], geometry ["The answer is D." -> character 14 = D, "C" = C: 1, 1] -> (1 + 0 + 1) / 3 = 2/3 (the micro average would be 3/4)
    assert run.metric("ov_mmstar", "average") == pytest.approx(2 / 3)
    assert run.metric("ov_mmstar", "coarse perception") == pytest.approx((1 + 0) / 2)
    assert run.metric("ov_mmstar", "math") == pytest.approx(1.0)


def test_ocrbench_accuracy_is_hits_over_samples(run):
    # "Starbucks Coffee" contains "starbucks" -> 1; HME100k compares without spaces: "x^{2}+1" -> 1;
    # "June 1998" contains neither date -> 0; full-width "ＡＢＣ Corp" folds to "abc corp" -> 1  => 3/4
    assert run.metric("ov_ocrbench", "ocrbench_accuracy") == pytest.approx(3 / 4)


@pytest.mark.parametrize(
    ("task", "file_name", "expected"),
    [
        (
            "ov_docvqa_test",
            "docvqa_test_for_submission.json",
            [
                {"questionId": 57344, "answer": "ANNUAL REPORT 1986"},
                {"questionId": 57345, "answer": "Washington"},
            ],
        ),
        (
            "ov_infovqa_test",
            "infovqa_test_for_submission.json",
            [{"questionId": 70001, "answer": "Japan"}, {"questionId": 70002, "answer": "64%"}],
        ),
    ],
)
def test_test_splits_write_the_submission_and_report_no_score(run, task, file_name, expected):
    # No local score exists: the value is null ("submission written") and the path says where the file is,
    # in the server's format [{"questionId": int, "answer": str}], under <output_path>/submissions/.
    assert run.metric(task, "submission") is None
    path = Path(run.metric(task, "submission_path"))
    assert path == run.output_path / "submissions" / file_name
    assert sorted(json.loads(path.read_text()), key=lambda e: e["questionId"]) == expected


def test_prompts_are_lmms_evals_defaults(run):
    contexts = {(r["task"], r["doc_id"]): r["context"] for r in run.trace}
    post_letter = "\nAnswer with the option's letter from the given choices directly."
    assert contexts[("ov_ai2d", 0)] == (
        "Which stage of the life cycle is shown at label D?\nA. egg\nB. larva\nC. pupa\nD. adult"
        + post_letter
    )
    # MME drops the dataset's own " Please answer yes or no." and appends the default post prompt.
    assert (
        contexts[("ov_mme", 0)]
        == "Is there a dog in this image?\nAnswer the question using a single word or phrase."
    )
    # MMBench: "<hint> <question> <options>" then "\n" + post prompt (which starts with "\n").
    assert contexts[("ov_mmbench_en_dev", 4)] == (
        "Look at the picture. Is the man holding an umbrella? There are several options:\nA. yes\nB. no\n"
        + post_letter
    )
    assert contexts[("ov_scienceqa_img", 1)] == (
        "Context: Read the text. The rock is made of one mineral.\nIs the statement true?\nA. true\nB. false"
        + post_letter
    )
    assert contexts[("ov_docvqa_val", 0)] == (
        "To whom is the memo addressed?\nAnswer the question using a single word or phrase."
    )
    assert (
        contexts[("ov_chartqa", 0)]
        == "How many units were sold in 2019?\nAnswer the question with a single word."
    )


def test_every_sample_gets_its_images(run):
    visuals = {(r["task"], r["doc_id"]): r["visuals"] for r in run.trace}
    # one image per single-image sample; MMMU sends the images the question refers to (<image 1>, <image 2>)
    assert visuals[("ov_mmmu_val", 2)] == ["Image", "Image"]
    assert {tuple(v) for key, v in visuals.items() if key != ("ov_mmmu_val", 2)} == {("Image",)}
    asked = {(r["task"], r["doc_id"]) for r in run.trace}
    assert asked == {(task, int(doc)) for task, table in ANSWERS.items() for doc in table}
