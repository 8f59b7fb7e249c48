"""Diagnostic: the ceiling of motion by warping. The context of each of the first n held-out transfer triples is warped
by the *target clip's own* teacher flow (Farnebäck chained frame to frame, the motion head's training target) — at
pixel resolution, and averaged per latent cell as the motion head predicts it — and scored like a generated video.
No model is involved: this is what a perfect motion head could reach through the warp.

    python benchmarks/diag_teacher_ceiling.py [--n 48] [--cell 4] [--per-class]

`--per-class` also prints every row per action class: where the teacher itself loses the actor (fast or curved
paths), a head trained on it cannot do better.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from deltadiff.data.flow import chained_maps
from deltadiff.data.world import World, seed_for
from deltadiff.eval.world_metrics import direction_correct, trajectory_error
from deltadiff.generator.dit import warp
from deltadiff.io.tensor import frames_to_tensor, tensor_to_frames
from deltadiff.training.generator_recipe import teacher_flow

from _diag import print_per_class  # benchmarks/_diag.py, beside this script


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--cell", type=int, default=4, help="latent cell in pixels (pixel:4 → 4)")
    ap.add_argument("--per-class", action="store_true", help="also print every row per action class")
    args = ap.parse_args()
    world, rows, classes = World(), {"static": [], "pixel": [], "cell": []}, []
    for i in range(args.n):
        t = world.triple(seed_for("test", i))
        ctx = frames_to_tensor(t.context[None])  # [1, 3, H, W]
        marker = np.asarray(t.target.truth.marker_px)
        classes.append(t.target.truth.action)
        h, w = ctx.shape[-2:]
        maps = chained_maps(t.target.frames)[1:]  # [T−1, H, W, 2]: where each pixel sat in frame 0
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        pixel = torch.from_numpy(maps - np.stack([xs, ys], -1)).permute(0, 3, 1, 2)[None]  # [1, T−1, 2, H, W] pixels
        cell = teacher_flow(t.target.frames, args.cell)[None]  # [1, T−1, 2, h, w] cells
        lat = torch.nn.functional.pixel_unshuffle(ctx, args.cell)
        videos = {"static": np.repeat(t.context[None], len(t.target.frames), 0),
                  "pixel": _frames(t.context, warp(ctx, pixel)[0]),
                  "cell": _frames(t.context, torch.nn.functional.pixel_shuffle(warp(lat, cell, args.cell)[0], args.cell))}
        for name, v in videos.items():
            rows[name].append((trajectory_error(v, marker)[0], direction_correct(v, marker)))
    for name, r in rows.items():
        a = np.array(r, float)
        print(f"{name:7s} trajectory_error {a[:, 0].mean():.2f} px  direction_accuracy {a[:, 1].mean():.3f}  (n={len(a)})")
    if args.per_class:
        print_per_class(rows, classes)


def _frames(context: np.ndarray, warped: torch.Tensor) -> np.ndarray:
    return np.concatenate([context[None], tensor_to_frames(warped)])


if __name__ == "__main__":
    main()
