"""Resume after a crash, on top of lmms-eval 0.7.3's response cache (``--use_cache <dir>``).

lmms-eval's cache already stores each deterministic answer in SQLite (WAL) plus
an fsync'ed JSONL log and serves it back on a rerun. Six gaps make it unusable
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
5. Visuals. The key holds the request's text, doc id and task config, not its
   images: the same questions over new media (a new dataset revision, another
   ``OV_EVAL_DATA_DIR``, re-extracted videos) would reuse every old answer. The
   request's content hash now also covers a digest of what ``doc_to_visual``
   returns for its doc (``ov_eval.fingerprint.visuals_digest``). Text that cannot
   be encoded (lone surrogates) is hashed as it is instead of failing the run.
6. Damage. A damaged ``cache.db`` made lmms-eval's final merge fail after the
   whole run was computed, and every rerun failed the same way. It is now checked
   at start (``ov_eval.sqlite_health``), moved aside with a warning naming it, and
   a merge that still hits a damaged file moves it aside and retries once.

Execution-only model args (``batch_size``, ``device``, ``prefetch_batches``, ...,
``ov_eval.fingerprint.EXECUTION_ONLY_SETTINGS``) are dropped from the hashed
model args, so changing them resumes instead of recomputing.

Installed by ``ov_eval.lmms_patches.install()``, i.e. whenever an ov-eval model class is
imported, so a plain ``python -m lmms_eval --use_cache`` run is covered as well.
"""

from __future__ import annotations

import os
import sqlite3
from glob import glob
from pathlib import Path
from typing import Any

from ov_eval import sqlite_health
from ov_eval.models.errors import is_failed_response
from ov_eval.run_files import atomic_write_json

CHUNK_ENV = "OV_EVAL_RESUME_CHUNK"
FINGERPRINT_ARG = "ov_eval_fingerprint"  # the name under which the fingerprint joins the hashed model args
_ROW_COLUMNS = "cache_key, request_type, task_name, doc_id, idx, gen_kwargs, response, created_at"
_installed = False
# Docs of the running ``execute`` call (``lm.task_dict``) and the visual digests computed in it:
# lmms-eval builds keys in a module-level function that only sees the request.
_current_docs: dict | None = None
_visual_memo: dict[tuple, str] = {}


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

    from ov_eval.fingerprint import EXECUTION_ONLY_SETTINGS, fingerprint_hash

    model_class = ov_model_class(model)
    if model_class is None:
        return model_args
    args = _parse_model_args(model_args)
    args = {k: v for k, v in args.items() if k not in EXECUTION_ONLY_SETTINGS}  # they never change answers
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
        atomic_write_json(record, {"model": str(model), "model_args": args, **fingerprint}, indent=1)
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
        warning = sqlite_health.set_aside_if_damaged(path, "response cache shard")
        if warning:  # never readable again: out of the way of every later run
            logger.warning(f"[ov-eval] {warning}")
            continue
        try:
            connection = sqlite3.connect(path, timeout=30)
            connection.execute("SELECT 1 FROM responses LIMIT 1")
            connections.append(connection)
        except sqlite3.Error as exc:
            logger.warning(f"[ov-eval] response cache shard {path} unreadable, ignored: {exc}")
    return connections


def request_visuals_digest(instance: Any) -> str:
    """Digest of the visuals of a simple-model request (``(..., doc_to_visual, ..., doc_id, task, split)``).

    "" when the request has no ``doc_to_visual`` (text-only or chat-style requests, whose
    visuals are not ours to read). A ``doc_to_visual`` that fails gives a key that is
    never reused: the model fails the same sample, and failed answers are not stored.
    """
    args = instance.args
    if len(args) < 6 or not callable(args[2]) or _current_docs is None:
        return ""
    doc_id, task, split = args[-3], args[-2], args[-1]
    memo_key = (task, split, doc_id, id(args[2]))
    found = _visual_memo.get(memo_key)
    if found is None:
        from ov_eval.fingerprint import visuals_digest

        try:
            found = visuals_digest(args[2](_current_docs[task][split][doc_id]))
        except Exception as exc:  # noqa: BLE001 - the model reports the same failure for this sample
            import uuid

            found = f"unreadable-{type(exc).__name__}-{uuid.uuid4().hex}"
        _visual_memo[memo_key] = found
    return found


