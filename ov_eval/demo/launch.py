"""Run lmms-eval offline in a subprocess and find what it wrote (the demo's runs, and the tests').

The hub is disabled and ``OV_EVAL_DATA_DIR`` points at locally written datasets. lmms-eval exits 0
even when evaluation fails (it logs "Error during evaluation"), so success is judged by the results
file, and the log tail goes into the error.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ov_eval.lmms_output import results_files


def offline_env(
    data_dir: str | os.PathLike | None, hf_home: str | os.PathLike, extra: dict[str, str] | None = None
) -> dict:
    """This process' environment with the hub switched off, ``HF_HOME`` at ``hf_home`` and the data redirect."""
    env = dict(os.environ)
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HOME": str(hf_home),
            "TOKENIZERS_PARALLELISM": "false",
            "WANDB_MODE": "disabled",
        }
    )
    if data_dir is not None:
        env["OV_EVAL_DATA_DIR"] = str(data_dir)
    env.update(extra or {})
    return env


def run_offline(
    cmd: list[str], env: dict[str, str], output_dir: Path, timeout: float = 900
) -> tuple[Path, str]:
    """Run one lmms-eval command line; return its newest results file under ``output_dir`` and its log.

    Raises ``RuntimeError`` (with the command and the log tail) when lmms-eval failed.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    log = proc.stdout + proc.stderr
    result_files = results_files(output_dir)
    if proc.returncode != 0 or not result_files or "Error during evaluation" in log:
        raise RuntimeError(
            f"lmms_eval failed (rc={proc.returncode}): {' '.join(cmd)}\n--- log tail ---\n{log[-6000:]}"
        )
    return Path(result_files[-1]), log
