"""`deltadiff world sample | export`: look at the demonstration world, or write it to disk with its ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import track

from deltadiff.data.world import ACTION_CLASSES, SPLITS, Clip, World, WorldConfig, seed_for
from deltadiff.errors import ConfigError
from deltadiff.io import atomic_path, contact_sheet, write_grid, write_image, write_video

world_app = typer.Typer(
    help="The demonstration world: procedural clips of an actor carrying out an action, with full ground truth "
    "(training data and the cross-scene evaluation's transfer triples).",
    no_args_is_help=True,
    add_completion=False,
)


def _config(size: int, frames: int, fps: float) -> WorldConfig:
    return WorldConfig(height=size, width=size, frames=frames, fps=fps)


def _split(split: str) -> str:
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return split


def _label(clip: Clip) -> str:
    return " then ".join(clip.program.classes[1:]) if clip.program.action == "compound" else clip.program.action


@world_app.command("sample")
def sample(
    out: Path = typer.Option(..., "--out", help="Folder to write into (created if missing)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Index of the first clip in the split."),
    n: int = typer.Option(len(ACTION_CLASSES), "--n", min=1, max=64, help="Number of clips (one per action class, cycling)."),
    size: int = typer.Option(64, "--size", help="Square frame side in pixels."),
    frames: int = typer.Option(16, "--frames", help="Frames per clip."),
    fps: float = typer.Option(8.0, "--fps", help="Frame rate of the written videos."),
    split: str = typer.Option("test", "--split", help="Seed range: train, val or test."),
) -> None:
    """Write a few clips (one per action class), a labelled contact sheet, and one transfer triple."""
    world, split = World(_config(size, frames, fps)), _split(split)
    clips = [world.clip(seed_for(split, seed + k), ACTION_CLASSES[k % len(ACTION_CLASSES)]) for k in range(n)]
    written = [write_video(out / "clips" / f"{c.key}.mp4", c.frames, fps) for c in clips]
    written.append(write_image(out / "grid.png", contact_sheet([c.frames for c in clips], [_label(c) for c in clips])))
    t = world.triple(seed_for(split, seed))
    written += [
        write_video(out / "triple_demo.mp4", t.demo.frames, fps),
        write_image(out / "triple_context.png", t.context),
        write_video(out / "triple_target.mp4", t.target.frames, fps),
        *write_grid(out / "triple_grid", [t.demo.frames, t.context, t.target.frames], ["demo", "context", "target"], fps),
    ]  # fmt: skip
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(f"triple {t.key}: {t.demo.program.describe()}")


@world_app.command("export")
def export(
    n: int = typer.Option(..., "--n", min=1, help="Number of clips (or triples)."),
    out: Path = typer.Option(..., "--out", help="Folder to write into (created if missing)."),
    split: str = typer.Option("train", "--split", help="Seed range: train, val or test."),
    start: int = typer.Option(0, "--start", min=0, help="Index of the first clip in the split."),
    size: int = typer.Option(64, "--size", help="Square frame side in pixels."),
    frames: int = typer.Option(16, "--frames", help="Frames per clip."),
    fps: float = typer.Option(8.0, "--fps", help="Frame rate of the written videos."),
    triples: bool = typer.Option(False, "--triples", help="Write transfer triples (demo, context, target, mismatched)."),
) -> None:
    """Write N mp4s and DIR/truth.jsonl (one row per clip or triple; format in docs/world.md).

    truth.jsonl appears only once every row is written, so an interrupted export never leaves a half-written index.
    """
    cfg, split = _config(size, frames, fps), _split(split)
    world = World(cfg)
    seed_for(split, start + n - 1)  # fail before writing anything if the range runs out of the split
    with atomic_path(out / "truth.jsonl") as tmp, open(tmp, "w") as rows:
        for i in track(range(n), description=f"world {split} {'triples' if triples else 'clips'}"):
            seed = seed_for(split, start + i)
            if not triples:
                clip = world.clip(seed)
                file = f"videos/{clip.key}.mp4"
                write_video(out / file, clip.frames, fps)
                row = {"kind": "clip", "file": file, **clip.truth.to_json()}
            else:
                pair = world.mismatched(seed)
                t = pair.triple
                files = {k: f"triples/{t.key}_{k}.{'png' if k == 'context' else 'mp4'}" for k in ("demo", "context", "target", "mismatched")}
                write_video(out / files["demo"], t.demo.frames, fps)
                write_image(out / files["context"], t.context)
                write_video(out / files["target"], t.target.frames, fps)
                write_video(out / files["mismatched"], pair.mismatched.frames, fps)
                row = {"kind": "triple", "key": t.key, "seed": seed, "split": split, "files": files,
                       "demo": t.demo.truth.to_json(), "target": t.target.truth.to_json(),
                       "mismatched": pair.mismatched.truth.to_json()}  # fmt: skip
            rows.write(json.dumps(row, separators=(",", ":")) + "\n")
    with atomic_path(out / "world_config.json") as tmp:
        tmp.write_text(json.dumps(cfg.to_json(), indent=2) + "\n")
    typer.echo(f"wrote {n} {'triples' if triples else 'clips'} and {out / 'truth.jsonl'}")
