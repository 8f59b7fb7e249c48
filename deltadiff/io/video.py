"""Read videos, GIFs, image folders and single images into `uint8 [T, H, W, 3]`, and describe them (`probe`).

Decoding goes through PyAV (FFmpeg); still images and numbered image folders through Pillow.
Frame selection is by presentation time, not by index: with `fps` set, output frame k shows what is on screen at
`start + k * stride / fps` (the last frame whose timestamp is ≤ that time), so variable-frame-rate files and GIFs
with uneven delays resample correctly.
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image, UnidentifiedImageError

from deltadiff.errors import InputNotFoundError, NotEnoughFramesError, VideoDecodeError
from deltadiff.io.frames import DEFAULT_MAX_PIXELS, DEFAULT_MIN_SIDE, Geometry, parse_size, pil_to_rgb

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
FOLDER_FPS = 30.0  # frame rate assumed for a folder of numbered images unless the caller says otherwise
_EPS = 1e-6
_SEEK_MIN = 2.0  # seconds; closer starts decode from the beginning (cheaper than a seek + keyframe decode)


@dataclass(frozen=True)
class VideoInfo:
    """What deltadiff sees in a file, before any resampling."""

    path: str
    kind: str  # "video" | "image" | "frames" (a folder of numbered images)
    frames: int  # exact for images/folders/GIFs and when the container knows it, else estimated from duration × fps
    fps: float
    width: int
    height: int
    duration: float  # seconds
    codec: str
    pixel_format: str

    def as_dict(self) -> dict:
        return asdict(self)


def _kind(path: Path) -> str:
    if isinstance(path, _BytesSource):
        if not path.getbuffer().nbytes:
            raise VideoDecodeError("the video data is empty (0 bytes)")
        return "video"
    if not path.exists():
        raise InputNotFoundError(f"{path}: no such file or folder; check the path")
    if path.is_dir():
        return "frames"
    if path.stat().st_size == 0:
        raise VideoDecodeError(f"{path}: the file is empty (0 bytes); re-export or re-download it")
    return "image" if path.suffix.lower() in IMAGE_EXTENSIONS else "video"


def _numbered_images(folder: Path) -> list[Path]:
    """Image files of a folder in natural order (frame_2.png before frame_10.png)."""
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")]
    if not files:
        raise VideoDecodeError(f"{folder}: the folder holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))}); point at a video or a folder of frames")
    key = lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]  # noqa: E731
    return sorted(files, key=key)


def _open_image(path: Path) -> Image.Image:
    try:
        with warnings.catch_warnings():  # our own pixel cap (Geometry.check_source) runs before any decoding
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise VideoDecodeError(f"{path}: not an image deltadiff can read ({type(e).__name__}); convert it to PNG or JPEG") from None
    except Image.DecompressionBombError:
        raise VideoDecodeError(f"{path}: image too large to open safely; downscale it") from None


class _BytesSource(io.BytesIO):
    """An in-memory encoded video; prints as '<N bytes>' in error messages."""

    def __str__(self) -> str:
        return f"<{len(self.getbuffer())} bytes of video>"


def _open_container(path: Path | io.BytesIO):
    try:
        container = av.open(path if isinstance(path, io.BytesIO) else str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        raise VideoDecodeError(f"{path}: not a video deltadiff can decode ({_ffmpeg_reason(e)}); re-encode it to mp4/h264") from None
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(f"{path}: the file has no video stream; pass a video, a GIF, an image or a folder of frames")
    return container


def _ffmpeg_reason(e: Exception) -> str:
    msg = getattr(e, "strerror", None) or str(e)
    return msg.split(":")[0].strip() if msg else type(e).__name__


def probe(path: str | os.PathLike, *, folder_fps: float = FOLDER_FPS) -> VideoInfo:
    """Describe a video, GIF, image or image folder without decoding all of it."""
    path = Path(path)
    kind = _kind(path)
    if kind == "frames":
        files = _numbered_images(path)
        with _open_image(files[0]) as im:
            w, h, mode, fmt = im.width, im.height, im.mode, (im.format or "image").lower()
        return VideoInfo(str(path), kind, len(files), folder_fps, w, h, len(files) / folder_fps, fmt, mode)
    if kind == "image":
        with _open_image(path) as im:
            return VideoInfo(str(path), kind, 1, 0.0, im.width, im.height, 0.0, (im.format or "image").lower(), im.mode)
    with _open_container(path) as container:
        stream = container.streams.video[0]
        cc = stream.codec_context
        fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        duration = (
            float(stream.duration * stream.time_base) if stream.duration
            else (container.duration / av.time_base if container.duration else 0.0)
        )
        frames = stream.frames or (round(duration * fps) if fps and duration else 0)
        if not frames or not fps:  # e.g. some webm/gif headers: count by demuxing packets (cheap, no decode)
            times = [float(p.pts * stream.time_base) for p in container.demux(stream) if p.pts is not None and p.size]
            frames = len(times)
            if frames > 1:
                span = max(times) - min(times)
                fps = fps or (frames - 1) / span if span > 0 else fps
                duration = duration or span + (1.0 / fps if fps else 0.0)
        return VideoInfo(str(path), kind, int(frames), float(fps), cc.width, cc.height, float(duration), cc.name, cc.format.name if cc.format else "?")


def read_image(
    path: str | os.PathLike,
    size: int | tuple[int, int] | None = None,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
) -> np.ndarray:
    """An image (or the first frame of a video / image folder) as `uint8 [H, W, 3]`, optionally resized + cropped."""
    return read_video(path, num_frames=1, size=size, max_pixels=max_pixels, min_side=min_side)[0]


def read_video(
    path: str | os.PathLike | bytes,
    num_frames: int | None = None,
    *,
    fps: float | None = None,
    stride: int = 1,
    start: float = 0.0,
    end: float | None = None,
    size: int | tuple[int, int] | None = None,
    max_duration: float | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
    folder_fps: float = FOLDER_FPS,
) -> np.ndarray:
    """Decode frames as `uint8 [T, H, W, 3]`.

    num_frames: how many frames to return (None: all in [start, end)). Fewer available → NotEnoughFramesError.
    fps: resample to this rate by timestamps (None: keep the source's frames). stride: keep every stride-th frame
    after resampling. start/end: seconds. size: (H, W) or an int — short side resized, then centre-cropped.
    max_duration: stop reading this many seconds after `start`. max_pixels/min_side: refuse frames outside these
    bounds before decoding (FrameSizeError). folder_fps: frame rate of a folder of numbered images.
    `path` may also be the bytes of an encoded video (e.g. an mp4 from a WebDataset shard).
    """
    path = _BytesSource(path) if isinstance(path, (bytes, bytearray, memoryview)) else Path(path)
    if stride < 1:
        raise ValueError(f"stride must be ≥ 1, got {stride}")
    if num_frames is not None and num_frames < 1:
        raise ValueError(f"num_frames must be ≥ 1, got {num_frames}")
    if fps is not None and fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    geo = Geometry(parse_size(size), max_pixels, min_side)
    stop = end if max_duration is None else min(end if end is not None else math.inf, start + max_duration)
    kind = _kind(path)
    status: dict = {}
    if kind == "video":
        timed = _decode_video(path, geo, seek=start, status=status)
    else:
        files = [path] if kind == "image" else _numbered_images(path)
        timed = _decode_images(files, geo, folder_fps)
    out, available = _select(timed, num_frames, fps, stride, start, stop)
    if not out:
        if available:
            raise NotEnoughFramesError(f"{path}: no frames between {start:g}s and {stop:g}s; check --start/--end")
        raise VideoDecodeError(f"{path}: no decodable frames; the file may be corrupt or truncated, re-encode it")
    if num_frames is not None and len(out) < num_frames and status.get("truncated"):
        raise VideoDecodeError(
            f"{path}: the file is truncated or corrupt — decoding stopped after {status['decoded']} of "
            f"{status['expected'] or '?'} frames ({status['truncated']}); re-encode or re-download it"
        )
    if num_frames is not None and len(out) < num_frames:
        at = f" at {fps:g} fps" if fps else ""
        by = f" with stride {stride}" if stride > 1 else ""
        raise NotEnoughFramesError(
            f"{path}: only {len(out)} frames{at}{by} from {start:g}s, asked for {num_frames}; "
            "ask for fewer frames, a lower fps or a smaller stride"
        )
    return np.stack(out)


def _select(timed, num_frames, fps, stride, start, stop) -> tuple[list[np.ndarray], int]:
    """Pick frames from a stream of (time, frame-producer) by presentation time. Returns (frames, frames seen).

    With fps: output k is the frame on screen at tau_k = start + k * stride / fps, i.e. the last frame with time ≤ tau_k.
    A frame is known to cover tau_k once the next frame's time passes tau_k; the last frame covers one source period.
    """
    out: list[np.ndarray] = []
    seen, k = 0, 0
    full = lambda: num_frames is not None and len(out) >= num_frames  # noqa: E731
    tau = lambda: start + k * stride / fps  # noqa: E731
    prev, period = None, None  # latest (time, producer) at or before tau_k; spacing of the last two frames
    for t, produce in timed:
        seen += 1
        if stop is not None and t >= stop - _EPS:
            break
        if fps is None:  # keep source frames: every stride-th frame at or after start
            if t >= start - _EPS:
                if k % stride == 0:
                    out.append(produce())
                k += 1
        else:
            while prev is not None and not full() and tau() < t - _EPS:
                if tau() >= prev[0] - _EPS:  # targets before the first frame have nothing on screen
                    out.append(prev[1]())
                k += 1
            period = t - prev[0] if prev is not None else None
            prev = (t, produce)
        if full():
            break
    if fps is not None and prev is not None and not full():
        until = prev[0] + (period or 1.0 / fps)
        if stop is not None:
            until = min(until, stop)
        while not full() and tau() < until - _EPS:
            if tau() >= prev[0] - _EPS:
                out.append(prev[1]())
            k += 1
    return out, seen


def _decode_images(files: list[Path], geo: Geometry, folder_fps: float):
    """Yield (time, producer) for still images; the producer loads, converts and resizes lazily."""
    for i, f in enumerate(files):
        def produce(f=f):
            with _open_image(f) as im:
                geo.check_source(im.width, im.height, str(f))
                try:
                    rgb = pil_to_rgb(im)
                except (OSError, ValueError, SyntaxError) as e:
                    raise VideoDecodeError(f"{f}: the image is corrupt or truncated ({e}); re-export it") from None
            if geo.size is None:
                return rgb
            sw, sh = geo.scaled_size(rgb.shape[1], rgb.shape[0])
            if (sw, sh) != (rgb.shape[1], rgb.shape[0]):
                im2 = Image.fromarray(rgb).resize((sw, sh), Image.BOX if sw < rgb.shape[1] else Image.BICUBIC)
                rgb = np.asarray(im2)
            return np.ascontiguousarray(geo.crop(rgb))

        yield i / folder_fps, produce


def _decode_video(path: Path, geo: Geometry, seek: float = 0.0, status: dict | None = None):
    """Yield (time, producer) per decoded frame; swscale does colour conversion and resizing in C.

    Times are seconds from the stream's start. With seek > 0 decoding starts at the keyframe before `seek`.
    `status` receives 'decoded', 'expected' and, if the stream ended early or in an error, 'truncated' (why).
    """
    status = {} if status is None else status
    container = _open_container(path)
    try:
        stream = container.streams.video[0]
        cc = stream.codec_context
        # small clips: slice threads (frame threading's start-up latency dominates); large frames: frame threads too
        stream.thread_type = "AUTO" if (cc.width or 0) * (cc.height or 0) >= 640 * 360 else "SLICE"
        if cc.width and cc.height:
            geo.check_source(cc.width, cc.height, str(path))
        t0 = float(stream.start_time * stream.time_base) if stream.start_time is not None else None
        if seek > _SEEK_MIN and t0 is not None:
            try:
                container.seek(int((t0 + seek) / stream.time_base), stream=stream, backward=True)
            except av.error.FFmpegError:
                container.seek(0, stream=stream)
        status.update(decoded=0, expected=stream.frames or 0)
        try:
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                t0 = float(frame.time) if t0 is None else t0
                status["decoded"] += 1
                yield float(frame.time) - t0, (lambda frame=frame: _convert(frame, geo, path))
        except av.error.FFmpegError as e:
            if not status["decoded"]:
                raise VideoDecodeError(
                    f"{path}: no decodable frames ({_ffmpeg_reason(e)}); the file is truncated or corrupt, "
                    "re-encode or re-download it"
                ) from None
            status["truncated"] = _ffmpeg_reason(e)  # keep what decoded; the caller reports if it was not enough
            return
        if seek <= _SEEK_MIN and status["expected"] and status["decoded"] < 0.9 * status["expected"]:
            status["truncated"] = "the header promises more frames than the file holds"
    finally:
        container.close()


def _convert(frame: av.VideoFrame, geo: Geometry, path: Path) -> np.ndarray:
    geo.check_source(frame.width, frame.height, str(path))
    sw, sh = geo.scaled_size(frame.width, frame.height)
    if any(c.is_alpha for c in frame.format.components):  # same policy as images: composite over white
        rgba = frame.to_ndarray(format="rgba", width=sw, height=sh, interpolation="AREA").astype(np.uint16)
        a = rgba[..., 3:]
        rgb = ((rgba[..., :3] * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)
    else:
        rgb = frame.to_ndarray(format="rgb24", width=sw, height=sh, interpolation="AREA")
    return np.ascontiguousarray(geo.crop(rgb))
