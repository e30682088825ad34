"""Columns in the dtypes the hub really has (or plausibly has, where no card could be checked):
the tasks' input checks accept them and score them as lmms-eval / the benchmark's own code does."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset, Features, Image, Sequence, Value


# ---------------------------------------------------------------- NExT-QA: answer int or numeric string
@pytest.mark.parametrize("answer", [2, "2"])
def test_nextqa_numeric_string_answer_scores_like_the_int(answer):
    from ov_eval.tasks import nextqa

    nextqa_mc_process_results = nextqa._lmms_nextqa().nextqa_mc_process_results  # lmms-eval's own scorer

    doc = {"video": 1, "qid": 3, "question": "q", "answer": answer, **{f"a{i}": f"o{i}" for i in range(5)}}
    int_doc = dict(doc, answer=2)
    for prediction in ("C", "B"):
        assert nextqa.process_results(doc, [prediction]) == nextqa_mc_process_results(int_doc, [prediction])
    assert nextqa.process_results(doc, ["C"])["exact_match"] is True


@pytest.mark.parametrize("answer", ["x", "7", None, True])
def test_nextqa_answer_that_is_no_option_index_is_rejected(answer):
    from ov_eval.tasks import nextqa

    doc = {"video": 1, "qid": 3, "answer": answer, **{f"a{i}": "x" for i in range(5)}}
    with pytest.raises(ValueError, match=r"qid=3: answer .* is not an option index 0-4"):
        nextqa.process_results(doc, ["A"])


# ---------------------------------------------------------------- PerceptionTest: answer_id is a string
def test_perceptiontest_string_answer_id_is_scored_by_index():
    from ov_eval.tasks import perceptiontest

    doc = {
        "question_id": "p1",
        "video_name": "v",
        "question": "q",
        "options": ["a", "b", "c"],
        "answer_id": "1",
    }
    assert perceptiontest.process_results(doc, ["B"])["accuracy"]["correct"] == 1
    assert perceptiontest.process_results(doc, ["A"])["accuracy"]["correct"] == 0


# ---------------------------------------------------------------- Interleave multi-view: no answer column
MULTI_VIEW = Features(
    {
        "sample_id": Value("int64"),
        "sub_task": Value("string"),
        "image_0": Image(),
        "conversations": [{"from": Value("string"), "value": Value("string")}],
        "question_type": Value("string"),
    }
)


def _multi_view(conversations: list[list[dict[str, str]]]) -> Dataset:
    n = len(conversations)
    return Dataset.from_dict(
        {
            "sample_id": list(range(n)),
            "sub_task": ["ScanQA"] * n,
            "image_0": [None] * n,
            "conversations": conversations,
            "question_type": ["open-ended"] * n,
        },
        features=MULTI_VIEW,
    )


def test_multi_view_reference_is_the_reply_turn_and_the_prompt_the_question_turn():
    from ov_eval.tasks import interleave

    turns = [
        [{"from": "human", "value": "<image>\nWhere is the lamp?"}, {"from": "gpt", "value": "On the desk."}],
        [
            {"from": "human", "value": "What colour is the sofa?"},
            {"from": "gpt", "value": "Grey."},
            {"from": "human", "value": "And the wall?"},
            {"from": "gpt", "value": "White."},
        ],
    ]
    docs = interleave.process_docs_interleave_scanqa(_multi_view(turns))
    assert docs["answer"] == ["On the desk.", "Grey."]  # LLaVA-NeXT model_vqa.py: gt = conversations[1]
    # the prompt replays the question turn alone (a JSON conversation, as lmms-eval's own function writes it)
    assert [json.loads(interleave.doc_to_text_multi_view(doc)) for doc in docs] == [[t[0]] for t in turns]
    assert docs.features["conversations"] == MULTI_VIEW["conversations"]


def test_multi_view_with_an_answer_column_is_used_as_is():
    from ov_eval.tasks import interleave

    data = _multi_view([[{"from": "human", "value": "q"}]]).add_column("answer", ["A"])
    docs = interleave.process_docs_interleave_scanqa(data)
    assert docs["answer"] == ["A"] and docs["conversations"] == [[{"from": "human", "value": "q"}]]


def test_multi_view_without_answer_or_reply_fails_before_the_run_naming_the_sample():
    from ov_eval.tasks import interleave

    data = _multi_view(
        [[{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}], [{"from": "human", "value": "q"}]]
    )
    with pytest.raises(ValueError, match=r"sample_id=1: no 'answer' column and no reply turn"):
        interleave.process_docs_interleave_scanqa(data)


# ---------------------------------------------------------------- ActivityNet-QA: type is a string
def test_activitynet_fixture_has_the_card_dtypes(tmp_path):
    from support.fixtures import judged

    from ov_eval.demo.datasets import dataset_dir

    judged.build_activitynetqa(tmp_path)
    parquet = dataset_dir(tmp_path, judged.ACTIVITYNET_PATH) / "data" / "test-00000-of-00001.parquet"
    features = Dataset.from_parquet(str(parquet)).features
    assert features == Features({name: Value("string") for name in features})  # card: all strings
    assert list(features) == ["question_id", "question", "answer", "video_name", "type"]


def test_perceptiontest_fixture_has_the_card_dtypes(tmp_path):
    from ov_eval.demo.datasets import dataset_dir
    from ov_eval.demo.fixtures import video

    video.build_perceptiontest(tmp_path)
    parquet = dataset_dir(tmp_path, "lmms-eval/PerceptionTest_Val", "mc_question_val") / "data"
    features = Dataset.from_parquet(str(parquet / "validation-00000-of-00001.parquet")).features
    assert features["answer_id"] == Value("string")
    assert features["options"] == features["tag"] == Sequence(Value("string"))
