"""FVD (Unterthiner et al. 2019) and ECS, both on the Kinetics-400 I3D (i3d.py).

Preprocessing (the reference `frechet_video_distance.py`): every frame resized to 224×224 with TF1 bilinear
(preprocess.py; aspect ratio not kept), pixels as 2·x/255 − 1 — which is exactly the project's [-1, 1] float.
Clips keep their length (T ≥ 9; FVD is conventionally reported on 16-frame clips). Feature: the 400 logits averaged
over time. FVD = Fréchet distance between the two feature sets (covariance ÷(n−1)).

ECS (embedding cosine similarity): cosine similarity of I3D features between each generated video and its paired
reference, at the finest time resolution I3D gives (its per-step logits, T' = ceil(T/8) − 1 steps; one step for 16
frames, so then it is the cosine of the FVD features), averaged over steps and then over pairs. 1 = same embedding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from deltadiff.eval.metrics.frechet import frechet_distance_features
from deltadiff.eval.metrics.i3d import MIN_FRAMES, load_i3d
from deltadiff.eval.metrics.preprocess import (
    MetricInputError,
    as_clips,
    batches,
    resize_tf1_bilinear,
    to_float,
)
from deltadiff.progress import Progress

I3D_SIZE = (224, 224)


def default_device(device: str | None = None) -> str:
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


@torch.inference_mode()
def i3d_step_features(videos, *, batch_size: int = 8, device: str | None = None, progress: bool = False) -> list[torch.Tensor]:
    """Per-step I3D logits of each video: a list of `[T'_i, 400]` (float32, CPU), in input order."""
    torch.set_flush_denormal(True)  # subnormal activations slow CPU convolutions several-fold
    clips = as_clips(videos)
    short = [c.shape[0] for c in clips if c.shape[0] < MIN_FRAMES]
    if short:
        raise MetricInputError(f"I3D needs clips of at least {MIN_FRAMES} frames, got one of {min(short)}; "
                               "FVD/ECS are usually computed on 16-frame clips")
    device = default_device(device)
    model = load_i3d(device)
    out: list[torch.Tensor] = []
    with Progress("I3D features", total=len(clips), enabled=progress) as bar:
        for x in batches(clips, batch_size):  # [b, T, 3, H, W]
            x = resize_tf1_bilinear(to_float(x.to(device)), I3D_SIZE)  # [b, T, 3, 224, 224] in [-1, 1]
            x = x.transpose(1, 2).contiguous(memory_format=torch.channels_last_3d)  # [b, 3, T, 224, 224]
            out += list(model.logits_per_step(x).float().cpu())  # b × [T', 400]
            bar.update(len(x))
    return out


def i3d_features(videos, **kw) -> torch.Tensor:
    """The FVD feature of each video: Kinetics-400 logits averaged over time, `[N, 400]`."""
    return torch.stack([f.mean(0) for f in i3d_step_features(videos, **kw)])


def fvd_from_features(generated: torch.Tensor, reference: torch.Tensor) -> float:
    """Fréchet distance between I3D features `[N1, 400]` and `[N2, 400]` (N ≥ 2 each)."""
    if min(len(generated), len(reference)) < 2:
        raise MetricInputError(f"FVD needs at least 2 videos per set, got {len(generated)} and {len(reference)}")
    return frechet_distance_features(generated, reference)


def fvd(generated, reference, **kw) -> float:
    """FVD between two sets of videos (unpaired; the standard protocol uses hundreds of 16-frame clips per set)."""
    return fvd_from_features(i3d_features(generated, **kw), i3d_features(reference, **kw))


def ecs_from_features(generated: list[torch.Tensor], reference: list[torch.Tensor]) -> torch.Tensor:
    """ECS of each pair `[N]` from per-step features (lists of `[T', 400]`, paired by position)."""
    if len(generated) != len(reference):
        raise MetricInputError(f"ECS pairs videos one to one, got {len(generated)} generated and {len(reference)} reference")
    sims = []
    for g, r in zip(generated, reference):
        if g.shape != r.shape:
            raise MetricInputError(f"ECS pairs need clips of one length; I3D steps {g.shape[0]} vs {r.shape[0]}")
        sims.append(F.cosine_similarity(g.double(), r.double(), dim=-1).mean())  # mean over the T' steps
    return torch.stack(sims)


def ecs(generated, reference, **kw) -> float:
    """Mean ECS over paired videos (generated[i] ↔ reference[i], same length)."""
    return float(ecs_from_features(i3d_step_features(generated, **kw), i3d_step_features(reference, **kw)).mean())
