"""The CPU default foundation model: a tiny VideoPrism (same factorised spatial → temporal shape as the paper's
encoder), pretrained self-supervised by masked video modelling on unlabeled clips.

Objective (SimMIM-style, Xie et al. 2022, with per-frame random masks as in VideoMAE's ablations): replace a random
`mask_ratio` of patch embeddings by a learned mask token, run the encoder, and regress the normalised pixels of the
masked patches from z with a linear head. Masks are drawn independently per frame, so a masked patch is often visible in
a neighbouring frame at a displaced position: filling it in needs the temporal layers to model motion, which is exactly
what z must carry for δ. No labels are used anywhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from deltadiff.errors import ConfigError


@dataclass
class TinyFoundationConfig:
    image_size: int = 64
    num_frames: int = 16
    patch_size: int = 8
    hidden_size: int = 128
    num_heads: int = 4
    mlp_ratio: int = 4
    spatial_layers: int = 4
    temporal_layers: int = 2
    mask_ratio: float = 0.75
    motion_weight: float = 1.0  # weight of the frame-difference target (0: plain masked modelling)
    motion_target: str = "pixels"  # "pixels": the patch's own change; "coarse": 4×4-pooled change over the 3×3 patch
    # neighbourhood; "energy": the rectified change |x_{t+1} − x_t| and |x_t − x_{t−1}| per 2×2 cell (motion energy)
    norm_pix: bool = True  # MAE's per-patch normalised pixel targets

    def to_hf(self):
        from transformers import VideoPrismVisionConfig

        return VideoPrismVisionConfig(
            image_size=self.image_size,
            num_frames=self.num_frames,
            tubelet_size=(1, self.patch_size, self.patch_size),
            hidden_size=self.hidden_size,
            num_attention_heads=self.num_heads,
            intermediate_size=self.hidden_size * self.mlp_ratio,
            num_spatial_layers=self.spatial_layers,
            num_temporal_layers=self.temporal_layers,
        )


PRESETS = {
    "tiny": TinyFoundationConfig(),
    "micro": TinyFoundationConfig(hidden_size=32, num_heads=2, spatial_layers=1, temporal_layers=1),  # tests
}


def preset(name: str, **overrides) -> TinyFoundationConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown foundation preset {name!r}; choose one of {', '.join(PRESETS)}")
    return TinyFoundationConfig(**{**asdict(PRESETS[name]), **overrides})


def motion_dim(config: TinyFoundationConfig) -> int:
    if config.motion_target == "pixels":
        return 3 * config.patch_size**2
    if config.motion_target == "coarse":
        return 3 * (3 * config.patch_size // 4) ** 2
    if config.motion_target == "energy":
        return 2 * 3 * (config.patch_size // 2) ** 2  # forward and backward, 3 channels, (p/2)² cells
    raise ConfigError(f"unknown motion target {config.motion_target!r}; choose pixels, coarse or energy")


def motion_targets(pixels: torch.Tensor, config: TinyFoundationConfig) -> torch.Tensor:
    """Per-token change to the next frame, [B, T-1, N, D], from pixels [B, T, 3, H, W] in [0, 1].

    "pixels": x_{t+1} − x_t of the token's own patch. "coarse": the change average-pooled over 4×4 pixel cells (which
    averages sensor noise away) over the 3×3 neighbourhood of patches around the token — where things go next, not
    their texture, so the target rewards knowing the motion rather than reproducing edges.
    """
    p = config.patch_size
    if config.motion_target == "energy":  # rectified: its mean over tokens is the clip's motion energy, not ≈ 0
        b, t = pixels.shape[:2]
        change = F.avg_pool2d((pixels[:, 1:] - pixels[:, :-1]).abs().flatten(0, 1), 2).unflatten(0, (b, t - 1))
        return rearrange(change, "b t c (y p) (x q) -> b t (y x) (p q c)", p=p // 2, q=p // 2)
    if config.motion_target == "pixels":
        patches = rearrange(pixels, "b t c (y p) (x q) -> b t (y x) (p q c)", p=p, q=p)
        return patches[:, 1:] - patches[:, :-1]
    b, t = pixels.shape[:2]
    coarse = F.avg_pool2d(pixels.flatten(0, 1), 4)  # [B·T, 3, H/4, W/4]: a patch is (p/4)² cells
    coarse = coarse.unflatten(0, (b, t))
    change = (coarse[:, 1:] - coarse[:, :-1]).flatten(0, 1)  # [B·(T-1), 3, H/4, W/4]
    k = p // 4  # cells per patch side
    windows = F.unfold(change, kernel_size=3 * k, stride=k, padding=k)  # [B·(T-1), 3·(3k)², N]
    return rearrange(windows, "(b t) d n -> b t n d", b=b)


class MaskedVideoModel(nn.Module):
    """A VideoPrismVisionModel plus what pretraining needs: a mask token and a linear pixel head."""

    def __init__(self, config: TinyFoundationConfig):
        super().__init__()
        from transformers import VideoPrismVisionModel

        self.config = config
        self.encoder = VideoPrismVisionModel(config.to_hf())
        c = config.hidden_size
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c))
        nn.init.normal_(self.mask_token, std=0.02)
        self.head = nn.Linear(c, 3 * config.patch_size**2)
        self.motion_head = nn.Linear(c, motion_dim(config))
        if config.motion_target == "energy":  # start at "no motion": a random head's huge first loss swamps the clip
            nn.init.zeros_(self.motion_head.weight), nn.init.zeros_(self.motion_head.bias)

    def forward(self, pixels: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """pixels [B, T, 3, H, W] in [0, 1]; mask [B, T, N] bool (True = hidden). Returns z [B, T, N, C]."""
        enc = self.encoder
        b, t = pixels.shape[:2]
        x = enc.spatial_embeddings.patch_embeddings(pixels)  # [B*T, N, C]
        if mask is not None:
            m = rearrange(mask, "b t n -> (b t) n 1").to(x.dtype)
            x = x * (1 - m) + self.mask_token.to(x.dtype) * m
        x = x + enc.spatial_embeddings.position_embeddings
        for layer in enc.spatial_layers:
            x = layer(x)
        x = enc.temporal_embeddings(enc.layernorm1(x), pixels.shape)  # [B*N, T, C]
        for layer in enc.temporal_layers:
            x = layer(x)
        x = enc.layernorm2(x)
        return rearrange(x, "(b n) t c -> b t n c", b=b)


class MaskedVideoLoss:
    """Masked-patch pixel regression (per-patch normalised targets, MAE §3) plus a motion target: from z_t, regress
    each patch's change to the next frame, x_{t+1} − x_t. Static patches have a zero target, so this term is
    concentrated where things move — which is what z must carry for δ. Call with the model and a video batch."""

    def __init__(self, mask_ratio: float = 0.75, motion_weight: float = 1.0, norm_pix: bool = True):
        self.mask_ratio, self.motion_weight, self.norm_pix = mask_ratio, motion_weight, norm_pix

    def __call__(self, model: MaskedVideoModel, video: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """video [B, T, 3, H, W] in [-1, 1] → scalar loss."""
        p = model.config.patch_size
        pixels = (video + 1) / 2
        b, t, _, h, w = pixels.shape
        n = (h // p) * (w // p)
        noise = torch.rand(b, t, n, generator=generator, device=video.device)
        k = max(1, round(self.mask_ratio * n))
        mask = noise.argsort(-1).argsort(-1) < k  # exactly k hidden patches per frame, [B, T, N]
        z = model(pixels, mask)
        pred = model.head(z)  # [B, T, N, 3·p·p]
        patches = rearrange(pixels, "b t c (y p) (x q) -> b t (y x) (p q c)", p=p, q=p)
        if self.norm_pix:
            target = (patches - patches.mean(-1, keepdim=True)) / (patches.var(-1, keepdim=True) + 1e-6).sqrt()
        else:
            target = (patches - 0.5) / 0.25
        per_patch = F.mse_loss(pred.float(), target, reduction="none").mean(-1)
        loss = (per_patch * mask).sum() / mask.sum()
        if self.motion_weight and t > 1:
            change = motion_targets(pixels, model.config)  # [B, T-1, N, D]
            if model.config.motion_target == "energy":  # z_t predicts the energy to the next frame and from the last
                pred, d = model.motion_head(z).float(), change.shape[-1]
                err = 0.5 * (F.mse_loss(pred[:, :-1, :, :d], change) + F.mse_loss(pred[:, 1:, :, d:], change))
            else:
                err = F.mse_loss(model.motion_head(z[:, :-1]).float(), change)
            motion = err / change.pow(2).mean().clamp_min(1e-6)
            loss = loss + self.motion_weight * motion
        return loss
