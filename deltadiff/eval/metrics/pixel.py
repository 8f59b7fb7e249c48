"""Paired pixel metrics: PSNR, SSIM (torchmetrics) and ΔPSNR controllability (Genie, Bruce et al. 2024, §3.2).

Generated video i is compared with reference video i (same length and size). Pixels are taken to [0, 1]
(data_range = 1). Conventions:
- PSNR of a pair = 10·log10(1 / MSE) with the MSE over all its frames; reported as the mean over pairs.
  Identical videos give +∞ (returned as `inf`, never an error); a mean containing +∞ is +∞.
- SSIM: torchmetrics' Gaussian SSIM (11×11 window, σ = 1.5, k1 = 0.01, k2 = 0.03) per frame, mean over frames, then
  pairs. Frames must be at least 11×11.
- ΔPSNR (Genie eq. in §3.2): ΔₜPSNR = PSNR(xₜ, x̂ₜ) − PSNR(xₜ, x̂′ₜ), where x̂ is generated from the latents inferred
  from the true video and x̂′ from other (random) latents; PSNRs are averaged over pairs before the difference.
  Reported at frame t (0-based, frame 0 is the given context frame; Genie uses t = 4) and over the clip (clip PSNR as
  above). Higher means the latents control the output more.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from deltadiff.eval.metrics.preprocess import MetricInputError, as_clips, to_float

SSIM_WINDOW = 11


def paired_clips(generated, reference, what: str = "generated") -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Pairs of `float [T, 3, H, W]` in [0, 1], converted one pair at a time; MetricInputError (raised before the
    first pair) if counts or shapes differ."""
    g, r = as_clips(generated), as_clips(reference)
    if len(g) != len(r):
        raise MetricInputError(f"paired metrics need as many {what} as reference videos, got {len(g)} and {len(r)}")
    for i, (a, b) in enumerate(zip(g, r)):
        if a.shape != b.shape:
            raise MetricInputError(f"pair {i}: {what} video is {_desc(a)} but the reference is {_desc(b)}; "
                                   "compare clips of one length and size (e.g. --frames/--size)")
    return (((to_float(a) + 1) / 2, (to_float(b) + 1) / 2) for a, b in zip(g, r))


def _desc(x: torch.Tensor) -> str:
    return f"{x.shape[0]} frames of {x.shape[-1]}×{x.shape[-2]}"


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    if torch.equal(a, b):
        return math.inf
    # imported on use: torchmetrics takes seconds to import
    from torchmetrics.functional.image import peak_signal_noise_ratio

    return float(peak_signal_noise_ratio(a.double(), b.double(), data_range=1.0))


def psnr_per_pair(generated, reference) -> torch.Tensor:
    """PSNR (dB) of each pair over all its frames `[N]`; +∞ where a pair is identical."""
    return torch.tensor([_psnr(a, b) for a, b in paired_clips(generated, reference)], dtype=torch.float64)


def psnr(generated, reference) -> float:
    """Mean PSNR (dB) over pairs."""
    return float(psnr_per_pair(generated, reference).mean())


def ssim_per_pair(generated, reference) -> torch.Tensor:
    """SSIM of each pair (mean over its frames) `[N]`."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    out = []
    for a, b in paired_clips(generated, reference):
        if min(a.shape[-2:]) < SSIM_WINDOW:
            raise MetricInputError(f"SSIM needs frames of at least {SSIM_WINDOW}×{SSIM_WINDOW}, got {_desc(a)}")
        # float32: torchmetrics convolves the SSIM statistics, and float64 convolutions are ~40× slower on CPUs (values ≤ 3e-7 apart, measured)
        s = structural_similarity_index_measure(a.float(), b.float(), data_range=1.0, reduction="none")  # [T]
        out.append(s.mean())
    return torch.stack(out).to(torch.float64)


def ssim(generated, reference) -> float:
    """Mean SSIM over pairs (1 = identical)."""
    return float(ssim_per_pair(generated, reference).mean())


def delta_psnr(reference, generated, generated_other, t: int = 4) -> dict[str, float]:
    """Genie's ΔPSNR: `generated` from the true demo's latents, `generated_other` from other latents, vs `reference`.

    Returns psnr_t / psnr_other_t / delta_psnr_t at frame t and psnr_clip / psnr_other_clip / delta_psnr_clip.
    """
    true_pairs = paired_clips(generated, reference)
    other_pairs = paired_clips(generated_other, reference, what="other-latent")
    keys = ("psnr_t", "psnr_other_t", "psnr_clip", "psnr_other_clip")
    acc: dict[str, list[float]] = {k: [] for k in keys}
    for (g, x), (g_other, _) in zip(true_pairs, other_pairs):  # x: the ground truth
        if not 0 <= t < x.shape[0]:
            raise MetricInputError(f"ΔPSNR at t={t} needs clips of more than {t} frames, got {x.shape[0]}")
        for k, v in zip(keys, (_psnr(g[t], x[t]), _psnr(g_other[t], x[t]), _psnr(g, x), _psnr(g_other, x))):
            acc[k].append(v)
    out: dict[str, float] = {"t": t, **{k: float(torch.tensor(v, dtype=torch.float64).mean()) for k, v in acc.items()}}
    out["delta_psnr_t"] = out["psnr_t"] - out["psnr_other_t"]
    out["delta_psnr_clip"] = out["psnr_clip"] - out["psnr_other_clip"]
    return out
