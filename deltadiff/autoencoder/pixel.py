"""`PixelSpace`: no autoencoder — the generator works on pixels, behind the same interface.

`patch` > 1 folds each patch×patch block of pixels into channels (space-to-depth, a fixed permutation), so a 64×64×3
frame becomes 16×16×48 with patch 4: the generator's token grid is then the same as over a 16×16 latent, and encode →
decode is exact for frames in [-1, 1] (a permutation; the default statistics are mean 0, std 1, which are exact in
floating point). The comparison with the learned
autoencoder is in docs/autoencoder.md.
"""

from __future__ import annotations

import torch
from einops import rearrange

from deltadiff.autoencoder.base import FrameAutoencoder
from deltadiff.errors import ConfigError


class PixelSpace(FrameAutoencoder):
    kind = "pixel"

    def __init__(self, patch: int = 1, latent_mean: list[float] | None = None, latent_std: list[float] | None = None):
        if patch < 1:
            raise ConfigError(f"pixel-space patch must be ≥ 1, got {patch}")
        super().__init__(3 * patch * patch, latent_mean, latent_std)
        self.patch = self.downsample = patch

    def config_dict(self) -> dict:
        return {"patch": self.patch}

    @classmethod
    def from_config(cls, config: dict, latent_mean=None, latent_std=None) -> PixelSpace:
        return cls(int(config.get("patch", 1)), latent_mean, latent_std)

    def encode_frames(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch
        return rearrange(x, "n c (h p) (w q) -> n (c p q) h w", p=p, q=p)  # [N, 3·p², H/p, W/p]

    def decode_frames(self, z: torch.Tensor) -> torch.Tensor:
        p = self.patch
        return rearrange(z, "n (c p q) h w -> n c (h p) (w q)", p=p, q=p)  # [N, 3, H, W]