def content_hash(instance: Any) -> str:
    """lmms-eval's content hash (leading text arguments) plus the request's visuals digest (see 5.)."""
    import hashlib

    text_parts = []
    for arg in instance.args:
        if not isinstance(arg, str):
            break
        text_parts.append(arg)
    visuals = request_visuals_digest(instance)
    if not text_parts and not visuals:
        return ""
    raw = "\0".join(text_parts).encode("utf-8", "surrogatepass")  # unencodable text: hashed, not fatal
    return hashlib.sha256(raw + b"\0visuals:" + visuals.encode()).hexdigest()[:16]


def _set_aside_damaged_root(cache_root: str) -> None:
    """Move a damaged ``<cache>/cache.db`` aside before lmms-eval opens it (see 6.)."""
    from loguru import logger

    if cache_root.endswith(".db"):
        cache_root = os.path.dirname(os.path.abspath(cache_root))
    warning = sqlite_health.set_aside_if_damaged(os.path.join(cache_root, "cache.db"), "response cache")
    if warning:
        logger.warning(f"[ov-eval] {warning}")


def _patch_create(response_cache_cls: type) -> None:
    original = response_cache_cls.create.__func__

    def create(cls, cache_root, *, model="", model_args="", task_dict=None, world_size=1, global_rank=0):
        if global_rank == 0:  # one rank repairs; the others' read-only view tolerates a damaged file
            _set_aside_damaged_root(cache_root)
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
        for shard in list(getattr(self, "_ov_eval_shards", ())):
            try:
                row = shard.execute(
                    f"SELECT {_ROW_COLUMNS} FROM responses WHERE cache_key = ?", (cache_key,)
                ).fetchone()
            except sqlite3.DatabaseError as exc:  # a fallback only: losing it costs recomputation
                from loguru import logger

                logger.warning(f"[ov-eval] response cache shard unreadable, no longer read: {exc}")
                self._ov_eval_shards.remove(shard)
                continue
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
        global _current_docs
        size = chunk_size(lm)
        results: list = []
        _current_docs = getattr(lm, "task_dict", None)
        try:
            for start in range(0, len(requests), size):
                _visual_memo.clear()  # per chunk: bounded memory, shared by a doc's options
                results.extend(original(self, lm, reqtype, requests[start : start + size]))
        finally:
            _current_docs = None
            _visual_memo.clear()
        return results

    execute._ov_eval_patched = True  # type: ignore[attr-defined]
    response_cache_cls.execute = execute


def _patch_merge(response_cache_cls: type) -> None:
    """A damaged ``cache.db`` (or stale shard) at the final merge: move it aside and merge again (see 6.)."""
    original = response_cache_cls._merge_run_to_root

    def _merge_run_to_root(self) -> None:
        from loguru import logger

        try:
            return original(self)
        except sqlite3.DatabaseError as exc:
            if not sqlite_health.is_damage_error(exc):
                raise
            logger.warning(f"[ov-eval] response cache merge failed: {exc}")
        root = self._cache_root
        damaged = [os.path.join(root, "cache.db")] + sorted(
            glob(os.path.join(root, "runs", "*", "rank_*.db"))
        )
        for path in damaged:
            warning = sqlite_health.set_aside_if_damaged(path, "response cache")
            if warning:
                logger.warning(f"[ov-eval] {warning}")
        try:
            return original(self)
        except sqlite3.DatabaseError as exc:  # never lose a finished run over its cache
            logger.warning(
                f"[ov-eval] response cache merge failed again ({exc}); this run's answers stay in "
                f"{self._run_dir} and are read from there by the next run"
            )
            return None

    _merge_run_to_root._ov_eval_patched = True  # type: ignore[attr-defined]
    response_cache_cls._merge_run_to_root = _merge_run_to_root


def install() -> None:
    """Apply the patches (idempotent)."""
    global _installed
    if _installed:
        return
    from lmms_eval.caching import response_cache
    from lmms_eval.caching.response_cache import ResponseCache

    if not getattr(ResponseCache.execute, "_ov_eval_patched", False):
        _patch_create(ResponseCache)
        _patch_lookup(ResponseCache)
        _patch_valid_response(ResponseCache)
        _patch_execute(ResponseCache)
        _patch_merge(ResponseCache)
        response_cache._extract_content_hash = content_hash  # execute() looks it up by module name
    _installed = True
