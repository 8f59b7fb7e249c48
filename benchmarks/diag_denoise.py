"""Diagnostic: does the generator reconstruct what moves? One network evaluation per noise level t on held-out world
clips (self-supervised condition: the clip's own δ), and the error of its clean-frame estimate x̂0 on the latent
positions that differ from the context, with δ from the clip ("oracle"), δ dropped ("null") and δ of another clip
("shuffled").

    python benchmarks/diag_denoise.py [--model models/cpu-default] [--generator GEN] [--n 32] [--t 1 0.8 0.5 0.2]

For reference it prints the error of x̂0 = context (no motion) and of x_t/(1 − t) (the noisy input rescaled, no
network) on the same positions: a denoiser that does not beat the latter at low t is not yet reading the moving content
from its input.
"""

from __future__ import annotations

import argparse

import torch

from deltadiff.data.world import World, seed_for
from deltadiff.io.tensor import frames_to_tensor
from deltadiff.pipeline import DeltaDiffusionPipeline


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="models/cpu-default")
    ap.add_argument("--generator", default=None, help="another generator folder trained on the model's action encoder")
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--t", type=float, nargs="+", default=[1.0, 0.8, 0.5, 0.2])
    ap.add_argument("--changed", type=float, default=0.1, help="a position 'moves' where |x0 − context| exceeds this")
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    pipe = DeltaDiffusionPipeline.from_pretrained(args.model, device="cpu")
    if args.generator:
        pipe = pipe.with_generator(args.generator, "delta")
    world = World()
    video = torch.stack([frames_to_tensor(world.clip(seed_for("test", i)).frames) for i in range(args.n)])
    with torch.no_grad():
        lat, delta = pipe.autoencoder.encode(video), pipe.action_encoder.encode(video)
    x0, ctx = lat[:, 1:], lat[:, 0]
    moving = ((x0 - ctx[:, None]).abs().amax(2, keepdim=True) > args.changed).float().expand_as(x0)
    still = float(((ctx[:, None] - x0).pow(2) * moving).sum() / moving.sum())
    print(f"{args.n} held-out clips; {moving.mean():.1%} of latent positions differ from the context; "
          f"x̂0 = context would be {still:.4f} off there")
    drop = torch.ones(args.n, dtype=torch.bool)
    for t in args.t:
        eps = torch.randn_like(x0)
        xt = (1 - t) * x0 + t * eps
        tt = torch.full((args.n,), t)
        errs = {}
        with torch.no_grad():
            for name, d, kw in (("oracle", delta, {}), ("null", delta, {"drop_delta": drop}), ("shuffled", delta.roll(1, 0), {})):
                x0_hat = xt - t * pipe.generator(xt, tt, ctx, d, **kw)  # v = ε − x0 and x_t = (1 − t)·x0 + t·ε
                errs[name] = float(((x0_hat - x0).pow(2) * moving).sum() / moving.sum())
        naive = float(((xt / max(1 - t, 1e-6) - x0).pow(2) * moving).sum() / moving.sum()) if t < 1 else float("nan")
        print(f"t={t:.2f}  x̂0 error where it moves: " + "  ".join(f"{k} {v:.4f}" for k, v in errs.items())
              + f"   (x_t/(1−t): {naive:.4f})")


if __name__ == "__main__":
    main()
