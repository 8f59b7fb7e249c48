"""Bad input: each case gets a typed exception with a message that says what to do, and through
`deltadiff inspect` one line on stderr, a non-zero exit and no traceback. Odd-but-valid input (odd aspect ratios,
grayscale, RGBA, 16-bit PNG, unicode paths) is read correctly instead."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import level_frames
from PIL import Image

from deltadiff.errors import (
    DeltaDiffError,
    FrameSizeError,
    InputNotFoundError,
    NotEnoughFramesError,
    OutputError,
    VideoDecodeError,
)
from deltadiff.io import read_image, read_video, write_video


def _mp4_faststart(path: Path, n: int = 60) -> Path:
    """An mp4 with its index (moov) first, so a truncated copy still opens and decodes its first frames."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", options={"movflags": "faststart"}) as c:
        s = c.add_stream("libx264", rate=30)
        s.width = s.height = 64
        s.pix_fmt = "yuv420p"
        for _ in range(n):  # noise frames: each frame costs bytes, so half the file is half the frames
            f = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def _bad_files(tmp: Path) -> dict[str, tuple[Path, type, str, dict]]:
    """name → (path, expected exception, message fragment, read_video kwargs)."""
    cases = {}
    cases["missing"] = (tmp / "nope.mp4", InputNotFoundError, "no such file", {})
    (tmp / "empty.mp4").write_bytes(b"")
    cases["empty"] = (tmp / "empty.mp4", VideoDecodeError, "empty (0 bytes)", {})
    good = _mp4_faststart(tmp / "good.mp4")
    data = good.read_bytes()
    (tmp / "truncated.mp4").write_bytes(data[: len(data) // 2])
    cases["truncated"] = (tmp / "truncated.mp4", VideoDecodeError, "truncated or corrupt", {"num_frames": 50})
    (tmp / "header_only.mp4").write_bytes(data[: data.find(b"mdat") + 8])
    cases["zero_frames"] = (tmp / "header_only.mp4", VideoDecodeError, "no decodable frames", {})
    (tmp / "garbage.mp4").write_bytes(data[:48] + bytes(range(256)) * 20)  # real header, corrupt body
    cases["corrupt"] = (tmp / "garbage.mp4", VideoDecodeError, "no video stream", {})
    (tmp / "notes.mp4").write_text("this is a text file, not a video\n")
    cases["not_media"] = (tmp / "notes.mp4", VideoDecodeError, "not a video", {})
    (tmp / "photo.png").write_text("not a png either")
    cases["not_image"] = (tmp / "photo.png", VideoDecodeError, "not an image", {})
    write_video(tmp / "short.mp4", level_frames(5), fps=10)
    cases["too_few_frames"] = (tmp / "short.mp4", NotEnoughFramesError, "asked for 16", {"num_frames": 16})
    Image.new("RGB", (1, 1)).save(tmp / "one.png")
    cases["1x1"] = (tmp / "one.png", FrameSizeError, "1×1, smaller than", {})
    Image.new("L", (10000, 10000)).save(tmp / "huge.png")
    cases["10000x10000"] = (tmp / "huge.png", FrameSizeError, "10000×10000 (100.0 MP), over the", {})
    empty_dir = tmp / "no_frames"
    empty_dir.mkdir()
    cases["empty_folder"] = (empty_dir, VideoDecodeError, "holds no images", {})
    return cases


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    return _bad_files(tmp_path_factory.mktemp("bad"))


CASES = ["missing", "empty", "truncated", "zero_frames", "corrupt", "not_media", "not_image", "too_few_frames",
         "1x1", "10000x10000", "empty_folder"]


@pytest.mark.parametrize("case", CASES)
def test_library_raises_typed_error(bad_files, case):
    path, exc, fragment, kwargs = bad_files[case]
    with pytest.raises(exc) as info:
        read_video(path, **kwargs)
    assert isinstance(info.value, DeltaDiffError)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def _inspect(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deltadiff", "inspect", *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("case", CASES)
def test_cli_inspect_one_line_error(bad_files, case):
    path, _, fragment, kwargs = bad_files[case]
    extra = ["--frames", str(kwargs["num_frames"])] if "num_frames" in kwargs else []
    r = _inspect(path, *extra)
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("deltadiff: error:"), r.stderr
    assert fragment in lines[0] and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_cli_inspect_pixel_cap_on_video(tmp_path):
    path = write_video(tmp_path / "a.mp4", level_frames(4, 64, 64), 8)
    r = _inspect(path, "--frames", "2", "--max-pixels", "1000")
    assert r.returncode == 1 and "over the 0.0 MP cap" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    with pytest.raises(FrameSizeError, match="64×64"):
        read_video(path, max_pixels=1000)


def test_cli_inspect_good_file(tmp_path):
    path = write_video(tmp_path / "ok clip ünï.mp4", level_frames(20), 10)
    r = _inspect(path, "--frames", "8", "--fps", "5", "--json")
    assert r.returncode == 0, r.stderr
    import json

    info = json.loads(r.stdout)
    assert (info["frames"], info["width"], info["height"], info["codec"]) == (20, 48, 32, "h264")
    assert info["as_demo"]["frames"] == 8 and info["as_demo"]["width"] == 64


@pytest.mark.parametrize("shape", [(20, 300), (300, 20), (9, 400)])
def test_odd_aspect_ratios_are_cropped(tmp_path, shape):
    h, w = shape
    img = (np.arange(w)[None, :, None] * 255 // max(w - 1, 1)).repeat(h, 0).repeat(3, 2).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "odd.png")
    out = read_image(tmp_path / "odd.png", size=64)
    assert out.shape == (64, 64, 3)
    if w > h:  # the centre of a horizontal ramp is mid-grey
        assert 100 < out[:, 32].mean() < 155


def test_grayscale_rgba_16bit_images(tmp_path):
    Image.fromarray(np.full((16, 16), 77, np.uint8), "L").save(tmp_path / "gray.png")
    assert (read_image(tmp_path / "gray.png") == 77).all()
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :8, 3] = 255  # left half opaque red, right half transparent → white
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    out = read_image(tmp_path / "rgba.png")
    assert (out[:, :8] == [255, 0, 0]).all() and (out[:, 8:] == 255).all()
    Image.fromarray(np.full((16, 16), 65535 // 2, np.uint16)).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    assert (read_image(tmp_path / "deep.png") == 127).all()  # scaled to 8 bits, not clipped to 255


def test_grayscale_video(tmp_path):
    v = (np.arange(8)[:, None, None] * 30).repeat(16, 1).repeat(16, 2).astype(np.uint8)
    path = tmp_path / "gray.mkv"
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=8)
        s.width, s.height, s.pix_fmt = 16, 16, "gray"
        for f in v:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="gray")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    out = read_video(path)
    assert out.shape == (8, 16, 16, 3) and (out[..., 0] == v).all() and (out[..., 2] == v).all()


def test_unicode_and_space_paths(tmp_path):
    folder = tmp_path / "vidéos de démo" / "空 白"
    path = write_video(folder / "ma vidéo ☕.mp4", level_frames(6), 8)
    assert read_video(path).shape == (6, 32, 48, 3)
    Image.fromarray(level_frames(1)[0]).save(folder / "ç ontext.png")
    assert read_image(folder / "ç ontext.png").shape == (32, 48, 3)


def test_output_errors(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        write_video(tmp_path / "a_file" / "out.mp4", level_frames(2), 8)
    with pytest.raises(OutputError, match="unsupported video format"):
        write_video(tmp_path / "out.avi", level_frames(2), 8)
    assert not (tmp_path / "out.avi").exists()


def test_cli_manifest_row_outside_root(tmp_path):
    root = tmp_path / "dataset"
    root.mkdir()
    write_video(tmp_path / "elsewhere.mp4", level_frames(20), 8)
    (root / "manifest.csv").write_text("path,label\n../elsewhere.mp4,push\n")
    r = subprocess.run([sys.executable, "-m", "deltadiff", "data", "scan", str(root / "manifest.csv")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "points outside the dataset root" in lines[0] and "manifest.csv:2" in lines[0]
