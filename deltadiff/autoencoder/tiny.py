"""`TinyAutoencoder`: the in-repo per-frame conv autoencoder (CPU default candidate) and its loss.

Encoder: space-to-depth by `stem` (cheap: no convolution ever runs at full resolution), a conv to widths[0], residual
blocks, then one stride-2 conv + blocks per further width, and a 3×3 conv to the latent channels. The decoder mirrors
it (nearest upsampling + conv) and ends in depth-to-space. Downsampling = stem · 2^(len(widths) − 1); the "cpu"
preset maps 64×64×3 → 16×16×4 (12× fewer numbers). Deterministic by default; `variational=True` gives the KL
autoencoder of Rombach et al. 2022 §3 (the encoder predicts mean and log-variance; the loss adds a small KL term).
docs/autoencoder.md has the measurements behind the preset.

Tensor convention: frames [N, 3, H, W] in [-1, 1] (time already folded into N by FrameAutoencoder); latents [N, c, h, w].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from einops import rearrange
from torch import nn

from deltadiff.autoencoder.base import FrameAutoencoder
from deltadiff.errors import ConfigError


@dataclass
class TinyAutoencoderConfig:
    latent_channels: int = 4
    widths: tuple[int, ...] = (32, 64)  # one level per width; each after the first halves the resolution
    blocks: int = 1  # residual blocks per level (encoder and decoder)
    stem: int = 2  # space-to-depth factor before the first conv
    groups: int = 8  # GroupNorm groups (per frame: no batch statistics)
    variational: bool = False

    def __post_init__(self) -> None:
        self.widths = tuple(int(w) for w in self.widths)  # JSON gives lists
        if self.latent_channels < 1 or not self.widths or self.blocks < 0 or self.stem < 1:
            raise ConfigError(f"invalid autoencoder config {self}")
        if any(w % self.groups for w in self.widths):
            raise ConfigError(f"every width must be a multiple of groups={self.groups}, got widths {self.widths}")

    @property
    def downsample(self) -> int:
        return self.stem * 2 ** (len(self.widths) - 1)


PRESETS = {
    "cpu": TinyAutoencoderConfig(),  # 64×64×3 → 16×16×4
    "micro": TinyAutoencoderConfig(widths=(8, 16), blocks=1, groups=4),  # tests
}


def preset(name: str, **overrides) -> TinyAutoencoderConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown autoencoder preset {name!r}; choose one of {', '.join(PRESETS)}")
    return TinyAutoencoderConfig(**{**asdict(PRESETS[name]), **{k: v for k, v in overrides.items() if v is not None}})


class ResBlock(nn.Module):
    def __init__(self, width: int, groups: int):
        super().__init__()
        self.net = nn.Sequential(nn.GroupNorm(groups, width), nn.SiLU(), nn.Conv2d(width, width, 3, padding=1),
                                 nn.GroupNorm(groups, width), nn.SiLU(), nn.Conv2d(width, width, 3, padding=1))
        nn.init.zeros_(self.net[-1].weight)  # each block starts as the identity
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


def _out(width: int, channels: int, groups: int) -> nn.Sequential:
    return nn.Sequential(nn.GroupNorm(groups, width), nn.SiLU(), nn.Conv2d(width, channels, 3, padding=1))


class TinyAutoencoder(FrameAutoencoder):
    kind = "tiny"

    def __init__(self, config: TinyAutoencoderConfig, latent_mean: list[float] | None = None, latent_std: list[float] | None = None):
        super().__init__(config.latent_channels, latent_mean, latent_std)
        self.config = config
        self.downsample = config.downsample
        w, g, s, k = config.widths, config.groups, config.stem, config.blocks
        enc: list[nn.Module] = [nn.Conv2d(3 * s * s, w[0], 3, padding=1)]
        for i, width in enumerate(w):
            if i:
                enc.append(nn.Conv2d(w[i - 1], width, 3, stride=2, padding=1))
            enc += [ResBlock(width, g) for _ in range(k)]
        enc.append(_out(w[-1], config.latent_channels * (2 if config.variational else 1), g))
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = [nn.Conv2d(config.latent_channels, w[-1], 3, padding=1)]
        for i in reversed(range(len(w))):
            dec += [ResBlock(w[i], g) for _ in range(k)]
            if i:
                dec += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(w[i], w[i - 1], 3, padding=1)]
        dec.append(_out(w[0], 3 * s * s, g))
        self.decoder = nn.Sequential(*dec)

    def config_dict(self) -> dict:
        return asdict(self.config)

    @classmethod
    def from_config(cls, config: dict, latent_mean=None, latent_std=None) -> TinyAutoencoder:
        return cls(TinyAutoencoderConfig(**config), latent_mean, latent_std)

    def _moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        s = self.config.stem
        h = self.encoder(rearrange(x, "n c (h p) (w q) -> n (c p q) h w", p=s, q=s))  # input [N, 3·s², H/s, W/s]
        if not self.config.variational:
            return h, None
        mean, logvar = h.chunk(2, dim=1)
        return mean, logvar.clamp(-30, 20)

    def encode_frames(self, x: torch.Tensor) -> torch.Tensor:
        return self._moments(x)[0]  # [N, c, h, w]; the posterior mean for the KL variant

    def decode_frames(self, z: torch.Tensor) -> torch.Tensor:
        s = self.config.stem
        return rearrange(self.decoder(z), "n (c p q) h w -> n c (h p) (w q)", p=s, q=s)  # [N, 3, H, W]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training pass: frames [N, 3, H, W] → (reconstruction [N, 3, H, W], unclamped; KL per frame [N])."""
        mean, logvar = self._moments(x)
        if logvar is None:
            return self.decode_frames(mean), mean.new_zeros(mean.shape[0])
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).flatten(1).sum(1)
        return self.decode_frames(z), kl


class AutoencoderLoss:
    """L1 + `mse`·MSE + `edge`·L1 of the image gradients (keeps small objects' edges sharp) + `kl`·KL per pixel.
    Call with the model and a video batch [B, T, 3, H, W] in [-1, 1]; frames fold into the batch."""

    def __init__(self, mse: float = 0.0, edge: float = 0.5, kl: float = 1e-6):
        self.mse, self.edge, self.kl = mse, edge, kl

    def __call__(self, model: TinyAutoencoder, video: torch.Tensor) -> torch.Tensor:
        x = rearrange(video, "b t c h w -> (b t) c h w")
        recon, kl = model(x)
        err = recon.float() - x
        loss = err.abs().mean()
        if self.mse:
            loss = loss + self.mse * err.pow(2).mean()
        if self.edge:
            loss = loss + self.edge * (_grad(recon.float(), x)).mean()
        if self.kl and model.config.variational:
            loss = loss + self.kl * kl.mean() / x[0].numel()
        return loss


def _grad(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|∂a − ∂b| along x and y, concatenated: [N, 3, H·(W−1) + (H−1)·W]."""
    dx = (a[..., :, 1:] - a[..., :, :-1]) - (b[..., :, 1:] - b[..., :, :-1])
    dy = (a[..., 1:, :] - a[..., :-1, :]) - (b[..., 1:, :] - b[..., :-1, :])
    return torch.cat([dx.abs().flatten(2), dy.abs().flatten(2)], dim=2)

