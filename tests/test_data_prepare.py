"""Videos as the hub repositories ship them: the preflight names what is missing, and
``ov-eval data prepare`` puts the archives' contents exactly where each task reads them."""

from __future__ import annotations

import fnmatch
import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from support.fixtures import shipped

from ov_eval.demo.datasets import dataset_dir
from ov_eval.lmms_patches.local_datasets import DATA_DIR_ENV

TASKS = ["ov_egoschema_subset", "ov_activitynetqa", "ov_videochatgpt", "ov_longvideobench_val", "ov_mvbench"]
# leaf tasks whose preflight rows are checked (ov_videochatgpt / ov_mvbench are groups)
LEAVES = {
    "ov_egoschema_subset": "lmms-eval/egoschema",
    "ov_activitynetqa": "lmms-eval/ActivityNetQA",
    "ov_videochatgpt_gen": "lmms-eval/VideoChatGPT",
    "ov_longvideobench_val": "longvideobench/LongVideoBench",
    "ov_mvbench_action_count": "OpenGVLab/MVBench",
}


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def shipped_root(tmp_path_factory):
    """Fixtures of five video benchmarks, shipped as their repositories ship them; the digests of
    the loose videos each task read before shipping."""
    from support.fixtures import judged, judged_video

    from ov_eval.demo.fixtures import video

    root = tmp_path_factory.mktemp("shipped")
    video.build_egoschema(root)
    judged.build_activitynetqa(root)
    judged_video.build_videochatgpt(root)
    video.build_longvideobench(root)
    video.build_mvbench(root)
    before = {path: _digests(dataset_dir(root, path) / "videos") for path in set(LEAVES.values())}
    subtitles = [row[0].replace(".mp4", "_en.json") for row in video.LONGVIDEOBENCH_ROWS]
    for task in TASKS:
        shipped.ship(root, task, subtitles=subtitles if task == "ov_longvideobench_val" else ())
    return root, before


@pytest.fixture(scope="module")
def prepared(shipped_root):
    """Preflight before, ``ov-eval data prepare`` (twice), preflight after: one sequence, run once."""
    from ov_eval.cli import main
    from ov_eval.preflight import run_preflight

    root, before = shipped_root
    mp = pytest.MonkeyPatch()
    mp.setenv(DATA_DIR_ENV, str(root))
    try:
        missing = run_preflight(",".join(LEAVES), out=io.StringIO())
        first = main(["data", "prepare", *TASKS])
        second = main(["data", "prepare", *TASKS])
        after = run_preflight(",".join(LEAVES), out=io.StringIO())
    finally:
        mp.undo()
    return {"root": root, "before": before, "missing": missing, "rc": (first, second), "after": after}


def test_shipped_layout_has_no_loose_videos_and_the_real_archive_names(shipped_root):
    root, _ = shipped_root
    ego = dataset_dir(root, "lmms-eval/egoschema")
    assert sorted(p.name for p in ego.glob("*.zip")) == ["videos_chunked_01.zip", "videos_chunked_02.zip"]
    lvb = dataset_dir(root, "longvideobench/LongVideoBench")
    assert sorted(p.name for p in lvb.glob("*.tar*")) == [
        "subtitles.tar",
        "videos.tar.part.aa",
        "videos.tar.part.ab",
        "videos.tar.part.ac",
    ]
    assert (dataset_dir(root, "OpenGVLab/MVBench") / "clevrer" / "video_validation").is_dir()
    for path in LEAVES.values():
        assert not (dataset_dir(root, path) / "videos").exists()


def test_preflight_names_each_missing_folder_and_the_prepare_command(prepared):
    by_task = {f.task: f for f in prepared["missing"].findings}
    assert set(by_task) == set(LEAVES)
    for task, path in LEAVES.items():
        folder = dataset_dir(prepared["root"], path) / "videos"
        assert f"video folder missing: {folder} " in by_task[task].problem, by_task[task].problem
        assert by_task[task].fix == f"ov-eval data prepare {task}"


def test_prepare_puts_every_video_where_its_task_reads_it(prepared):
    assert prepared["rc"] == (0, 0)
    assert prepared["after"].ok, [(f.task, f.problem) for f in prepared["after"].findings]
    for path, digests in prepared["before"].items():
        videos = dataset_dir(prepared["root"], path) / "videos"
        unpacked = {k: v for k, v in _digests(videos).items() if not k.startswith(".ov-eval-unpacked/")}
        if path == "longvideobench/LongVideoBench":  # its second archive: subtitles/<name>
            assert sorted(k for k in unpacked if k.startswith("subtitles/")) == [
                "subtitles/lvb_long_en.json",
                "subtitles/lvb_short_en.json",
            ]
            unpacked = {k: v for k, v in unpacked.items() if not k.startswith("subtitles/")}
        if path == "OpenGVLab/MVBench":  # linked to the repository tree, which holds the parquet files too
            unpacked = {k: v for k, v in unpacked.items() if not k.endswith(".parquet")}
        assert unpacked == digests, path  # byte-identical files at the same relative paths


