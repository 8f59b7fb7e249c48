"""`DiffusersVAE`: diffusers' pretrained KL autoencoders behind the FrameAutoencoder interface (for large scale).

Loaded from a local folder only (`local_files_only=True`; nothing is downloaded): a model folder with diffusers'
config.json, or a pipeline folder with a `vae/` subfolder. Supported classes:
- image VAEs (`AutoencoderKL`: SD 1.x/2.x, SDXL, SD3, Flux): frames fold into the batch, T' = T;
- causal video VAEs (`AutoencoderKLCogVideoX`, `AutoencoderKLHunyuanVideo`, `AutoencoderKLLTXVideo`,
  `AutoencoderKLWan`): the clip goes in whole as [B, 3, T, H, W], T' = 1 + (T − 1) / r (T must be 1 + k·r).

Latent normalisation follows the diffusers pipelines: z' = (z − μ) · scaling_factor / σ, with μ = latents_mean (per
channel) or shift_factor or 0, and σ = latents_std or 1. It is stored as FrameAutoencoder's (latent_mean, latent_std)
= (μ, σ / scaling_factor), so `measure_latent_stats` can replace it with statistics of your own data.
The encoder returns the posterior mode (deterministic); the VAE is frozen.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from einops import rearrange

from deltadiff.autoencoder.base import (
    CONFIG_NAME,
    FrameAutoencoder,
    _check_video,
    read_config,
)
from deltadiff.errors import ConfigError, InputNotFoundError

IMAGE_VAES = ("AutoencoderKL",)
VIDEO_VAES = ("AutoencoderKLCogVideoX", "AutoencoderKLHunyuanVideo", "AutoencoderKLLTXVideo", "AutoencoderKLWan")


def find_vae_folder(path: str | Path) -> Path | None:
    """`path` or `path/vae` when it holds a diffusers config.json naming a supported VAE class; else None."""
    path = Path(path)
    for folder in (path, path / "vae"):
        file = folder / "config.json"
        if file.is_file():
            try:
                name = json.loads(file.read_text()).get("_class_name", "")
            except (json.JSONDecodeError, AttributeError):
                continue
            if name in IMAGE_VAES + VIDEO_VAES:
                return folder
    return None


class DiffusersVAE(FrameAutoencoder):
    kind = "diffusers"

    def __init__(self, path: str | Path, dtype: torch.dtype | None = None, chunk: int = 16,
                 latent_mean: list[float] | None = None, latent_std: list[float] | None = None):
        import diffusers

        path = Path(path)
        folder = find_vae_folder(path)
        if folder is None:
            if not path.exists():
                raise InputNotFoundError(f"{path}: no such VAE folder; download it once with huggingface-cli and pass the local folder")
            raise InputNotFoundError(f"{path}: no diffusers VAE here (config.json with _class_name one of "
                                     f"{', '.join(IMAGE_VAES + VIDEO_VAES)}, in the folder or in vae/)")
        name = json.loads((folder / "config.json").read_text())["_class_name"]
        vae = getattr(diffusers, name).from_pretrained(str(folder), local_files_only=True, torch_dtype=dtype)
        cfg = dict(vae.config)
        channels = cfg.get("latent_channels") or cfg.get("z_dim")
        if latent_mean is None:  # the pipelines' convention (module docstring)
            sf = cfg.get("scaling_factor") or 1.0
            mu = cfg.get("latents_mean") or [cfg.get("shift_factor") or 0.0] * channels
            sigma = cfg.get("latents_std") or [1.0] * channels
            latent_mean, latent_std = list(mu), [s / sf for s in sigma]
        super().__init__(channels, latent_mean, latent_std)
        self.vae = vae.eval().requires_grad_(False)
        self.folder, self.class_name, self.chunk = folder, name, chunk
        self.temporal = name in VIDEO_VAES
        self.downsample = int(cfg.get("spatial_compression_ratio") or cfg.get("scale_factor_spatial")
                              or 2 ** (len(cfg["block_out_channels"]) - 1))
        self.temporal_downsample = int(cfg.get("temporal_compression_ratio") or cfg.get("scale_factor_temporal") or 1) if self.temporal else 1

    def config_dict(self) -> dict:
        return {"subfolder": "vae", "class_name": self.class_name, "chunk": self.chunk}

    # -- per-frame (image VAEs) ----------------------------------------------------------------------------------
    def encode_frames(self, x: torch.Tensor) -> torch.Tensor:
        dtype = self.vae.dtype
        return torch.cat([self.vae.encode(c.to(dtype)).latent_dist.mode().float() for c in x.split(self.chunk)])

    def decode_frames(self, z: torch.Tensor) -> torch.Tensor:
        dtype = self.vae.dtype
        return torch.cat([self.vae.decode(c.to(dtype)).sample.float() for c in z.split(self.chunk)])

    # -- whole clips (video VAEs) --------------------------------------------------------------------------------
    def encode(self, video: torch.Tensor) -> torch.Tensor:
        if not self.temporal:
            return super().encode(video)
        _check_video(video, self.downsample)
        r = self.temporal_downsample
        if (video.shape[1] - 1) % r:
            raise ConfigError(f"{self.class_name} needs 1 + k·{r} frames, got {video.shape[1]}")
        x = rearrange(video, "b t c h w -> b c t h w").to(self.vae.dtype)
        z = self.vae.encode(x).latent_dist.mode().float()  # [B, c, T', h, w]
        z = rearrange(z, "b c t h w -> b t c h w")
        return (z - self._mean) / self._std

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        if not self.temporal:
            return super().decode(latents)
        z = rearrange(latents * self._std + self._mean, "b t c h w -> b c t h w").to(self.vae.dtype)
        return rearrange(self.vae.decode(z).sample.float().clamp(-1, 1), "b c t h w -> b t c h w")

    def measure_latent_stats(self, videos):
        if self.temporal:
            raise ConfigError(f"measuring latent statistics is implemented for image VAEs only, not {self.class_name}")
        return super().measure_latent_stats(videos)

    # -- persistence: the VAE in diffusers' own safetensors layout under vae/, our JSON beside it ------------------
    def save_pretrained(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.vae.save_pretrained(str(path / "vae"), safe_serialization=True)
        cfg = {"kind": self.kind, "config": self.config_dict(), "latent_mean": self.latent_mean, "latent_std": self.latent_std}
        (path / CONFIG_NAME).write_text(json.dumps(cfg, indent=2))
        return path

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> DiffusersVAE:
        """A folder written by `save_pretrained`, or any local diffusers VAE / pipeline folder."""
        path = Path(path)
        if not (path / CONFIG_NAME).is_file():
            model = cls(path, dtype=dtype)
        else:
            saved = read_config(path)
            if saved["kind"] != cls.kind:
                raise ConfigError(f"{path}: holds a {saved['kind']!r} autoencoder, not a diffusers VAE; use load_autoencoder")
            c = saved["config"]
            model = cls(path / c.get("subfolder", "vae"), dtype=dtype, chunk=c.get("chunk", 16),
                        latent_mean=saved.get("latent_mean"), latent_std=saved.get("latent_std"))
        return model.to(device) if device is not None else model
