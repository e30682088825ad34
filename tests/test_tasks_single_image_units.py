"""Single-image task code without the CLI: offline imports, settings pinned to lmms-eval's, bad input.

Fast (no model, no lmms-eval run). The end-to-end scores are in test_tasks_single_image.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from datasets import Dataset
from lmms_eval.utils import load_yaml_config
from PIL import Image

from ov_eval.paths import tasks_path
from ov_eval.task_index import JUDGED_TAG
from ov_eval.tasks import docvqa, mmbench, mme, ocrbench, seedbench_image, single_image

SI_DIR = tasks_path() / "single_image"
LMMS_TASKS = Path(load_yaml_config.__code__.co_filename).parent / "tasks"

# ov task -> lmms-eval's built-in YAML whose prompts and generation settings it must keep.
BUILTIN = {
    "ov_ai2d": "ai2d/ai2d.yaml",
    "ov_chartqa": "chartqa/chartqa.yaml",
    "ov_docvqa_val": "docvqa/docvqa_val.yaml",
    "ov_docvqa_test": "docvqa/docvqa_test.yaml",
    "ov_infovqa_val": "infovqa/infovqa_val.yaml",
    "ov_infovqa_test": "infovqa/infovqa_test.yaml",
    "ov_mme": "mme/mme.yaml",
    "ov_mmbench_en_dev": "mmbench/mmbench_en_dev.yaml",
    "ov_mmmu_val": "mmmu/mmmu_val.yaml",
    "ov_mmstar": "mmstar/mmstar.yaml",
    "ov_seedbench_image": "seedbench/seedbench.yaml",
    "ov_scienceqa_img": "scienceqa/scienceqa_img.yaml",
    "ov_realworldqa": "realworldqa/realworldqa.yaml",
    "ov_ocrbench": "ocrbench/ocrbench.yaml",
}
# lmms-eval's llava_onevision used max_new_tokens=1024 when a task set none (the paper's runs).
BUILTIN_MODEL_MAX_NEW_TOKENS = 1024
# Where lmms-eval 0.7.3 changed the budget since the LLaVA-OneVision release (commit 1d3f34ab), the task
# keeps the release's: MMMU's _default_template_yaml there sets 16 (reports/fidelity.yaml).
RELEASE_MAX_NEW_TOKENS = {"ov_mmmu_val": 16}


def _config(path: Path) -> dict:
    return load_yaml_config(str(path), mode="simple")


def _task_configs() -> dict[str, dict]:
    """The folder's tasks scored without a judge (the judged ones: tests/test_judged_common.py)."""
    configs = {}
    for path in SI_DIR.glob("ov_*.yaml"):
        config = _config(path)
        if "group" not in config and JUDGED_TAG not in config.get("tag", []):
            configs[config["task"]] = config
    return configs


def test_every_task_has_a_builtin_reference():
    assert set(_task_configs()) == set(BUILTIN)


@pytest.mark.parametrize("task", sorted(BUILTIN))
def test_dataset_prompts_and_decoding_are_lmms_evals(task):
    ours, theirs = _task_configs()[task], _config(LMMS_TASKS / BUILTIN[task])
    for key in ("dataset_path", "dataset_name", "test_split"):
        assert ours.get(key) == theirs.get(key), key
    assert ours.get("lmms_eval_specific_kwargs", {}).get("default") == theirs.get(
        "lmms_eval_specific_kwargs", {}
    ).get("default")
    gen, builtin_gen = ours["generation_kwargs"], theirs.get("generation_kwargs", {})
    builtin_max = builtin_gen.get("max_new_tokens", BUILTIN_MODEL_MAX_NEW_TOKENS)
    assert gen["max_new_tokens"] == RELEASE_MAX_NEW_TOKENS.get(task, builtin_max)
    assert gen["temperature"] == 0 and gen["do_sample"] is False  # greedy, as in the paper
    # stop strings are lmms-eval's too (the adapter ignores them by default, like the paper's driver)
    assert gen.get("until") == builtin_gen.get("until")