def test_task_reads_the_unpacked_file(prepared, monkeypatch):
    from ov_eval.tasks import egoschema

    monkeypatch.setenv(DATA_DIR_ENV, str(prepared["root"]))
    [path] = egoschema.doc_to_visual({"video_idx": "ego_long", "question_idx": "q0"})
    assert path == str(
        dataset_dir(prepared["root"], "lmms-eval/egoschema") / "videos" / "videos" / "ego_long.mp4"
    )


def test_second_prepare_reports_archives_done(prepared, capsys, monkeypatch):
    from ov_eval.cli import main

    monkeypatch.setenv(DATA_DIR_ENV, str(prepared["root"]))
    assert main(["data", "prepare", "ov_egoschema_subset", "ov_ai2d"]) == 0
    out = capsys.readouterr().out
    assert "videos_chunked_01.zip: unpacked before" in out and "videos_chunked_02.zip: unpacked before" in out
    assert "ov_ai2d: nothing to prepare" in out


def test_without_a_local_copy_the_hub_snapshot_is_unpacked_into_hf_home(shipped_root, tmp_path, monkeypatch):
    """No OV_EVAL_DATA_DIR copy: the repository comes from the hub and lands in $HF_HOME/<cache_dir>,
    lmms-eval's own location (the download itself is replaced by the shipped fixture)."""
    import huggingface_hub

    from ov_eval.cli import main

    root, before = shipped_root
    asked = []

    def snapshot_download(repo_id, repo_type, revision, ignore_patterns):
        asked.append((repo_id, repo_type, revision))
        assert fnmatch.filter(["valid_audios.zip", "videos_chunked_01.zip"], ignore_patterns[0]) == [
            "valid_audios.zip"
        ]
        return str(dataset_dir(root, repo_id))

    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    assert main(["data", "prepare", "ov_egoschema_subset"]) == 0
    assert asked == [("lmms-eval/egoschema", "dataset", "main")]
    unpacked = {
        k: v for k, v in _digests(tmp_path / "hf" / "egoschema").items() if not k.startswith(".ov-eval")
    }
    assert unpacked == before["lmms-eval/egoschema"]


def test_a_repository_without_archives_says_where_to_download_it(tmp_path, monkeypatch, capsys):
    from ov_eval.cli import main

    (tmp_path / "lmms-eval" / "egoschema").mkdir(parents=True)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert main(["data", "prepare", "ov_egoschema_subset"]) == 1
    err = capsys.readouterr().err
    assert (
        "no .zip/.tar archives of videos under" in err
        and "huggingface-cli download --repo-type dataset lmms-eval/egoschema" in err
    )


def test_audio_archives_are_left_packed(tmp_path, monkeypatch, capsys):
    """PerceptionTest ships ``valid_audios.zip`` (35.5 GB) beside ``videos_chunked_01.zip`` and
    ``_02.zip``: the videos land where the task reads them, the audio stays packed."""
    from ov_eval.cli import main

    repository = tmp_path / "lmms-eval" / "PerceptionTest_Val"
    repository.mkdir(parents=True)
    for name, member in [
        ("videos_chunked_01.zip", "videos/video_1.mp4"),
        ("videos_chunked_02.zip", "videos/video_2.mp4"),
        ("valid_audios.zip", "audios/video_1.wav"),
    ]:
        with zipfile.ZipFile(repository / name, "w") as archive:
            archive.writestr(member, f"bytes of {member}")
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert main(["data", "prepare", "ov_perceptiontest_val_mc"]) == 0
    out = capsys.readouterr().out
    assert "valid_audios.zip: left packed (audio; no task reads it)" in out
    unpacked = repository / "videos"
    assert (unpacked / "videos" / "video_2.mp4").read_text() == "bytes of videos/video_2.mp4"
    files = [p.relative_to(unpacked) for p in unpacked.rglob("*") if p.is_file()]
    assert sorted(p.name for p in files if not p.parts[0].startswith(".ov-eval")) == [
        "video_1.mp4",
        "video_2.mp4",
    ]


def test_audio_archives_are_reported_where_a_repository_is_linked_or_has_no_video_archive(
    tmp_path, monkeypatch
):
    """A repository whose videos are a folder tree is linked, and its audio archive still reported as
    left packed; one with nothing but audio archives is refused with a line that says so."""
    from ov_eval.data_prepare import VideoSource, prepare

    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    repository = tmp_path / "repository"
    (repository / "videos").mkdir(parents=True)
    (repository / "videos" / "clip.mp4").write_bytes(b"mp4")
    with zipfile.ZipFile(repository / "audio_tracks.zip", "w") as archive:
        archive.writestr("clip.wav", "wav")
    linked = VideoSource("a_task", "org/linked", str(tmp_path / "cache_linked"), create_link=True)
    lines = prepare(linked, from_dir=repository)
    assert lines[0] == "audio_tracks.zip: left packed (audio; no task reads it)"
    assert lines[1].startswith("linked ") and linked.target.is_symlink()
    assert (
        prepare(linked, from_dir=repository)[0] == "audio_tracks.zip: left packed (audio; no task reads it)"
    )
    unpacked = VideoSource("a_task", "org/unpacked", str(tmp_path / "cache_unpacked"))
    with pytest.raises(
        FileNotFoundError, match=r"only audio archives, which no task reads: audio_tracks\.zip"
    ):
        prepare(unpacked, from_dir=repository)
