"""`deltadiff data scan | shards`: check a video dataset clip by clip, and write it as WebDataset shards.

SRC is a folder of videos, a manifest (.csv/.jsonl) or one video; with --format it is the root of a published
dataset (ssv2, epic, fractal), which --root may name instead. Library errors (DeltaDiffError) propagate: the
`deltadiff` entry point prints them as one line.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from deltadiff.errors import ConfigError, FrameSizeError, InputNotFoundError, NotEnoughFramesError, VideoDecodeError

data_app = typer.Typer(
    name="data",
    help="Video datasets: check a folder, manifest or published dataset clip by clip, and write WebDataset shards.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Format(str, Enum):
    ssv2 = "ssv2"
    epic = "epic"
    fractal = "fractal"


class Anchor(str, Enum):
    start = "start"
    center = "center"


_SRC = typer.Argument(None, help="A folder of videos (searched recursively), a manifest (.csv/.jsonl with a 'path' column), "
                      "or one video. With --format: the dataset root.", show_default=False)
_FORMAT = typer.Option(None, "--format", help="Read a published layout: ssv2 (Something-Something v2), epic "
                       "(EPIC-KITCHENS-100), fractal (RT-1, LeRobot export or frame folders). See docs/datasets.md.")
_ROOT = typer.Option(None, "--root", help="Root folder of the --format dataset (instead of SRC).")
_SPLIT = typer.Option("train", "--split", help="Split of an ssv2/epic dataset: train, validation or test.")
_FRAMES = typer.Option(16, "--frames", "-n", min=1, help="Frames per clip.")
_FPS = typer.Option(8.0, "--fps", min=0.01, help="Frame rate clips are resampled to (by timestamps).")
_SIZE = typer.Option(64, "--size", min=8, help="Square side frames are resized (short side) and centre-cropped to.")


def _specs(src: Path | None, fmt: Format | None, root: Path | None, split: str):
    if src is not None and root is not None:
        raise ConfigError("give the dataset as SRC or as --root, not both")
    where = root if root is not None else src
    if where is None:
        raise ConfigError("no dataset given; pass a folder, a manifest or a video (or --format NAME --root DIR)")
    from deltadiff.data.readers import open_source  # imports torch: keep `deltadiff --help` fast

    return open_source(where, None if fmt is None else fmt.value, split)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True))


def scan(
    src: Path = _SRC,
    fmt: Format = _FORMAT,
    root: Path = _ROOT,
    split: str = _SPLIT,
    frames: int = _FRAMES,
    fps: float = _FPS,
    size: int = _SIZE,
    decode: bool = typer.Option(True, "--decode/--no-decode", help="Decode every clip (finds corrupt files), or only "
                                "read headers (fast: finds short and unreadable files)."),
    show: int = typer.Option(20, "--show", min=0, help="List at most this many problem clips of each kind."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Count the clips of SRC that give FRAMES frames at FPS, and list the ones that are too short or undecodable.

    Exits with status 1 when no clip is usable.
    """
    from deltadiff.data.clips import ClipDataset

    dataset = ClipDataset(_specs(src, fmt, root, split), frames, fps, size, train=False)
    short, broken = [], []
    with _progress() as bar:
        for i in bar.track(range(len(dataset)), description="scanning"):
            try:
                dataset.clip(i) if decode else dataset.start_time(i)
            except NotEnoughFramesError as e:
                short.append((dataset.specs[i].key, str(e)))
            except (VideoDecodeError, FrameSizeError, InputNotFoundError) as e:
                broken.append((dataset.specs[i].key, str(e)))
    usable = len(dataset) - len(short) - len(broken)
    if as_json:
        typer.echo(json.dumps({"clips": len(dataset), "usable": usable, "too_short": [k for k, _ in short],
                               "undecodable": [k for k, _ in broken], "frames": frames, "fps": fps}, ensure_ascii=False))
    else:
        console = Console()
        console.print(f"{root if root is not None else src}: clips of {frames} frames at {fps:g} fps", highlight=False)
        table = Table(show_header=False)
        table.add_row("clips", str(len(dataset)))
        table.add_row("usable", str(usable))
        table.add_row("too short", str(len(short)))
        table.add_row("undecodable", str(len(broken)))
        console.print(table)
        for title, items in (("too short", short), ("undecodable", broken)):
            for _, why in items[:show]:
                console.print(f"[bold]{title}[/bold]: {escape(why)}", highlight=False, soft_wrap=True)
            if len(items) > show:
                console.print(f"… and {len(items) - show} more {title}")
    if usable == 0:
        raise typer.Exit(1)


def shards(
    src: Path = _SRC,
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the shards (shard-000000.tar, ...) and index.json."),
    fmt: Format = _FORMAT,
    root: Path = _ROOT,
    split: str = _SPLIT,
    frames: int = _FRAMES,
    fps: float = _FPS,
    size: int = _SIZE,
    max_count: int = typer.Option(1000, "--max-count", min=1, help="Clips per shard at most."),
    max_size_mb: float = typer.Option(1000.0, "--max-size-mb", min=0.001, help="Start a new shard once one reaches this many MB."),
    anchor: Anchor = typer.Option(Anchor.start, "--anchor", help="Where each clip starts in its window: its start or centre."),
    skip_short: bool = typer.Option(False, "--skip-short", help="Leave out clips too short for FRAMES at FPS (else: error)."),
    quality: int = typer.Option(23, "--quality", min=0, max=51, help="x264 CRF of the stored clips (lower = better, larger)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace shards already in --out."),
) -> None:
    """Write one fixed clip per video of SRC (FRAMES frames at FPS, SIZE×SIZE) as mp4 + JSON into WebDataset shards.

    Shards appear under their final names only when complete; index.json is written last.
    """
    from deltadiff.data.clips import ClipDataset
    from deltadiff.data.shards import write_shards

    dataset = ClipDataset(_specs(src, fmt, root, split), frames, fps, size, train=False, anchor=anchor.value,
                          skip_short=skip_short)

    def samples():
        for i in range(len(dataset)):
            clip, meta = dataset.clip(i)
            yield {"frames": clip, **meta}

    with _progress() as bar:
        task = bar.add_task("writing shards", total=len(dataset))
        index = write_shards(samples(), out, fps=fps, max_count=max_count, max_size=max_size_mb * 1e6,
                             quality=quality, overwrite=overwrite, progress=lambda: bar.advance(task))
    skipped = f" (left out {len(dataset.skipped)} short clips)" if dataset.skipped else ""
    typer.echo(f"wrote {index['count']} clips in {len(index['shards'])} shards to {out}{skipped}")


data_app.command("scan")(scan)
data_app.command("shards")(shards)
