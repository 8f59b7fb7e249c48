"""The per-frame feature predictor P and the appearance bottleneck δ = z − P(h) (δ-Diffusion §3.2, Fig. 2).

P sees one frame's features at a time — it never mixes time — and regresses that frame's spatio-temporal features z_t.
Whatever a single frame explains (appearance, where things are) it predicts and δ cancels; what needs the other frames
(motion, the action) it cannot predict, so it remains in δ.

Tensor convention: features `[B, T, N, C]` (N tokens per frame, C channels).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange
from torch import nn

from deltadiff.encoders.base import inference_autocast
from deltadiff.errors import ConfigError

VARIANTS = ("delta", "none", "temporal_norm")


@dataclass
class PredictorConfig:
    channels: int = 128  # C of the encoder's features (input and output)
    tokens: int = 64  # N per frame
    width: int = 128
    depth: int = 2  # 0: P is the linear map alone (docs/results.md, twenty-fourth session)
    heads: int = 4


class FramePredictor(nn.Module):
    """P: per-frame features h_t [N, C] → predicted z_t [N, C]; a small transformer over one frame's tokens."""

    def __init__(self, config: PredictorConfig):
        super().__init__()
        self.config = config
        c, w = config.channels, config.width
        self.skip = nn.Linear(c, c)  # a linear map of h is the obvious first guess at z; any blocks learn the rest
        if not config.depth:
            return
        self.norm_in = nn.LayerNorm(c)
        self.proj_in = nn.Linear(c, w)
        self.pos = nn.Parameter(torch.zeros(1, config.tokens, w))
        layer = nn.TransformerEncoderLayer(w, config.heads, 4 * w, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, config.depth, enable_nested_tensor=False)
        self.norm_out = nn.LayerNorm(w)
        self.proj_out = nn.Linear(w, c)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, t, n, c = h.shape
        if n != self.config.tokens or c != self.config.channels:
            raise ConfigError(f"P was built for {self.config.tokens}×{self.config.channels} features, got {n}×{c}; "
                              "train the bottleneck for this encoder")
        x = rearrange(h, "b t n c -> (b t) n c")  # frames are independent: time folds into the batch
        if not self.config.depth:
            return rearrange(self.skip(x), "(b t) n c -> b t n c", b=b)
        y = self.proj_in(self.norm_in(x)) + self.pos
        y = self.proj_out(self.norm_out(self.blocks(y))) + self.skip(x)
        return rearrange(y, "(b t) n c -> b t n c", b=b)


@torch.no_grad()
def fit_linear(predictor: FramePredictor, features, ridge: float = 1e-3, batch_size: int = 32) -> float:
    """Fit a depth-0 P (the linear map alone) in closed form: ridge least squares of z on h over every token of
    `features` (items {"spatial", "z"} [T, N, C], e.g. a feature cache), in float64; `ridge` is relative to the mean
    square of h. Returns the fit's loss as `PredictorLoss` counts it (error over z's variance).

    Why closed form: the map is convex in its weights, so the exact optimum costs one pass over the cache; a linear P
    leaves in δ nothing that is linear in the frame's features (docs/results.md, twenty-fourth session)."""
    if predictor.config.depth:
        raise ConfigError("fit_linear fits P of depth 0 (the linear map alone)")
    c = predictor.config.channels
    gram, cross = torch.zeros(c + 1, c + 1, dtype=torch.float64), torch.zeros(c + 1, c, dtype=torch.float64)
    zz, zsum, count = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.float64), 0
    loader = torch.utils.data.DataLoader(features, batch_size=batch_size)
    for batch in loader:
        h, z = batch["spatial"].double().reshape(-1, c), batch["z"].double().reshape(-1, c)
        x = torch.cat([h, torch.ones(len(h), 1, dtype=h.dtype)], 1)
        gram += x.T @ x
        cross += x.T @ z
        zz, zsum, count = zz + (z**2).sum(), zsum + z.sum(), count + len(z)
    if not count:
        raise ConfigError("no features to fit P on")
    reg = torch.zeros(c + 1, dtype=torch.float64)
    reg[:c] = ridge * gram.diagonal()[:c].mean()
    w = torch.linalg.solve(gram + torch.diag(reg), cross)  # [C + 1, C]
    predictor.skip.weight.copy_(w[:c].T.to(predictor.skip.weight.dtype))
    predictor.skip.bias.copy_(w[c].to(predictor.skip.bias.dtype))
    sse = zz - 2 * (w * cross).sum() + (w * (gram @ w)).sum()  # Σ|z − xw|² from the sums
    var = zz / (count * c) - (zsum / (count * c)) ** 2  # z.var() over every element, as PredictorLoss takes it
    return float(sse / (count * c) / var)


def bottleneck(z: torch.Tensor, h: torch.Tensor | None, predictor: FramePredictor | None, variant: str = "delta",
               precision: str = "auto") -> torch.Tensor:
    """Action latents from features: `delta` z − P(h) (default), `none` z, `temporal_norm` z normalised over time.
    P runs in `precision` (`encoders.base.resolve_precision`: bf16 autocast on a CPU with native bf16 under "auto")."""
    if variant == "delta":
        if predictor is None or h is None:
            raise ConfigError("the 'delta' bottleneck needs per-frame features and a trained P")
        with inference_autocast(h.device, precision):
            predicted = predictor(h)
        return z - predicted.to(z.dtype)
    if variant == "none":
        return z
    if variant == "temporal_norm":  # the paper's ablation: remove per-token statistics over time
        return (z - z.mean(1, keepdim=True)) / (z.std(1, keepdim=True) + 1e-5)
    raise ConfigError(f"unknown bottleneck {variant!r}; choose one of {', '.join(VARIANTS)}")


class PredictorLoss:
    """Regress z from per-frame features (encoders frozen): mean squared error per token, relative to z's variance."""

    def __call__(self, predictor: FramePredictor, batch: dict) -> torch.Tensor:
        z, h = batch["z"], batch["spatial"]  # [B, T, N, C]
        return ((predictor(h) - z) ** 2).mean() / z.var().clamp_min(1e-8)
