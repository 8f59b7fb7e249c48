"""LPIPS (Zhang et al. 2018, v0.1, AlexNet) — only with backbone weights the user supplies.

The AlexNet backbone (torchvision's `alexnet-owt-7be5be79.pth`) cannot be obtained offline, and LPIPS under another
backbone would not be LPIPS; so without `weights` this metric is not computed. The calibrated linear heads are the
ones torchmetrics ships (`torchmetrics/functional/image/lpips_models/alex.pth`).

Computation (torchmetrics `_LPIPS`, net="alex"): inputs in [-1, 1] → (x − shift) / scale → the five ReLU outputs of
AlexNet's features → unit-normalise over channels → squared difference → 1×1 linear head → spatial mean → sum.
Tensor convention: frames `float [N, 3, H, W]` in [-1, 1] (H, W ≥ 32); result `[N]`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn

from deltadiff.eval.metrics.weights import MetricWeightsError

_CHANNELS = (64, 192, 384, 256, 256)
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


def _alexnet_features() -> nn.Sequential:
    """torchvision's AlexNet `features` (same indices, so its state dict loads as is)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
    )  # fmt: skip


class LPIPS(nn.Module):
    _TAPS = (1, 4, 7, 9, 11)  # indices of the ReLUs whose outputs LPIPS compares

    def __init__(self):
        super().__init__()
        self.features = _alexnet_features()
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in _CHANNELS)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        x = (x - self.shift) / self.scale
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self._TAPS:
                out.append(x / torch.sqrt(1e-8 + x.square().sum(1, keepdim=True)))  # unit norm over channels
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W], [N, 3, H, W] in [-1, 1] → LPIPS distance per image [N]."""
        if x.shape[-1] < 32 or x.shape[-2] < 32:
            raise ValueError(f"LPIPS (AlexNet) needs frames of at least 32×32, got {tuple(x.shape[-2:])}")
        return sum(lin((a - b).square()).mean((1, 2, 3)) for lin, a, b in zip(self.lins, self._taps(x), self._taps(y)))


def _lin_weights() -> dict[str, torch.Tensor]:
    spec = importlib.util.find_spec("torchmetrics")
    path = Path(next(iter(spec.submodule_search_locations))) / "functional" / "image" / "lpips_models" / "alex.pth"
    sd = torch.load(path, map_location="cpu", weights_only=True)
    return {f"lins.{k}.weight": sd[f"lin{k}.model.1.weight"] for k in range(len(_CHANNELS))}


def load_lpips(weights: str | Path, device: str = "cpu") -> LPIPS:
    """LPIPS with the AlexNet backbone from `weights` (torchvision AlexNet state dict: .pth or .safetensors)."""
    path = Path(weights)
    if not path.is_file():
        raise MetricWeightsError(f"LPIPS backbone weights {path} not found; pass torchvision's alexnet-owt-7be5be79.pth")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path))
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 — whatever the loader trips on, the user's fix is the same
        raise MetricWeightsError(f"{path}: not a readable weight file ({type(e).__name__}); pass an AlexNet state dict") from None
    sd = sd.get("state_dict", sd) if isinstance(sd, dict) else {}
    backbone = {k: v for k, v in sd.items() if k.startswith("features.")}
    model = LPIPS()
    expected = {k for k in model.state_dict() if k.startswith("features.")}
    if set(backbone) != expected or any(backbone[k].shape != model.state_dict()[k].shape for k in expected):
        raise MetricWeightsError(f"{path}: not a torchvision AlexNet state dict (need {', '.join(sorted(expected)[:2])}, …)")
    model.load_state_dict(backbone | _lin_weights() | {"shift": model.shift, "scale": model.scale})
    return model.eval().requires_grad_(False).to(device)


@torch.inference_mode()
def lpips_frames(model: LPIPS, x: torch.Tensor, y: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """LPIPS per frame `[N]` of paired frames `float [N, 3, H, W]` in [-1, 1]."""
    torch.set_flush_denormal(True)
    dev = model.shift.device
    return torch.cat([model(x[i : i + batch_size].to(dev), y[i : i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)])


def lpips(generated, reference, weights: str | Path, device: str = "cpu") -> float:
    """Mean LPIPS over paired videos (per frame, mean over frames, then over pairs)."""
    from deltadiff.eval.metrics.pixel import paired_clips

    model = load_lpips(weights, device)
    per_pair = [lpips_frames(model, a * 2 - 1, b * 2 - 1).mean() for a, b in paired_clips(generated, reference)]
    return float(torch.stack(per_pair).mean())
