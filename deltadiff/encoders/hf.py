"""Adapters over transformers' video models: VideoPrism (the paper's encoder), V-JEPA 2 and VideoMAE.

Weights load from a local folder (`save_pretrained` layout) with `local_files_only=True`: nothing is downloaded.
Pixel normalisation and input size come from the folder's preprocessor config when it has one
(`video_preprocessor_config.json` / `preprocessor_config.json`: `image_mean`, `image_std`, `do_normalize`, `size`),
else from the model config and the defaults below.

How each gives per-frame features (`spatial`) on z's token grid:
- VideoPrism is factorised (ViViT "model 2"): a spatial ViT runs on each frame alone, then a temporal transformer mixes
  time. Its spatial states (after the spatial layer norm) are the per-frame features; its output is z. This is the
  paper's setup (δ-Diffusion §3.2, Fig. 2).
- V-JEPA 2 and VideoMAE are joint space-time ViTs with tubelets of 2 frames, so z has T' = T/2 steps. Per-frame features
  come from the same model on *static* clips: for tubelet j, its first frame repeated tubelet_size times. A static clip
  holds no motion, so these features explain appearance only — what the bottleneck needs.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from einops import rearrange, repeat

from deltadiff.encoders.base import Features, FoundationEncoder


def _size(value, default: int) -> tuple[int, int]:
    if value is None:
        return (default, default)
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, dict):  # processor configs: {"height", "width"} or {"shortest_edge"}
        if "height" in value:
            return (int(value["height"]), int(value["width"]))
        edge = value.get("shortest_edge") or value.get("crop_size") or default
        return (int(edge), int(edge))
    return tuple(int(v) for v in value)[-2:]  # type: ignore[return-value]


def quiet_transformers() -> None:
    """Loading a small local model should not print progress bars or hub warnings."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


class _HFEncoder(FoundationEncoder):
    default_mean = (0.0, 0.0, 0.0)
    default_std = (1.0, 1.0, 1.0)

    def _configure(self, config, path: Path | None) -> None:
        """Set image size and normalisation from the model config and, when present, the processor config."""
        self.image_size = self._native_size(config)
        self.mean, self.std = self.default_mean, self.default_std
        for name in ("video_preprocessor_config.json", "preprocessor_config.json"):
            f = path / name if path is not None else None
            if f is not None and f.exists():
                proc = json.loads(f.read_text())
                if proc.get("do_normalize", True) and "image_mean" in proc:
                    self.mean, self.std = tuple(proc["image_mean"]), tuple(proc["image_std"])
                elif proc.get("do_normalize") is False:
                    self.mean, self.std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
                break

    def __init__(self, path=None, *, model=None, batch_size: int = 16, precision: str = "auto"):
        super().__init__(path, model=model, batch_size=batch_size, precision=precision)
        if model is not None:
            self._configure(model.config, self.path)

    def _load(self, path: Path):
        quiet_transformers()
        model = self.model_class().from_pretrained(path, local_files_only=True)
        self._configure(model.config, path)
        return model


class FusedGELU(torch.nn.Module):
    """Exact (erf) GELU in one kernel, in place when autograd is off: an MLP's fc1 output has no other reader, and a
    fresh [B·T, N, 4C] buffer per layer costs page faults (one-thread median 65 → 60 ms per δ clip on the 2-core CPU)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.gelu(x) if torch.is_grad_enabled() else torch.ops.aten.gelu_(x)


def fused_gelu(model: torch.nn.Module) -> torch.nn.Module:
    """Give VideoPrism's MLPs `FusedGELU` where the config asks for the exact GELU. transformers' VideoPrism default,
    `gelu_python`, computes x·½(1 + erf(x/√2)) as five tensor ops: the same function, equal to float rounding, and
    ~10 % of the tiny encoder's compute plus page faults (docs/benchmarks.md). In place; returns `model`."""
    from transformers.models.videoprism.modeling_videoprism import VideoPrismMLP

    for m in model.modules():
        if isinstance(m, VideoPrismMLP) and m.config.hidden_act in ("gelu", "gelu_python"):
            m.activation_fn = FusedGELU()
    return model


