"""Resume after a crash, on top of lmms-eval 0.7.3's response cache (``--use_cache <dir>``).

lmms-eval's cache already stores each deterministic answer in SQLite (WAL) plus
an fsync'ed JSONL log and serves it back on a rerun. Four gaps make it unusable
for resuming a long run; each patch below closes one, and everything else
(keys, storage, merging of ranks) stays lmms-eval's own code:

1. Identity. The key's model part is ``model + --model_args string``: the same
   ``pretrained=/ckpt`` after ``/ckpt`` was retrained would reuse old answers.
   For ov-eval models the fingerprint of ``ov_eval.fingerprint`` (checkpoint file
   digests, resolved visual settings, adapter code version) is added to the model
   args the cache hashes, so it is part of every key; the full fingerprint is
   written to ``<cache>/fingerprints/<hash>.json`` for inspection.
2. Granularity. The cache stores answers only after the model returned *all*
   requests of a type (``lm.generate_until(all_uncached)``): a kill at hour 9 of
   a 10-hour request list stores nothing. Requests are now handed to the cache in
   chunks (``OV_EVAL_RESUME_CHUNK``, default ``max(16, 4 x batch size)``), so a
   kill loses at most one chunk per rank. Chunks are big enough for the adapter to
   form full length-sorted batches; its answers do not depend on batching.
3. Visibility. A single-process run writes to ``runs/<random id>/rank_0.db`` and
   only a run that *finishes* merges it into ``cache.db``; the rerun of a killed
   run (new random id) never saw the killed run's answers. Unmerged shards of
   earlier runs are now read as a fallback, and answers found there are copied
   into the current run's shard so that they reach ``cache.db`` when it finishes.
4. Failures. A failed sample's error marker (or ``(inf, False)``) is a non-empty
   response, so lmms-eval would cache it and a transient failure (an OOM at batch
   size 1, a video on a flaky mount) would be replayed forever, without being
   counted again in the rerun's error log. Failed responses are not stored: a
   rerun retries them and reports them again if they fail again.

Installed by ``ov_eval.lmms_patches.install()``, i.e. whenever an ov-eval model class is
imported, so a plain ``python -m lmms_eval --use_cache`` run is covered as well.
"""

from __future__ import annotations

import json
import os
import sqlite3
from glob import glob
from pathlib import Path
from typing import Any

from ov_eval.models.errors import is_failed_response

CHUNK_ENV = "OV_EVAL_RESUME_CHUNK"
FINGERPRINT_ARG = "ov_eval_fingerprint"  # the name under which the fingerprint joins the hashed model args
_ROW_COLUMNS = "cache_key, request_type, task_name, doc_id, idx, gen_kwargs, response, created_at"
_installed = False


def chunk_size(lm: Any) -> int:
    """Requests per cache round trip (see 2. above)."""
    raw = os.environ.get(CHUNK_ENV)
    if raw:
        value = int(raw)
        if value < 1:
            raise ValueError(f"{CHUNK_ENV} must be >= 1, got {raw!r}")
        return value
    try:
        batch = int(getattr(lm, "batch_size", 1) or 1)
    except (TypeError, ValueError):
        batch = 1
    return max(16, 4 * batch)


def ov_model_class(model: Any) -> type | None:
    """The class that lmms-eval's ``--model`` id (or model instance) names if it identifies its checkpoint
    for the cache (a ``cache_fingerprint(model_args)`` class method, as ov-eval's adapter has), else None."""
    import importlib

    from ov_eval.manifest import manifests

    if not isinstance(model, str):
        return type(model) if callable(getattr(type(model), "cache_fingerprint", None)) else None
    for manifest in manifests():
        if model != manifest.model_id and model not in manifest.aliases:
            continue
        path = manifest.simple_class_path
        if not path:
            return None
        module, _, name = path.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        return cls if isinstance(cls, type) and callable(getattr(cls, "cache_fingerprint", None)) else None
    return None


def _parse_model_args(model_args: str | dict) -> dict[str, Any]:
    if isinstance(model_args, dict):
        return dict(model_args)
    from lmms_eval.utils import simple_parse_args_string

    return simple_parse_args_string(model_args or "")


