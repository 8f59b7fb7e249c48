"""`deltadiff train autoencoder`: the in-repo frame autoencoder on the same loop as every stage (deltadiff.training)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

from deltadiff.cli.train import DATA_HELP, _train_config
from deltadiff.errors import ConfigError


def autoencoder(
    out: Path = typer.Option(..., "--out", help="Run folder: state/ (resumable), autoencoder/ (the model), logs/."),
    data: str = typer.Option("world", "--data", help=DATA_HELP),
    preset: str = typer.Option("cpu", "--preset", help="Model size: cpu (64×64×3 → 16×16×4) or micro (tests)."),
    latent_channels: int = typer.Option(None, "--latent-channels", min=1, help="Override the preset's latent channels."),
    variational: bool = typer.Option(None, "--variational/--deterministic", help="KL autoencoder or plain (default: the preset's)."),
    edge_weight: float = typer.Option(0.5, "--edge-weight", min=0.0, help="Weight of the image-gradient L1 term (sharp small objects)."),
    steps: int = typer.Option(200, "--steps", min=1),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Clips per step; each gives --frames frames."),
    frames: int = typer.Option(2, "--frames", min=2, help="Frames per clip (folded into the batch)."),
    lr: float = typer.Option(2e-3, "--lr"),
    size: int = typer.Option(64, "--size", min=16, help="Square frame size; a multiple of the downsampling factor."),
    fps: float = typer.Option(8.0, "--fps", min=0.1),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:1 … (default: CUDA when present)."),
    precision: str = typer.Option("no", "--precision", help="no | bf16 | fp16 autocast."),
    seed: int = typer.Option(0, "--seed"),
    workers: int = typer.Option(0, "--workers", min=0, help="Data-loading processes."),
    checkpoint_every: int = typer.Option(100, "--checkpoint-every", min=1),
    stats_clips: int = typer.Option(128, "--stats-clips", min=1, help="Clips the latent mean/std are measured on at export."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved configuration and exit."),
) -> None:
    """Train the frame autoencoder the generator works in; resumes if OUT/state exists."""
    import torch

    from deltadiff.autoencoder import AutoencoderLoss
    from deltadiff.autoencoder import preset as model_preset

    torch.set_flush_denormal(True)  # denormals made CPU training several times slower (training/loop.py)
    mcfg = model_preset(preset, latent_channels=latent_channels, variational=variational)
    if size % mcfg.downsample:
        raise ConfigError(f"--size {size} is not a multiple of the autoencoder's downsampling factor {mcfg.downsample}")
    tcfg = _train_config(steps, batch_size, lr, device, seed, checkpoint_every, precision, workers, warmup=min(50, steps // 10))
    latent = [mcfg.latent_channels, size // mcfg.downsample, size // mcfg.downsample]
    if dry_run:
        typer.echo(json.dumps({"model": asdict(mcfg), "latent_shape": latent, "train": asdict(tcfg), "data": data,
                               "frames": frames, "size": size, "fps": fps, "edge_weight": edge_weight,
                               "stats_clips": stats_clips}, indent=2))
        return
    from deltadiff.training.autoencoder_recipe import train_autoencoder

    path = train_autoencoder(data, out, mcfg, tcfg, frames=frames, size=size, fps=fps, loss=AutoencoderLoss(edge=edge_weight),
                             stats_clips=stats_clips)
    typer.echo(f"autoencoder: {path}  (latents {latent[0]}×{latent[1]}×{latent[2]} per frame)")
