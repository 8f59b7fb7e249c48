"""Diagnostic: which numbers of its clip-level motion target has a pretrained foundation model learned? The run's
final training state (the encoder plus the pretraining heads) predicts, from the mean token of z_t, the 16-number
Farnebäck summary of each frame pair (`encoders/tiny.py global_motion_targets`); this prints R² per number on
held-out world clips (target standardised over the clips, as the loss does; R² 0 = no better than the mean).

    python benchmarks/diag_clip_target.py --run RUN [--n 256] [--action rotate_cw,rotate_ccw]

RUN is a `deltadiff train foundation --out RUN` folder (its state/ is read). Only the tiny preset's target layout
(without `--global-hof` / `--global-foreground`) is read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors.torch import load_file

from deltadiff.data.world import World, seed_for
from deltadiff.encoders.tiny import (
    GLOBAL_DIM,
    MaskedVideoModel,
    global_motion_targets,
    preset,
)
from deltadiff.io.tensor import frames_to_tensor

NAMES = ("mean|F|", "mean Fx", "mean Fy", "centroid x", "centroid y", "vx", "vy", "rotation", "growth", "|v|",
         "|rotation|", "|growth|", "vx²", "vy²", "vx·vy", "moving share")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="a `deltadiff train foundation --out` folder")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--n", type=int, default=256, help="held-out clips")
    ap.add_argument("--action", default=None, help="comma-separated action classes (default: all, as sampled)")
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    state = Path(args.run) / "state" / "model.safetensors"
    if not state.is_file():
        raise SystemExit(f"{state}: no training state; give the folder `deltadiff train foundation --out` wrote")
    model = MaskedVideoModel(preset(args.preset))
    model.load_state_dict(load_file(str(state)))
    model.eval()
    if model.global_head is None:
        raise SystemExit(f"{args.run}: this model was trained without the clip-level motion target")
    actions = args.action.split(",") if args.action else [None]
    world = World()
    video = torch.stack([frames_to_tensor(world.clip(seed_for("test", 20_000 + i), action=actions[i % len(actions)]).frames)
                         for i in range(args.n)])
    pixels = (video + 1) / 2
    with torch.no_grad():
        z = torch.cat([model(pixels[j:j + 32]) for j in range(0, args.n, 32)])
        pred = model.global_head(z.mean(2))[:, :-1, :GLOBAL_DIM]  # z_t → the pair (t, t+1), as in the loss
    target = global_motion_targets(pixels).float()[..., :GLOBAL_DIM]
    target = (target - target.mean((0, 1))) / target.std((0, 1)).clamp_min(1e-4)
    r2 = 1 - ((pred - target) ** 2).mean((0, 1)) / target.var((0, 1))
    print(f"{args.run}: R² of the clip-level motion target from the mean token, {args.n} held-out clips"
          + (f" ({args.action})" if args.action else ""))
    for name, r in zip(NAMES, r2.tolist()):
        print(f"  {name:14s} {r:6.2f}")


if __name__ == "__main__":
    main()
