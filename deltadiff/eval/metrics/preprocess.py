"""Inputs of the metrics: videos as the project holds them, and the one resize the reference networks expect.

Accepted videos (each function takes any of these):
- `float [B, T, 3, H, W]` in [-1, 1] (the project's internal convention, deltadiff/io/tensor.py);
- `uint8 [B, T, H, W, 3]` or one `uint8 [T, H, W, 3]` (the io boundary);
- a list of `uint8 [T, H, W, 3]` arrays or `float [T, 3, H, W]` tensors, which may differ in size and length.

Resize: TensorFlow 1's `resize_bilinear` (align_corners=False, no half-pixel centres, no antialiasing), the resize of
the reference FVD code (`tf.image.resize_bilinear` to 224×224) and of torch-fidelity/torchmetrics for Inception
(299×299). The aspect ratio is not kept (the reference code squashes too).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from deltadiff.errors import DeltaDiffError


class MetricInputError(DeltaDiffError, ValueError):
    """Videos given to a metric do not fit it (too few, too short, unpaired, mismatched sizes)."""


def as_clips(videos) -> list[torch.Tensor]:
    """Any accepted input → a list of `[T, 3, H, W]` tensors, one per video: uint8 kept as uint8 (a view, no copy),
    floats as float32 in [-1, 1]. `to_float` converts a batch when it is needed, so folders of videos stay compact."""
    if torch.is_tensor(videos):
        if videos.ndim == 4:
            videos = videos[None]
        if videos.ndim != 5 or videos.shape[2] != 3:
            raise ValueError(f"expected a tensor [B, T, 3, H, W] (float in [-1, 1]), got {tuple(videos.shape)}")
        return list(videos if videos.dtype == torch.uint8 else videos.float())
    if isinstance(videos, np.ndarray):
        videos = videos[None] if videos.ndim == 4 else videos
        if videos.dtype != np.uint8 or videos.ndim != 5 or videos.shape[-1] != 3:
            raise ValueError(f"expected uint8 videos [B, T, H, W, 3] or [T, H, W, 3], got {videos.dtype} {videos.shape}")
        return list(torch.from_numpy(np.ascontiguousarray(videos)).permute(0, 1, 4, 2, 3))  # [B, T, 3, H, W] view
    if isinstance(videos, Sequence) and not isinstance(videos, (str, bytes)):
        out: list[torch.Tensor] = []
        for v in videos:
            out += as_clips(v[None] if torch.is_tensor(v) else np.asarray(v)[None])
        return out
    raise ValueError(f"expected videos as a tensor, an array or a list of them, got {type(videos).__name__}")


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels → float32 in [-1, 1] (x / 127.5 − 1, as deltadiff/io/tensor.py); floats pass through."""
    return x.float().div_(127.5).sub_(1.0) if x.dtype == torch.uint8 else x.float()


def to_pixels(x: torch.Tensor) -> torch.Tensor:
    """uint8 → float32 in [0, 255] exactly; floats in [-1, 1] → (x + 1) · 127.5."""
    return x.float() if x.dtype == torch.uint8 else (x.float().clamp(-1, 1) + 1) * 127.5


def batches(clips: list[torch.Tensor], batch_size: int) -> Iterator[torch.Tensor]:
    """Consecutive clips of one shape and dtype stacked into `[b ≤ batch_size, T, 3, H, W]`."""
    i = 0
    while i < len(clips):
        j = i + 1
        while j < len(clips) and j - i < batch_size and clips[j].shape == clips[i].shape and clips[j].dtype == clips[i].dtype:
            j += 1
        yield torch.stack(clips[i:j])
        i = j


def _tf1_coords(n_in: int, n_out: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """TF1 bilinear sampling in float32 like TF: source = dst · (n_in / n_out), no half-pixel offset, edge clamped."""
    src = torch.arange(n_out, device=device, dtype=torch.float32) * torch.tensor(n_in / n_out, dtype=torch.float32)
    lo = src.floor()
    frac = src - lo
    lo = lo.long().clamp(max=n_in - 1)
    return lo, (lo + 1).clamp(max=n_in - 1), frac


def resize_tf1_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """`[..., H, W]` → `[..., h, w]` as TF1 `tf.image.resize_bilinear(align_corners=False)` computes it.

    Same order of operations as TF's kernel: interpolate along x within the top and bottom rows, then along y.
    """
    h, w = size
    if tuple(x.shape[-2:]) == (h, w):
        return x
    lo, hi, a = _tf1_coords(x.shape[-1], w, x.device)
    x = x[..., lo] + (x[..., hi] - x[..., lo]) * a  # [..., H, w]
    lo, hi, a = _tf1_coords(x.shape[-2], h, x.device)
    return x[..., lo, :] + (x[..., hi, :] - x[..., lo, :]) * a[:, None]  # [..., h, w]