def test_dev_quick_is_the_papers_appendix_d1_list():
    config = _config(SI_DIR / "ov_dev_quick.yaml")
    # App. D.1: AI2D, ChartQA, DocVQA, InfoVQA, MME, MMBench-dev, MMMU-val (validation splits: local answers)
    assert config["task"] == [
        "ov_ai2d",
        "ov_chartqa",
        "ov_docvqa_val",
        "ov_infovqa_val",
        "ov_mme",
        "ov_mmbench_en_dev",
        "ov_mmmu_val",
    ]


def test_groups_list_only_existing_tasks_and_single_image_lists_them_all():
    from lmms_eval.tasks import TaskManager

    index = TaskManager(include_path=str(tasks_path())).task_index
    for name in ("ov_dev_quick", "ov_paper_table3", "ov_single_image"):
        assert index[name]["type"] == "group", name
        for member in _config(SI_DIR / f"{name}.yaml")["task"]:
            assert index.get(member, {}).get("type") == "task", (name, member)
    # every task defined here is in ov_single_image (judged ones too)
    single = _config(SI_DIR / "ov_single_image.yaml")["task"]
    assert set(_task_configs()) <= set(single)
    assert len(single) == len(set(single))


def test_task_code_imports_offline_without_credentials():
    """Every ``!function`` target of our YAMLs resolves with HF_HOME / OPENAI_API_KEY unset."""
    targets = sorted(
        {m for path in SI_DIR.glob("*.yaml") for m in re.findall(r"!function\s+([\w.]+)", path.read_text())}
    )
    assert len(targets) > 20
    script = (
        "import importlib, json, sys\n"
        "for t in json.loads(sys.argv[1]):\n"
        "    module, _, attr = t.rpartition('.')\n"
        "    assert callable(getattr(importlib.import_module(module), attr)), t\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"HF_HOME", "OPENAI_API_KEY", "OPENAI_API_URL", "API_TYPE"}
    }
    env.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(targets)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


# --------------------------------------------------------------------------- bad input


def test_missing_or_wrong_image_names_the_sample():
    with pytest.raises(ValueError, match=r"questionId='49153'.*'image' is empty"):
        single_image.doc_to_visual({"questionId": "49153", "image": None})
    with pytest.raises(ValueError, match=r"question_id='OCR/0001.jpg'.*is a str, not an image"):
        single_image.doc_to_visual({"question_id": "OCR/0001.jpg", "image": "0001.jpg"})
    rgba = Image.new("RGBA", (4, 4))
    assert single_image.doc_to_visual({"question_id": "q", "image": rgba})[0].mode == "RGB"


def test_wrong_schema_is_rejected_before_any_model_work():
    dataset = Dataset.from_dict({"question": ["q"], "answer": ["A"]})
    with pytest.raises(ValueError, match=r"AI2D: dataset lacks column\(s\) \['options', 'image'\]"):
        single_image.process_docs_ai2d(dataset)


def test_mmmu_reference_to_an_empty_image_column_names_the_sample():
    from ov_eval.tasks import mmmu

    doc = {
        "id": "validation_Art_7",
        "question": "Compare <image 1> and <image 2>.",
        "options": "['a', 'b']",
        "question_type": "multiple-choice",
        "image_1": Image.new("RGB", (4, 4)),
        "image_2": None,
    }
    with pytest.raises(ValueError, match=r"id='validation_Art_7'.*'image_2' is empty"):
        mmmu.doc_to_visual(doc)


