"""Diagnostic: how well does a generator's motion head alone move the actor? The context warped by the head's flow
(no transformer, no sampling) is scored on the first n held-out transfer triples, with δ of the demo (another scene)
and of the target clip itself ("oracle"). The same warp with zero flow is the static context.

    python benchmarks/diag_motion_head.py [--model models/cpu-default] [--generator GEN_FOLDER] [--n 48]

`--generator` swaps in another generator (with a motion head) trained on the model's action encoder.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from deltadiff.data.world import World, seed_for
from deltadiff.eval.world_metrics import direction_correct, trajectory_error
from deltadiff.generator.dit import warp
from deltadiff.io.tensor import frames_to_tensor, tensor_to_frames
from deltadiff.pipeline import DeltaDiffusionPipeline


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="models/cpu-default")
    ap.add_argument("--generator", default=None)
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--per-class", action="store_true", help="also print the demo rows per action class")
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    pipe = DeltaDiffusionPipeline.from_pretrained(args.model, device="cpu")
    if args.generator:
        pipe = pipe.with_generator(args.generator, "delta")
    head, cfg = pipe.generator.motion, pipe.generator.config
    if head is None:
        raise SystemExit("this generator has no motion head (train it with --motion-head)")
    world, rows, classes = World(), {"demo": [], "oracle": []}, []
    with torch.no_grad():
        for s in range(0, args.n, 16):
            ts = [world.triple(seed_for("test", i)) for i in range(s, min(args.n, s + 16))]
            classes += [t.target.truth.action for t in ts]
            ctx = pipe.autoencoder.encode(torch.stack([frames_to_tensor(t.context[None]) for t in ts]))[:, 0]
            for name, clips in (("demo", [t.demo.frames for t in ts]), ("oracle", [t.target.frames for t in ts])):
                delta = pipe.action_encoder.encode(torch.stack([frames_to_tensor(v) for v in clips]))
                video = pipe.autoencoder.decode(warp(ctx, head(ctx, delta), cfg.warp_unshuffle))
                for t, v in zip(ts, video):
                    frames = np.concatenate([t.context[None], tensor_to_frames(v)])
                    marker = np.asarray(t.target.truth.marker_px)
                    rows[name].append((trajectory_error(frames, marker)[0], direction_correct(frames, marker)))
    for name, r in rows.items():
        a = np.array(r, float)
        print(f"{name:7s} trajectory_error {a[:, 0].mean():.2f} px  direction_accuracy {a[:, 1].mean():.3f}")
    if args.per_class:
        a, names = np.array(rows["demo"], float), np.array(classes)
        for c in sorted(set(classes)):
            k = names == c
            print(f"  {c:12s} n={k.sum():2d}  trajectory_error {a[k, 0].mean():5.2f} px  direction {a[k, 1].mean():.2f}")


if __name__ == "__main__":
    main()
