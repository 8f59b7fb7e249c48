"""`deltadiff train STAGE`: one command per training stage, all on the same loop (deltadiff.training)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

from deltadiff.errors import ConfigError

train_app = typer.Typer(help="Train a stage: the tiny foundation model, the bottleneck P.", no_args_is_help=True)

DATA_HELP = "'world' (the demonstration world, rendered on the fly; labels unused) or a folder / CSV / JSONL manifest of videos."


def _train_config(steps, batch_size, lr, device, seed, checkpoint_every, mixed_precision, workers, warmup, ema=None):
    from deltadiff.training import TrainConfig

    if mixed_precision not in ("no", "bf16", "fp16"):
        raise ConfigError(f"--precision must be no, bf16 or fp16, got {mixed_precision!r}")
    return TrainConfig(steps=steps, batch_size=batch_size, lr=lr, device=device, seed=seed, warmup=warmup,
                       checkpoint_every=checkpoint_every, mixed_precision=mixed_precision, num_workers=workers, ema_decay=ema)


@train_app.command("foundation")
def foundation(
    out: Path = typer.Option(..., "--out", help="Run folder: state/ (resumable), foundation/ (the model), logs/."),
    data: str = typer.Option("world", "--data", help=DATA_HELP),
    preset: str = typer.Option("tiny", "--preset", help="Model size: tiny (CPU default) or micro (tests)."),
    steps: int = typer.Option(800, "--steps", min=1),
    batch_size: int = typer.Option(8, "--batch-size", min=1),
    lr: float = typer.Option(1e-3, "--lr"),
    mask_ratio: float = typer.Option(0.75, "--mask-ratio", min=0.05, max=0.95, help="Share of patches hidden per frame."),
    motion_weight: float = typer.Option(1.0, "--motion-weight", min=0.0, help="Weight of the next-frame change target (0: masked modelling only)."),
    frames: int = typer.Option(16, "--frames", min=2),
    size: int = typer.Option(64, "--size", min=16, help="Square frame size; must be a multiple of the patch size."),
    fps: float = typer.Option(8.0, "--fps", min=0.1),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:1 … (default: CUDA when present)."),
    precision: str = typer.Option("no", "--precision", help="no | bf16 | fp16 autocast."),
    seed: int = typer.Option(0, "--seed"),
    workers: int = typer.Option(0, "--workers", min=0, help="Data-loading processes."),
    checkpoint_every: int = typer.Option(250, "--checkpoint-every", min=1),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved configuration and exit."),
) -> None:
    """Pretrain the tiny foundation model self-supervised (masked video modelling); resumes if OUT/state exists."""
    from deltadiff.encoders.tiny import preset as model_preset

    mcfg = model_preset(preset, num_frames=frames, image_size=size, mask_ratio=mask_ratio, motion_weight=motion_weight)
    if size % mcfg.patch_size:
        raise ConfigError(f"--size {size} is not a multiple of the patch size {mcfg.patch_size}")
    tcfg = _train_config(steps, batch_size, lr, device, seed, checkpoint_every, precision, workers, warmup=min(100, steps // 10))
    if dry_run:
        typer.echo(json.dumps({"model": asdict(mcfg), "train": asdict(tcfg), "data": data, "fps": fps}, indent=2))
        return
    from deltadiff.training.recipes import train_foundation

    path = train_foundation(data, out, mcfg, tcfg, fps=fps)
    typer.echo(f"foundation model: {path}")


@train_app.command("bottleneck")
def bottleneck(
    out: Path = typer.Option(..., "--out", help="Action-encoder folder to write (action_encoder.json, predictor.safetensors)."),
    foundation: Path = typer.Option(..., "--foundation", help="Local folder of the frozen foundation model."),
    encoder: str = typer.Option("videoprism", "--encoder", help="videoprism | vjepa2 | videomae."),
    data: str = typer.Option("world", "--data", help=DATA_HELP),
    steps: int = typer.Option(800, "--steps", min=1),
    batch_size: int = typer.Option(16, "--batch-size", min=1),
    lr: float = typer.Option(1e-3, "--lr"),
    width: int = typer.Option(128, "--width", min=8, help="P's transformer width."),
    depth: int = typer.Option(2, "--depth", min=1, help="P's transformer layers."),
    frames: int = typer.Option(16, "--frames", min=2),
    size: int = typer.Option(64, "--size", min=16),
    fps: float = typer.Option(8.0, "--fps", min=0.1),
    device: str = typer.Option(None, "--device"),
    precision: str = typer.Option("no", "--precision"),
    seed: int = typer.Option(0, "--seed"),
    workers: int = typer.Option(0, "--workers", min=0),
    checkpoint_every: int = typer.Option(200, "--checkpoint-every", min=1),
    cache_clips: int = typer.Option(2048, "--cache-clips", min=16, help="Training clips whose features are cached (the encoder runs once per clip)."),
    cache_dir: Path = typer.Option(None, "--cache-dir", help="Feature cache folder (default OUT/feature_cache)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved configuration and exit."),
) -> None:
    """Train the per-frame feature predictor P (encoder frozen) so that δ = z − P(per-frame features)."""
    tcfg = _train_config(steps, batch_size, lr, device, seed, checkpoint_every, precision, workers, warmup=min(50, steps // 10))
    if dry_run:
        typer.echo(json.dumps({"train": asdict(tcfg), "data": data, "foundation": str(foundation), "encoder": encoder,
                               "width": width, "depth": depth, "frames": frames, "size": size, "fps": fps,
                               "cache_clips": cache_clips}, indent=2))
        return
    from deltadiff.training.recipes import train_bottleneck

    path = train_bottleneck(data, foundation, out, tcfg, frames=frames, size=size, fps=fps, encoder_kind=encoder, width=width, depth=depth,
                            cache_clips=cache_clips, cache_dir=cache_dir)
    typer.echo(f"action encoder: {path}")
