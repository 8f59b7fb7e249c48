"""Diagnostic: where ΔPSNR is made — the motion head's warp alone against the full generator built on it. For the
first n held-out mismatched pairs, each output is scored like the transfer measurement (`eval.transfer.score`) with
the true demo and with the mismatched one: the context copied (static), the context warped by the head's flow (no
transformer, no sampling), and the generator sampled with the Euler steps asked for (guidance 1).

    python benchmarks/diag_warp_vs_generator.py [--model models/cpu-default] [--generator GEN] [--n 48]
        [--split test|val] [--steps 3 [6 ...]] [--per-class]

Choose settings on `--split val` (the world's validation seeds) and report them on `test`. `--per-class` adds, for
each output, its ΔPSNR and trajectory error per action class of the target and each class's share of the mean ΔPSNR
(its ΔPSNR sum over n): the mean is an average of per-triple log ratios, so a class where the true demo's output is
nearly exact (a `still` demo: the PSNR cap of eval/transfer.py) weighs far more than its share of triples.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from deltadiff.data.world import World, seed_for
from deltadiff.eval.transfer import score
from deltadiff.io.tensor import frames_to_tensor
from deltadiff.pipeline import DeltaDiffusionPipeline

from _diag import warped_videos  # benchmarks/_diag.py, beside this script


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="models/cpu-default")
    ap.add_argument("--generator", default=None, help="another generator with a motion head, on the model's action encoder")
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--split", default="test", choices=["test", "val"])
    ap.add_argument("--steps", type=int, nargs="+", default=[3])
    ap.add_argument("--per-class", action="store_true", help="ΔPSNR and trajectory error per action class")
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    pipe = DeltaDiffusionPipeline.from_pretrained(args.model, device="cpu")
    if args.generator:
        pipe = pipe.with_generator(args.generator, "delta")
    head = pipe.generator.motion
    if head is None:
        raise SystemExit("this generator has no motion head (train it with --motion-head)")
    world, rows, classes = World(), {}, []
    for s in range(0, args.n, 8):
        pairs = [world.mismatched(seed_for(args.split, i)) for i in range(s, min(args.n, s + 8))]
        classes += [p.target.truth.action for p in pairs]
        demos = {"true": np.stack([p.triple.demo.frames for p in pairs]), "other": np.stack([p.mismatched.frames for p in pairs])}
        contexts = np.stack([p.triple.context for p in pairs])
        static = np.repeat(contexts[:, None], demos["true"].shape[1], 1)
        videos = {"static": {"true": static, "other": static}, "warp": {}}
        with torch.no_grad():
            ctx = pipe.autoencoder.encode(torch.stack([frames_to_tensor(c[None]) for c in contexts]))[:, 0]
            for which, clips in demos.items():
                delta = pipe.action_encoder.encode(torch.stack([frames_to_tensor(v) for v in clips]))
                videos["warp"][which] = warped_videos(pipe, ctx, head(ctx, delta), contexts)
        seeds = list(range(s, s + len(pairs)))
        for k in args.steps:
            videos[f"generator, {k} Euler"] = {w: pipe.generate(d, contexts, seeds, steps=k, sampler="euler", guidance=1.0)
                                               for w, d in demos.items()}
        for name, v in videos.items():
            for i, p in enumerate(pairs):
                r = score(v["true"][i], v["other"][i], p.triple.demo.frames, p.target.frames, np.asarray(p.target.truth.marker_px))
                rows.setdefault(name, []).append((r["psnr"], r["psnr"] - r["delta_psnr"], r["delta_psnr"], r["trajectory_error"]))
    print(f"{args.n} {args.split} pairs: PSNR with the true demo / the mismatched one, ΔPSNR, trajectory error")
    names = np.array(classes)
    for name, r in rows.items():
        a = np.array(r)
        print(f"  {name:20s} {a[:, 0].mean():6.2f} / {a[:, 1].mean():6.2f} dB   ΔPSNR {a[:, 2].mean():+.2f} dB   {a[:, 3].mean():.2f} px")
        if args.per_class:
            for c in sorted(set(classes)):
                k = names == c
                print(f"      {c:12s} n={k.sum():2d}  {a[k, 0].mean():6.2f} / {a[k, 1].mean():6.2f} dB   ΔPSNR {a[k, 2].mean():+6.2f} dB"
                      f" (share {a[k, 2].sum() / len(a):+.2f})   {a[k, 3].mean():5.2f} px")


if __name__ == "__main__":
    main()
