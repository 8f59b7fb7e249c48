"""Write `uint8 [T, H, W, 3]` frames as mp4 (h264, yuv420p), webm (vp9) or GIF, and images as PNG/JPEG.

Every writer is atomic: it writes a hidden temporary file beside the target and renames it into place, so a failure
(or Ctrl-C) never leaves a half-written output where the user expects a result.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from deltadiff.errors import OutputError

_UMASK = os.umask(0)
os.umask(_UMASK)
VIDEO_FORMATS = {".mp4": ("mp4", "libx264"), ".webm": ("webm", "libvpx-vp9"), ".gif": ("gif", None)}
IMAGE_FORMATS = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside `path` (same suffix); rename it onto `path` only if the block succeeds."""
    path = Path(path)
    if path.exists() and path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name such as {path / 'out.mp4'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise OutputError(f"{path.parent}: exists and is not a folder; choose another output path") from None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the permissions a plain open() would
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"expected frames uint8 [T, H, W, 3] with T ≥ 1, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames, got {frames.dtype}; convert with deltadiff.io.tensor.tensor_to_frames")
    return np.ascontiguousarray(frames)


def _pad_even(frames: np.ndarray) -> np.ndarray:
    """yuv420p needs even width and height: repeat the last row/column where they are odd."""
    h, w = frames.shape[1:3]
    return np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge") if h % 2 or w % 2 else frames


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float = 8.0, *, quality: int = 18) -> Path:
    """Write frames to `path`; the format follows the suffix (.mp4 h264/yuv420p, .webm vp9, .gif).

    quality: x264/vp9 CRF (lower = better; 18 is visually lossless for these small clips).
    Odd sizes are padded by one edge row/column for yuv420p.
    """
    path = Path(path)
    frames = _check_frames(frames)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_FORMATS:
        raise OutputError(f"{path}: unsupported video format {suffix or '(none)'}; use one of {', '.join(VIDEO_FORMATS)}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    with atomic_path(path) as tmp:
        if suffix == ".gif":
            _write_gif(tmp, frames, fps)
        else:
            _write_ffmpeg(tmp, frames, fps, *VIDEO_FORMATS[suffix], quality)
    return path


def _write_ffmpeg(path: Path, frames: np.ndarray, fps: float, fmt: str, codec: str, quality: int) -> None:
    frames = _pad_even(frames)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(quality)} | ({"b:v": "0"} if codec == "libvpx-vp9" else {})
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _write_gif(path: Path, frames: np.ndarray, fps: float) -> None:
    """One palette for the whole clip (median cut over all frames) so colours do not flicker between frames."""
    t, h, w = frames.shape[:3]
    step = max(1, t // 16)  # palette from ≤16 frames is plenty and keeps long clips fast
    palette = Image.fromarray(frames[::step].reshape(-1, w, 3)).quantize(256, method=Image.Quantize.MEDIANCUT)
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    duration = max(20, round(1000 / fps / 10) * 10)  # GIF delays are in 1/100 s; browsers clamp below 20 ms
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0, disposal=1)


def write_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write `uint8 [H, W, 3]` as PNG/JPEG/WebP/BMP (by suffix), atomically."""
    path = Path(path)
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an image uint8 [H, W, 3], got {image.dtype} {image.shape}")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_FORMATS:
        raise OutputError(f"{path}: unsupported image format {suffix or '(none)'}; use one of {', '.join(sorted(IMAGE_FORMATS))}")
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format={".jpg": "JPEG"}.get(suffix, suffix[1:].upper()))
    return path


def _jsonable(x):
    if isinstance(x, float) and not math.isfinite(x):
        return "inf" if x > 0 else "-inf" if x < 0 else "nan"
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def write_json(path: str | os.PathLike, obj) -> Path:
    """Write `obj` as indented UTF-8 JSON, atomically. Non-finite floats (+∞ PSNR of identical videos, NaN) become
    the strings "inf", "-inf" and "nan": strict JSON has no Infinity."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(obj), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
