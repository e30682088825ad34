"""``ov-eval data prepare TASK...``: put a video benchmark's files where its task reads them.

The hub repositories of the video benchmarks ship their videos as archives next to the
question parquet files: EgoSchema, ActivityNet-QA and Video-MME as ``videos_chunked_NN.zip``,
VideoChatGPT as one ``videos.zip``, LongVideoBench as a split tar (``videos.tar.part.aa``,
``.ab``, ...) plus ``subtitles.tar``, MVBench (revision ``video``) as a loose folder tree.
lmms-eval unpacks them on first load, but only from the hub, only into
``$HF_HOME/<cache_dir>``, only when that folder does not exist yet, and by writing the
concatenated tar to disk first. With ``OV_EVAL_DATA_DIR`` nothing unpacks them at all.

This command does what lmms-eval's loader does, for either place: it takes the repository
files from the ``OV_EVAL_DATA_DIR`` copy (``<root>/<dataset_path>``), from ``--from DIR``, or
downloads them from the hub, and unpacks every archive into the folder the task reads
(``ov_eval.tasks.video_files.video_root``: ``<root>/<dataset_path>/videos`` for a local copy,
``$HF_HOME/<cache_dir>`` otherwise), keeping the archive's own folder names, exactly as
lmms-eval does. Split tars are streamed part after part (no joined copy on disk). A
repository that ships a loose tree instead (lmms-eval's ``create_link``) is linked. Finished
archives are remembered (``.ov-eval-unpacked/``), so rerunning only does what is missing.

One departure from lmms-eval's loader: archives of audio (``SKIPPED_ARCHIVES``; PerceptionTest
ships ``valid_audios.zip``, 35.5 GB, beside its videos) are neither downloaded nor unpacked. No
task here reads audio (LLaVA-OV has no audio input), and lmms-eval downloads a repository only
when the task's folder does not exist yet, so once it is prepared the audio never comes.
"""

from __future__ import annotations

import argparse
import fnmatch
import io
import os
import re
import sys
import tarfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ov_eval.lmms_patches.local_datasets import DATA_DIR_ENV, local_dataset_dir

DONE_DIR = ".ov-eval-unpacked"
# videos.tar.part.aa, videos.tar.aa, videos.tar.00: pieces of one tar, in name order.
_TAR_PART = re.compile(r"^(?P<base>.+\.tar)\.(?:part\.)?(?:[a-z]{2}|\d{2,3})$")
_TAR = re.compile(r"\.(tar|tar\.gz|tgz|tar\.bz2|tar\.xz)$")
# Archives no task reads (see the module docstring): hub download patterns and file names alike.
SKIPPED_ARCHIVES = ("*audio*.zip", "*audio*.tar*")


@dataclass(frozen=True)
class VideoSource:
    """Where a task's videos come from (hub repository) and go (the folder the task reads)."""

    task: str
    dataset_path: str
    cache_dir: str
    revision: str | None = None
    create_link: bool = False

    @property
    def target(self) -> Path:
        from ov_eval.tasks.video_files import video_root

        return Path(video_root(self.dataset_path, self.cache_dir))


def video_source(task: str, config: dict[str, Any]) -> VideoSource | None:
    """The task's video settings from its YAML ``dataset_kwargs`` (None: its media are in the rows)."""
    kwargs = config.get("dataset_kwargs") or {}
    if not kwargs.get("video") or not kwargs.get("cache_dir"):
        return None
    return VideoSource(
        task=task,
        dataset_path=config["dataset_path"],
        cache_dir=str(kwargs["cache_dir"]),
        revision=kwargs.get("revision"),
        create_link=bool(kwargs.get("create_link")),
    )


@dataclass
class Archives:
    """A repository's archives: zips, single tars, and split tars (base name -> parts in order)."""

    zips: list[Path] = field(default_factory=list)
    tars: list[Path] = field(default_factory=list)
    split_tars: dict[str, list[Path]] = field(default_factory=dict)
    skipped: list[Path] = field(default_factory=list)  # SKIPPED_ARCHIVES: left packed

    def __bool__(self) -> bool:
        return bool(self.zips or self.tars or self.split_tars)

    def names(self) -> list[str]:
        return [p.name for p in [*self.zips, *self.tars]] + [f"{base}.*" for base in self.split_tars]


def find_archives(source: Path, skip: Path | None = None) -> Archives:
    """Every archive below ``source`` (recursively, as lmms-eval globs ``**/*.zip`` and ``**/*.tar*``),
    except below ``skip`` (the target folder, when it lies inside the repository copy)."""
    found = Archives()
    skip_dir = os.path.abspath(skip) if skip is not None else None
    paths = []
    for folder, dirs, files in os.walk(source, followlinks=True):
        dirs[:] = sorted(d for d in dirs if os.path.abspath(os.path.join(folder, d)) != skip_dir)
        paths += [Path(folder) / f for f in files]
    for path in sorted(paths):
        part = _TAR_PART.match(path.name)
        if not (part or path.suffix == ".zip" or _TAR.search(path.name)):
            continue  # not an archive
        if is_skipped_archive(path.name):
            found.skipped.append(path)
        elif part:
            found.split_tars.setdefault(str(path.parent / part["base"]), []).append(path)
        elif path.suffix == ".zip":
            found.zips.append(path)
        else:
            found.tars.append(path)
    return found


def is_skipped_archive(name: str) -> bool:
    return any(fnmatch.fnmatch(name.lower(), pattern) for pattern in SKIPPED_ARCHIVES)


