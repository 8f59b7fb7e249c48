"""`deltadiff probe`: what the action latents carry — action vs appearance — on the world's held-out split."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from deltadiff.cli.create import PRECISION_HELP
from deltadiff.errors import ConfigError


def probe_command(
    action_encoder: Path = typer.Option(..., "--action-encoder", help="Folder written by `deltadiff train bottleneck`."),
    out: Path = typer.Option(Path("probe.json"), "--out", help="Report JSON to write."),
    variants: str = typer.Option("delta,none,temporal_norm", "--variants", help="Comma-separated bottleneck variants."),
    n_clips: int = typer.Option(1000, "--n-clips", min=20, help="Held-out clips for the probes (70% fit, 30% test)."),
    n_pairs: int = typer.Option(200, "--n-pairs", min=1, help="Held-out transfer triples for the similarity check."),
    random_init: bool = typer.Option(True, "--random-init/--no-random-init",
                                     help="Also probe z of the same architecture at random initialisation."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, … (default: CUDA when present)."),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
) -> None:
    """Linear probes (action class; leakage of background, colour, shape) and transfer similarity per variant."""
    import torch

    from deltadiff.bottleneck import VARIANTS, ActionEncoder
    from deltadiff.eval.probes import run_probes

    chosen = tuple(v.strip() for v in variants.split(",") if v.strip())
    bad = [v for v in chosen if v not in VARIANTS]
    if bad or not chosen:
        raise ConfigError(f"unknown variant(s) {', '.join(bad) or '(none)'}; choose from {', '.join(VARIANTS)}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.set_flush_denormal(True)
    t0 = time.time()
    enc = ActionEncoder.from_pretrained(action_encoder, device=device, precision=precision)
    report = run_probes(enc, chosen, n_clips=n_clips, n_pairs=n_pairs)
    if random_init:
        report["random_init"] = _random_init_action_accuracy(enc, n_clips, device)
    report["command"] = "deltadiff probe " + " ".join(
        [f"--action-encoder {action_encoder}", f"--out {out}", f"--variants {','.join(chosen)}", f"--n-clips {n_clips}",
         f"--n-pairs {n_pairs}"] + ([] if random_init else ["--no-random-init"])
        + ([] if precision == "auto" else [f"--precision {precision}"]))
    report["seconds"] = round(time.time() - t0, 1)
    from deltadiff.eval.probes import report_markdown
    from deltadiff.io import atomic_path

    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    with atomic_path(out.with_suffix(".md")) as tmp:
        tmp.write_text(report_markdown(report))
    _print_table(report)
    typer.echo(f"wrote {out} and {out.with_suffix('.md')}")


def _random_init_action_accuracy(enc, n_clips: int, device: str) -> dict:
    """Action-probe accuracy of z from the same architecture, randomly initialised (is pretraining worth it?)."""
    import torch
    from transformers import VideoPrismVisionModel

    from deltadiff.bottleneck import ActionEncoder
    from deltadiff.encoders import VideoPrismEncoder
    from deltadiff.eval.probes import run_probes

    if enc.encoder.name != "videoprism":
        return {"skipped": f"only for VideoPrism-shaped encoders, not {enc.encoder.name}"}
    torch.manual_seed(0)
    trained = enc.encoder.model
    rand = VideoPrismVisionModel(trained.config)
    if getattr(trained, "stem", None) is not None:  # the tiny default's motion stem is part of the architecture
        from deltadiff.encoders.tiny import MotionStem, TinyVideoPrism

        stem = trained.stem
        rand = TinyVideoPrism(rand, MotionStem(stem.kind, stem.proj.kernel_size[0], stem.proj.out_channels))
    rand = rand.to(device)
    r = run_probes(ActionEncoder(VideoPrismEncoder(model=rand, precision=enc.precision), None, "none", enc.meta), ("none",), n_clips=n_clips, n_pairs=1)
    return {"z_action_accuracy": r["variants"]["none"]["action_accuracy"], "action_chance": r["variants"]["none"]["action_chance"]}


def _print_table(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"probes on {report['n_clips']} held-out clips ({report['n_test']} test), {report['n_pairs']} triples")
    for col in ("variant", "action ↑", "background ↓", "colour ↓", "shape ↓", "sim same-action ↑", "sim same-scene ↓"):
        t.add_column(col)
    for v, r in report["variants"].items():
        leak = r["leakage"]
        t.add_row(v, f"{r['action_accuracy']:.3f} (chance {r['action_chance']:.2f})",
                  *(f"{leak[k]['accuracy']:.3f} ({leak[k]['chance']:.2f})" for k in ("background", "colour", "shape")),
                  f"{r['similarity']['same_action_other_scene']:.3f}", f"{r['similarity']['other_action_same_scene']:.3f}")
    Console().print(t)
    if "random_init" in report and "z_action_accuracy" in report["random_init"]:
        Console().print(f"random-init encoder, z action accuracy: {report['random_init']['z_action_accuracy']:.3f}")
