"""Diagnostic: does *where* the action latents are active follow the demo's actor? For held-out world clips, per δ
frame, the ‖·‖²-weighted centroid of its k most energetic tokens; its offset from frame 0's is compared, in pixels,
with the actor's on-screen displacement from the world's truth (its position minus the camera's). No weights are fitted.

P explains what one frame shows, so δ = z − P(h) should be near zero where nothing happens and large where the actor
moves. z itself is compared after removing each token's mean over time (its change, without which its energy is the
same everywhere: z is layer-normalised). "zero" is the error of saying the actor does not move; "gain" is the median
over moving clips of the track's projection on the true path (1 = as far as the actor went).

    python benchmarks/diag_energy_track.py [--action-encoder models/cpu-default/action_encoder] [--n 320] [--k 1 4 64]
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
import torch

from deltadiff.bottleneck import ActionEncoder
from deltadiff.bottleneck.predictor import bottleneck
from deltadiff.data.world import World, seed_for
from deltadiff.io.tensor import frames_to_tensor

MOVING = ("translate", "camera_pan", "jump", "fall_bounce", "orbit", "push", "compound")


def track(latents: torch.Tensor, k: int, patch: int) -> torch.Tensor:
    """[B, T', N, C] on a square token grid → centroid offsets from frame 0 [B, T', 2] in pixels (x, y)."""
    side = int(round(latents.shape[2] ** 0.5))
    c = (torch.arange(side, dtype=torch.float32) + 0.5) * patch
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    xy = torch.stack([xx.flatten(), yy.flatten()], -1)  # token centres, pixels
    e = latents.float().pow(2).sum(-1)  # [B, T', N]
    kth = e.topk(k, dim=2).values[..., -1:]
    w = torch.where(e >= kth, e, torch.zeros_like(e))
    centre = torch.einsum("btn,nc->btc", w / w.sum(2, keepdim=True).clamp_min(1e-12), xy)
    return centre - centre[:, :1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--action-encoder", default="models/cpu-default/action_encoder")
    ap.add_argument("--n", type=int, default=320, help="held-out clips (test seeds 0..n-1)")
    ap.add_argument("--k", type=int, nargs="+", default=[1, 4, 64], help="tokens per frame in the centroid")
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    enc = ActionEncoder.from_pretrained(args.action_encoder, device="cpu")
    world = World()
    rows = defaultdict(lambda: defaultdict(list))  # (latent, k) → class → [(error, zero, gain)]
    with torch.no_grad():
        for s in range(0, args.n, 32):
            clips = [world.clip(seed_for("test", i)) for i in range(s, min(args.n, s + 32))]
            video = torch.stack([frames_to_tensor(c.frames) for c in clips])
            f = enc.encoder.encode(video)
            patch = video.shape[-1] // int(round(f.z.shape[2] ** 0.5))
            lat = {"delta": bottleneck(f.z, f.spatial, enc.predictor, "delta", enc.precision),
                   "z − its time mean": f.z - f.z.mean(1, keepdim=True)}
            truth = []
            for c in clips:
                t = c.truth
                pos, cam = np.asarray(t.position_px), np.asarray(t.camera_px)
                truth.append((pos - pos[0]) - (cam - cam[0]))  # on-screen displacement [T, 2]
            for name, x in lat.items():
                for k in args.k:
                    off = track(x, min(k, x.shape[2]), patch).numpy()
                    for c, o, true in zip(clips, off, truth):
                        if o.shape[0] != true.shape[0]:  # δ frames ≠ video frames: sample the truth at δ's times
                            true = true[np.linspace(0, len(true) - 1, o.shape[0]).round().astype(int)]
                        sq = float((true * true).sum())
                        gain = float((o * true).sum() / sq) if sq > 1 else np.nan
                        rows[(name, k)][c.truth.action].append((np.linalg.norm(o - true, axis=1).mean(),
                                                                np.linalg.norm(true, axis=1).mean(), gain))
    for (name, k), by_class in rows.items():
        every = [r for v in by_class.values() for r in v]
        print(f"{name}, k = {k}: error {np.mean([r[0] for r in every]):.2f} px (zero {np.mean([r[1] for r in every]):.2f}), "
              f"gain {np.nanmedian([r[2] for r in every]):.2f}, {len(every)} clips")
        for cls in MOVING:
            v = by_class.get(cls, [])
            if v:
                print(f"   {cls:<11} n={len(v):3d}  error {np.mean([r[0] for r in v]):5.2f} px  zero {np.mean([r[1] for r in v]):5.2f}"
                      f"  gain {np.nanmedian([r[2] for r in v]):.2f}")


if __name__ == "__main__":
    main()
