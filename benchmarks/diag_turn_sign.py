"""Diagnostic: is the sign of a turn in the action latents? Clips of `rotate_cw` and `rotate_ccw` (half each) from
the world's train split fit the project's linear probe and clips from the test split score it, on several read-outs
of δ and of z: pooled over tokens as `deltadiff probe` pools them, at the actor's token (from the world's truth) per
frame, and on the 3×3 tokens around the actor. Chance is 50 %. A read-out near chance means no head reading δ that way
can turn the context's actor the right way. The control row is the foundation model's own clip-level flow target
(`global_motion_targets`: Farnebäck flow summaries, its curl among them) of the same clips: the sign is in the pixels.

    python benchmarks/diag_turn_sign.py [--action-encoder models/cpu-default/action_encoder] [--n-train 600] [--n-test 300]
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch

from deltadiff.bottleneck import ActionEncoder
from deltadiff.data.world import World, seed_for
from deltadiff.encoders.tiny import global_motion_targets
from deltadiff.eval.probes import linear_probe
from deltadiff.io.tensor import frames_to_tensor

ACTIONS = ("rotate_cw", "rotate_ccw")
PATCH = 8  # the tiny foundation model's patch: the token grid is 8×8 at 64×64


def latents(enc: ActionEncoder, world: World, split: str, n: int, batch: int = 32):
    """δ and z [n, T', N, C], the actor's token row / column per δ frame [n, T'], the token grid's side, the labels and
    the control features (the clip-level flow target, [n, (T−1)·16])."""
    videos, centres, labels = [], [], []
    for i in range(n):
        clip = world.clip(seed_for(split, 10_000 + i), action=ACTIONS[i % 2])
        videos.append(frames_to_tensor(clip.frames))
        centres.append(clip.truth.position_px)
        labels.append(ACTIONS[i % 2])
    v = torch.stack(videos)
    with torch.no_grad():
        delta = torch.cat([enc.encode(v[j:j + batch]) for j in range(0, n, batch)])
        z = torch.cat([enc.with_variant("none").encode(v[j:j + batch]) for j in range(0, n, batch)])
    side = math.isqrt(delta.shape[2])
    pos = np.stack(centres)  # [n, T, 2] pixels
    frames = np.linspace(0, pos.shape[1] - 1, delta.shape[1]).round().astype(int)
    col = np.clip(pos[:, frames, 0] // PATCH, 0, side - 1).astype(int)
    row = np.clip(pos[:, frames, 1] // PATCH, 0, side - 1).astype(int)
    flow = global_motion_targets((v + 1) / 2).flatten(1)  # [n, (T−1)·16]: the teacher's summary per frame pair
    return {"δ": delta, "z": z, "where": (row, col, side), "labels": np.array(labels), "flow": flow}


def readouts(lat: torch.Tensor, row: np.ndarray, col: np.ndarray, side: int) -> dict:
    def at(dy: int, dx: int) -> torch.Tensor:  # [n, T', C]: the token dy, dx from the actor's, per frame
        tok = torch.from_numpy(np.clip(row + dy, 0, side - 1) * side + np.clip(col + dx, 0, side - 1))
        return torch.gather(lat, 2, tok[:, :, None, None].expand(-1, -1, 1, lat.shape[-1]))[:, :, 0]

    around = [at(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    half = lat.shape[1] // 2
    return {"pooled over tokens (the probe's)": lat.mean(2).flatten(1),
            "actor's token, per frame": at(0, 0).flatten(1),
            "3×3 around the actor, time mean": torch.cat([a.mean(1) for a in around], 1),
            "3×3 around the actor, two halves": torch.cat([torch.cat([a[:, :half].mean(1), a[:, half:].mean(1)], 1)
                                                           for a in around], 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--action-encoder", default="models/cpu-default/action_encoder")
    ap.add_argument("--n-train", type=int, default=600)
    ap.add_argument("--n-test", type=int, default=300)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    enc = ActionEncoder.from_pretrained(args.action_encoder, device=args.device)
    world = World()
    train = latents(enc, world, "train", args.n_train)
    test = latents(enc, world, "test", args.n_test)
    print(f"rotate_cw vs rotate_ccw: {args.n_train} fit / {args.n_test} test clips, {args.action_encoder}")
    r = linear_probe(train["flow"], train["labels"], test["flow"], test["labels"])
    print(f"  control: the clip-level flow target     {train['flow'].shape[1]:5d} dims  accuracy {r['accuracy']:.3f}")
    for name in ("δ", "z"):
        fit, score = readouts(train[name], *train["where"]), readouts(test[name], *test["where"])
        for key in fit:
            r = linear_probe(fit[key], train["labels"], score[key], test["labels"])
            print(f"  {name} {key:36s} {fit[key].shape[1]:5d} dims  accuracy {r['accuracy']:.3f} (chance {r['chance']:.2f})")


if __name__ == "__main__":
    main()
