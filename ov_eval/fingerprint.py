"""What exactly answers a request: a fingerprint of the checkpoint on disk plus the settings that shape answers.

lmms-eval's response cache keys answers by the ``--model_args`` *string*, so
``pretrained=/ckpt`` names the same cache entries before and after ``/ckpt`` is
overwritten by a new training step. The fingerprint here is what the cache key
must contain instead (``ov_eval.lmms_patches.resume`` puts it there):

* every file of the checkpoint directory (config, weights, tokenizer and
  processor files, chat template), by content;
* the resolved adapter settings that change answers (``max_frames_num``,
  ``max_images``, ``video_decode_backend``, ``system_prompt``, ``dtype``, ...;
  defaults included, so a changed default also changes the key), but not the
  ones that only change speed (``batch_size``, ``device``, ``prefetch_batches``);
* the code that turns a request into an answer: ``ov_eval.__version__``, a hash
  of the adapter's source files, and the transformers version (its processor
  and modelling code are part of the port).

Weight files are hashed in full (sha256), not sampled: a fine-tuned checkpoint
of the same architecture has the same sizes and the same safetensors headers, and
a changed tensor in the middle of a shard is exactly the change that must not be
missed. The cost (~1 s/GB, once) is paid once per file version: digests are kept
in a sidecar cache keyed by (real path, device, inode, size, mtime_ns, ctime_ns).
ctime cannot be set from user space, so any rewrite of a file, even one that
restores its size and mtime, invalidates its cached digest. Files in the Hugging
Face hub cache are content-addressed (``blobs/<sha256>``); their name is their
digest, so a hub checkpoint costs no hashing at all.

The visuals of each request are part of the key as well (``visuals_digest``): the same
question about a new image (another dataset revision, another ``OV_EVAL_DATA_DIR``,
re-extracted videos) must not reuse the old answer. In-memory images and arrays are
hashed by content; media files by identity (size, mtime) plus a sha256 of their first
and last MiB, remembered per file version within the process, so a 2-hour video costs
two 1 MiB reads, once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ov_eval import __version__
from ov_eval.run_files import atomic_write_json

FINGERPRINT_CACHE_ENV = "OV_EVAL_FINGERPRINT_CACHE"  # sidecar file of file digests
# Settings that do not change an answer: left out so that e.g. a different batch size reuses the cache
# (the adapter guarantees batch-size-invariant greedy outputs, tested in tests/test_batching.py).
EXECUTION_ONLY_SETTINGS = frozenset(
    {
        "batch_size",
        "max_batch_size",
        "device",
        "device_map",
        "prefetch_batches",
        "preprocess_workers",
        "pin_preprocess_workers",
    }
)
_HUB_BLOB = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 8 * 1024 * 1024
_MEDIA_HEAD_TAIL = 1024 * 1024
_lock = threading.Lock()
_media_digests: dict[tuple, str] = {}


def default_digest_cache() -> Path:
    env = os.environ.get(FINGERPRINT_CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ov_eval" / "file_digests.json"


def _stat_key(real: Path) -> str:
    st = real.stat()
    return f"{real}|{st.st_dev}|{st.st_ino}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


class DigestCache:
    """sha256 of files, remembered per file version (see the module docstring for the key)."""

    def __init__(self, path: Path | None = None):
        self.path = path if path is not None else default_digest_cache()
        try:
            self._entries: dict[str, str] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self._entries = {}
        self._dirty = False

    def digest(self, path: Path) -> str:
        real = path.resolve()
        if real.parent.name == "blobs" and _HUB_BLOB.match(real.name):
            return real.name  # hub cache: LFS blobs are stored under their own sha256
        key = _stat_key(real)
        cached = self._entries.get(key)
        if cached is None:
            cached = self._entries[key] = _sha256(real)
            self._dirty = True
        return cached

    def save(self) -> None:
        """Best effort: a read-only home only means hashing again next time."""
        if not self._dirty:
            return
        try:
            with _lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_json(self.path, self._entries, sort_keys=True)  # ranks never read half a file
            self._dirty = False
        except OSError:
            pass


def checkpoint_files(directory: Path) -> Iterable[Path]:
    """Every file that can influence loading: all of them, except VCS/cache bookkeeping."""
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory)
        if any(part.startswith(".") for part in rel.parts):
            continue  # .git, .cache (hub download metadata), editor droppings
        if path.is_file():
            yield path


def checkpoint_fingerprint(directory: str | os.PathLike, cache: DigestCache | None = None) -> dict[str, str]:
    """``{relative path: sha256}`` for every file of a checkpoint directory."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"checkpoint directory {directory} does not exist")
    cache = cache or DigestCache()
    files = {str(p.relative_to(directory)): cache.digest(p) for p in checkpoint_files(directory)}
    cache.save()
    if not files:
        raise FileNotFoundError(f"checkpoint directory {directory} holds no files")
    return files