class _Concatenated(io.RawIOBase):
    """The parts of a split archive read as one stream (what ``cat part.* > whole`` would write)."""

    def __init__(self, parts: Iterable[Path]) -> None:
        self._parts = list(parts)
        self._current = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while True:
            if self._current is None:
                if not self._parts:
                    return 0
                self._current = self._parts.pop(0).open("rb")
            n = self._current.readinto(buffer)
            if n:
                return n
            self._current.close()
            self._current = None

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
        super().close()


def _done_marker(target: Path, name: str) -> Path:
    return target / DONE_DIR / f"{name}.done"


def unpack_zip(archive: Path, target: Path) -> None:
    """Extract ``archive`` below ``target``, member paths as stored (zipfile refuses ``..`` escapes)."""
    with zipfile.ZipFile(archive) as zf:
        for member in zf.infolist():
            if not (target / member.filename).exists():
                zf.extract(member, target)


def unpack_tar(parts: list[Path], target: Path) -> None:
    """Extract one tar (or the parts of a split one, streamed in order) below ``target``."""
    with _Concatenated(parts) as raw, tarfile.open(fileobj=io.BufferedReader(raw), mode="r|*") as tf:
        tf.extractall(target, filter="data")  # "data": no absolute paths, no escapes, no devices


def repository_files(source: VideoSource, from_dir: Path | None) -> Path:
    """The directory holding the repository's files: ``--from``, the local copy, or a hub download."""
    if from_dir is not None:
        if not from_dir.is_dir():
            raise FileNotFoundError(f"--from {from_dir}: not a directory")
        return from_dir
    local = local_dataset_dir(source.dataset_path)
    if local is not None:
        return local
    from huggingface_hub import snapshot_download

    print(f"ov-eval data prepare: downloading {source.dataset_path} from the hub", flush=True)
    return Path(
        snapshot_download(
            repo_id=source.dataset_path,
            repo_type="dataset",
            revision=source.revision or "main",
            ignore_patterns=list(SKIPPED_ARCHIVES),
        )
    )


def prepare(source: VideoSource, from_dir: Path | None = None) -> list[str]:
    """Unpack (or link) one task's videos into its folder; returns what was done, one line each."""
    files = repository_files(source, from_dir)
    target = source.target
    archives = find_archives(files, skip=target)
    done = [f"{p.name}: left packed (audio; no task reads it)" for p in archives.skipped]
    if not archives:
        if not source.create_link:
            only_audio = (
                f" (only audio archives, which no task reads: {', '.join(p.name for p in archives.skipped)})"
                if archives.skipped
                else ""
            )
            raise FileNotFoundError(
                f"{source.task}: no .zip/.tar archives of videos under {files}{only_audio} (download the "
                f"repository {source.dataset_path} there, e.g. `huggingface-cli download --repo-type dataset "
                f"{source.dataset_path} --local-dir {files}`)"
            )
        if target.exists() or target.is_symlink():
            return [*done, f"{target} exists (linked or unpacked before)"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(os.path.relpath(files, target.parent), target_is_directory=True)
        return [*done, f"linked {target} -> {files} (the repository ships its videos as a folder tree)"]
    target.mkdir(parents=True, exist_ok=True)
    jobs = [(p.name, "zip", [p]) for p in archives.zips]
    jobs += [(p.name, "tar", [p]) for p in archives.tars]
    jobs += [(Path(base).name, "tar", parts) for base, parts in archives.split_tars.items()]
    for name, kind, parts in jobs:
        marker = _done_marker(target, name)
        if marker.exists():
            done.append(f"{name}: unpacked before")
            continue
        (unpack_zip(parts[0], target) if kind == "zip" else unpack_tar(parts, target))
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("".join(f"{p}\n" for p in parts))
        done.append(f"{name}: unpacked into {target}" + (f" ({len(parts)} parts)" if len(parts) > 1 else ""))
    return done


def sources_for(names: list[str]) -> tuple[list[VideoSource], list[str]]:
    """The video sources of the tasks ``names`` run (deduplicated), and the tasks that need none."""
    from ov_eval.preflight import expand_tasks, task_configs

    leaves, unknown = expand_tasks(",".join(names))
    if unknown:
        raise KeyError(f"not ov-eval tasks or groups: {', '.join(unknown)} (see `ov-eval tasks`)")
    configs = task_configs()
    sources: dict[tuple[str, str], VideoSource] = {}
    no_videos = []
    for task in leaves:
        source = video_source(task, configs[task][1]) if task in configs else None
        if source is None:
            no_videos.append(task)
        else:
            sources.setdefault((source.dataset_path, source.cache_dir), source)
    return list(sources.values()), no_videos


def cmd_prepare(args: argparse.Namespace) -> int:
    try:
        sources, no_videos = sources_for(args.tasks)
    except KeyError as exc:
        print(f"ov-eval data prepare: {exc.args[0]}", file=sys.stderr)
        return 2
    for task in no_videos:
        print(f"{task}: nothing to prepare (its images are in the dataset rows)")
    failed = 0
    for source in sources:
        try:
            for line in prepare(source, args.from_dir):
                print(f"{source.task} ({source.dataset_path}): {line}")
        except (OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
            failed += 1
            print(f"ov-eval data prepare: {source.task}: {exc}", file=sys.stderr)
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("data", help="dataset utilities (prepare video benchmarks' files)")
    sub = p.add_subparsers(dest="data_command", required=True)
    q = sub.add_parser(
        "prepare",
        help="unpack video benchmarks' archives where their tasks read them",
        description=__doc__.split("\n\n")[0],
    )
    q.add_argument("tasks", nargs="+", help="task or group names (e.g. ov_egoschema_subset, ov_video)")
    q.add_argument(
        "--from",
        dest="from_dir",
        type=Path,
        help=f"the downloaded repository (default: the ${DATA_DIR_ENV} copy, else a hub download)",
    )
    q.set_defaults(func=cmd_prepare)
