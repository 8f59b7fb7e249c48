"""Distances between two sets of features: Fréchet distance (FVD, FID) and kernel distance (KID).

Features are `[N, D]` (torch or numpy); everything is computed in float64.
- Fréchet distance (Heusel et al. 2017, eq. 6) between Gaussians fitted to the two sets:
  ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½), covariances with the unbiased ÷(n−1) like tfgan / the reference FVD code.
  tr (Σ₁Σ₂)^½ = Σ √λᵢ(Σ₁^½ Σ₂ Σ₁^½): a symmetric PSD eigenproblem, so no complex square roots to clean up; from
  features with fewer samples than dimensions, the nuclear norm of an N1×N2 matrix instead (same value, exact).
- KID (Bińkowski et al. 2018): unbiased MMD² with the cubic polynomial kernel k(x, y) = (xᵀy / D + 1)³, averaged over
  random subsets. Subsets are drawn like torchmetrics (per round: a permutation of the real set, then of the fake set).
"""

from __future__ import annotations

import math

import numpy as np
import torch


def _f64(x) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).detach().to("cpu", torch.float64)
    if x.ndim != 2:
        raise ValueError(f"expected features [N, D], got shape {tuple(x.shape)}")
    return x


def gaussian_stats(features) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean `[D]` and unbiased covariance `[D, D]` (÷(n−1)) of features `[N, D]`, N ≥ 2."""
    f = _f64(features)
    if f.shape[0] < 2:
        raise ValueError(f"a covariance needs at least 2 samples, got {f.shape[0]}")
    mu = f.mean(0)
    d = f - mu
    return mu, d.T @ d / (f.shape[0] - 1)


def _psd_eigvals(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigen-decomposition of a symmetric PSD matrix with round-off eigenvalues (< 1e-12·max) set to 0: their square
    roots (~1e-7 each) would otherwise add up to a visible bias on rank-deficient covariances."""
    w, v = torch.linalg.eigh((m + m.T) / 2)
    return torch.where(w > 1e-12 * w.abs().max(), w, torch.zeros_like(w)), v


def _sqrt_psd(m: torch.Tensor) -> torch.Tensor:
    w, v = _psd_eigvals(m)
    return (v * w.sqrt()) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁Σ₂)^½ between N(μ₁, Σ₁) and N(μ₂, Σ₂)."""
    mu1, mu2 = (torch.as_tensor(m, dtype=torch.float64) for m in (mu1, mu2))
    s1, s2 = (torch.as_tensor(s, dtype=torch.float64) for s in (sigma1, sigma2))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.shape[0], mu1.shape[0]):
        raise ValueError(f"mismatched statistics: μ {tuple(mu1.shape)} vs {tuple(mu2.shape)}, Σ {tuple(s1.shape)} vs {tuple(s2.shape)}")
    r = _sqrt_psd(s1)
    inner = r @ s2 @ r  # Σ₁^½ Σ₂ Σ₁^½: same eigenvalues as Σ₁Σ₂, but symmetric PSD
    tr_sqrt = _psd_eigvals(inner)[0].sqrt().sum()
    d = (mu1 - mu2).square().sum() + s1.trace() + s2.trace() - 2 * tr_sqrt
    return float(d)


def frechet_distance_features(features1, features2) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets `[N1, D]`, `[N2, D]`.

    With fewer samples than dimensions the covariances are low-rank and tr (Σ₁Σ₂)^½ is the nuclear norm of
    X₁X₂ᵀ / √((N1−1)(N2−1)) for the centred features X (the non-zero eigenvalues of Σ₁Σ₂ are the squared singular
    values of that N1×N2 matrix): exact, and far cheaper than a D×D eigenproblem (D = 2048 for FID).
    """
    f1, f2 = _f64(features1), _f64(features2)
    (mu1, s1), (mu2, s2) = gaussian_stats(f1), gaussian_stats(f2)
    if max(len(f1), len(f2)) > f1.shape[1]:
        return frechet_distance(mu1, s1, mu2, s2)
    x1, x2 = f1 - mu1, f2 - mu2
    tr_sqrt = torch.linalg.svdvals(x1 @ x2.T).sum() / math.sqrt((len(f1) - 1) * (len(f2) - 1))
    return float((mu1 - mu2).square().sum() + s1.trace() + s2.trace() - 2 * tr_sqrt)


def _poly_mmd2(x: torch.Tensor, y: torch.Tensor, degree: int, gamma: float | None, coef: float) -> torch.Tensor:
    """Unbiased MMD² between equal-size samples x, y `[m, D]` with k(a, b) = (γ aᵀb + c)^degree."""
    g = 1.0 / x.shape[1] if gamma is None else gamma
    kxx, kyy, kxy = ((a @ b.T * g + coef) ** degree for a, b in ((x, x), (y, y), (x, y)))
    m = x.shape[0]
    within = (kxx.sum() - kxx.diagonal().sum() + kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return within - 2 * kxy.sum() / m**2


def kernel_distance(real, fake, subsets: int = 100, subset_size: int = 1000, degree: int = 3,
                    gamma: float | None = None, coef: float = 1.0, generator: torch.Generator | None = None) -> tuple[float, float]:
    """KID: (mean, population std) of the unbiased polynomial MMD² over `subsets` random subsets of `subset_size`.

    Each round draws `randperm(len(real))` then `randperm(len(fake))` from `generator` (the global RNG if None).
    """
    r, f = _f64(real), _f64(fake)
    if min(len(r), len(f)) < subset_size:
        raise ValueError(f"KID subset size {subset_size} exceeds the number of samples ({len(r)} real, {len(f)} fake); lower it")
    if subset_size < 2:
        raise ValueError("KID needs subsets of at least 2 samples")
    scores = []
    for _ in range(subsets):
        xr = r[torch.randperm(len(r), generator=generator)[:subset_size]]
        xf = f[torch.randperm(len(f), generator=generator)[:subset_size]]
        scores.append(_poly_mmd2(xr, xf, degree, gamma, coef))
    s = torch.stack(scores)
    return float(s.mean()), float(s.std(unbiased=False))
