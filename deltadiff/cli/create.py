"""`deltadiff create` (demo video + context image → video) and `deltadiff demo` (the bundled default on a held-out
transfer triple of the demonstration world)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from deltadiff.errors import InputNotFoundError, OutputError

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "cpu-default"
MODEL_HELP = "Model folder (pipeline.json + parts), e.g. from `deltadiff train all`. Default: the bundled CPU model."
PRECISION_HELP = ("What δ's frozen encoder and P run in: auto (bf16 autocast on a CPU with native bf16, ~1.4× faster δ; "
                  "fp32 elsewhere; the DELTADIFF_PRECISION environment variable overrides it), fp32 or bf16.")


def _model(path: Path | None) -> Path:
    path = path or DEFAULT_MODEL
    if not path.exists():
        raise InputNotFoundError(f"{path}: no such model folder; give --model, or train one with `deltadiff train all`")
    return path


def _load(model: Path | None, device: str | None, variant: str | None = None, precision: str = "auto"):
    import torch

    from deltadiff.pipeline import DeltaDiffusionPipeline

    torch.set_flush_denormal(True)
    return DeltaDiffusionPipeline.from_pretrained(_model(model), device=device, variant=variant, precision=precision)


def _check_out(out: Path) -> None:
    """Refuse an unwritable output before any generation work (the writer checks the same table, but only at the end)."""
    from deltadiff.io.writer import VIDEO_FORMATS

    if out.suffix.lower() not in VIDEO_FORMATS:
        raise OutputError(f"{out}: the output must end in {', '.join(VIDEO_FORMATS)}")
    if not out.parent.exists():
        raise OutputError(f"{out.parent}: the output folder does not exist; create it first")


def create_command(
    demo: Path = typer.Option(..., "--demo", help="Demonstration video (any fps, length, size; GIFs and frame folders too)."),
    context: Path = typer.Option(..., "--context", help="Context image (any size: short side resized, centre-cropped)."),
    out: Path = typer.Option(..., "--out", help="Output video (.mp4, .webm or .gif)."),
    model: Path = typer.Option(None, "--model", help=MODEL_HELP),
    grid: bool = typer.Option(False, "--grid", help="Also write OUT_grid.mp4/.png: demo | context | generated."),
    seed: int = typer.Option(0, "--seed", help="Noise seed; the same seed gives the same video."),
    steps: int = typer.Option(None, "--steps", min=1, help="Sampler steps (default: the model's, e.g. 16)."),
    sampler: str = typer.Option(None, "--sampler", help="euler | heun | unipc (multistep; default: the model's)."),
    guidance: float = typer.Option(None, "--guidance", help="Guidance scale on the demo's action δ (1: plain conditional, >1 stronger, 0 ignores the demo)."),
    noise_scale: float = typer.Option(None, "--noise-scale", min=0.0, max=4.0, help="Sampling temperature: the starting noise is multiplied by it (default: the model's; 1 = the trained prior, lower is closer to the model's mean prediction)."),
    frames: int = typer.Option(None, "--frames", min=2, help="Output frames; must match the model (16 for the bundled one)."),
    demo_fps: float = typer.Option(None, "--demo-fps", min=0.1, help="Read the demo at this rate from --demo-start instead of spreading the model's frames over the whole demo."),
    demo_start: float = typer.Option(0.0, "--demo-start", min=0.0, help="Seconds into the demo where the action starts."),
    fps: float = typer.Option(None, "--fps", min=0.1, help="Frame rate of the written video (default: the model's, 8)."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:1 … (default: CUDA when present)."),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
) -> None:
    """Generate a video that starts at CONTEXT and carries out the action shown in DEMO."""
    from deltadiff.errors import ConfigError
    from deltadiff.io import write_grid, write_video

    _check_out(out)
    for p in (demo, context):
        if not p.exists():
            raise InputNotFoundError(f"{p}: no such file or folder")
    pipe = _load(model, device, precision=precision)
    if frames is not None and frames != pipe.config.frames:
        raise ConfigError(f"--frames {frames}: this model makes {pipe.config.frames}-frame videos (train another for other lengths)")
    t0 = time.perf_counter()
    d = pipe.load_demo(demo, demo_fps, demo_start)
    c = pipe.load_context(context)
    video = pipe.generate(d[None], c[None], [seed], steps=steps, sampler=sampler, guidance=guidance,
                          noise_scale=noise_scale)[0]
    fps = fps or pipe.config.fps
    write_video(out, video, fps)
    typer.echo(f"wrote {out} ({len(video)} frames, {video.shape[2]}×{video.shape[1]}, {time.perf_counter() - t0:.1f} s)")
    if grid:
        stem = out.with_name(out.stem + "_grid")
        import numpy as np

        mp4, png = write_grid(stem, [d, np.repeat(c[None], len(video), 0), video], ["demo", "context", "generated"], fps)
        typer.echo(f"wrote {mp4} and {png}")


def demo_command(
    out: Path = typer.Option(Path("demo_out"), "--out", help="Folder for demo.mp4 and demo_grid.png/.mp4."),
    model: Path = typer.Option(None, "--model", help=MODEL_HELP),
    index: int = typer.Option(0, "--index", min=0, help="Which held-out transfer triple of the world to use."),
    seed: int = typer.Option(0, "--seed"),
    steps: int = typer.Option(None, "--steps", min=1),
    device: str = typer.Option(None, "--device"),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
) -> None:
    """Run the model on a held-out transfer triple of the demonstration world: DIR/demo.mp4 and DIR/demo_grid.png
    (demo | context | generated | ground truth). No training, no download."""
    import numpy as np

    from deltadiff.data.world import World, WorldConfig, seed_for
    from deltadiff.io import write_grid, write_video

    pipe = _load(model, device, precision=precision)
    cfg = pipe.config
    t0 = time.perf_counter()
    world = World(WorldConfig(height=cfg.size, width=cfg.size, frames=cfg.frames, fps=cfg.fps))
    tr = world.triple(seed_for("test", index))
    video = pipe.generate(tr.demo.frames[None], tr.context[None], [seed], steps=steps)[0]
    out.mkdir(parents=True, exist_ok=True)
    write_video(out / "demo.mp4", video, cfg.fps)
    ctx = np.repeat(tr.context[None], len(video), 0)
    action = tr.demo.truth.action
    mp4, png = write_grid(out / "demo_grid", [tr.demo.frames, ctx, video, tr.target.frames],
                          [f"demo ({action})", "context", "generated", "ground truth"], cfg.fps)
    typer.echo(f"wrote {out / 'demo.mp4'}, {png} and {mp4} — action '{action}' ({time.perf_counter() - t0:.1f} s)")
