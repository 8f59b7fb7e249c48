"""Diagnostic: how much of the actor's motion can be read from cached action latents? A small non-linear probe (each
token reduced to 8 numbers by a shared MLP, the whole clip flattened, then an MLP) regresses the actor's displacement
from frame 0, per frame, from δ [T', N, C] of world training clips; R² and mean error are on held-out clips.

    python benchmarks/diag_delta_probe.py --cache GENERATOR_CACHE [--field delta|z|spatial] [--variant delta] [--train 2600]

GENERATOR_CACHE is a `deltadiff train generator` cache of the world (`--cache-dir`, or OUT/cache); `--field delta`
reads its δ cache CACHE/delta-VARIANT (written by training), `z`/`spatial` the frozen features themselves.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import nn

from deltadiff.data.world import World, seed_for
from deltadiff.encoders.cache import CachedFeatures


class Probe(nn.Module):
    def __init__(self, channels: int, frames: int, tokens: int):
        super().__init__()
        self.tok = nn.Sequential(nn.Linear(channels, 64), nn.GELU(), nn.Linear(64, 8))
        self.head = nn.Sequential(nn.Linear(frames * tokens * 8, 512), nn.GELU(), nn.Linear(512, frames * 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        return self.head(self.tok(x).reshape(b, -1)).view(b, t, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--field", default="delta", choices=["delta", "z", "spatial"])
    ap.add_argument("--variant", default="delta")
    ap.add_argument("--train", type=int, default=2600, help="clips to fit on; the rest of the cache is held out")
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    features = CachedFeatures(args.cache)
    keys = features.meta["keys"]
    if not all(k.startswith("train-") for k in keys):
        raise SystemExit(f"{args.cache}: not a cache of world training clips (keys like train-0000000)")
    source = CachedFeatures(args.cache / f"delta-{args.variant}", fields=["delta"]) if args.field == "delta" \
        else CachedFeatures(args.cache, fields=[args.field])
    n = len(features)
    if not 0 < args.train < n:
        raise SystemExit(f"--train must lie in (0, {n})")
    world = World()
    pos = np.stack([world.clip(seed_for("train", int(k.split("-")[1]))).truth.marker_px for k in keys]).astype(np.float32)
    disp = torch.from_numpy(pos - pos[:, :1])  # [n, T, 2] pixels from frame 0
    x = torch.stack([source[i][args.field] for i in range(n)])  # [n, T', N, C]
    if x.shape[1] != disp.shape[1]:
        raise SystemExit(f"features have {x.shape[1]} frames, the clips {disp.shape[1]}")
    tr = args.train
    x = (x - x[:tr].mean((0, 1, 2))) / (x[:tr].std((0, 1, 2)) + 1e-6)
    probe = Probe(x.shape[-1], x.shape[1], x.shape[2])
    opt = torch.optim.AdamW(probe.parameters(), 1e-3, weight_decay=0.05)
    for _ in range(args.epochs):
        for idx in torch.randperm(tr).split(64):
            loss = (probe(x[idx]) - disp[idx]).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        pred, true = probe(x[tr:])[:, 1:], disp[tr:, 1:]
    r2 = 1 - (pred - true).pow(2).sum() / (true - true.mean((0, 1))).pow(2).sum()
    print(f"{args.field} ({args.variant if args.field == 'delta' else 'frozen'}) → actor displacement, {n - tr} held-out "
          f"clips: R² {r2:.3f}, mean error {(pred - true).norm(dim=-1).mean():.2f} px (mean-displacement guess "
          f"{(true - true.mean((0, 1))).norm(dim=-1).mean():.2f} px)")


if __name__ == "__main__":
    main()
