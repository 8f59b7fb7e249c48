"""Generator stage: train G by conditional future-frame prediction on unlabeled clips (δ-Diffusion §3.3).

Self-supervised: for each training clip, the context is its first frame and the demonstration is the clip itself;
G learns to produce frames 1…T−1 from the context latent and the clip's δ. The frozen parts (foundation model, P,
autoencoder) run once per clip: their outputs go to a disk cache (features z and per-frame features, plus the
autoencoder latents), one cache for every bottleneck variant (`delta`, `none`, `temporal_norm`). δ = bottleneck(z, P(h))
is a fixed function of a clip too (P is frozen), so it is computed once per clip and variant into CACHE/delta-VARIANT/
(`cache_deltas`; rebuilt when P changes) — on the 2-core CPU running P per batch was about half of a training step.

Exports OUT/generator (generator.json + safetensors) at each checkpoint and a sample grid OUT/samples/step_XXXXXX.png
(demo | context | generated | ground truth on fixed held-out transfer triples).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import torch

from deltadiff.autoencoder import load_autoencoder
from deltadiff.bottleneck import ActionEncoder
from deltadiff.bottleneck.predictor import bottleneck
from deltadiff.diffusion.flow import FlowMatchingLoss
from deltadiff.encoders.cache import CachedFeatures, derive_cache, fill_cache
from deltadiff.errors import ConfigError
from deltadiff.generator import GeneratorConfig, SpaceTimeDiT
from deltadiff.training.loop import TrainConfig, train
from deltadiff.training.recipes import video_dataset

SAMPLE_TRIPLES = 4


def teacher_flow(frames: np.ndarray, cell: int) -> torch.Tensor:
    """A classical optical-flow teacher for the context warp: uint8 [T, H, W, 3] → float32 [T−1, 2, H/cell, W/cell],
    for each frame t ≥ 1 and each latent cell, where its content sat in frame 0 relative to the cell, in cells
    (Farnebäck flows chained frame to frame, `data.flow.chained_maps`, averaged over the cell's pixels).
    It reads only the clip's own frames: training stays self-supervised."""
    from deltadiff.data.flow import chained_maps

    maps = chained_maps(np.asarray(frames))  # [T, H, W, 2] absolute (x, y) in frame 0
    t, h, w = maps.shape[:3]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    disp = torch.from_numpy(maps[1:] - np.stack([xs, ys], -1)).permute(0, 3, 1, 2)  # [T−1, 2, H, W] pixels
    return torch.nn.functional.avg_pool2d(disp, cell) / cell


class GeneratorData(torch.utils.data.Dataset):
    """Training items {"latents" [T-1, c, h, w], "context" [c, h, w], "delta" [T', N, C]} from the latent cache and
    the δ cache, plus "flow" [T-1, 2, h, w] (`teacher_flow` of the decoded clip, computed once per clip and kept) when
    `autoencoder` is given."""

    def __init__(self, latents: CachedFeatures, deltas: CachedFeatures, autoencoder=None):
        self.latents, self.deltas, self.autoencoder, self._flows = latents, deltas, autoencoder, {}

    def __len__(self) -> int:
        return len(self.latents)

    def __getitem__(self, i: int) -> dict:
        lat = self.latents[i]["latents"]  # [T, c, h, w]
        out = {"latents": lat[1:], "context": lat[0], "delta": self.deltas[i]["delta"]}
        if self.autoencoder is not None:
            if i not in self._flows:
                from deltadiff.io.tensor import tensor_to_frames

                with torch.no_grad():
                    frames = tensor_to_frames(self.autoencoder.decode(lat[None].float())[0])
                self._flows[i] = teacher_flow(frames, frames.shape[1] // lat.shape[-1])
            out["flow"] = self._flows[i]
        return out


def cache_deltas(features: CachedFeatures, predictor, variant: str, device: str = "cpu", precision: str = "auto") -> CachedFeatures:
    """δ = bottleneck(z, P(h)) of every cached clip (P in `precision`), written once beside the feature cache
    (CACHE/delta-VARIANT/) and reused while P's weights, its precision and the cache stay the same."""
    from deltadiff.encoders.base import resolve_precision

    resolved = resolve_precision(device, precision)
    fingerprint = hashlib.sha1(f"{variant}|{features.meta.get('source')}|{len(features)}|{resolved}".encode())
    p = None
    if variant == "delta" and predictor is not None:
        for k, v in sorted(predictor.state_dict().items()):
            fingerprint.update(k.encode() + v.detach().float().cpu().numpy().tobytes())
        p = predictor.to(device).eval()

    def fn(batch: dict) -> dict:
        z, h = batch["z"].to(device), batch["spatial"].to(device)
        return {"delta": bottleneck(z, h, p, variant, resolved)}

    directory = derive_cache(features, features.directory / f"delta-{variant}", fn, fingerprint.hexdigest(),
                             label=f"caching δ ({variant})")
    if p is not None:
        p.to("cpu")
    return CachedFeatures(directory, fields=["delta"])


def delta_scale(deltas: CachedFeatures, clips: int = 256) -> float:
    """1/std of δ over the first `clips` cached clips: δ = z − P(h) is small next to z (P explains most of z), so it
    enters the network at unit scale whatever the encoder."""
    d = torch.stack([deltas[i]["delta"] for i in range(min(clips, len(deltas)))])
    return float(1.0 / d.std().clamp_min(1e-8))


def sample_grid(pipe, path: Path, n: int = SAMPLE_TRIPLES, steps: int = 8) -> Path:
    """demo | context | generated | target rows for the first n held-out transfer triples (a PNG contact sheet)."""
    from deltadiff.data.world import World, WorldConfig, seed_for
    from deltadiff.io import contact_sheet, write_image

    cfg = pipe.config
    world = World(WorldConfig(height=cfg.size, width=cfg.size, frames=cfg.frames, fps=cfg.fps))
    triples = [world.triple(seed_for("test", i)) for i in range(n)]
    gen = pipe.generate(np.stack([t.demo.frames for t in triples]), np.stack([t.context for t in triples]),
                        list(range(n)), steps=steps)
    videos, labels = [], []
    for t, g in zip(triples, gen):
        videos += [t.demo.frames, g, t.target.frames]
        labels += [f"demo: {t.demo.truth.action}", "generated", "target"]
    return write_image(path, contact_sheet(videos, labels))


def train_motion_head(model: SpaceTimeDiT, data: GeneratorData, train_config: TrainConfig, out: Path) -> None:
    """Stage 1 of a `motion_head` generator: M alone on the clips' teacher flow (`motion.MotionLoss`), the rest of G
    untouched, for `motion_steps` steps at batch `motion_batch`; then M is frozen (resumable like every stage: a
    finished head is reloaded from its state, not retrained)."""
    from deltadiff.generator.motion import MotionLoss

    cfg = model.config
    steps = cfg.motion_steps
    if steps > 0:
        head_config = dataclasses.replace(train_config, steps=steps, batch_size=cfg.motion_batch, ema_decay=None,
                                          lr=cfg.motion_lr or train_config.lr,
                                          warmup=min(train_config.warmup, steps // 10),
                                          checkpoint_every=min(train_config.checkpoint_every, steps))
        trained = train(model.motion, MotionLoss(cfg.motion_clip_norm), data, head_config, out, name="motion head")
        model.motion.load_state_dict(trained.state_dict())
    model.motion.requires_grad_(False)


def train_generator(data, action_encoder: str | Path, autoencoder: str | Path, out: str | Path,
                    model_config: GeneratorConfig, train_config: TrainConfig, *, variant: str | None = None,
                    frames: int = 16, size: int = 64, fps: float = 8.0, cache_clips: int = 4096,
                    cache_dir: str | Path | None = None, samples: bool = True) -> Path:
    """Train G on cached frozen features and latents; write OUT/generator and return it."""
    from deltadiff.pipeline import DeltaDiffusionPipeline, PipelineConfig

    out = Path(out)
    act = ActionEncoder.from_pretrained(action_encoder)
    variant = variant or act.variant
    ae = load_autoencoder(autoencoder)
    t_lat, c, h, w = ae.latent_shape(frames, size, size)
    if h != w:
        raise ConfigError(f"the generator works on square latents; the autoencoder gives {h}×{w}")
    # the preset fixes the architecture; the autoencoder fixes the latent shape
    model_config = dataclasses.replace(model_config, latent_channels=c, latent_size=h, frames=t_lat - 1,
                                       warp_unshuffle=getattr(ae, "patch", 1) if ae.kind == "pixel" else 1)
    dataset = video_dataset(data, frames, size, fps)
    count = min(cache_clips, len(dataset))
    source = f"{Path(action_encoder).resolve()}|{Path(autoencoder).resolve()}|{data}|{frames}x{size}@{fps}"
    act.encoder.to(train_config.resolved_device())  # the frozen encoder runs once per clip: on the training device (back to CPU after)
    cache = fill_cache(act.encoder, dataset, cache_dir or out / "cache", count=count, source=source,
                       batch_size=train_config.batch_size, extras={"latents": ae.encode})
    act.encoder.to("cpu")
    features = CachedFeatures(cache)
    t_d, n_d, c_d = features.meta["spatial"]  # δ's shape is the encoder's: [T', N, C]
    deltas = cache_deltas(features, act.predictor, variant, train_config.resolved_device(), act.precision)
    loss = FlowMatchingLoss(model_config.p_drop_delta, model_config.p_drop_context)
    teacher = model_config.context_warp and model_config.flow_teacher_weight > 0
    scale = delta_scale(deltas)
    model_config = dataclasses.replace(model_config, delta_frames=t_d, delta_tokens=n_d, delta_dim=c_d, delta_scale=scale)
    model = SpaceTimeDiT(model_config)
    pipe_config = PipelineConfig(frames=frames, size=size, fps=fps)

    def export(m: SpaceTimeDiT, step: int) -> None:
        m.save_pretrained(out / "generator")
        if samples:
            pipe = DeltaDiffusionPipeline(act.with_variant(variant), ae, copy.deepcopy(m), pipe_config, device="cpu")
            sample_grid(pipe, out / "samples" / f"step_{step:06d}.png")

    latents = CachedFeatures(cache, fields=["latents"])
    if model.motion is not None:
        train_motion_head(model, GeneratorData(latents, deltas, ae), train_config, out / "motion-run")
    data = GeneratorData(latents, deltas, ae if teacher else None)
    train(model, loss, data, train_config, out / "run", name="generator", on_checkpoint=export)
    return out / "generator"
