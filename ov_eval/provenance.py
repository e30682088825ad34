"""What produced a results file, recorded in it: so two runs can be compared, or told apart, months later.

``ov-eval run`` adds ``results["ov_eval"]["provenance"]``:

* ``ov_eval`` (version), ``git_commit`` and ``git_dirty`` of the checkout ov-eval runs from; for an
  installed copy the commit it was built from when it was built from a clone (``BUILD_COMMIT``,
  dirty unknown), else ``"unknown"`` / ``None``; ``python``;
* ``packages``: the installed versions of torch, transformers, lmms-eval and the libraries
  whose releases have changed runs before (``PACKAGES``);
* ``adapter``: the model's **effective** settings, written by the adapter itself once it
  has loaded the checkpoint (it alone knows the resolved dtype, the attention kernel and
  processor classes in use): every field of its model_args object, read generically so
  that a new model_arg is recorded without touching this module, plus what they resolved to.

The adapter runs inside lmms-eval's process (possibly several ranks), ``ov-eval run`` outside
it: the adapter writes ``ov_eval_adapter_settings_rank<r>.json`` into the per-invocation
directory named by ``OV_EVAL_ERROR_LOG_DIR`` and ``ov-eval run`` merges rank 0's file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from ov_eval import __version__
from ov_eval.run_files import adapter_settings_name, rank_of

PACKAGES = (
    "torch",
    "transformers",
    "lmms-eval",
    "datasets",
    "accelerate",
    "tokenizers",
    "huggingface-hub",
    "filelock",
    "flash-attn",
    "decord",
    "av",
)
UNKNOWN = "unknown"
# model_args that identify the checkpoint or only change speed: left out of the report's one-line summary
SUMMARY_SKIPS = {"pretrained", "revision", "dtype", "attn_implementation", "device", "batch_size"}
SUMMARY_SKIPS |= {"prefetch_batches", "max_batch_size", "preprocess_workers", "pin_preprocess_workers"}


def git_state(root: Path | None = None) -> tuple[str, bool | None]:
    """(commit, dirty) of the checkout ov-eval is imported from; ("unknown", None) anywhere else.

    Never raises: a results file without a commit is better than a run that dies after ten hours.
    """
    root = root or Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():  # a file in a git worktree, a directory in a clone
        built = root / "ov_eval" / "BUILD_COMMIT"  # written by setup.py into a package built from a clone
        return (built.read_text().strip() or UNKNOWN, None) if built.is_file() else (UNKNOWN, None)
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=20
        )
        if commit.returncode != 0 or not commit.stdout.strip():
            return UNKNOWN, None
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN, None
    return commit.stdout.strip(), (bool(status.stdout.strip()) if status.returncode == 0 else None)


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def environment() -> dict[str, Any]:
    commit, dirty = git_state()
    return {
        "ov_eval": __version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "packages": package_versions(),
    }


def _plain(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def adapter_settings(adapter: Any) -> dict[str, Any]:
    """The adapter's model_args as it parsed them and what they resolved to on this machine."""
    args = adapter.args
    fields = dataclasses.asdict(args) if dataclasses.is_dataclass(args) else dict(vars(args))
    settings: dict[str, Any] = {
        "class": f"{type(adapter).__module__}.{type(adapter).__qualname__}",
        "model_args": {name: _plain(value) for name, value in fields.items()},
    }
    model = getattr(adapter, "model", None)
    processor = getattr(adapter, "processor", None)
    config = getattr(model, "config", None)
    effective = {
        "dtype": str(getattr(model, "dtype", None)).removeprefix("torch."),
        # transformers keeps the kernel it actually chose here (sdpa may fall back to eager)
        "attn_implementation": getattr(config, "_attn_implementation", None),
        "device": str(getattr(adapter, "device", None)),
        "world_size": getattr(adapter, "world_size", 1),
        "processor": type(processor).__name__ if processor is not None else None,
        "image_processor": type(getattr(processor, "image_processor", None)).__name__
        if processor is not None
        else None,
        "video_processor": type(getattr(processor, "video_processor", None)).__name__
        if getattr(processor, "video_processor", None) is not None
        else None,
    }
    try:
        import torch

        effective["torch"] = torch.__version__  # with its build tag (+cu130, +cpu), which metadata omits
        device = getattr(adapter, "device", None)
        if isinstance(device, torch.device) and device.type == "cuda":
            effective["gpu"] = torch.cuda.get_device_name(device)
            effective["cuda"] = torch.version.cuda
    except Exception:  # provenance must never fail a run
        pass
    settings["effective"] = effective
    return settings


def write_adapter_settings(directory: str | os.PathLike, adapter: Any) -> Path | None:
    """Called by the adapter once loaded; a failure is logged, never raised."""
    from loguru import logger

    try:
        path = Path(directory) / adapter_settings_name(getattr(adapter, "rank", 0))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(adapter_settings(adapter), indent=1, sort_keys=True))
        return path
    except Exception as exc:
        logger.warning(f"[ov-eval] could not record the adapter's settings: {exc}")
        return None


def read_adapter_settings(directory: Path) -> dict[str, Any] | None:
    """Rank 0's settings (every rank runs the same model_args), or None when no adapter wrote any."""
    paths = sorted(
        Path(directory).glob(adapter_settings_name("[0-9]*")),
        key=lambda p: rank_of(p, adapter_settings_name),
    )
    for path in paths:
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
    return None


def run_provenance(settings_dir: Path) -> dict[str, Any]:
    """``results["ov_eval"]["provenance"]`` of one run: this environment plus the settings the adapter
    wrote to ``settings_dir`` (rank 0's)."""
    return {**environment(), "adapter": read_adapter_settings(settings_dir)}


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value) if isinstance(value, str) and (" " in value or not value) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def summary(provenance: dict[str, Any] | None) -> str:
    """One line for the report's Sources section."""
    if not provenance:
        return "-"
    commit = str(provenance.get("git_commit") or UNKNOWN)
    commit = commit[:12] + ("+dirty" if provenance.get("git_dirty") else "")
    packages = provenance.get("packages") or {}
    parts = [f"ov-eval {provenance.get('ov_eval', UNKNOWN)} ({commit})"]
    parts += [
        f"{name} {packages[name]}" for name in ("torch", "transformers", "lmms-eval") if packages.get(name)
    ]
    adapter = provenance.get("adapter") or {}
    effective, model_args = adapter.get("effective") or {}, adapter.get("model_args") or {}
    shown = {"dtype": effective.get("dtype"), "attn": effective.get("attn_implementation")}
    shown["image_processor"] = effective.get("image_processor")
    # every other model_arg, so that a new one shows up here without an edit
    shown |= {name: value for name, value in model_args.items() if name not in SUMMARY_SKIPS}
    if adapter:
        parts.append(" ".join(f"{k}={_short(v)}" for k, v in shown.items() if v is not None))
    return "; ".join(parts)
