"""The project's one conversion between boundary frames and model tensors.

Boundary: uint8 [T, H, W, 3] RGB (what io reads and writes). Inside: float32 [T, 3, H, W] (batched: [B, T, 3, H, W])
in [-1, 1], with x = u8 / 127.5 − 1 and back u8 = round((clamp(x, −1, 1) + 1) · 127.5).
"""

from __future__ import annotations

import numpy as np
import torch


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 [..., T, H, W, 3] → float32 [..., T, 3, H, W] in [-1, 1] (a single image [H, W, 3] → [3, H, W])."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim < 3 or frames.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames [..., H, W, 3], got {frames.dtype} {frames.shape}")
    x = torch.from_numpy(np.ascontiguousarray(frames)).movedim(-1, -3)  # [..., 3, H, W]
    return x.to(torch.float32).div_(127.5).sub_(1.0).contiguous()


def tensor_to_frames(x: torch.Tensor) -> np.ndarray:
    """float [..., T, 3, H, W] in [-1, 1] → uint8 [..., T, H, W, 3] (clamped, rounded to nearest)."""
    if not torch.is_tensor(x) or x.ndim < 3 or x.shape[-3] != 3:
        raise ValueError(f"expected a tensor [..., 3, H, W], got {type(x).__name__} {tuple(getattr(x, 'shape', ()))}")
    x = x.detach().to(device="cpu", dtype=torch.float32)
    u8 = ((x.clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)  # [..., 3, H, W]
    return u8.movedim(-3, -1).contiguous().numpy()  # [..., H, W, 3]
