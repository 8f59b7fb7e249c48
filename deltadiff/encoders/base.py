"""The frozen video foundation model interface (DESIGN.md: encoders).

`encode(video) -> Features(spatial, z)`, both `[B, T', N, C]` on the same token grid:
- `spatial`: per-frame features — what each frame alone explains (appearance). Input of the bottleneck's P.
- `z`: spatio-temporal features of the whole clip (appearance + motion). δ = z − P(spatial) (paper §3.2).

Video convention at this interface: `float [B, T, 3, H, W]` in [-1, 1] (deltadiff.io.tensor). Each adapter converts to
its model's own pixel range and size. Adapters are frozen (eval mode, no grads), load their weights lazily on first use,
batch long inputs, and never download: weights come from a local folder (or the local Hugging Face cache).
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from deltadiff.errors import ConfigError, InputNotFoundError

PRECISIONS = ("auto", "fp32", "bf16")


@functools.cache  # the CPU does not change: checked once, not on every encode
def native_bf16_cpu() -> bool:
    """Whether this CPU has bf16 dot-product instructions (AVX512-BF16 or AMX tiles), as torch's cpuinfo reports them.
    oneDNN's own check (`torch.ops.mkldnn._is_mkldnn_bf16_supported`) also says yes on AVX-512 CPUs without them, where
    bf16 is emulated and slower."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # another torch build
        return False


def resolve_precision(device: str | torch.device, precision: str = "auto") -> str:
    """"fp32" or "bf16": what frozen-feature inference on `device` runs in. "auto" is the environment variable
    DELTADIFF_PRECISION when it is set (fp32 | bf16: e.g. fp32 for the same bits on every machine; the tests set it),
    else bf16 autocast on a CPU with native bf16 (measured on this project's 2-core CPU: δ extraction ~1.4× faster, the
    probe report within 2.6 points — a few of its 300 test clips —, docs/benchmarks.md) and fp32 everywhere else — on a GPU move the
    model itself to bf16 instead (`encoder.to(dtype=torch.bfloat16)`)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        precision = os.environ.get("DELTADIFF_PRECISION", "auto") or "auto"
        if precision not in PRECISIONS:
            raise ConfigError(f"DELTADIFF_PRECISION={precision!r}; set it to one of {', '.join(PRECISIONS)} or unset it")
    if precision != "auto":
        return precision
    return "bf16" if torch.device(device).type == "cpu" and native_bf16_cpu() else "fp32"


def inference_autocast(device: str | torch.device, precision: str = "auto"):
    """The autocast context of frozen-feature inference (`resolve_precision`); gradients are not its business. "fp32"
    is a null context: it does not switch off an autocast the caller has opened."""
    device = torch.device(device)
    if resolve_precision(device, precision) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass
class Features:
    spatial: torch.Tensor  # [B, T', N, C] per-frame features
    z: torch.Tensor  # [B, T', N, C] spatio-temporal features

    def to(self, *args, **kwargs) -> "Features":
        return Features(self.spatial.to(*args, **kwargs), self.z.to(*args, **kwargs))


class FoundationEncoder:
    """Base class of the adapters. Subclasses implement `_load()` and `_forward(pixels) -> Features`.

    Deliberately not an `nn.Module`: a frozen encoder must never end up in a training checkpoint (STYLE.md §5).
    """

    name = "encoder"
    image_size: tuple[int, int] = (64, 64)  # (H, W) the model wants
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)  # normalisation applied to [0, 1] pixels
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __init__(self, path: str | Path | None = None, *, model: nn.Module | None = None, batch_size: int = 16,
                 precision: str = "auto"):
        if model is None and path is None:
            raise ConfigError(f"{self.name}: give a local model folder (path=...) or a model instance")
        resolve_precision("cpu", precision)  # checks the name
        self.precision = precision  # "auto" | "fp32" | "bf16" (`resolve_precision`)
        self.path = Path(path) if path is not None else None
        self.batch_size = batch_size
        self._model = model
        if model is not None:
            self._freeze(model)

    # -- loading -------------------------------------------------------------------------------------------------
    @property
    def model(self) -> nn.Module:
        if self._model is None:
            if not self.path.exists():
                raise InputNotFoundError(
                    f"{self.path}: no such model folder; download the weights once with huggingface-cli on a machine "
                    "with internet and pass the local folder"
                )
            self._model = self._freeze(self._load(self.path))
        return self._model

    @property
    def resolved_precision(self) -> str:
        """"fp32" or "bf16": what `encode` runs in — the `precision` setting on the model's device, or bf16 whatever the
        setting when the model itself was moved to bf16."""
        weight = next(self.model.parameters())
        return "bf16" if weight.dtype == torch.bfloat16 else resolve_precision(weight.device, self.precision)

    def _freeze(self, model: nn.Module) -> nn.Module:
        return model.eval().requires_grad_(False)

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> "FoundationEncoder":
        """Move the (loaded) model; bf16 halves memory on GPUs."""
        self._model = self.model.to(device=device, dtype=dtype)
        return self

    def _load(self, path: Path) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- encoding ------------------------------------------------------------------------------------------------
    def preprocess(self, video: torch.Tensor) -> torch.Tensor:
        """[-1, 1] video [B, T, 3, H, W] → the model's normalised pixels at its image size."""
        if video.ndim != 5 or video.shape[2] != 3:
            raise ValueError(f"expected a video batch [B, T, 3, H, W], got {tuple(video.shape)}")
        b, t = video.shape[:2]
        x = (video.float() + 1) / 2  # [B, T, 3, H, W] in [0, 1]
        if tuple(x.shape[-2:]) != tuple(self.image_size):
            x = F.interpolate(x.flatten(0, 1), size=self.image_size, mode="bilinear", antialias=True, align_corners=False)
            x = x.view(b, t, 3, *self.image_size)
        mean = torch.tensor(self.mean, device=x.device).view(1, 1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, 1, 3, 1, 1)
        return (x - mean) / std

    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> Features:
        """Frozen features of a video batch, computed in chunks of `batch_size` clips."""
        model = self.model
        dtype = next(model.parameters()).dtype
        device = next(model.parameters()).device
        with inference_autocast(device, self.precision):
            outs = [self._forward(self.preprocess(chunk.to(device)).to(dtype)) for chunk in video.split(self.batch_size)]
        return Features(torch.cat([o.spatial for o in outs]).float(), torch.cat([o.z for o in outs]).float())

    def _forward(self, pixels: torch.Tensor) -> Features:  # pragma: no cover - abstract
        raise NotImplementedError

    __call__ = encode
