"""Rules every GPT-judged task obeys, checked for each task config tagged ``ov_judged``.

A judged task added later is covered without touching this file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from lmms_eval.utils import load_yaml_config

from ov_eval.judge import runtime
from ov_eval.judge.config import JudgeNotConfigured
from ov_eval.task_index import suite_configs

JUDGED = {name: config for name, config in suite_configs().items() if config.judged and not config.is_group}
JUDGE_SETTINGS = (
    "OPENAI_API_KEY",
    "OV_EVAL_JUDGE_API_KEY",
    "OV_EVAL_JUDGE_BASE_URL",
    "OV_EVAL_JUDGE_API_KEY_ENV",
)
IMPORT_TIME_VARIABLES = ("HF_HOME", "OPENAI_API_KEY", "API_TYPE")


def test_the_paper_s_judged_benchmarks_are_all_here():
    assert len(JUDGED) == 14  # 11 benchmarks, VideoChatGPT in 3 parts, + WildVision


@pytest.mark.parametrize("task", sorted(JUDGED))
def test_without_a_judge_the_task_stops_before_generation_naming_what_to_set(task, monkeypatch):
    """``doc_to_text`` runs while lmms-eval builds requests, before any model call: it must refuse."""
    doc_to_text = load_yaml_config(str(JUDGED[task].path), mode="full")["doc_to_text"]
    for name in JUDGE_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    runtime.reset_for_tests()
    try:
        with pytest.raises(JudgeNotConfigured) as err:
            doc_to_text({}, {})
    finally:
        runtime.reset_for_tests()
    assert task in str(err.value) and "OV_EVAL_JUDGE_BASE_URL" in str(err.value)


def test_judged_task_code_imports_offline_without_keys_and_leaves_the_environment_alone():
    modules = sorted(
        {
            m
            for config in JUDGED.values()
            for m in re.findall(r"(ov_eval\.tasks\.\w+)\.\w+", config.path.read_text())
        }
    )
    assert len(modules) >= 10
    code = f"import os, {', '.join(modules)}; print(sorted(k for k in {IMPORT_TIME_VARIABLES!r} if k in os.environ))"
    env = {k: v for k, v in os.environ.items() if k not in IMPORT_TIME_VARIABLES}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_lmms_task_import_sees_placeholders_only_while_importing_and_names_a_missing_package(
    tmp_path, monkeypatch
):
    """One helper imports every lmms-eval task module: placeholders during the import, the user's values after."""
    import lmms_eval.tasks

    from ov_eval.tasks.lmms_tasks import import_task_module

    (tmp_path / "ov_probe_env.py").write_text(
        "import os\nSEEN = {k: os.environ.get(k) for k in ('API_TYPE', 'OPENAI_API_KEY', 'HF_HOME')}\n"
    )
    (tmp_path / "ov_probe_optional.py").write_text("import ov_eval_no_such_package\n")
    monkeypatch.setattr(lmms_eval.tasks, "__path__", [*lmms_eval.tasks.__path__, str(tmp_path)])
    monkeypatch.setenv("OPENAI_API_KEY", "users-own-key")
    monkeypatch.delenv("API_TYPE", raising=False)
    monkeypatch.delenv("HF_HOME", raising=False)
    monkeypatch.delitem(sys.modules, "lmms_eval.tasks.ov_probe_env", raising=False)

    seen = import_task_module("ov_probe_env").SEEN
    assert seen["API_TYPE"] == "dummy" and seen["OPENAI_API_KEY"] == "ov-eval-placeholder"
    assert seen["HF_HOME"] == os.path.expanduser("~/.cache/huggingface")
    assert os.environ["OPENAI_API_KEY"] == "users-own-key"
    assert "API_TYPE" not in os.environ and "HF_HOME" not in os.environ

    with pytest.raises(
        ModuleNotFoundError, match=r"Probe scoring needs .*'ov_eval_no_such_package'.*pip install"
    ):
        import_task_module("ov_probe_optional", {}, needed_for="Probe scoring")
    assert os.environ["OPENAI_API_KEY"] == "users-own-key"
