"""Frame autoencoders: the space the generator works in (DESIGN.md: autoencoder).

One interface, `FrameAutoencoder`: `encode(video [B, T, 3, H, W] in [-1, 1]) -> latents [B, T', c, h, w]` (normalised to
about unit variance) and `decode(latents) -> video`, plus `latent_channels`, `downsample`, `save_pretrained` /
`from_pretrained`. Kinds:
- `tiny`: the in-repo per-frame conv autoencoder, trained with `deltadiff train autoencoder`;
- `pixel`: pixel space (optionally space-to-depth), exact;
- `diffusers`: diffusers' pretrained KL VAEs (AutoencoderKL, and the causal video VAEs) from a local folder.

    ae = load_autoencoder("runs/ae/autoencoder")      # or "pixel", "pixel:4", or a diffusers VAE folder
    z = ae.encode(video)                              # [B, T, 4, 16, 16] for the cpu preset at 64×64
"""

from __future__ import annotations

from pathlib import Path

from deltadiff.autoencoder.base import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    FrameAutoencoder,
    read_config,
)
from deltadiff.autoencoder.diffusers_vae import DiffusersVAE, find_vae_folder
from deltadiff.autoencoder.pixel import PixelSpace
from deltadiff.autoencoder.tiny import (
    PRESETS,
    AutoencoderLoss,
    TinyAutoencoder,
    TinyAutoencoderConfig,
    preset,
)
from deltadiff.errors import ConfigError, InputNotFoundError

AUTOENCODERS: dict[str, type[FrameAutoencoder]] = {"tiny": TinyAutoencoder, "pixel": PixelSpace, "diffusers": DiffusersVAE}


def load_autoencoder(kind_or_path: str | Path, device=None) -> FrameAutoencoder:
    """`"pixel"` / `"pixel:P"` (space-to-depth by P), a folder written by `save_pretrained`, or a diffusers VAE folder
    (model or pipeline). Frozen: eval mode, no grads."""
    spec = str(kind_or_path)
    if spec == "pixel" or spec.startswith("pixel:"):
        patch = spec.partition(":")[2] or "1"
        if not patch.isdigit():
            raise ConfigError(f"pixel space takes an integer patch, e.g. pixel:4; got {spec!r}")
        ae = PixelSpace(int(patch)).eval()
        return ae.to(device) if device is not None else ae
    path = Path(kind_or_path)
    if not path.exists():
        raise InputNotFoundError(f"{path}: no such autoencoder folder (or give 'pixel' / 'pixel:P' for pixel space)")
    if (path / CONFIG_NAME).is_file():
        kind = read_config(path)["kind"]
        if kind not in AUTOENCODERS:
            raise ConfigError(f"{path}: unknown autoencoder kind {kind!r}; known: {', '.join(AUTOENCODERS)}")
        return AUTOENCODERS[kind].from_pretrained(path, device=device)
    if find_vae_folder(path) is not None:
        return DiffusersVAE.from_pretrained(path, device=device)
    raise InputNotFoundError(f"{path}: not an autoencoder (no {CONFIG_NAME}, no diffusers VAE config.json); "
                             "train one with `deltadiff train autoencoder`, or give 'pixel' or a diffusers VAE folder")


__all__ = [
    "AUTOENCODERS", "CONFIG_NAME", "PRESETS", "WEIGHTS_NAME",
    "AutoencoderLoss", "DiffusersVAE", "FrameAutoencoder", "PixelSpace", "TinyAutoencoder", "TinyAutoencoderConfig",
    "load_autoencoder", "preset",
]  # fmt: skip