def identity_model_args(cache_root: str, model: Any, model_args: str | dict) -> str | dict:
    """``model_args`` with the checkpoint fingerprint added, for ov-eval models; unchanged otherwise."""
    from loguru import logger

    from ov_eval.fingerprint import fingerprint_hash

    model_class = ov_model_class(model)
    if model_class is None:
        return model_args
    args = _parse_model_args(model_args)
    try:
        fingerprint = model_class.cache_fingerprint(args)
    except Exception as exc:  # noqa: BLE001 - never reuse answers we cannot attribute to a checkpoint
        import uuid

        logger.warning(
            f"[ov-eval] cannot fingerprint the checkpoint ({exc}); this run's answers are not reusable"
        )
        return {**args, FINGERPRINT_ARG: f"unidentified-{uuid.uuid4().hex}"}
    digest = fingerprint_hash(fingerprint)
    record = Path(cache_root) / "fingerprints" / f"{digest[:16]}.json"
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        tmp = record.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(
            json.dumps({"model": str(model), "model_args": args, **fingerprint}, indent=1, default=str)
        )
        os.replace(tmp, record)
    except OSError as exc:
        logger.warning(f"[ov-eval] could not write {record}: {exc}")
    logger.info(
        f"[ov-eval] response cache identity {digest[:16]} "
        f"({len(fingerprint['checkpoint_files'])} checkpoint files; details in {record})"
    )
    return {**args, FINGERPRINT_ARG: digest}


def _unmerged_shards(cache_root: str, own_db: str) -> list[str]:
    """Shards of earlier runs that never reached ``cache.db`` (killed runs, or runs still going)."""
    shards = []
    for path in sorted(glob(os.path.join(cache_root, "runs", "*", "rank_*.db"))):
        if os.path.abspath(path) == os.path.abspath(own_db):
            continue
        if os.path.exists(os.path.join(os.path.dirname(path), ".merged")):
            continue
        shards.append(path)
    return shards


def _open_shards(paths: list[str]) -> list[sqlite3.Connection]:
    """Open read-write so SQLite recovers a killed writer's WAL; we only ever SELECT from them."""
    from loguru import logger

    connections = []
    for path in paths:
        try:
            connection = sqlite3.connect(path, timeout=30)
            connection.execute("SELECT 1 FROM responses LIMIT 1")
            connections.append(connection)
        except sqlite3.Error as exc:
            logger.warning(f"[ov-eval] response cache shard {path} unreadable, ignored: {exc}")
    return connections


def _patch_create(response_cache_cls: type) -> None:
    original = response_cache_cls.create.__func__

    def create(cls, cache_root, *, model="", model_args="", task_dict=None, world_size=1, global_rank=0):
        model_args = identity_model_args(cache_root, model, model_args)
        instance = original(
            cls,
            cache_root,
            model=model,
            model_args=model_args,
            task_dict=task_dict,
            world_size=world_size,
            global_rank=global_rank,
        )
        root = getattr(instance, "_cache_root", None) or os.path.dirname(instance.db_path)
        instance._ov_eval_shards = _open_shards(_unmerged_shards(root, instance.db_path))
        if instance._ov_eval_shards:
            from loguru import logger

            logger.info(
                f"[ov-eval] resuming: reading {len(instance._ov_eval_shards)} unmerged shard(s) of earlier runs"
            )
        return instance

    create._ov_eval_patched = True  # type: ignore[attr-defined]
    response_cache_cls.create = classmethod(create)


def _patch_lookup(response_cache_cls: type) -> None:
    from lmms_eval.caching.response_cache import _deserialize_response

    original = response_cache_cls._lookup

    def _lookup(self, cache_key: str) -> Any:
        found = original(self, cache_key)
        if found is not None:
            return found
        for shard in getattr(self, "_ov_eval_shards", ()):
            row = shard.execute(
                f"SELECT {_ROW_COLUMNS} FROM responses WHERE cache_key = ?", (cache_key,)
            ).fetchone()
            if row is not None:
                self.db.execute(
                    f"INSERT OR IGNORE INTO responses ({_ROW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row
                )
                self.db.commit()
                return _deserialize_response(row[6])
        return None

    _lookup._ov_eval_patched = True  # type: ignore[attr-defined]
    response_cache_cls._lookup = _lookup


def _patch_valid_response(response_cache_cls: type) -> None:
    original = response_cache_cls._is_valid_response

    def _is_valid_response(response: Any, request_type: str) -> bool:
        if is_failed_response(response):
            return False
        return original(response, request_type)

    _is_valid_response._ov_eval_patched = True  # type: ignore[attr-defined]
    response_cache_cls._is_valid_response = staticmethod(_is_valid_response)


def _patch_execute(response_cache_cls: type) -> None:
    original = response_cache_cls.execute

    def execute(self, lm: Any, reqtype: str, requests: list) -> list:
        size = chunk_size(lm)
        results: list = []
        for start in range(0, len(requests), size):
            results.extend(original(self, lm, reqtype, requests[start : start + size]))
        return results

    execute._ov_eval_patched = True  # type: ignore[attr-defined]
    response_cache_cls.execute = execute


def install() -> None:
    """Apply the four patches (idempotent)."""
    global _installed
    if _installed:
        return
    from lmms_eval.caching.response_cache import ResponseCache

    if not getattr(ResponseCache.execute, "_ov_eval_patched", False):
        _patch_create(ResponseCache)
        _patch_lookup(ResponseCache)
        _patch_valid_response(ResponseCache)
        _patch_execute(ResponseCache)
    _installed = True
