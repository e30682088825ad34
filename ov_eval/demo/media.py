"""Real encoded media for tests and fixtures: videos written with PyAV, images in odd formats.

Fixture videos must go through the adapter's real decode path (decord, PyAV
fallback), so they are genuine mp4 files, not arrays. Each frame encodes its
index in its colour so a test can tell which frames were sampled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def frame_color(index: int) -> tuple[int, int, int]:
    """A colour that identifies frame ``index`` after lossy encoding (coarse steps survive)."""
    return (16 + (index * 37) % 224, 16 + (index * 11) % 224, 16 + (index * 5) % 224)


def write_video(path: str | Path, num_frames: int, width: int = 64, height: int = 48, fps: int = 8) -> Path:
    """Write an mpeg4 .mp4 whose frame i is a flat ``frame_color(i)`` with a moving bar in its top rows."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.qscale = 1
        stream.codec_context.options = {"qscale": "1"}
        for i in range(num_frames):
            frame = np.empty((height, width, 3), dtype=np.uint8)
            frame[:] = frame_color(i)
            frame[:2, (i * 3) % width : (i * 3) % width + 2] = 255  # motion, kept off the centre
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def identify_frame(frame: np.ndarray, candidates: int = 224) -> int:
    """Index whose ``frame_color`` is nearest to the centre pixel of a decoded frame."""
    centre = frame[frame.shape[0] // 2, frame.shape[1] // 2].astype(int)
    distances = [np.abs(centre - np.array(frame_color(i))).sum() for i in range(candidates)]
    return int(np.argmin(distances))
