"""`deltadiff train STAGE`: one command per training stage, all on the same loop (deltadiff.training)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

from deltadiff.errors import ConfigError

train_app = typer.Typer(help="Train a stage (foundation model, bottleneck P, autoencoder, generator) or all of them.", no_args_is_help=True)

DATA_HELP = "'world' (the demonstration world, rendered on the fly; labels unused) or a folder / CSV / JSONL manifest of videos."


def _train_config(steps, batch_size, lr, device, seed, checkpoint_every, mixed_precision, workers, warmup, ema=None,
                  max_minutes=None):
    from deltadiff.training import TrainConfig

    if mixed_precision not in ("no", "bf16", "fp16"):
        raise ConfigError(f"--precision must be no, bf16 or fp16, got {mixed_precision!r}")
    return TrainConfig(steps=steps, batch_size=batch_size, lr=lr, device=device, seed=seed, warmup=warmup,
                       checkpoint_every=checkpoint_every, mixed_precision=mixed_precision, num_workers=workers, ema_decay=ema,
                       max_minutes=max_minutes)


@train_app.command("foundation")
def foundation(
    out: Path = typer.Option(..., "--out", help="Run folder: state/ (resumable), foundation/ (the model), logs/."),
    data: str = typer.Option("world", "--data", help=DATA_HELP),
    preset: str = typer.Option("tiny", "--preset", help="Model size: tiny (CPU default) or micro (tests)."),
    steps: int = typer.Option(1000, "--steps", min=1, help="1000: the bundled model's (~17 min on 2 CPU cores; models/cpu-default/README.md)."),
    max_minutes: float = typer.Option(None, "--max-minutes", min=0.01, help="Wall-time budget of the training loop: it ends at --steps or after this many minutes, whichever comes first, with the learning rate's warm-up ending after its steps or a tenth of the budget and its cosine decay following whichever is further along (e.g. a GPU run: --steps 100000 --max-minutes 6) [none]."),
    batch_size: int = typer.Option(8, "--batch-size", min=1),
    lr: float = typer.Option(3e-3, "--lr"),
    mask_ratio: float = typer.Option(None, "--mask-ratio", min=0.05, max=0.95, help="Share of patches hidden per frame [preset's]."),
    motion_weight: float = typer.Option(None, "--motion-weight", min=0.0, help="Weight of the motion target (0: masked modelling only) [preset's]."),
    motion_target: str = typer.Option(None, "--motion-target", help="energy (rectified change per 2×2 cell, both directions) | pixels (signed next-frame change of the patch) | coarse [preset's]; docs/results.md compares them."),
    motion_stem: str = typer.Option(None, "--motion-stem", help="rgb | grey | lk | lkgrey | lkflow | lkmom | none: the temporal stage also reads a patch embedding of the change from the previous frame (lk: and of the Lucas–Kanade products I_t·I_x, I_t·I_y, which hold the sign of the motion; lkgrey: the same with the grey change instead of the RGB one, blind to the actor's hue; lkflow: lk and the Lucas–Kanade flow itself at two scales; lkmom: lk and the products' angular and radial moments about where the frame pair's change is, which tell a turn's and a growth's sense) [preset's]."),
    position_init: str = typer.Option(None, "--position-init", help="sincos | random: where the encoder's learnt position embeddings start (sincos: MAE's fixed 2-D/1-D sin-cos; random: transformers' small random start, which pretraining leaves position-blind) [preset's]."),
    norm_pix: bool = typer.Option(None, "--norm-pix/--no-norm-pix", help="Per-patch normalised pixel targets (MAE) [preset's]."),
    flow_weight: float = typer.Option(None, "--flow-weight", min=0.0, help="Weight of the optical-flow target (z regresses its patch's Farnebäck flow to the next and from the previous frame; needs OpenCV; 0: none) [preset's]."),
    moment_weight: float = typer.Option(None, "--moment-weight", min=0.0, help="Weight of the flow-moment target (z regresses its patch's mean angular and radial moment of the Farnebäck flow about the frame's centre, whose mean over tokens says which way a turn goes and whether the actor grows; needs OpenCV; 0: none) [preset's]."),
    global_weight: float = typer.Option(None, "--global-weight", min=0.0, help="Weight of the clip-level motion target (the mean token of z_t regresses a summary of the frame pair's Farnebäck flow: where it moves, which way, turning, growing; needs OpenCV; 0: none) [preset's]."),
    global_hof: bool = typer.Option(None, "--global-hof/--no-global-hof", help="The clip-level motion target also holds the frame pair's histogram of flow directions (8 bins) [preset's]."),
    global_foreground: str = typer.Option(None, "--global-foreground", help="none | moments | additive: the clip-level motion target also holds numbers of the moving foreground against the clip's temporal-median background — its centroid, size, spread, displacement since frame 0 (moments), or raw moments and change since frame 0 that each pixel's own history gives (additive) [preset's]."),
    width: int = typer.Option(None, "--width", min=8, help="Channels of every token (hidden size); a multiple of --heads [preset's: 128 for tiny]."),
    heads: int = typer.Option(None, "--heads", min=1, help="Attention heads per layer [preset's: 4 for tiny]."),
    spatial_layers: int = typer.Option(None, "--spatial-layers", min=1, help="Layers of the per-frame (spatial) stage, whose output is the per-frame features P reads [preset's: 4 for tiny]."),
    temporal_layers: int = typer.Option(None, "--temporal-layers", min=1, help="Layers of the temporal stage, whose output is z [preset's: 2 for tiny]. docs/results.md (twenty-sixth session) measured 2 + 4 and 6 + 2 spatial + temporal layers against 4 + 2: both worse."),
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

    chosen = {"mask_ratio": mask_ratio, "motion_weight": motion_weight, "motion_target": motion_target,
              "motion_stem": motion_stem, "norm_pix": norm_pix, "flow_weight": flow_weight,
              "moment_weight": moment_weight,
              "global_weight": global_weight, "global_hof": global_hof,
              "global_foreground": global_foreground, "position_init": position_init,
              "hidden_size": width, "num_heads": heads, "spatial_layers": spatial_layers, "temporal_layers": temporal_layers}
    mcfg = model_preset(preset, num_frames=frames, image_size=size, **{k: v for k, v in chosen.items() if v is not None})
    if size % mcfg.patch_size:
        raise ConfigError(f"--size {size} is not a multiple of the patch size {mcfg.patch_size}")
    tcfg = _train_config(steps, batch_size, lr, device, seed, checkpoint_every, precision, workers,
                         warmup=min(100, steps // 10), max_minutes=max_minutes)
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
    depth: int = typer.Option(2, "--depth", min=0, help="P's transformer layers (0: P is one linear map of each token's features, fitted in closed form in seconds; --steps and --lr do not apply)."),
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


@train_app.command("generator")
def generator(
    out: Path = typer.Option(..., "--out", help="Run folder: generator/ (export), samples/ (grids), run/ (state, logs), cache/."),
    action_encoder: Path = typer.Option(..., "--action-encoder", help="Action-encoder folder (from `deltadiff train bottleneck`)."),
    autoencoder: str = typer.Option(..., "--autoencoder", help="Autoencoder folder (from `deltadiff train autoencoder`), a diffusers VAE folder, or 'pixel:P'."),
    data: str = typer.Option("world", "--data", help=DATA_HELP),
    preset: str = typer.Option("cpu", "--preset", help="Generator size: micro (tests), cpu (default), gpu-s, gpu-b, paper."),
    cond: str = typer.Option(None, "--cond", help="How δ enters: xattn (cross-attention) or adanorm (per-frame adaptive norm). Default: the preset's."),
    context_residual: bool = typer.Option(None, "--context-residual/--no-context-residual", help="x0-prediction as the context plus a predicted change (default: the preset's)."),
    context_warp: bool = typer.Option(None, "--context-warp/--no-context-warp", help="With --context-residual: the change is added to the context warped by a predicted flow (default: the preset's)."),
    flow_teacher: float = typer.Option(None, "--flow-teacher", min=0.0, help="With --context-warp: weight of the loss between the predicted flow and classical optical flow of the training clip (Farnebäck, OpenCV). Default: the preset's."),
    delta_pool: str = typer.Option(None, "--delta-pool", help="With --cond adanorm: attention (a frame's δ tokens pooled by a learned query) or global (each frame's vector an MLP of the whole clip's δ). Default: the preset's."),
    motion_weight: float = typer.Option(None, "--motion-weight", min=0.0, help="Loss weight λ of the positions where a frame differs from the context (1 + λ there; 0: plain loss). Default: the preset's."),
    motion_head: bool = typer.Option(None, "--motion-head/--no-motion-head", help="With --context-residual: build on the context warped by a separate motion head (flow from δ and the context), trained first, alone, on the clips' optical flow (needs OpenCV). Default: the preset's."),
    motion_steps: int = typer.Option(None, "--motion-steps", min=0, help="Training steps of the motion head's own stage (0: keep it untrained). Default: the preset's."),
    variant: str = typer.Option(None, "--variant", help="Bottleneck: delta (default), none, temporal_norm (ablations)."),
    steps: int = typer.Option(2000, "--steps", min=1),
    batch_size: int = typer.Option(8, "--batch-size", min=1),
    lr: float = typer.Option(5e-4, "--lr"),
    ema: float = typer.Option(0.999, "--ema", min=0.0, max=1.0, help="EMA decay of the exported weights (0: none)."),
    frames: int = typer.Option(16, "--frames", min=2, help="Video frames, context included."),
    size: int = typer.Option(64, "--size", min=16),
    fps: float = typer.Option(8.0, "--fps", min=0.1),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:1 … (default: CUDA when present)."),
    precision: str = typer.Option("no", "--precision", help="no | bf16 | fp16 autocast (bf16 on GPUs; on the 2-core CPU bf16 autocast made a generator step 8× slower, measured)."),
    grad_checkpointing: bool = typer.Option(False, "--grad-checkpointing", help="Trade compute for memory (large presets)."),
    seed: int = typer.Option(0, "--seed"),
    workers: int = typer.Option(0, "--workers", min=0),
    checkpoint_every: int = typer.Option(500, "--checkpoint-every", min=1, help="Steps between resumable states, exports and sample grids."),
    cache_clips: int = typer.Option(4096, "--cache-clips", min=8, help="Training clips encoded once into the cache."),
    cache_dir: Path = typer.Option(None, "--cache-dir", help="Cache folder (default OUT/cache)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved configuration and exit."),
    set_: list[str] = typer.Option([], "--set", help="Override any generator config field, KEY=VALUE (JSON value), repeatable: e.g. --set patch_size=2 --set width=192 (fields: deltadiff/generator/config.py)."),
) -> None:
    """Train the generator G (flow matching) on cached frozen features and latents; resumes if OUT/run/state exists."""
    from deltadiff.generator import preset as gen_preset

    overrides = {"frames": frames - 1, "grad_checkpointing": grad_checkpointing}
    if cond:
        overrides["cond"] = cond
    if context_residual is not None:
        overrides["context_residual"] = context_residual
    if motion_weight is not None:
        overrides["motion_weight"] = motion_weight
    if delta_pool is not None:
        overrides["delta_pool"] = delta_pool
    if context_warp is not None:
        overrides["context_warp"] = context_warp
    if flow_teacher is not None:
        overrides["flow_teacher_weight"] = flow_teacher
    if motion_head is not None:
        overrides["motion_head"] = motion_head
    if motion_steps is not None:
        overrides["motion_steps"] = motion_steps
    from deltadiff.generator.config import parse_overrides

    gcfg = gen_preset(preset, **{**overrides, **parse_overrides(set_)})
    tcfg = _train_config(steps, batch_size, lr, device, seed, checkpoint_every, precision, workers,
                         warmup=min(200, steps // 10), ema=ema or None)
    if dry_run:
        typer.echo(json.dumps({"model": gcfg.to_dict(), "train": asdict(tcfg), "data": data, "variant": variant,
                               "action_encoder": str(action_encoder), "autoencoder": autoencoder,
                               "cache_clips": cache_clips}, indent=2))
        return
    from deltadiff.training.generator_recipe import train_generator

    path = train_generator(data, action_encoder, autoencoder, out, gcfg, tcfg, variant=variant, frames=frames, size=size,
                           fps=fps, cache_clips=cache_clips, cache_dir=cache_dir)
    typer.echo(f"generator: {path}")


@train_app.command("all")
def all_stages(
    out: Path = typer.Option(..., "--out", help="Run folder; the finished model is OUT/model (pass it to --model)."),
    data: str = typer.Option("world", "--data", help=DATA_HELP + " 'Train on my videos' is this option."),
    foundation_steps: int = typer.Option(1000, "--foundation-steps", min=1, help="1000: the bundled model's."),
    bottleneck_steps: int = typer.Option(400, "--bottleneck-steps", min=1),
    autoencoder_steps: int = typer.Option(300, "--autoencoder-steps", min=1),
    generator_steps: int = typer.Option(800, "--generator-steps", min=1, help="800: the bundled model's (models/cpu-default/README.md)."),
    generator_preset: str = typer.Option("cpu", "--generator-preset", help="micro | cpu | gpu-s | gpu-b | paper."),
    foundation_preset: str = typer.Option("tiny", "--foundation-preset", help="tiny (CPU default) | micro (tests)."),
    autoencoder: str = typer.Option("pixel:4", "--autoencoder", help="pixel:P (pixel space, space-to-depth by P: the measured CPU default, docs/autoencoder.md), tiny (train the tiny AE as a stage) or an autoencoder / diffusers VAE folder."),
    autoencoder_preset: str = typer.Option("cpu", "--autoencoder-preset", help="Tiny AE size when --autoencoder tiny: cpu | micro."),
    cond: str = typer.Option(None, "--cond", help="xattn | adanorm (default: the generator preset's)."),
    cache_clips: int = typer.Option(1024, "--cache-clips", min=8, help="Clips whose features are cached for training P."),
    generator_cache_clips: int = typer.Option(3072, "--generator-cache-clips", min=8, help="Clips encoded once (features + latents) for the generator."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:1 … (default: CUDA when present)."),
    seed: int = typer.Option(0, "--seed"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved configuration of every stage and exit."),
) -> None:
    """The whole CPU-default recipe in one command: foundation model → bottleneck P → autoencoder → generator, then
    OUT/model (a model folder for `deltadiff create --model`). Each stage resumes where it stopped."""
    import time

    import torch

    from deltadiff.autoencoder import AutoencoderLoss
    from deltadiff.autoencoder import preset as ae_preset
    from deltadiff.encoders.tiny import preset as fm_preset
    from deltadiff.generator import preset as gen_preset
    from deltadiff.pipeline import DeltaDiffusionPipeline, PipelineConfig

    torch.set_flush_denormal(True)
    fcfg = fm_preset(foundation_preset)
    acfg = ae_preset(autoencoder_preset)
    frames, size = fcfg.num_frames, fcfg.image_size
    if autoencoder == "tiny":
        lat_c, lat_s = acfg.latent_channels, size // acfg.downsample
    else:
        from deltadiff.autoencoder import load_autoencoder

        _, lat_c, lat_s, _ = load_autoencoder(autoencoder).latent_shape(frames, size, size)
    gcfg = gen_preset(generator_preset, frames=frames - 1, latent_channels=lat_c, latent_size=lat_s,
                      **({"cond": cond} if cond else {}))
    tc = lambda steps, bs, lr, warm, ema=None, prec="no": _train_config(steps, bs, lr, device, seed, max(1, steps // 4), prec, 0,  # noqa: E731
                                                                       warmup=min(warm, steps // 10), ema=ema)
    stages = {"foundation": tc(foundation_steps, 8, 3e-3, 100), "bottleneck": tc(bottleneck_steps, 16, 1e-3, 50),
              "autoencoder": tc(autoencoder_steps, 16, 2e-3, 50), "generator": tc(generator_steps, 8, 5e-4, 150, 0.999)}
    if dry_run:
        typer.echo(json.dumps({"data": data, "foundation": asdict(fcfg), "autoencoder": asdict(acfg) if autoencoder == "tiny" else autoencoder,
                               "generator": gcfg.to_dict(), "train": {k: asdict(v) for k, v in stages.items()}}, indent=2))
        return
    from deltadiff.training.autoencoder_recipe import train_autoencoder
    from deltadiff.training.generator_recipe import train_generator
    from deltadiff.training.recipes import train_foundation, train_bottleneck

    t0, times = time.perf_counter(), {}

    def lap(name):
        times[name] = round(time.perf_counter() - t0 - sum(times.values()), 1)
        typer.echo(f"[{name}] done in {times[name] / 60:.1f} min")

    fm = train_foundation(data, out / "foundation", fcfg, stages["foundation"])
    lap("foundation")
    act = train_bottleneck(data, fm, out / "action", stages["bottleneck"], frames=frames, size=size, cache_clips=cache_clips)
    lap("bottleneck")
    ae = autoencoder
    if autoencoder == "tiny":
        ae = train_autoencoder(data, out / "autoencoder", acfg, stages["autoencoder"], size=size, loss=AutoencoderLoss())
        lap("autoencoder")
    gen = train_generator(data, act, ae, out / "generator", gcfg, stages["generator"], frames=frames, size=size,
                          cache_clips=generator_cache_clips)
    lap("generator")
    meta = {"data": data, "minutes": {k: round(v / 60, 1) for k, v in times.items()},
            "steps": {k: v.steps for k, v in stages.items() if k in times}, "command": "deltadiff train all", "seed": seed}
    model = DeltaDiffusionPipeline.assemble(out / "model", act, ae, gen, PipelineConfig(frames=frames, size=size), meta)
    typer.echo(f"model: {model}  (total {sum(times.values()) / 60:.1f} min)")


def _mount_autoencoder() -> None:  # its module imports helpers from this one, so it is registered after them
    from deltadiff.cli.train_autoencoder import autoencoder

    train_app.command("autoencoder")(autoencoder)


_mount_autoencoder()
