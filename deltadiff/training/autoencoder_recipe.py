"""Stage recipe: the frame autoencoder (deltadiff.autoencoder.TinyAutoencoder) → OUT/autoencoder.

Trains per frame on unlabeled clips (`video_dataset`: the world rendered on the fly, or a folder/manifest of videos):
each batch is `batch_size` clips of `frames` frames, folded into one batch of frames. A few frames per clip from many
clips beat many correlated frames from few. At every checkpoint (and the end) a copy of the model measures its latent
statistics on the first `stats_clips` clips and is exported with them (FrameAutoencoder.save_pretrained), so every
export is a complete, normalised autoencoder.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from deltadiff.autoencoder import (
    AutoencoderLoss,
    TinyAutoencoder,
    TinyAutoencoderConfig,
)
from deltadiff.errors import ConfigError
from deltadiff.training.loop import TrainConfig, train
from deltadiff.training.recipes import video_dataset


def train_autoencoder(data, out: str | Path, config: TinyAutoencoderConfig, train_config: TrainConfig, frames: int = 2,
                      size: int = 64, fps: float = 8.0, loss: AutoencoderLoss | None = None, stats_clips: int = 128) -> Path:
    """Train the tiny frame autoencoder; write OUT/autoencoder (loadable by load_autoencoder) and return it.
    OUT/state holds the resumable state, OUT/logs the TensorBoard scalars."""
    out = Path(out)
    if size % config.downsample:
        raise ConfigError(f"frame size {size} is not a multiple of the autoencoder's downsampling factor {config.downsample}")
    dataset = video_dataset(data, frames, size, fps)
    loss = loss or AutoencoderLoss()
    clips = [dataset[i]["video"] for i in range(min(stats_clips, len(dataset)))]  # [T, 3, H, W] each
    stats = [torch.stack(clips[s : s + 16]) for s in range(0, len(clips), 16)]  # [≤16, T, 3, H, W] each

    def export(m: TinyAutoencoder, step: int) -> None:
        ae = copy.deepcopy(m).eval()  # a copy: m keeps training
        device = next(ae.parameters()).device
        with torch.no_grad():
            ae.set_latent_stats(*ae.measure_latent_stats(v.to(device) for v in stats))
        ae.save_pretrained(out / "autoencoder")

    train(TinyAutoencoder(config), lambda m, b: loss(m, b["video"]), dataset, train_config, out, name="autoencoder",
          on_checkpoint=export)
    return out / "autoencoder"
