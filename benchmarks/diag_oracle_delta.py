"""Diagnostic: does a generator move the actor when δ comes from the *target* clip itself — the condition it was
trained on (self-supervised: the demo is the clip)? If not even then, the generator ignores δ, and transfer metrics
cannot improve through better action latents alone.

    python benchmarks/diag_oracle_delta.py [--model models/cpu-default] [--generator GEN_FOLDER] [--n 48] [--steps 8] [--guidance 2] [--device cpu]

For the first n held-out transfer triples, generates with the demo's δ ("demo"), with the target clip's own δ
("oracle") and with δ dropped ("null"), and prints the world metrics of each (eval.transfer.score; ΔPSNR is not
computed). `--generator` swaps in another generator trained on the model's action encoder (bottleneck `delta`).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from deltadiff.data.world import World, seed_for
from deltadiff.eval.transfer import score
from deltadiff.pipeline import DeltaDiffusionPipeline

KEYS = ("trajectory_error", "direction_accuracy", "psnr", "leakage", "actor_found")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="models/cpu-default")
    ap.add_argument("--generator", default=None)
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    ap.add_argument("--guidance", type=float, default=None, help="guidance scale on δ (default: the model's)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    pipe = DeltaDiffusionPipeline.from_pretrained(args.model, device=args.device)
    if args.generator:
        pipe = pipe.with_generator(args.generator, "delta")
    kw = {"steps": args.steps} if args.steps else {}
    if args.guidance is not None:
        kw["guidance"] = args.guidance
    world, rows = World(), {k: [] for k in ("demo", "oracle", "null")}
    for s in range(0, args.n, 8):
        pairs = [world.mismatched(seed_for("test", i)) for i in range(s, min(args.n, s + 8))]
        ctx = np.stack([p.context for p in pairs])
        demos, targets = np.stack([p.triple.demo.frames for p in pairs]), np.stack([p.target.frames for p in pairs])
        seeds = list(range(s, s + len(pairs)))
        for name, d, drop in (("demo", demos, False), ("oracle", targets, False), ("null", demos, True)):
            for p, g in zip(pairs, pipe.generate(d, ctx, seeds, drop_delta=drop, **kw)):
                rows[name].append(score(g, g, p.triple.demo.frames, p.target.frames, p.target.truth.marker_px))
    for name, rs in rows.items():
        print(f"{name:7s}", "  ".join(f"{k} {np.nanmean([r[k] for r in rs]):.3f}" for k in KEYS))


if __name__ == "__main__":
    main()
