"""Video and image I/O at the package boundary: `uint8 [T, H, W, 3]` RGB in and out.

Reading: `read_video`, `read_image`, `probe` (PyAV for videos/GIFs, Pillow for images and image folders).
Writing: `write_video` (mp4/h264 yuv420p, webm/vp9, gif), `write_image`; grids: `video_grid`, `contact_sheet`,
`write_grid` (both at once).
"""

from deltadiff.io.frames import DEFAULT_MAX_PIXELS, DEFAULT_MIN_SIDE, resize_frames
from deltadiff.io.grid import contact_sheet, video_grid
from deltadiff.io.video import VideoInfo, probe, read_image, read_video
from deltadiff.io.writer import atomic_path, write_image, write_json, write_video

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MIN_SIDE",
    "VideoInfo",
    "atomic_path",
    "contact_sheet",
    "probe",
    "read_image",
    "read_video",
    "resize_frames",
    "video_grid",
    "write_grid",
    "write_image",
    "write_json",
    "write_video",
]


def write_grid(stem, videos, labels, fps: float = 8.0, max_frames: int = 16):
    """Write `<stem>.mp4` (labelled side-by-side video) and `<stem>.png` (contact sheet); return both paths."""
    from pathlib import Path

    stem = Path(stem)
    mp4 = write_video(stem.with_suffix(".mp4"), video_grid(videos, labels), fps)
    png = write_image(stem.with_suffix(".png"), contact_sheet(videos, labels, max_frames=max_frames))
    return mp4, png
