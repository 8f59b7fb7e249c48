"""Pieces the motion diagnostics share (benchmarks/diag_*.py import it from their own folder)."""

from __future__ import annotations

import numpy as np
import torch

from deltadiff.generator.dit import warp
from deltadiff.io.tensor import tensor_to_frames


@torch.no_grad()
def warped_videos(pipe, ctx: torch.Tensor, flow: torch.Tensor, contexts) -> list[np.ndarray]:
    """The context latents `ctx` warped by a motion head's `flow` and decoded, each video uint8 [T, H, W, 3] with its
    context image (`contexts[i]`, uint8 [H, W, 3]) as frame 0: what a generated video would be without the trunk."""
    video = pipe.autoencoder.decode(warp(ctx, flow, pipe.generator.config.warp_unshuffle))
    return [np.concatenate([c[None], tensor_to_frames(v)]) for c, v in zip(contexts, video)]


def print_per_class(rows: dict[str, list], classes: list[str]) -> None:
    """One line per action class: for every row name, the mean of its first two numbers (trajectory error in px and
    direction accuracy) over that class's triples; `classes[i]` is the class of each row's i-th entry."""
    names = np.array(classes)
    for c in sorted(set(classes)):
        k = names == c
        cells = "  ".join(f"{name} {np.array(r, float)[k, 0].mean():5.2f} px {np.array(r, float)[k, 1].mean():.2f}"
                          for name, r in rows.items())
        print(f"  {c:12s} n={k.sum():2d}  {cells}")
