"""Video frames are chosen exactly as the original evaluation chose them, by either decoder."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from ov_eval.demo.media import identify_frame, write_video
from ov_eval.models.video import frame_indices, load_video_frames
from ov_eval.models.visuals import VideoFrames, load_visuals


def test_frame_rule_is_linspace_with_first_and_last():
    # np.linspace(0, 89, 32) truncated: 0, 2.87->2, 5.74->5, ... 89
    assert frame_indices(90, 32)[:4].tolist() == [0, 2, 5, 8]
    assert frame_indices(90, 32)[-1] == 89
    # shorter than the budget: frames repeat, the count stays 32 (linspace(0, 11, 32) -> 0,0,0,1,1,1,...,11)
    short = frame_indices(12, 32)
    assert len(short) == 32 and short[0] == 0 and short[-1] == 11 and short[:4].tolist() == [0, 0, 0, 1]


@pytest.mark.parametrize("backend", ["decord", "pyav"])
@pytest.mark.parametrize("num_frames", [90, 12])
def test_decoders_pick_the_rule_frames_from_real_files(tmp_path, backend, num_frames):
    path = write_video(tmp_path / "clip.mp4", num_frames)
    frames = load_video_frames(str(path), 32, backend=backend)
    assert frames.shape == (32, 48, 64, 3) and frames.dtype == np.uint8
    assert [identify_frame(f) for f in frames] == frame_indices(num_frames, 32).tolist()


def test_pyav_fallback_when_decord_is_unavailable(tmp_path, monkeypatch):
    path = write_video(tmp_path / "clip.mp4", 40)
    monkeypatch.setitem(sys.modules, "decord", None)  # import decord -> ImportError
    frames = load_video_frames(str(path), 8, backend="decord")
    assert [identify_frame(f) for f in frames] == frame_indices(40, 8).tolist()


def test_pre_extracted_frames_marked_as_video_are_sampled_not_treated_as_images():
    from PIL import Image

    frames = VideoFrames([Image.new("RGB", (32, 24), (i, i, i)) for i in range(50)])
    visuals = load_visuals([frames], max_images=12, max_frames=8, video_backend="pyav", where="t/d/0")
    assert visuals.images == [] and visuals.videos[0].shape == (8, 24, 32, 3)
    assert visuals.videos[0][:, 0, 0, 0].tolist() == frame_indices(50, 8).tolist()
