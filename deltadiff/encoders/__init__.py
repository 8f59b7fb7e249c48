"""Frozen video foundation models behind one interface: `encode(video [B,T,3,H,W] in [-1,1]) -> Features(spatial, z)`.

`load_encoder(kind, path)` builds an adapter that loads its weights lazily from a local folder:
`videoprism` (the paper's encoder and the tiny CPU default), `vjepa2`, `videomae`.
"""

from __future__ import annotations

from pathlib import Path

from deltadiff.encoders.base import (
    PRECISIONS,
    Features,
    FoundationEncoder,
    inference_autocast,
    resolve_precision,
)
from deltadiff.encoders.hf import VideoMAEEncoder, VideoPrismEncoder, VJEPA2Encoder
from deltadiff.errors import ConfigError

ENCODERS: dict[str, type[FoundationEncoder]] = {
    "videoprism": VideoPrismEncoder,
    "vjepa2": VJEPA2Encoder,
    "videomae": VideoMAEEncoder,
}


def load_encoder(kind: str, path: str | Path, batch_size: int = 16, precision: str = "auto") -> FoundationEncoder:
    """An adapter of `kind` over the model saved in the local folder `path` (loaded on first use); `precision` as in
    `encoders.base.resolve_precision`."""
    if kind not in ENCODERS:
        raise ConfigError(f"unknown encoder {kind!r}; choose one of {', '.join(ENCODERS)}")
    return ENCODERS[kind](path, batch_size=batch_size, precision=precision)


__all__ = ["ENCODERS", "PRECISIONS", "Features", "FoundationEncoder", "VJEPA2Encoder", "VideoMAEEncoder", "VideoPrismEncoder",
           "inference_autocast", "load_encoder", "resolve_precision"]