class VideoPrismEncoder(_HFEncoder):
    """`VideoPrismVisionModel`: spatial states → per-frame features, output → z. T' = T, N = (H/p)·(W/p)."""

    name = "videoprism"

    def _freeze(self, model):
        return fused_gelu(super()._freeze(model))

    @staticmethod
    def model_class():
        from transformers import VideoPrismVisionModel

        return VideoPrismVisionModel

    def _native_size(self, config) -> tuple[int, int]:
        return _size(config.image_size, 288)

    def _load(self, path: Path):
        from transformers import AutoConfig, VideoPrismClipModel

        quiet_transformers()
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        if config.model_type == "videoprism":  # a video-text checkpoint: use its vision tower
            model = VideoPrismClipModel.from_pretrained(path, local_files_only=True).video_model.vision_model
        else:
            model = self.model_class().from_pretrained(path, local_files_only=True)
        self._configure(model.config, path)
        from deltadiff.encoders.tiny import MotionStem, TinyVideoPrism

        stem = MotionStem.load(path)  # deltadiff's tiny default may carry a frame-change stem (encoders/tiny.py)
        return model if stem is None else TinyVideoPrism(model, stem)

    def _forward(self, pixels: torch.Tensor) -> Features:
        if hasattr(self.model, "stem"):
            return Features(*self.model(pixels))
        b, t = pixels.shape[:2]
        num_frames = self.model.config.num_frames
        out = self.model(pixel_values_videos=pixels, interpolate_pos_encoding=t != num_frames)
        spatial = self.model.layernorm1(out.last_spatial_hidden_state)  # [B*T, N, C]: what the temporal stage reads
        spatial = rearrange(spatial, "(b t) n c -> b t n c", b=b)
        z = rearrange(out.last_hidden_state, "b (t n) c -> b t n c", t=t)
        return Features(spatial, z)


class _TubeletEncoder(_HFEncoder):
    """Joint space-time ViTs with tubelets: per-frame features from static clips (see module docstring)."""

    default_mean = (0.485, 0.456, 0.406)  # ImageNet, as both models' processors use
    default_std = (0.229, 0.224, 0.225)
    full_length_static = False  # True where position embeddings fix the clip length (VideoMAE)

    def _hidden(self, pixels: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _forward(self, pixels: torch.Tensor) -> Features:
        b, t = pixels.shape[:2]
        k = self.model.config.tubelet_size
        if t % k:
            raise ValueError(f"{self.name}: the clip has {t} frames, not a multiple of the tubelet size {k}")
        tp = t // k
        z = rearrange(self._hidden(pixels), "b (t n) c -> b t n c", t=tp)  # [B, T', N, C]
        held = t if self.full_length_static else k
        static = repeat(pixels[:, ::k], "b t c h w -> (b t) l c h w", l=held)  # first frame of each tubelet, held
        s = rearrange(self._hidden(static), "(b t) (l n) c -> b t l n c", b=b, l=held // k)
        # a full-length static clip has T' identical tubelets; take the one at z's time step (same position embedding)
        spatial = s[:, torch.arange(tp), torch.arange(tp)] if self.full_length_static else s[:, :, 0]
        return Features(spatial, z)


class VJEPA2Encoder(_TubeletEncoder):
    """`VJEPA2Model` encoder (predictor skipped). T' = T/2."""

    name = "vjepa2"

    @staticmethod
    def model_class():
        from transformers import VJEPA2Model

        return VJEPA2Model

    def _native_size(self, config) -> tuple[int, int]:
        return _size(config.crop_size, 256)

    def _hidden(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values_videos=pixels, skip_predictor=True).last_hidden_state


class VideoMAEEncoder(_TubeletEncoder):
    """`VideoMAEModel` (no masking at inference). T' = T/2."""

    name = "videomae"
    full_length_static = True  # fixed sinusoidal positions for num_frames × N tokens

    @staticmethod
    def model_class():
        from transformers import VideoMAEModel

        return VideoMAEModel

    def _native_size(self, config) -> tuple[int, int]:
        return _size(config.image_size, 224)

    def _hidden(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixels).last_hidden_state