@pytest.mark.parametrize(
    ("question_type", "answer", "response", "correct"),
    [
        # multiple choice, options (A) cat (B) dog (C) bird (D) fish; the release's rules in order:
        ("multiple-choice", "B", "(B)", True),  # a bracketed letter
        ("multiple-choice", "B", "It is (A), no, (B).", True),  # several: the last one written wins
        ("multiple-choice", "B", "B. dog", True),  # no "X " anywhere, then "X."
        ("multiple-choice", "B", "I think it is a dog because of the ears", True),  # > 5 words: option text
        ("multiple-choice", "B", "C", False),
        # open: key sub-response after "is "/"=" etc., numbers compared as floats
        ("open", "12", "x = 12", True),
        ("open", "12", "The value is 12.0", True),
        ("open", "12", "thirteen", False),
    ],
)
def test_mmmu_answers_are_parsed_by_the_releases_rules(question_type, answer, response, correct):
    """0.7.3 moved the release's multiple-choice parser into ``mmmu_mcq_utils`` unchanged and wraps
    each parsed prediction in a list (pass@k; one generation = the release's single prediction);
    open-answer parsing, comparison and aggregation are the release's code as it was. Expected
    values are worked out by hand from the release's rules (docs/tasks_fidelity.md)."""
    from lmms_eval.tasks.mmmu.utils import mmmu_aggregate_results

    from ov_eval.tasks import mmmu

    doc = {
        "id": "validation_Art_3",
        "question_type": question_type,
        "options": "['cat', 'dog', 'bird', 'fish']" if question_type == "multiple-choice" else "[]",
        "answer": answer,
    }
    record = mmmu.process_results(doc, [response])
    assert set(record) == {"mmmu_acc"}
    assert mmmu_aggregate_results([record["mmmu_acc"]]) == (1.0 if correct else 0.0)


def _mme_split(rows):
    return Dataset.from_dict(
        {
            "question_id": [r[0] for r in rows],
            "question": ["Is it red?"] * len(rows),
            "answer": [r[2] for r in rows],
            "category": [r[1] for r in rows],
            "image": [None] * len(rows),
        }
    )


def test_mme_split_is_checked_before_the_model_runs():
    good = [("color/1.jpg", "color", "Yes"), ("color/1.jpg", "color", "No")]
    assert len(mme.process_docs(_mme_split(good))) == 2
    with pytest.raises(ValueError, match=r"color/2.jpg \(color\): 1"):
        mme.process_docs(_mme_split([*good, ("color/2.jpg", "color", "Yes")]))
    with pytest.raises(ValueError, match=r"question_id='color/1.jpg': 'Maybe'"):
        mme.process_docs(_mme_split([good[0], ("color/1.jpg", "color", "Maybe")]))
    # lmms-eval would silently count an unknown category as cognition
    with pytest.raises(ValueError, match=r"'category' must be one of .*question_id='x/1.jpg': 'colour'"):
        mme.process_docs(_mme_split([("x/1.jpg", "colour", "Yes"), ("x/1.jpg", "colour", "No")]))


def test_mme_unpaired_question_is_named():
    def item(qid, score):
        return {"question_id": qid, "category": "OCR", "score": score}

    # one image with two questions: acc = 50, acc+ = 0 -> 50
    assert mme.aggregate([item("OCR/1.jpg", 1.0), item("OCR/1.jpg", 0.0)]) == pytest.approx(50.0)
    with pytest.raises(ValueError, match=r"OCR/2.jpg \(OCR\): 1"):
        mme.aggregate([item("OCR/1.jpg", 1.0), item("OCR/1.jpg", 0.0), item("OCR/2.jpg", 1.0)])


def _mmbench_doc(index, answer="A", **extra):
    doc = {"index": index, "question": "Which?", "hint": None, "A": "cat", "B": "dog", "C": None, "D": None}
    doc |= {"answer": answer, "category": "c", "L2-category": "l2", "source": "s", "split": "dev"}
    return doc | extra


def test_mmbench_split_is_checked_before_the_model_runs():
    columns = ("question", "hint", "A", "B", "C", "D", "category", "L2-category", "source", "split", "image")
    base = {c: [None, None] for c in columns}
    assert (
        len(mmbench.process_docs(Dataset.from_dict(base | {"index": ["0", "1000000"], "answer": ["A", "B"]})))
        == 2
    )
    with pytest.raises(ValueError, match=r"'index' must be an integer; got index='q7'"):
        mmbench.process_docs(Dataset.from_dict(base | {"index": ["0", "q7"], "answer": ["A", "B"]}))
    with pytest.raises(ValueError, match=r"'answer' must be an option letter A-E; got index=1: 'dog'"):
        mmbench.process_docs(Dataset.from_dict(base | {"index": [0, 1], "answer": ["A", "dog"]}))


