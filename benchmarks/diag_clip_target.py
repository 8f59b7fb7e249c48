"""Diagnostic: which numbers of its clip-level motion target has a pretrained foundation model learned? The run's
final training state (the encoder plus the pretraining heads) predicts, from the mean token of z_t, the 16-number
Farnebäck summary of each frame pair (`encoders/tiny.py global_motion_targets`); this prints R² per number on
held-out world clips (target standardised over the clips, as the loss does; R² 0 = no better than the mean). It also
prints how well a token's place on the patch grid (column, row) is read linearly from the per-frame features h and
from z (ridge fit on half the clips, R² on the other half): a token that does not know where it is cannot tell the
mean token where the motion is, nor which way a turn goes. And how well each moving token's own patch flow to the next
frame is read linearly from its z_t.

    python benchmarks/diag_clip_target.py --run RUN [--n 256] [--action rotate_cw,rotate_ccw]

RUN is a `deltadiff train foundation --out RUN` folder (its state/ is read). Only the tiny preset's target layout
(without `--global-hof` / `--global-foreground`) is read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange
from safetensors.torch import load_file

from deltadiff.data.world import World, seed_for
from deltadiff.encoders.tiny import (
    GLOBAL_DIM,
    MaskedVideoModel,
    MotionStem,
    clip_flows,
    factorised_forward,
    global_motion_targets,
    preset,
)
from deltadiff.io.tensor import frames_to_tensor

NAMES = ("mean|F|", "mean Fx", "mean Fy", "centroid x", "centroid y", "vx", "vy", "rotation", "growth", "|v|",
         "|rotation|", "|growth|", "vx²", "vy²", "vx·vy", "moving share")


def run_overrides(run: Path, weights: dict) -> dict:
    """What of the run's configuration differs between presets: its motion stem's kind (saved beside the exported
    model) and whether it trained the per-token flow head."""
    stem = MotionStem.load(run / "foundation")
    return {"motion_stem": "none" if stem is None else stem.kind,
            "flow_weight": 1.0 if "flow_head.weight" in weights else 0.0}


def ridge_r2(x: torch.Tensor, y: torch.Tensor, ridge: float = 1e-3) -> list[float]:
    """R² of each column of y [B, ..., K] from features x [B, ..., C], standardised: a ridge fit on the first half of
    the clips, scored on the second."""
    c, k, half = x.shape[-1], y.shape[-1], x.shape[0] // 2
    x = (x - x.mean(tuple(range(x.dim() - 1)))) / x.std(tuple(range(x.dim() - 1))).clamp_min(1e-6)
    x = torch.cat([x.double(), torch.ones(*x.shape[:-1], 1, dtype=torch.float64)], -1)
    xa, ya = x[:half].reshape(-1, c + 1), y[:half].double().reshape(-1, k)
    w = torch.linalg.solve(xa.T @ xa + ridge * len(xa) * torch.eye(c + 1, dtype=torch.float64), xa.T @ ya)
    xb, yb = x[half:].reshape(-1, c + 1), y[half:].double().reshape(-1, k)
    return (1 - ((xb @ w - yb) ** 2).mean(0) / yb.var(0)).tolist()


def token_flow(pixels: torch.Tensor, patch: int) -> torch.Tensor:
    """Each token's mean forward Farnebäck flow over its patch, [B, T−1, N, 2] (pixels; blow-ups dropped as in the
    targets)."""
    flow = clip_flows(pixels, backward=False)[:, 0]  # [B, T−1, H, W, 2]
    cells = F.avg_pool2d(rearrange(flow, "b t h w c -> (b t) c h w"), patch)
    return rearrange(cells, "(b t) c y x -> b t (y x) c", b=flow.shape[0])


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
    weights = load_file(str(state))
    model = MaskedVideoModel(preset(args.preset, **run_overrides(Path(args.run), weights)))
    model.load_state_dict(weights)
    model.eval()
    if model.global_head is None:
        raise SystemExit(f"{args.run}: this model was trained without the clip-level motion target")
    actions = args.action.split(",") if args.action else [None]
    world = World()
    video = torch.stack([frames_to_tensor(world.clip(seed_for("test", 20_000 + i), action=actions[i % len(actions)]).frames)
                         for i in range(args.n)])
    pixels = (video + 1) / 2
    with torch.no_grad():
        h, z = (torch.cat(parts) for parts in zip(*(factorised_forward(model.encoder, pixels[j:j + 32], model.stem)
                                                   for j in range(0, args.n, 32))))
        pred = model.global_head(z.mean(2))[:, :-1, :GLOBAL_DIM]  # z_t → the pair (t, t+1), as in the loss
    target = global_motion_targets(pixels).float()[..., :GLOBAL_DIM]
    target = (target - target.mean((0, 1))) / target.std((0, 1)).clamp_min(1e-4)
    r2 = 1 - ((pred - target) ** 2).mean((0, 1)) / target.var((0, 1))
    print(f"{args.run}: R² of the clip-level motion target from the mean token, {args.n} held-out clips"
          + (f" ({args.action})" if args.action else ""))
    for name, r in zip(NAMES, r2.tolist()):
        print(f"  {name:14s} {r:6.2f}")
    n, side = z.shape[2], round(z.shape[2] ** 0.5)
    grid = torch.stack([torch.arange(n) % side, torch.arange(n) // side], -1).float()
    flow = token_flow(pixels, model.config.patch_size)
    moving = flow.norm(dim=-1).amax(1) > 0.5  # [B, N]: tokens whose patch moves half a pixel in some frame pair
    for name, tokens in (("h", h), ("z", z)):
        col, row = ridge_r2(tokens[:, ::4], grid.expand(*tokens[:, ::4].shape[:3], 2))
        print(f"  token's place from {name}: column R² {col:5.2f}, row R² {row:5.2f}")
    # z_t (it sees the whole clip at its place) against its patch's flow to the next frame, on moving tokens only
    zt = z[:, :-1].permute(0, 2, 1, 3)[moving]  # [M, T−1, C]
    ft = flow.permute(0, 2, 1, 3)[moving]
    fx, fy = ridge_r2(zt, ft)
    print(f"  token's own flow (x, y) from z_t, {int(moving.sum())} moving tokens: R² {fx:5.2f}, {fy:5.2f}")


if __name__ == "__main__":
    main()