def resolve_checkpoint_dir(pretrained: str, revision: str = "main") -> Path:
    """The directory the weights were loaded from: a local path as given, a hub id from the local hub cache.

    Called after the model was loaded, so a hub checkpoint is already in the cache;
    ``local_files_only`` keeps this offline and exact (the same snapshot the loader used).
    """
    local = Path(pretrained).expanduser()
    if local.is_dir():
        return local.resolve()
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id=pretrained, revision=revision, local_files_only=True))


def adapter_source_hash() -> str:
    """Hash of the adapter's source: a code change that could change answers changes the key."""
    models_dir = Path(__file__).parent / "models"
    digest = hashlib.sha256()
    for path in sorted(models_dir.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def answer_settings(model_args: dict[str, Any]) -> dict[str, Any]:
    """The resolved adapter settings (defaults filled in, types coerced) that can change an answer."""
    from ov_eval.models.model_args import AdapterArgs

    known = {k: v for k, v in model_args.items() if k in AdapterArgs.valid_names()}
    resolved = AdapterArgs.from_kwargs(**known)
    return {
        name: getattr(resolved, name)
        for name in AdapterArgs.valid_names()
        if name not in EXECUTION_ONLY_SETTINGS
    }


def model_fingerprint(model_args: dict[str, Any], cache: DigestCache | None = None) -> dict[str, Any]:
    """Everything that decides what ``--model llava_onevision`` answers, as a JSON-able dict."""
    import transformers

    settings = answer_settings(model_args)
    directory = resolve_checkpoint_dir(settings["pretrained"], settings["revision"])
    settings.pop("pretrained")  # the path is not identity; its content is
    return {
        "checkpoint_files": checkpoint_fingerprint(directory, cache),
        "settings": settings,
        "ov_eval": __version__,
        "adapter_source": adapter_source_hash(),
        "transformers": transformers.__version__,
    }


def fingerprint_hash(fingerprint: dict[str, Any]) -> str:
    canonical = json.dumps(fingerprint, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def media_file_digest(path: str | os.PathLike) -> str:
    """Identity of a media file: size, mtime and a sha256 of its head and tail (whole file when small).

    Not a full hash: videos are large and read by the model anyway. A rewrite changes the mtime
    (re-extraction, a new dataset revision); a different file at the same path differs in size,
    mtime or its first/last MiB (container headers and indexes live there).
    """
    real = os.path.realpath(path)
    st = os.stat(real)
    key = (real, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    cached = _media_digests.get(key)
    if cached is None:
        digest = hashlib.sha256(f"{st.st_size}|{st.st_mtime_ns}|".encode())
        with open(real, "rb") as fh:
            if st.st_size <= 2 * _MEDIA_HEAD_TAIL:
                digest.update(fh.read())
            else:
                digest.update(fh.read(_MEDIA_HEAD_TAIL))
                fh.seek(-_MEDIA_HEAD_TAIL, os.SEEK_END)
                digest.update(fh.read())
        cached = _media_digests[key] = digest.hexdigest()
    return cached


def _update_with_visual(digest: Any, value: Any) -> None:
    """Feed one visual (or a container of them) into ``digest``; the type tag keeps kinds apart."""
    if value is None:
        digest.update(b"N;")
    elif isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        if os.path.isfile(text):
            digest.update(b"F" + media_file_digest(text).encode() + b";")
        else:  # a URL or an identifier: the string is all we know
            digest.update(b"S" + text.encode("utf-8", "surrogatepass") + b";")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        digest.update(b"B" + hashlib.sha256(value).digest())
    elif hasattr(value, "tobytes") and hasattr(value, "mode") and hasattr(value, "size"):  # PIL image
        digest.update(f"I{value.mode}{value.size};".encode())
        digest.update(hashlib.sha256(value.tobytes()).digest())
        palette = value.getpalette() if value.mode in ("P", "PA") else None
        if palette:  # palette images: the same indices under another palette are another picture
            digest.update(bytes(palette))
    elif isinstance(value, dict):
        digest.update(b"D{")
        for key in sorted(value, key=str):
            digest.update(str(key).encode("utf-8", "surrogatepass") + b"=")
            _update_with_visual(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, (list, tuple)):
        digest.update(f"L{type(value).__name__}[".encode())  # VideoFrames vs images: another answer
        for item in value:
            _update_with_visual(digest, item)
        digest.update(b"]")
    elif hasattr(value, "__array__"):  # numpy arrays, torch tensors
        import numpy as np

        array = np.ascontiguousarray(np.asarray(value))
        digest.update(f"A{array.dtype.str}{array.shape};".encode())
        digest.update(hashlib.sha256(array.view(np.uint8).reshape(-1)).digest())
    else:  # numbers, booleans; anything else by its repr (an unstable repr only costs reuse)
        digest.update(f"R{type(value).__name__}:{value!r};".encode("utf-8", "surrogatepass"))


def visuals_digest(visuals: Any) -> str:
    """Content digest of what ``doc_to_visual`` returned for one doc (see the module docstring)."""
    digest = hashlib.sha256()
    _update_with_visual(digest, visuals)
    return digest.hexdigest()[:16]
