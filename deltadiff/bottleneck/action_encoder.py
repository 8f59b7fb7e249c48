"""`ActionEncoder`: video → action latents δ, the generator's conditioning (frozen foundation model + P + variant).

Saved as a folder:
    action_encoder.json     {"encoder": kind, "encoder_path": path (relative to the folder or absolute),
                             "variant": "delta", "predictor": PredictorConfig, "frames": T, "size": S, "fps": F}
    predictor.safetensors   P's weights (absent for variants that do not use P)
    foundation/             the tiny default encoder (transformers `save_pretrained` layout), when it is ours
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from deltadiff.bottleneck.predictor import VARIANTS, FramePredictor, PredictorConfig, bottleneck
from deltadiff.encoders import FoundationEncoder, load_encoder
from deltadiff.errors import ConfigError, InputNotFoundError

CONFIG_NAME = "action_encoder.json"
WEIGHTS_NAME = "predictor.safetensors"


class ActionEncoder:
    """`encode(video [B, T, 3, H, W] in [-1, 1]) -> δ [B, T', N, C]`.

    The frozen encoder and P run in the encoder's `precision` ("auto": bf16 autocast on a CPU with native bf16, fp32
    elsewhere; "fp32"; "bf16"), `encoders.base.resolve_precision`."""

    def __init__(self, encoder: FoundationEncoder, predictor: FramePredictor | None, variant: str = "delta", meta: dict | None = None):
        if variant not in VARIANTS:
            raise ConfigError(f"unknown bottleneck {variant!r}; choose one of {', '.join(VARIANTS)}")
        self.encoder, self.predictor, self.variant = encoder, predictor, variant
        self.meta = meta or {}
        if predictor is not None:
            predictor.eval().requires_grad_(False)

    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> torch.Tensor:
        f = self.encoder.encode(video)
        p = self.predictor
        if p is not None:
            f = f.to(next(p.parameters()).device)
        return bottleneck(f.z, f.spatial, p, self.variant, self.precision)

    @property
    def precision(self) -> str:
        return getattr(self.encoder, "precision", "auto")

    __call__ = encode

    def with_variant(self, variant: str) -> "ActionEncoder":
        """The same encoder and P under another bottleneck (for ablations)."""
        return ActionEncoder(self.encoder, self.predictor, variant, self.meta)

    def to(self, device) -> "ActionEncoder":
        self.encoder.to(device)
        if self.predictor is not None:
            self.predictor.to(device)
        return self

    # -- persistence ---------------------------------------------------------------------------------------------
    def save_pretrained(self, path: str | Path, encoder_path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        cfg = {"encoder": self.encoder.name, "encoder_path": str(encoder_path), "variant": self.variant,
               "predictor": asdict(self.predictor.config) if self.predictor is not None else None, **self.meta}
        if self.predictor is not None:
            save_file({k: v.contiguous() for k, v in self.predictor.state_dict().items()}, str(path / WEIGHTS_NAME))
        (path / CONFIG_NAME).write_text(json.dumps(cfg, indent=2))
        return path

    @classmethod
    def from_pretrained(cls, path: str | Path, variant: str | None = None, device: str | None = None,
                        precision: str = "auto") -> "ActionEncoder":
        path = Path(path)
        cfg_file = path / CONFIG_NAME
        if not cfg_file.exists():
            raise InputNotFoundError(f"{path}: not an action encoder (no {CONFIG_NAME}); train one with `deltadiff train bottleneck`")
        cfg = json.loads(cfg_file.read_text())
        enc_path = Path(cfg["encoder_path"])
        encoder = load_encoder(cfg["encoder"], enc_path if enc_path.is_absolute() else path / enc_path, precision=precision)
        predictor = None
        if cfg.get("predictor"):
            predictor = FramePredictor(PredictorConfig(**cfg["predictor"]))
            predictor.load_state_dict(load_file(str(path / WEIGHTS_NAME)))
        meta = {k: v for k, v in cfg.items() if k not in ("encoder", "encoder_path", "variant", "predictor")}
        enc = cls(encoder, predictor, variant or cfg["variant"], meta)
        return enc.to(device) if device else enc
