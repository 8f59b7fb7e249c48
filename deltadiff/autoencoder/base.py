"""The frame autoencoder interface (DESIGN.md: autoencoder) — the space the generator denoises in.

    encode(video [B, T, 3, H, W] in [-1, 1]) -> latents [B, T', c, h, w]   (T' = T unless the VAE compresses time)
    decode(latents [B, T', c, h, w])         -> video [B, T, 3, H, W] in [-1, 1]

Latents are normalised to about zero mean and unit variance per channel, `(raw − latent_mean) / latent_std`, with the
statistics measured on training data after training (the role of Stable Diffusion's `scaling_factor`; diffusion noise
schedules assume unit-variance data). They are stored in the saved config, so encode/decode are fixed functions.

Saved as a folder (never pickles of code):
    autoencoder.json          {"kind": "tiny" | "pixel" | "diffusers", "config": {...}, "latent_mean": [c] | null,
                               "latent_std": [c] | null}
    autoencoder.safetensors   the weights (absent for weightless kinds such as pixel space)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import torch
from einops import rearrange
from safetensors.torch import load_file, save_file
from torch import nn

from deltadiff.errors import ConfigError, InputNotFoundError

CONFIG_NAME = "autoencoder.json"
WEIGHTS_NAME = "autoencoder.safetensors"


class FrameAutoencoder(nn.Module):
    """Base class. Per-frame subclasses implement `encode_frames` / `decode_frames` on raw (unnormalised) latents
    `[N, 3, H, W] <-> [N, c, h, w]` and `config_dict`; this class folds time into the batch and normalises."""

    kind = "base"
    latent_channels: int
    downsample: int  # spatial: H / h
    temporal_downsample: int = 1  # T / T' (1 for per-frame autoencoders)

    def __init__(self, latent_channels: int, latent_mean: list[float] | None = None, latent_std: list[float] | None = None):
        super().__init__()
        self.latent_channels = latent_channels
        # non-persistent: the statistics live in the JSON config, the buffers only follow .to(device)
        self.register_buffer("_mean", torch.zeros(latent_channels, 1, 1), persistent=False)
        self.register_buffer("_std", torch.ones(latent_channels, 1, 1), persistent=False)
        self.latent_mean: list[float] | None = None
        self.latent_std: list[float] | None = None
        if (latent_mean is None) != (latent_std is None):
            raise ConfigError("latent_mean and latent_std must be given together")
        if latent_mean is not None:
            self.set_latent_stats(latent_mean, latent_std)

    # -- the interface -------------------------------------------------------------------------------------------
    def encode_frames(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode_frames(self, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def config_dict(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """[B, T, 3, H, W] in [-1, 1] → normalised latents [B, T, c, h, w]."""
        _check_video(video, self.downsample)
        b = video.shape[0]
        z = self.encode_frames(rearrange(video, "b t c h w -> (b t) c h w"))  # [B*T, c, h, w]
        z = (z - self._mean) / self._std
        return rearrange(z, "(b t) c h w -> b t c h w", b=b)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents [B, T, c, h, w] → video [B, T, 3, H, W], clamped to [-1, 1]."""
        if latents.ndim != 5 or latents.shape[2] != self.latent_channels:
            raise ValueError(f"expected latents [B, T, {self.latent_channels}, h, w], got {tuple(latents.shape)}")
        b = latents.shape[0]
        z = rearrange(latents, "b t c h w -> (b t) c h w") * self._std + self._mean
        x = self.decode_frames(z).clamp(-1, 1)  # [B*T, 3, H, W]
        return rearrange(x, "(b t) c h w -> b t c h w", b=b)

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        """(T', c, h, w) of the latents of a [T, 3, H, W] clip."""
        s, r = self.downsample, self.temporal_downsample
        return (1 + (frames - 1) // r if r > 1 else frames), self.latent_channels, height // s, width // s

    # -- latent statistics ---------------------------------------------------------------------------------------
    def set_latent_stats(self, mean: Iterable[float], std: Iterable[float]) -> None:
        mean, std = [float(v) for v in mean], [float(v) for v in std]
        if len(mean) != self.latent_channels or len(std) != self.latent_channels or min(std) <= 0:
            raise ConfigError(f"latent statistics need {self.latent_channels} means and positive stds")
        self.latent_mean, self.latent_std = mean, std
        self._mean.copy_(torch.tensor(mean).view(-1, 1, 1))
        self._std.copy_(torch.tensor(std).view(-1, 1, 1))

    @torch.no_grad()
    def measure_latent_stats(self, videos: Iterable[torch.Tensor]) -> tuple[list[float], list[float]]:
        """Per-channel mean and std of the raw latents of `videos` (each [B, T, 3, H, W]); accumulated in float64."""
        n, s, ss = 0, 0.0, 0.0
        for video in videos:
            z = self.encode_frames(rearrange(video, "b t c h w -> (b t) c h w")).double()  # [N, c, h, w]
            n += z.numel() // z.shape[1]
            s = s + z.sum((0, 2, 3))
            ss = ss + (z * z).sum((0, 2, 3))
        if n == 0:
            raise ConfigError("no data to measure the latent statistics on")
        mean = s / n
        std = (ss / n - mean * mean).clamp_min(1e-12).sqrt()
        return mean.tolist(), std.tolist()

    # -- persistence ---------------------------------------------------------------------------------------------
    def save_pretrained(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        weights = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        if weights:
            save_file(weights, str(path / WEIGHTS_NAME))
        cfg = {"kind": self.kind, "config": self.config_dict(), "latent_mean": self.latent_mean, "latent_std": self.latent_std}
        (path / CONFIG_NAME).write_text(json.dumps(cfg, indent=2))
        return path

    @classmethod
    def from_config(cls, config: dict, latent_mean=None, latent_std=None) -> FrameAutoencoder:  # pragma: no cover
        raise NotImplementedError

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device | None = None) -> FrameAutoencoder:
        """Load a folder written by `save_pretrained`; frozen (eval mode, no grads)."""
        path = Path(path)
        saved = read_config(path)
        if saved["kind"] != cls.kind:
            raise ConfigError(f"{path}: holds a {saved['kind']!r} autoencoder, not {cls.kind!r}; use load_autoencoder")
        model = cls.from_config(saved["config"], saved.get("latent_mean"), saved.get("latent_std"))
        if (path / WEIGHTS_NAME).exists():
            model.load_state_dict(load_file(str(path / WEIGHTS_NAME)))
        model = model.eval().requires_grad_(False)
        return model.to(device) if device is not None else model


def read_config(path: Path) -> dict:
    """The parsed autoencoder.json of `path`, with a one-line error when the folder is not an autoencoder."""
    if not path.exists():
        raise InputNotFoundError(f"{path}: no such autoencoder folder")
    file = path / CONFIG_NAME
    if not file.is_file():
        raise InputNotFoundError(f"{path}: not an autoencoder (no {CONFIG_NAME}); train one with `deltadiff train autoencoder`")
    try:
        saved = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"{file}: not valid JSON ({e.msg} at line {e.lineno}); re-export the autoencoder") from None
    if not isinstance(saved, dict) or "kind" not in saved or "config" not in saved:
        raise ConfigError(f"{file}: missing 'kind' or 'config'; re-export the autoencoder")
    return saved


def _check_video(video: torch.Tensor, downsample: int) -> None:
    if video.ndim != 5 or video.shape[2] != 3:
        raise ValueError(f"expected a video batch [B, T, 3, H, W], got {tuple(video.shape)}")
    if video.shape[-1] % downsample or video.shape[-2] % downsample:
        raise ConfigError(f"frame size {video.shape[-2]}×{video.shape[-1]} is not a multiple of the autoencoder's "
                          f"downsampling factor {downsample}; resize or crop the video")
