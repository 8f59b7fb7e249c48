"""`deltadiff inspect VIDEO`: what deltadiff sees in a file — a user's first check of a demo or a context image."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from deltadiff.io import DEFAULT_MAX_PIXELS, probe, read_video
from deltadiff.io.frames import Geometry


def inspect_command(
    video: Path = typer.Argument(..., help="A video (mp4, webm, mkv, mov, gif…), an image, or a folder of numbered images."),
    frames: int = typer.Option(16, "--frames", "-n", min=1, help="Frames a demo would use."),
    fps: float = typer.Option(8.0, "--fps", min=0.01, help="Frame rate a demo is resampled to (by timestamps)."),
    stride: int = typer.Option(1, "--stride", min=1, help="Keep every stride-th frame after resampling."),
    start: float = typer.Option(0.0, "--start", min=0.0, help="Start time in seconds."),
    size: int = typer.Option(64, "--size", min=1, help="Square side the frames are resized (short side) and centre-cropped to."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=1, help="Refuse frames with more pixels than this."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Print frames, fps, size, duration and codec of VIDEO, then decode the clip a demo would use to prove it reads.

    Exits non-zero with a one-line message if the file is missing, empty, corrupt, not media, too small/large, or has
    fewer frames than asked for.
    """
    info = probe(video)
    Geometry(max_pixels=max_pixels).check_source(info.width, info.height, str(video))
    t0 = time.perf_counter()
    num = 1 if info.kind == "image" else frames
    clip = read_video(video, num, fps=None if info.kind == "image" else fps, stride=stride, start=start, size=size, max_pixels=max_pixels)
    ms = (time.perf_counter() - t0) * 1000
    used = {"frames": int(clip.shape[0]), "height": int(clip.shape[1]), "width": int(clip.shape[2]),
            "fps": None if info.kind == "image" else fps, "seconds": 0.0 if info.kind == "image" else clip.shape[0] * stride / fps,
            "decode_ms": round(ms, 1)}
    if as_json:
        typer.echo(json.dumps({**info.as_dict(), "as_demo": used}))
        return
    table = Table(title=str(video), show_header=False, title_justify="left")
    table.add_row("kind", info.kind)
    table.add_row("frames", str(info.frames))
    table.add_row("fps", f"{info.fps:.3f}" if info.fps else "—")
    table.add_row("size (w×h)", f"{info.width}×{info.height}")
    table.add_row("duration", f"{info.duration:.3f} s")
    table.add_row("codec", info.codec)
    table.add_row("pixel format", info.pixel_format)
    what = "context image" if info.kind == "image" else f"demo: {used['frames']} frames at {fps:g} fps ({used['seconds']:.2f} s)"
    table.add_row("deltadiff reads", f"{what} → {used['width']}×{used['height']}, decoded in {ms:.0f} ms")
    Console().print(table)
