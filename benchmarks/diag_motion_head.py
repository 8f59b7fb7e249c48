"""Diagnostic: how well does a generator's motion head alone move the actor? The context warped by the head's flow
(no transformer, no sampling) is scored on the first n held-out transfer triples, with δ of the demo (another scene)
and of the target clip itself ("oracle"). The same warp with zero flow is the static context.

    python benchmarks/diag_motion_head.py [--model models/cpu-default] [--generator GEN_FOLDER] [--n 48]

`--generator` swaps in another generator (with a motion head) trained on the model's action encoder, or on the one
`--action-encoder` names (a folder of `deltadiff train bottleneck`).
`--fit` (layered heads): two more rows that say where the error comes from — "fit_motions": the head's own masks
(from the context) with the layers' affine motions fitted to the target clip's teacher flow (Adam, 300 steps on the
training loss) instead of read from δ; "fit_both": masks and motions fitted. The gap demo → fit_motions is what the
δ read-out loses, fit_motions → fit_both what the masks lose.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from deltadiff.data.world import World, seed_for
from deltadiff.eval.world_metrics import direction_correct, trajectory_error
from deltadiff.generator.motion import motion_loss
from deltadiff.io.tensor import frames_to_tensor
from deltadiff.pipeline import DeltaDiffusionPipeline

from _diag import print_per_class, warped_videos  # benchmarks/_diag.py, beside this script


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="models/cpu-default")
    ap.add_argument("--generator", default=None)
    ap.add_argument("--action-encoder", default=None, help="the action encoder --generator was trained on")
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--per-class", action="store_true", help="also print every row per action class")
    ap.add_argument("--fit", action="store_true", help="layered heads: also the motions (and masks) fitted to the "
                    "target's teacher flow")
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    pipe = DeltaDiffusionPipeline.from_pretrained(args.model, device="cpu")
    if args.generator:
        pipe = pipe.with_generator(args.generator, "delta")
    if args.action_encoder:
        if not args.generator:
            raise SystemExit("--action-encoder needs --generator: the generator trained on that action encoder")
        from deltadiff.bottleneck import ActionEncoder

        pipe.action_encoder = ActionEncoder.from_pretrained(args.action_encoder, device="cpu")
    head, cfg = pipe.generator.motion, pipe.generator.config
    if head is None:
        raise SystemExit("this generator has no motion head (train it with --motion-head)")
    if args.fit and not cfg.motion_layers:
        raise SystemExit("--fit needs a layered motion head (motion_layers ≥ 2)")
    world, classes = World(), []
    rows = {"demo": [], "oracle": [], **({"fit_motions": [], "fit_both": []} if args.fit else {})}
    for s in range(0, args.n, 16):
        ts = [world.triple(seed_for("test", i)) for i in range(s, min(args.n, s + 16))]
        classes += [t.target.truth.action for t in ts]
        with torch.no_grad():
            ctx = pipe.autoencoder.encode(torch.stack([frames_to_tensor(t.context[None]) for t in ts]))[:, 0]
            flows, deltas = {}, {}
            for name, clips in (("demo", [t.demo.frames for t in ts]), ("oracle", [t.target.frames for t in ts])):
                delta = pipe.action_encoder.encode(torch.stack([frames_to_tensor(v) for v in clips]))
                flows[name], deltas[name] = head(ctx, delta), delta
        if args.fit:
            flows.update(fitted(head, ctx, deltas["demo"], ts))
        for name, flow in flows.items():
            for t, frames in zip(ts, warped_videos(pipe, ctx, flow, [t.context for t in ts])):
                marker = np.asarray(t.target.truth.marker_px)
                rows[name].append((trajectory_error(frames, marker)[0], direction_correct(frames, marker)))
    for name, r in rows.items():
        a = np.array(r, float)
        print(f"{name:11s} trajectory_error {a[:, 0].mean():.2f} px  direction_accuracy {a[:, 1].mean():.3f}")
    if args.per_class:
        print_per_class(rows, classes)


def fitted(head, ctx: torch.Tensor, delta: torch.Tensor, triples, steps: int = 300) -> dict[str, torch.Tensor]:
    """Flows of the layered head with its affine motions (and then its masks too) fitted, per triple, to the target
    clip's own teacher flow with the head's training loss — starting from what the head says for `delta`."""
    from deltadiff.training.generator_recipe import teacher_flow

    cell = triples[0].target.frames.shape[1] // ctx.shape[-1]
    target = torch.stack([teacher_flow(t.target.frames, cell) for t in triples])
    latent = ctx.shape[-2:]
    with torch.no_grad():
        masks, params = head.layers(ctx, delta)
    out = {}
    for name, free in (("fit_motions", False), ("fit_both", True)):
        p = params.clone().requires_grad_(True)
        logits = masks.clamp_min(1e-6).log().requires_grad_(free)
        opt = torch.optim.Adam([p, logits] if free else [p], 1e-2)
        for _ in range(steps):
            loss = motion_loss(head.layered_flow(logits.softmax(1), p, latent), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            out[name] = head.layered_flow(logits.softmax(1), p, latent)
    return out


if __name__ == "__main__":
    main()
