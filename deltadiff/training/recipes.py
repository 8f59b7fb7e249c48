"""Stage recipes: which model, loss and data each training stage uses. All of them run the one loop in loop.py.

Data: "world" (the demonstration world's train split, rendered on the fly; labels are never read) or a folder/manifest
of videos (deltadiff.data.clips). Stages:
- foundation: the tiny VideoPrism, masked video modelling (encoders/tiny.py) → OUT/foundation (transformers layout)
- bottleneck: P regresses z from per-frame features, encoder frozen (bottleneck/) → OUT (an ActionEncoder folder)
"""

from __future__ import annotations

import copy
from pathlib import Path

from deltadiff.bottleneck import ActionEncoder, FramePredictor, PredictorConfig, PredictorLoss, fit_linear
from deltadiff.data.world import WorldClips, WorldConfig
from deltadiff.encoders import load_encoder
from deltadiff.encoders.cache import CachedFeatures, fill_cache
from deltadiff.encoders.hf import quiet_transformers
from deltadiff.encoders.tiny import MaskedVideoLoss, MaskedVideoModel, TinyFoundationConfig, save_foundation
from deltadiff.training.loop import TrainConfig, train

WORLD_TRAIN_CLIPS = 1_000_000_000  # the world's train split: effectively endless, sampled per batch


def video_dataset(data: str | Path, frames: int = 16, size: int = 64, fps: float = 8.0):
    """Unlabeled training clips: the world (on the fly) or a folder/manifest of videos."""
    if str(data) == "world":
        return WorldClips("train", n=WORLD_TRAIN_CLIPS, config=WorldConfig(height=size, width=size, frames=frames, fps=fps))
    from deltadiff.data.clips import ClipDataset

    return ClipDataset(data, num_frames=frames, fps=fps, size=size, train=True)


def train_foundation(data, out: str | Path, model_config: TinyFoundationConfig, train_config: TrainConfig, fps: float = 8.0) -> Path:
    """Pretrain the tiny foundation model; writes OUT/foundation (loadable by VideoPrismEncoder) and returns it."""
    out = Path(out)
    dataset = video_dataset(data, model_config.num_frames, model_config.image_size, fps)
    model = MaskedVideoModel(model_config)
    loss = MaskedVideoLoss(model_config.mask_ratio, model_config.motion_weight, model_config.norm_pix)

    quiet_transformers()

    def export(m: MaskedVideoModel, step: int) -> None:
        save_foundation(m, out / "foundation")

    train(model, lambda m, b: loss(m, b["video"]), dataset, train_config, out, name="foundation", on_checkpoint=export)
    return out / "foundation"


def train_bottleneck(data, foundation: str | Path, out: str | Path, train_config: TrainConfig, frames: int = 16,
                     size: int = 64, fps: float = 8.0, encoder_kind: str = "videoprism", width: int = 128, depth: int = 2,
                     cache_clips: int = 2048, cache_dir: str | Path | None = None) -> Path:
    """Train P on frozen features of `foundation`; write an ActionEncoder folder at OUT and return it.

    The encoder runs once per clip: features of `cache_clips` training clips go to a disk cache (OUT/feature_cache
    unless `cache_dir`), and P trains for as many epochs over them as `train_config.steps` asks.
    """
    out = Path(out)
    foundation = Path(foundation).resolve()
    encoder = load_encoder(encoder_kind, foundation, batch_size=train_config.batch_size)
    dataset = video_dataset(data, frames, size, fps)
    encoder.to(train_config.resolved_device())  # the frozen encoder runs once per clip, on the training device
    cache = fill_cache(encoder, dataset, cache_dir or out / "feature_cache", count=min(cache_clips, len(dataset)),
                       source=f"{foundation}@{data}")
    encoder.to("cpu")
    features = CachedFeatures(cache)
    _, n, c = features.meta["spatial"]
    predictor = FramePredictor(PredictorConfig(channels=c, tokens=n, width=width, depth=depth, heads=4))
    meta = {"frames": frames, "size": size, "fps": fps}
    rel = foundation.relative_to(out.resolve()) if foundation.is_relative_to(out.resolve()) else foundation

    def export(p: FramePredictor, step: int) -> None:
        ActionEncoder(encoder, copy.deepcopy(p), "delta", meta).save_pretrained(out, rel)  # a copy: p keeps training

    if not depth:  # the linear map alone: its exact least-squares fit, one pass over the cache
        loss = fit_linear(predictor, features)
        export(predictor, 0)
        print(f"bottleneck: linear P fitted in closed form on {len(features)} clips, loss {loss:.4f}")
        return out
    train(predictor, PredictorLoss(), features, train_config, out / "bottleneck_run", name="bottleneck", on_checkpoint=export)
    return out