def test_docvqa_ids_and_ocrbench_types_are_checked_before_the_model_runs():
    docvqa_split = Dataset.from_dict(
        {
            "questionId": ["57344", "q-1"],
            "question": ["?", "?"],
            "answers": [None, None],
            "image": [None, None],
        }
    )
    with pytest.raises(ValueError, match=r"InfoVQA: 'questionId' must be an integer; got questionId='q-1'"):
        docvqa.process_docs_infovqa(docvqa_split)
    ocr_split = Dataset.from_dict(
        {
            "dataset": ["x"],
            "question": ["What is written?"],
            "question_type": ["Poetry"],
            "answer": [["a"]],
            "image": [None],
        }
    )
    with pytest.raises(ValueError, match=r"question='What is written\?': 'Poetry'"):
        ocrbench.process_docs(ocr_split)


def test_mmbench_index_is_numeric_and_checked():
    # one hub revision stored `index` as a string; CircularEval needs numbers (index % 1e6)
    record = mmbench.process_results(_mmbench_doc("1000001"), ["A"])[mmbench.METRIC]
    assert record["index"] == 1_000_001 and record["prediction"] == "A"
    with pytest.raises(ValueError, match=r"index='q7'"):
        mmbench.process_results(_mmbench_doc("q7"), ["A"])
    with pytest.raises(ValueError, match=r"answer 'cat' is not a letter"):
        mmbench.process_results(_mmbench_doc(3, answer="cat"), ["A"])


def test_mmbench_unmatched_answer_scores_zero_without_an_api(tmp_path):
    args = SimpleNamespace(output_path=str(tmp_path))

    def items(second_prediction):
        rows = [
            (_mmbench_doc(0, "A"), "A"),
            (_mmbench_doc(1_000_000, "B", A="dog", B="cat"), second_prediction),
        ]
        return [mmbench.process_results(doc, [pred])[mmbench.METRIC] for doc, pred in rows]

    assert mmbench.aggregate_circular(items("B"), args) == pytest.approx(100.0)  # both rotations right
    # no letter and no option text: lmms-eval's GPT path would be asked; the static path scores 0 (never random)
    assert mmbench.aggregate_circular(items("I cannot tell"), args) == pytest.approx(0.0)
    with pytest.raises(ValueError, match=r"rotations \[1000005\] have no base question"):
        mmbench.aggregate_circular(items("B") + [dict(items("B")[0], index=1_000_005)], args)


def test_ocrbench_accuracy_does_not_accumulate_across_calls():
    items = [
        {"question_type": "Regular Text Recognition", "score": 1},
        {"question_type": "Doc-oriented VQA", "score": 0},
    ]
    # 1 hit of 2 samples, and the same again (lmms-eval's would give 1/1000, then 2/1000)
    assert ocrbench.aggregate_accuracy(items) == pytest.approx(0.5)
    assert ocrbench.aggregate_accuracy(items) == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"unknown question_type\(s\) \['Poetry'\]"):
        ocrbench.aggregate_accuracy([{"question_type": "Poetry", "score": 1}])


def test_seedbench_image_keeps_only_image_questions():
    columns = ("question", "choice_a", "choice_b", "choice_c", "choice_d", "answer", "question_id")
    dataset = Dataset.from_dict(
        {c: ["x"] * 4 for c in columns}
        | {"data_type": ["image", "video", "image", "video"], "image": [None] * 4}
    )
    assert len(seedbench_image.process_docs(dataset)) == 2
    with pytest.raises(ValueError, match="no rows with data_type == 'image'"):
        seedbench_image.process_docs(dataset.filter(lambda r: r["data_type"] == "video"))


def test_submission_needs_an_integer_question_id():
    entry = docvqa.submission_process_results({"questionId": "57344"}, ["Washington"])["submission"]
    assert entry == {"questionId": 57344, "answer": "Washington"}
    with pytest.raises(ValueError, match=r"questionId='q-1'.*must be an integer"):
        docvqa.submission_process_results({"questionId": "q-1"}, ["x"])
