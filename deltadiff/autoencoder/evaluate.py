"""Reconstruction report of a frame autoencoder on held-out world clips (the numbers in docs/autoencoder.md).

PSNR over whole frames and over the actor's pixels (its ground-truth mask, and the mask grown by 1 px so that its
edges count): the actor is ~6–9 px wide at 64×64 and must survive the autoencoder. Also the actor's marker: the share
of frames where `find_marker` still finds it on the reconstruction (of those where it finds it on the original) and the
distance between the two detections — the trajectory metrics read generated videos through this detector. PSNR is
per clip, then averaged; frames in [-1, 1] so the peak-to-peak range is 2 (the same number as PSNR on [0, 1] pixels).

    python -m deltadiff.autoencoder.evaluate runs/ae/autoencoder [--clips 200]     # or pixel, pixel:4, bicubic
"""

from __future__ import annotations

import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from deltadiff.autoencoder.base import FrameAutoencoder
from deltadiff.data.world import decode_mask, find_marker
from deltadiff.io.tensor import tensor_to_frames


def _psnr(se: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    return 10 * torch.log10(4.0 / (se / n.clamp_min(1)))  # inf where exact


@torch.no_grad()
def reconstruction_report(reconstruct, clips, batch_size: int = 8) -> dict:
    """`reconstruct(video [B, T, 3, H, W]) -> video` over a WorldClips(with_truth=True); returns the metrics."""
    psnr, actor, edge, found, lost, err = [], [], [], 0, 0, []
    seconds = 0.0
    for s in range(0, len(clips), batch_size):
        items = [clips[i] for i in range(s, min(s + batch_size, len(clips)))]
        video = torch.stack([it["video"] for it in items])  # [B, T, 3, H, W]
        t0 = time.perf_counter()
        recon = reconstruct(video).clamp(-1, 1)
        seconds += time.perf_counter() - t0
        se = (recon - video).pow(2).sum(2)  # [B, T, H, W], summed over RGB
        mask = torch.stack([torch.from_numpy(decode_mask(it["truth"]["mask"])) for it in items]).float()  # [B, T, H, W]
        grown = F.max_pool2d(mask.flatten(0, 1)[:, None], 3, 1, 1).view_as(mask)
        psnr += _psnr(se.flatten(1).sum(1), torch.tensor(float(se[0].numel() * 3))).tolist()
        actor += _psnr((se * mask).flatten(1).sum(1), 3 * mask.flatten(1).sum(1)).tolist()
        edge += _psnr((se * grown).flatten(1).sum(1), 3 * grown.flatten(1).sum(1)).tolist()
        for a, b in zip(tensor_to_frames(video).reshape(-1, *video.shape[-2:], 3), tensor_to_frames(recon).reshape(-1, *video.shape[-2:], 3)):
            pa = find_marker(a)
            if pa is None:
                continue
            pb = find_marker(b)
            if pb is None:
                lost += 1
            else:
                found += 1
                err.append(math.dist(pa, pb))
    return {
        "clips": len(clips), "psnr": float(np.mean(psnr)), "psnr_actor": float(np.mean(actor)),
        "psnr_actor_1px": float(np.mean(edge)), "marker_found": found / max(1, found + lost),
        "marker_error_px": float(np.mean(err)) if err else float("nan"),
        "seconds_per_clip_batched": seconds / len(clips),
    }  # fmt: skip


@torch.no_grad()
def seconds_per_clip(ae: FrameAutoencoder, frames: int = 16, size: int = 64, repeats: int = 5) -> float:
    """Median wall time of encode + decode of one [1, T, 3, S, S] clip."""
    video = torch.rand(1, frames, 3, size, size) * 2 - 1
    ae.decode(ae.encode(video))  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ae.decode(ae.encode(video))
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bicubic(factor: int):
    """Reference point with no learning: bicubic down by `factor` and back up (16×16×3 numbers per 64×64 frame at 4)."""

    def run(video: torch.Tensor) -> torch.Tensor:
        x = video.flatten(0, 1)
        small = F.interpolate(x, scale_factor=1 / factor, mode="bicubic", antialias=True, align_corners=False)
        return F.interpolate(small, scale_factor=factor, mode="bicubic", align_corners=False).view_as(video)

    return run


def main(argv: list[str]) -> None:
    from deltadiff.autoencoder import load_autoencoder
    from deltadiff.data.world import WorldClips

    torch.set_flush_denormal(True)
    args = dict(zip(argv[1::2], argv[2::2]))
    clips = WorldClips("test", n=int(args.get("--clips", 200)), with_truth=True)
    if argv[0] == "bicubic":
        report = {"autoencoder": "bicubic ×4", **reconstruction_report(bicubic(4), clips)}
    else:
        ae = load_autoencoder(argv[0])
        report = {"autoencoder": argv[0], "kind": ae.kind, "params": sum(p.numel() for p in ae.parameters()),
                  "latent_shape": list(ae.latent_shape(16, 64, 64)),
                  **reconstruction_report(lambda v: ae.decode(ae.encode(v)), clips),
                  "seconds_per_16_frame_clip": seconds_per_clip(ae), "threads": torch.get_num_threads()}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
