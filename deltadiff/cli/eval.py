"""`deltadiff eval videos`: standard metrics between a folder of generated videos and a folder of references.

Unpaired metrics (fvd, fid, kid) use every file of each folder. Paired metrics (psnr, ssim, ecs, lpips, dpsnr) match
files by name (stem: `a.mp4` ↔ `a.webm`); any name found in only one folder is an error. Every video is cut to its
first `--frames` frames (16 by default, the FVD convention) and optionally resized (`--size`, the io module's
short-side resize + centre crop) before any metric sees it.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import typer

from deltadiff.cli.create import PRECISION_HELP
from deltadiff.errors import ConfigError, InputNotFoundError

app = typer.Typer(help="Evaluate generated videos with standard, offline metrics (see docs/metrics.md).",
                  no_args_is_help=True, add_completion=False)

METRICS = ("fvd", "fid", "kid", "psnr", "ssim", "ecs", "lpips", "dpsnr")
PAIRED = {"psnr", "ssim", "ecs", "lpips", "dpsnr"}
VIDEO_SUFFIXES = {".mp4", ".webm", ".mkv", ".mov", ".avi", ".m4v", ".gif"}


@app.callback()
def _group() -> None:
    """Evaluate generated videos with standard, offline metrics (see docs/metrics.md)."""


def list_videos(folder: Path, label: str) -> dict[str, Path]:
    """Videos (and folders of numbered frames) directly inside `folder`, keyed by file stem, sorted by stem."""
    if not folder.is_dir():
        raise InputNotFoundError(f"--{label} {folder}: no such folder; point it at a folder of videos")
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or not (p.is_dir() or p.suffix.lower() in VIDEO_SUFFIXES):
            continue
        if p.stem in found:
            raise ConfigError(f"--{label} {folder}: {found[p.stem].name} and {p.name} share the name {p.stem!r}; keep one")
        found[p.stem] = p
    if not found:
        raise InputNotFoundError(f"--{label} {folder}: no videos ({', '.join(sorted(VIDEO_SUFFIXES))}) or frame folders in it")
    return dict(sorted(found.items()))  # by stem, so paired folders line up whatever their suffixes


def _names(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def check_pairs(sets: dict[str, dict[str, Path]]) -> None:
    """One-line ConfigError unless every folder holds the same names (paired metrics)."""
    (ref_label, ref), *others = sets.items()
    for label, files in others:
        only_here, only_ref = sorted(set(files) - set(ref)), sorted(set(ref) - set(files))
        parts = ([f"only in --{label}: {_names(only_here)}"] if only_here else []) + \
                ([f"only in --{ref_label}: {_names(only_ref)}"] if only_ref else [])
        if parts:
            raise ConfigError(f"paired metrics match files by name, but {'; '.join(parts)}; "
                              "rename them or drop psnr/ssim/ecs/lpips/dpsnr")


def _read_all(files: dict[str, Path], frames: int, size: int | None) -> list:
    from deltadiff.io import read_video

    return [read_video(p, num_frames=frames or None, size=size) for p in files.values()]


def _parse_metrics(text: str) -> list[str]:
    chosen = [m.strip().lower() for m in text.split(",") if m.strip()]
    bad = [m for m in chosen if m not in METRICS]
    if bad or not chosen:
        raise ConfigError(f"unknown metric(s) {', '.join(bad) or '(none)'}; choose from {', '.join(METRICS)}")
    return list(dict.fromkeys(chosen))


def evaluate(gen: list, ref: list, metrics: list[str], *, other: list | None = None, t: int = 4,
             lpips_weights: Path | None = None, kid_subsets: int = 100, kid_subset_size: int = 1000, seed: int = 0,
             batch_size: int = 8, device: str | None = None, progress: bool = True) -> dict[str, dict]:
    """Compute the chosen metrics on loaded videos (uint8 [T, H, W, 3] lists; paired lists are in matching order)."""
    import torch

    from deltadiff.eval import metrics as M

    res: dict[str, dict] = {}
    if {"fvd", "ecs"} & set(metrics):  # one I3D pass serves both
        kw = {"batch_size": batch_size, "device": device, "progress": progress}
        g_steps, r_steps = M.i3d_step_features(gen, **kw), M.i3d_step_features(ref, **kw)
        if "fvd" in metrics:
            g, r = torch.stack([f.mean(0) for f in g_steps]), torch.stack([f.mean(0) for f in r_steps])
            res["fvd"] = {"value": M.fvd_from_features(g, r), "details": f"I3D logits, {len(gen)} vs {len(ref)} videos"}
        if "ecs" in metrics:
            res["ecs"] = {"value": float(M.ecs_from_features(g_steps, r_steps).mean()), "details": f"{len(gen)} pairs"}
    if {"fid", "kid"} & set(metrics):
        kw = {"batch_size": 4 * batch_size, "device": device, "progress": progress}
        g, r = M.inception_features(M.frames_of(gen), **kw), M.inception_features(M.frames_of(ref), **kw)
        if "fid" in metrics:
            res["fid"] = {"value": M.frechet_distance_features(g, r), "details": f"pool3, {len(g)} vs {len(r)} frames"}
        if "kid" in metrics:
            size = min(kid_subset_size, len(g), len(r))
            mean, std = M.kernel_distance(r, g, subsets=kid_subsets, subset_size=size, generator=torch.Generator().manual_seed(seed))
            res["kid"] = {"value": mean, "std": std, "details": f"± {std:.4g}, {kid_subsets} subsets of {size} frames"}
    if "psnr" in metrics:
        res["psnr"] = {"value": M.psnr(gen, ref), "details": f"dB, {len(gen)} pairs"}
    if "ssim" in metrics:
        res["ssim"] = {"value": M.ssim(gen, ref), "details": f"{len(gen)} pairs"}
    if "lpips" in metrics:
        if lpips_weights is None:
            why = "no --lpips-weights given (its AlexNet backbone is not available offline)"
            res["lpips"] = {"value": None, "not_computed": why, "details": f"not computed: {why}"}
        else:
            res["lpips"] = {"value": M.lpips(gen, ref, lpips_weights, device or "cpu"), "details": f"AlexNet, {len(gen)} pairs"}
    if "dpsnr" in metrics:
        d = M.delta_psnr(ref, gen, other, t=t)
        res["dpsnr"] = {"value": d["delta_psnr_t"], **d,
                        "details": f"t={t}: {d['psnr_t']:.2f} vs {d['psnr_other_t']:.2f} dB; clip Δ {d['delta_psnr_clip']:.3f} dB"}
    return {m: res[m] for m in metrics}


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float) and math.isinf(v):
        return "∞" if v > 0 else "−∞"
    return f"{v:.4f}"


@app.command("videos")
def videos(
    generated: Path = typer.Option(..., "--generated", help="Folder of generated videos."),
    reference: Path = typer.Option(..., "--reference", help="Folder of reference (real / ground-truth) videos."),
    metrics: str = typer.Option("fvd,fid,psnr,ssim,ecs,lpips", "--metrics", help=f"Comma-separated, from {','.join(METRICS)}."),
    other: Path = typer.Option(None, "--other", help="For dpsnr: videos generated from other (random) latents, named as --generated."),
    frames: int = typer.Option(16, "--frames", min=0, help="Use the first N frames of every video (0: all). FVD/ECS need ≥ 9."),
    size: int = typer.Option(None, "--size", min=8, help="Short-side resize + centre crop to SIZE×SIZE first (default: as stored)."),
    t: int = typer.Option(4, "--t", min=0, help="Frame index of ΔPSNR (0 = context frame; Genie uses 4)."),
    lpips_weights: Path = typer.Option(None, "--lpips-weights", help="torchvision AlexNet state dict; without it LPIPS is not computed."),
    kid_subsets: int = typer.Option(100, "--kid-subsets", min=1, help="KID: number of random subsets."),
    kid_subset_size: int = typer.Option(1000, "--kid-subset-size", min=2, help="KID: frames per subset (capped at the counts)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the KID subsets."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Videos per I3D batch (Inception takes 4× as many frames)."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, … (default: CUDA when present)."),
    out: Path = typer.Option(None, "--out", help="Also write the report as JSON here."),
) -> None:
    """Standard metrics between generated and reference videos: a table, and a JSON report with --out."""
    chosen = _parse_metrics(metrics)
    t0 = time.time()
    sets = {"reference": list_videos(reference, "reference"), "generated": list_videos(generated, "generated")}
    if "dpsnr" in chosen:
        if other is None:
            raise ConfigError("dpsnr needs --other: videos generated from other (random) latents, named as --generated")
        sets["other"] = list_videos(other, "other")
    if PAIRED & set(chosen):
        check_pairs(sets)
    loaded = {k: _read_all(v, frames, size) for k, v in sets.items()}
    results = evaluate(loaded["generated"], loaded["reference"], chosen, other=loaded.get("other"), t=t,
                       lpips_weights=lpips_weights, kid_subsets=kid_subsets, kid_subset_size=kid_subset_size, seed=seed,
                       batch_size=batch_size, device=device)
    report = {
        "generated": str(generated), "reference": str(reference), "other": str(other) if other else None,
        "n_generated": len(sets["generated"]), "n_reference": len(sets["reference"]), "frames": frames or "all",
        "size": size, "metrics": results, "seconds": round(time.time() - t0, 1),
    }  # fmt: skip
    _print_table(report)
    if out is not None:
        from deltadiff.io import write_json

        write_json(out, report)
        typer.echo(f"wrote {out}")


def _print_table(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report['n_generated']} generated vs {report['n_reference']} reference videos, "
                        f"{report['frames']} frames each")
    for col in ("metric", "value", "details"):
        table.add_column(col)
    for name, r in report["metrics"].items():
        table.add_row(name, _fmt(r["value"]), r.get("details", ""))
    Console().print(table)


@app.command("transfer")
def transfer(
    out: Path = typer.Option(Path("transfer.json"), "--out", help="JSON report; a markdown table is written beside it (.md)."),
    model: Path = typer.Option(None, "--model", help="Model folder (default: the bundled CPU model)."),
    none_model: Path = typer.Option(None, "--none-model", help="A model whose generator was trained on δ = z (`train generator --variant none`): the none-bottleneck row."),
    none_generator: Path = typer.Option(None, "--none-generator", help="Or just such a generator folder (e.g. models/ablations/none), used with --model's encoder and autoencoder."),
    n_triples: int = typer.Option(200, "--n", min=1, help="Held-out transfer triples (each with a mismatched demo for ΔPSNR)."),
    steps: int = typer.Option(None, "--steps", min=1, help="Sampler steps (default: the model's)."),
    sampler: str = typer.Option(None, "--sampler", help="euler | heun | unipc (default: the model's)."),
    guidance: float = typer.Option(None, "--guidance", help="Guidance on δ (default: the model's)."),
    noise_scale: float = typer.Option(None, "--noise-scale", min=0.0, max=4.0, help="Sampling temperature: the starting noise is multiplied by it (default: the model's; 1 = the trained prior)."),
    batch_size: int = typer.Option(8, "--batch-size", min=1),
    device: str = typer.Option(None, "--device"),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
) -> None:
    """The generator's transfer measurement on the demonstration world: trajectory error, direction accuracy, leakage,
    PSNR and ΔPSNR for deltadiff, the null-action baseline (same model, δ dropped) and optionally the none bottleneck."""
    import sys

    import torch

    from deltadiff.cli.create import _load
    from deltadiff.eval.transfer import evaluate_transfer, report_markdown

    torch.set_flush_denormal(True)
    _transfer_path(out)
    pipe = _load(model, device, precision=precision)
    if none_model and none_generator:
        raise ConfigError("give --none-model or --none-generator, not both")
    _generator_dir("--none-generator", none_generator)
    none_pipe = _load(none_model, device, variant="none", precision=precision) if none_model else None
    if none_generator is not None:
        none_pipe = pipe.with_generator(none_generator, "none")
    t0 = time.perf_counter()
    result = evaluate_transfer(pipe, n_triples, none_pipe=none_pipe, batch_size=batch_size, steps=steps,
                               sampler=sampler, guidance=guidance, noise_scale=noise_scale)
    result["command"] = "deltadiff eval transfer " + " ".join(sys.argv[3:])
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["settings"] = {"steps": steps or pipe.config.steps, "sampler": sampler or pipe.config.sampler,
                          "guidance": pipe.config.guidance if guidance is None else guidance,
                          "noise_scale": pipe.config.noise_scale if noise_scale is None else noise_scale,
                          "precision": pipe.action_encoder.encoder.resolved_precision}
    _write_transfer(out, result)
    typer.echo(report_markdown(result))
    typer.echo(f"wrote {out} and {out.with_suffix('.md')} ({result['seconds']:.0f} s)")


def _transfer_path(out: Path | None) -> None:
    if out is not None and (out.suffix != ".json" or not out.parent.exists()):
        raise ConfigError(f"{out}: give a .json path in an existing folder for the transfer report")


def _write_transfer(out: Path, result: dict) -> list[Path]:
    """The transfer report as JSON plus its markdown table beside it (.md)."""
    from deltadiff.eval.transfer import report_markdown
    from deltadiff.io import atomic_path, write_json

    write_json(out, result)
    with atomic_path(out.with_suffix(".md")) as tmp:
        tmp.write_text(report_markdown(result))
    return [out, out.with_suffix(".md")]


ABLATIONS = Path(__file__).resolve().parents[2] / "models" / "ablations"
ABLATION_FLAGS = {"none_bottleneck": "--none-generator", "temporal_norm": "--temporal-norm-generator"}


def _generator_dir(flag: str, path: Path | None) -> Path | None:
    if path is not None and not path.is_dir():
        raise InputNotFoundError(f"{flag} {path}: no such generator folder")
    return path


ALL_METHODS = ("deltadiff", "null_action", "none_bottleneck", "temporal_norm", "copy_demo", "flow_warp", "static")


@app.command("benchmark")
def benchmark(
    out: Path = typer.Option(..., "--out", help="Report folder: report.md, report.json, plots/, samples/."),
    checkpoint: Path = typer.Option(None, "--checkpoint", "--model", help="Model folder (default: the bundled CPU model)."),
    none_generator: Path = typer.Option(None, "--none-generator", help="Generator trained on δ = z (`train generator --variant none`) for this model. Default with the bundled model: models/ablations/none."),
    temporal_norm_generator: Path = typer.Option(None, "--temporal-norm-generator", help="Generator trained on the temporal-norm bottleneck for this model. Default with the bundled model: models/ablations/temporal_norm."),
    methods: str = typer.Option(",".join(ALL_METHODS), "--methods", help="Comma-separated subset of: " + ", ".join(ALL_METHODS) + "."),
    n_triples: int = typer.Option(200, "--n", min=2, help="Held-out transfer triples (each with a mismatched demo for ΔPSNR)."),
    steps: int = typer.Option(3, "--steps", min=1, help="Sampler steps for the model's methods (3 Euler steps keep the 200-triple default within 15 min on 2 CPU cores; the models' own default is in pipeline.json)."),
    sampler: str = typer.Option("euler", "--sampler", help="euler | heun | unipc."),
    guidance: float = typer.Option(None, "--guidance", help="Guidance on δ (default: the model's)."),
    noise_scale: float = typer.Option(None, "--noise-scale", min=0.0, max=4.0, help="Sampling temperature: the starting noise is multiplied by it (default: the model's; 1 = the trained prior)."),
    fvd: bool = typer.Option(True, "--fvd/--no-fvd", help="FVD and ECS (I3D; the slowest part on a CPU)."),
    fid: bool = typer.Option(True, "--fid/--no-fid", help="FID on the frames given by --fid-frames."),
    fvd_n: int = typer.Option(24, "--fvd-n", min=2, help="FVD/ECS on the first N triples (I3D costs ~1 s per clip on 2 CPU cores; 0 is not allowed, give --n to use all)."),
    fid_n: int = typer.Option(64, "--fid-n", min=2, help="FID on the first N triples (Inception costs ~0.2 s per frame on 2 CPU cores)."),
    fid_frames: str = typer.Option("15", "--fid-frames", help="Frames of each video that FID compares, e.g. 4,8,15 (0 is the given context)."),
    samples: int = typer.Option(4, "--samples", min=0, help="Triples drawn as sample grids."),
    bootstrap: int = typer.Option(50, "--bootstrap", min=2, help="Bootstrap resamples for the FVD/FID intervals."),
    batch_size: int = typer.Option(8, "--batch-size", min=1),
    seed: int = typer.Option(0, "--seed", help="Noise seeds are seed + triple index."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, … (default: CUDA when present)."),
    transfer_json: Path = typer.Option(None, "--transfer-json", help="Also write the transfer measurement (`eval transfer`'s JSON and .md) from this run's deltadiff, null-action and none-bottleneck rows: the same triples and seeds, so no second run is needed."),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
) -> None:
    """Every method (deltadiff, null action, none / temporal-norm bottlenecks, copy-demo, flow-warp, static) on the
    same held-out transfer triples, every metric (world metrics, PSNR/SSIM, ΔPSNR, ECS, FVD, FID), mean and 95% CI,
    with plots and sample grids. Rows whose generator is missing are left out and named in the output."""
    import sys

    import torch

    from deltadiff.cli.create import _load
    from deltadiff.data.world import World, WorldConfig
    from deltadiff.eval.baselines import BASELINES, model_methods
    from deltadiff.eval.benchmark import report_markdown, run_benchmark, write_report

    torch.set_flush_denormal(True)
    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    unknown = sorted(set(chosen) - set(ALL_METHODS))
    if unknown or not chosen:
        raise ConfigError(f"--methods: unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(ALL_METHODS)}")
    try:
        frames_fid = tuple(int(f) for f in fid_frames.split(","))
    except ValueError:
        raise ConfigError(f"--fid-frames {fid_frames!r}: give frame numbers separated by commas, e.g. 4,8,15") from None
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    _transfer_path(transfer_json)
    given = {"none_bottleneck": _generator_dir(ABLATION_FLAGS["none_bottleneck"], none_generator),
             "temporal_norm": _generator_dir(ABLATION_FLAGS["temporal_norm"], temporal_norm_generator)}
    # the bundled ablation generators belong to the bundled model's encoder: only its default run uses them
    bundled = {"none_bottleneck": ABLATIONS / "none", "temporal_norm": ABLATIONS / "temporal_norm"}
    gens = {m: given[m] or (bundled[m] if checkpoint is None and bundled[m].is_dir() else None) for m in given}
    missing = [m for m in gens if m in chosen and gens[m] is None]
    for m in missing:
        typer.echo(f"note: no generator for {m} (give {ABLATION_FLAGS[m]}); that row is left out", err=True)
    pipe = _load(checkpoint, device, precision=precision)
    kw = {"steps": steps, "sampler": sampler, "guidance": guidance, "noise_scale": noise_scale}
    use = {m: gens[m] if m in chosen and m not in missing else None for m in gens}
    model = model_methods(pipe, none_generator=use["none_bottleneck"], temporal_norm_generator=use["temporal_norm"], **kw)
    table = {**model, **BASELINES}
    run = {m: table[m] for m in chosen if m in table}
    cfg = pipe.config
    world = World(WorldConfig(height=cfg.size, width=cfg.size, frames=cfg.frames, fps=cfg.fps))
    typer.echo(f"benchmark: {len(run)} methods × {n_triples} triples → {out}", err=True)
    result, shown = run_benchmark(run, world, n_triples, batch_size=batch_size, seed=seed, fvd=fvd, fid=fid,
                                  fid_frames=frames_fid, fvd_n=fvd_n, fid_n=fid_n, samples=samples, bootstrap=bootstrap, device=device)
    result["command"] = "deltadiff eval benchmark " + " ".join(sys.argv[3:])
    result["settings"].update({"steps": steps or cfg.steps, "sampler": sampler or cfg.sampler,
                               "guidance": cfg.guidance if guidance is None else guidance,
                               "noise_scale": cfg.noise_scale if noise_scale is None else noise_scale,
                               "model": str(checkpoint or "models/cpu-default"), "left_out": missing,
                               "precision": pipe.action_encoder.encoder.resolved_precision})  # δ's encoder and P
    written = write_report(result, shown, out, fps=cfg.fps)
    if transfer_json is not None:
        from deltadiff.eval.transfer import transfer_view

        view = transfer_view(result, n_triples)
        view.update(command=result["command"], seconds=result["seconds"]["total"],
                    settings={k: result["settings"][k] for k in ("steps", "sampler", "guidance", "noise_scale", "model",
                                                                 "precision")})
        written += _write_transfer(transfer_json, view)
    typer.echo(report_markdown(result).split("\n## ")[0])
    typer.echo(f"wrote {len(written)} files to {out} ({result['seconds']['total']:.0f} s)")
