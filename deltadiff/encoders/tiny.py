"""The CPU default foundation model: a tiny VideoPrism (same factorised spatial → temporal shape as the paper's
encoder) with a motion stem, pretrained self-supervised on unlabeled clips.

- Motion stem (`MotionStem`): where the temporal stage reads the per-frame features, it also reads a patch embedding of
  the change from the previous frame and (the tiny preset's "lk" stem) of the Lucas–Kanade products I_t·I_x, I_t·I_y,
  which hold the sign of the motion. The spatial stage stays per-frame, so P(per-frame features) cannot predict this
  path and δ = z − P(h) keeps it.
- Objective (`MaskedVideoLoss`): masked modelling (SimMIM-style, Xie et al. 2022, per-frame random masks as in
  VideoMAE's ablations: replace a random `mask_ratio` of patch embeddings by a learned mask token and regress the hidden
  patches' pixels from z) plus motion targets regressed from z_t — the rectified change ("motion energy") to the next
  and from the previous frame per 2×2 cell, the patch's own Farnebäck flow (`flow_targets`) and, from the mean token,
  a summary of the frame pair's flow (`global_motion_targets`). No labels are used anywhere. docs/results.md has the
  study that chose these defaults.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from deltadiff.errors import ConfigError


@dataclass
class TinyFoundationConfig:
    image_size: int = 64
    num_frames: int = 16
    patch_size: int = 8
    hidden_size: int = 128
    num_heads: int = 4
    mlp_ratio: int = 4
    spatial_layers: int = 4
    temporal_layers: int = 2
    mask_ratio: float = 0.5
    motion_weight: float = 2.0  # weight of the motion target (0: plain masked modelling)
    motion_target: str = "energy"  # "energy": the rectified change |x_{t+1} − x_t| and |x_t − x_{t−1}| per 2×2 cell
    # (motion energy); "pixels": the patch's own signed change; "coarse": 4×4-pooled change over the 3×3 neighbourhood
    norm_pix: bool = False  # MAE's per-patch normalised pixel targets
    # "rgb" | "grey" | "lk" | "lkgrey" | "none": the temporal stage also reads a patch embedding of x_t − x_{t−1} ("lk": and of the
    # Lucas–Kanade products I_t·I_x, I_t·I_y, whose sum over a patch has the sign of the motion; `MotionStem`)
    motion_stem: str = "rgb"
    # weight of the optical-flow target: z_t regresses the classical (Farnebäck) flow of its patch to the next frame and
    # from the previous one, per 2×2 cell (`flow_targets`; computed from the clip's own frames, no labels); 0 = none
    flow_weight: float = 0.0
    # weight of the flow-moment target: z_t regresses its patch's mean of x·v − y·u and x·u + y·v (the Farnebäck flow
    # (u, v) at pixel (x, y) about the frame's centre, to the next frame and from the previous one; `moment_targets`):
    # their mean over tokens is the frame's angular and radial moment of the flow, which holds which way a turn goes
    # and whether the actor grows where the mean flow, curl and divergence cancel; 0 = none
    moment_weight: float = 0.0
    # weight of the clip-level motion target: the *mean over tokens* of z_t regresses a summary of the frame pair's
    # Farnebäck flow (`global_motion_targets`: where the motion is, which way and how fast it goes, how it turns and
    # grows, and the squares of these); 0 = none
    global_weight: float = 0.0
    global_hof: bool = False  # the clip-level target also holds the frame pair's histogram of flow directions (8 bins)
    # the clip-level target also holds the moving foreground's moments against the clip's temporal-median background
    # (`foreground_targets`): "none"; "moments" (where the actor is, how big, its spread, how far it has gone since
    # frame 0); "additive" (the same kind of numbers, each a mean over pixels of something a pixel's own history gives)
    global_foreground: str = "none"
    # how the encoder's learnt position embeddings start: "sincos" (fixed 2-D sin-cos over the patch grid and 1-D over
    # frames, as MAE / ViT use, at the scale of the patch embeddings) or "random" (transformers' lecun-normal init,
    # ~3 % of the patch embeddings' norm: the models pretrained that way read no absolute position, R² ≈ 0)
    position_init: str = "random"

    def to_hf(self):
        from transformers import VideoPrismVisionConfig

        return VideoPrismVisionConfig(
            image_size=self.image_size,
            num_frames=self.num_frames,
            tubelet_size=(1, self.patch_size, self.patch_size),
            hidden_size=self.hidden_size,
            num_attention_heads=self.num_heads,
            intermediate_size=self.hidden_size * self.mlp_ratio,
            num_spatial_layers=self.spatial_layers,
            num_temporal_layers=self.temporal_layers,
            hidden_act="gelu",  # torch's fused exact GELU; transformers' default `gelu_python` is the same function, slower
        )


PRESETS = {
    # the CPU default (docs/results.md, fourteenth session): the clip-level motion target beside the energy target
    # (tenth session), and what put the sign of the motion into the tokens — the Lucas–Kanade stem and the per-token
    # flow target — with sin-cos starting positions
    "tiny": TinyFoundationConfig(global_weight=2.0, motion_stem="lk", flow_weight=1.0, position_init="sincos"),
    "micro": TinyFoundationConfig(hidden_size=32, num_heads=2, spatial_layers=1, temporal_layers=1),  # tests
}


def preset(name: str, **overrides) -> TinyFoundationConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown foundation preset {name!r}; choose one of {', '.join(PRESETS)}")
    config = TinyFoundationConfig(**{**asdict(PRESETS[name]), **overrides})
    if config.motion_stem not in STEMS:
        raise ConfigError(f"unknown motion stem {config.motion_stem!r}; choose one of {', '.join(STEMS)}")
    motion_dim(config)  # checks the motion target's name
    if config.global_foreground not in FOREGROUND_DIMS:
        raise ConfigError(f"unknown foreground target {config.global_foreground!r}; choose {', '.join(FOREGROUND_DIMS)}")
    if config.hidden_size % config.num_heads:
        raise ConfigError(f"width {config.hidden_size} is not a multiple of the {config.num_heads} attention heads; "
                          "change --width or --heads")
    if config.position_init not in POSITION_INITS:
        raise ConfigError(f"unknown position init {config.position_init!r}; choose {', '.join(POSITION_INITS)}")
    return config


POSITION_INITS = ("sincos", "random")


def init_positions(encoder) -> None:
    """Start a VideoPrismVisionModel's learnt position embeddings at fixed sin-cos positions — 2-D over the patch grid
    (spatial stage), 1-D over frames (temporal stage) — as MAE and ViT do. They stay trainable.

    Why: transformers' lecun-normal start is ~0.4 in norm beside patch embeddings of ~14; masked modelling with
    per-frame masks is solved by copying the same patch from other frames, so nothing makes the positions grow, and
    the pretrained tokens carried no absolute position (a linear read-out of a token's column: R² ≈ 0). Without it no
    token knows where it is, so neither where the motion is nor which way a turn goes (curl needs position) can reach
    the mean token."""
    from deltadiff.generator.dit import grid_positions, sincos

    spatial = encoder.spatial_embeddings.position_embeddings  # [1, N, C]
    temporal = encoder.temporal_embeddings.position_embeddings  # [1, T, C]
    side, dim = math.isqrt(spatial.shape[1]), spatial.shape[2]
    with torch.no_grad():
        spatial.copy_(grid_positions(side, dim)[None])
        temporal.copy_(sincos(torch.arange(temporal.shape[1]), dim)[None])


def motion_dim(config: TinyFoundationConfig) -> int:
    if config.motion_target == "pixels":
        return 3 * config.patch_size**2
    if config.motion_target == "coarse":
        return 3 * (3 * config.patch_size // 4) ** 2
    if config.motion_target == "energy":
        return 2 * 3 * (config.patch_size // 2) ** 2  # forward and backward, 3 channels, (p/2)² cells
    raise ConfigError(f"unknown motion target {config.motion_target!r}; choose pixels, coarse or energy")


def flow_dim(config: TinyFoundationConfig) -> int:
    return 2 * 2 * (config.patch_size // 2) ** 2  # forward and backward, (x, y), (p/2)² cells


MOMENT_DIM = 4  # per token: (angular, radial) moment of the flow to the next frame, then from the previous one


def moment_targets(pixels: torch.Tensor, config: TinyFoundationConfig, flows: torch.Tensor | None = None) -> torch.Tensor:
    """Per-token moments of the optical flow, [B, T−1, N, MOMENT_DIM] for pixels [B, T, 3, H, W] in [0, 1]: for each
    consecutive pair, the patch's mean of x·v − y·u (angular) and x·u + y·v (radial), with (u, v) the pixel's Farnebäck
    flow (`clip_flows`) and (x, y) its place about the frame's centre, both in [−1, 1] units; forward then backward.

    Why: a linear probe reads tokens averaged over space, and for a turning or growing actor on a still background
    the frame's mean flow is ~0 and so are its mean curl and divergence (Stokes: the smoothed flow's curl inside the
    actor is cancelled at its rim). The moments about a fixed point do not cancel: for an actor at c with velocity V,
    turning at ω, their frame means are A·(c × V) + ω·I and A·(c · V) + s·I (area A, second moment I, growth rate s).
    Measured on 45 training clips of the world: the sign of the mean angular moment tells clockwise from
    counter-clockwise turns in 96 % / 95 % of clips, the mean curl in 42 / 52 % (docs/results.md, fifteenth session)."""
    p = config.patch_size
    flows = clip_flows(pixels) if flows is None else flows  # [B, 2, T−1, H, W, 2] pixels
    h, w = flows.shape[3:5]
    uv = flows.float() * torch.tensor([2 / w, 2 / h], device=flows.device)
    ys = (torch.arange(h, device=flows.device, dtype=torch.float32) + 0.5) * (2 / h) - 1
    xs = (torch.arange(w, device=flows.device, dtype=torch.float32) + 0.5) * (2 / w) - 1
    x, y, u, v = xs[None, :], ys[:, None], uv[..., 0], uv[..., 1]
    m = torch.stack([x * v - y * u, x * u + y * v], 3)  # [B, 2, T−1, 2, H, W]
    b = m.shape[0]
    cells = F.avg_pool2d(rearrange(m, "b d t c h w -> (b d t) c h w"), p)
    return rearrange(cells, "(b d t) c y x -> b t (y x) (d c)", b=b, d=2).to(pixels.dtype)


def uint8_clips(pixels: torch.Tensor) -> np.ndarray:
    """Pixels [B, T, 3, H, W] in [0, 1] → uint8 clips [B, T, H, W, 3], the layout the flow code (OpenCV) reads."""
    return (pixels.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 1, 3, 4, 2).cpu().numpy()


def clip_flows(pixels: torch.Tensor, backward: bool = True) -> torch.Tensor:
    """Farnebäck flow of each clip's consecutive frames, [B, 2 (or 1), T−1, H, W, 2] float32 pixels on the pixels'
    device (`data.flow.pair_flows`: forward, then backward); vectors longer than `FLOW_LIMIT` of the frame are
    Farnebäck failing and count as no motion (zero)."""
    from deltadiff.data.flow import pair_flows

    frames = uint8_clips(pixels)
    # one clip per thread (OpenCV releases the GIL): 0.34 → 0.19 s for a batch of 8 clips on 2 cores
    with ThreadPoolExecutor(max(1, min(len(frames), torch.get_num_threads()))) as pool:
        per_clip = list(pool.map(lambda f: pair_flows(f, backward=backward), frames))
    flows = torch.from_numpy(np.stack(per_clip)).to(pixels.device)
    return flows * (flows.norm(dim=-1, keepdim=True) <= FLOW_LIMIT * max(flows.shape[3:5]))


def flow_targets(pixels: torch.Tensor, config: TinyFoundationConfig, flows: torch.Tensor | None = None) -> torch.Tensor:
    """Per-token optical flow, [B, T−1, N, D] for pixels [B, T, 3, H, W] in [0, 1]: for each consecutive pair (t, t+1),
    where the content of each 2×2 cell of the token's patch goes in frame t+1 and where that of frame t+1 came from
    (Farnebäck, `data.flow.pair_flows`, in pixels), forward then backward.

    Why: the energy target says *where* things change, not which way; a linear read-out of pooled tokens needs the
    direction too (docs/results.md: a linear probe on ground-truth velocities reaches 67–69 % of the world's actions,
    93 % with their magnitudes beside them). Flow is the classical signal of both."""
    p = config.patch_size
    flows = clip_flows(pixels) if flows is None else flows  # [B, 2, T−1, H, W, 2]
    b = flows.shape[0]
    cells = F.avg_pool2d(rearrange(flows, "b d t h w c -> (b d t) c h w"), 2)  # [B·2·(T−1), 2, H/2, W/2]
    cells = rearrange(cells, "(b d t) c (y p) (x q) -> b t (y x) (d p q c)", b=b, d=2, p=p // 2, q=p // 2)
    return cells.to(pixels.dtype)


# a flow vector longer than this share of the frame is Farnebäck failing, not motion: on striped backgrounds (the
# aperture problem) it returns vectors of up to 240 px at 64×64, and one such clip in 256 held 98 % of the variance of
# the target's velocity over 256 training clips (docs/results.md, fourteenth session)
FLOW_LIMIT = 0.25
GLOBAL_DIM = 16  # features per frame pair in `global_motion_targets` (+8 with the direction histogram)
FOREGROUND_DIMS = {"none": 0, "moments": 19, "additive": 15}  # features per frame pair in `foreground_targets`


def global_dim(config: TinyFoundationConfig) -> int:
    return GLOBAL_DIM + 8 * config.global_hof + FOREGROUND_DIMS[config.global_foreground]


def foreground_targets(pixels: torch.Tensor, kind: str = "moments", threshold: float = 0.15) -> torch.Tensor:
    """The moving foreground of each frame pair (t, t+1), [B, T−1, FOREGROUND_DIMS[kind]] for pixels [B, T, 3, H, W] in
    [0, 1], by classical background subtraction: the background is the clip's per-pixel temporal median (for an even
    count the mean of the two middle values), a pixel's foreground weight m = min(max_c |x − background| / `threshold`, 1).

    "moments" (of frame t+1; coordinates in [−1, 1]): the foreground's centroid c (x, y), its area share, its second
    central moments (xx, yy, xy); its displacement since frame 0 d (x, y) and dx², dy², dx·dy; its velocity v = c_{t+1} −
    c_t (x, y) and vx², vy², vx·vy; |v|, |d| and the area against frame 0's.
    "additive": means over the frame of m, m·x, m·y, m·x², m·y², m·xy (raw moments, not divided by the area); of
    |m_{t+1} − m_0|, ×x, ×y (how much of the foreground has moved since frame 0, and where); of max_c |x_{t+1} − x_0|
    and of max_c |x_{t+1} − x_t|, each ×1, ×x, ×y. Each is a mean over pixels of what one pixel's own history and place
    give, so a model whose tokens each see one place over time (the temporal stage) could hold it in its mean token;
    a centroid or a velocity divides by the whole frame's area, which no token alone knows. Measured (docs/results.md,
    eleventh session): the bundled architecture learns the ones even in position (m, m·x², the changes), not the odd
    ones (m·x, m·y, …).

    Why: Farnebäck's flow of a 5–20-pixel actor at 64×64 is a coarse teacher — a linear probe on the flow summary of
    the clip itself reaches 61 % of the world's actions; on these moments 80 %, on both 82 % (docs/results.md, eleventh
    session). A static camera's background is what most pixels show most of the time; where the camera moves, the flow
    summary beside it carries the motion."""
    if kind not in FOREGROUND_DIMS or kind == "none":
        raise ConfigError(f"unknown foreground target {kind!r}; choose moments or additive")
    x = pixels.detach().float()
    h, w = x.shape[-2:]
    weight = ((x - x.quantile(0.5, dim=1, keepdim=True)).abs().amax(2) / threshold).clamp(max=1)  # [B, T, H, W]
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h, device=x.device), torch.linspace(-1, 1, w, device=x.device), indexing="ij")
    if kind == "additive":
        since0 = (weight - weight[:, :1]).abs()
        change0 = (x - x[:, :1]).abs().amax(2)
        change1 = F.pad((x[:, 1:] - x[:, :-1]).abs().amax(2), (0, 0, 0, 0, 1, 0))  # frame t+1 against t
        per_pixel = [weight, weight * xs, weight * ys, weight * xs * xs, weight * ys * ys, weight * xs * ys]
        for a in (since0, change0, change1):
            per_pixel += [a, a * xs, a * ys]
        return torch.stack([a.mean((2, 3)) for a in per_pixel], -1)[:, 1:].to(pixels.dtype)
    mass = weight.sum((2, 3)) + 1e-3
    moment = lambda a: (weight * a).sum((2, 3)) / mass  # noqa: E731
    cx, cy = moment(xs), moment(ys)
    rx, ry = xs - cx[..., None, None], ys - cy[..., None, None]
    area = mass / (h * w)
    dx, dy = cx - cx[:, :1], cy - cy[:, :1]
    vx, vy = F.pad(cx.diff(dim=1), (1, 0)), F.pad(cy.diff(dim=1), (1, 0))
    feats = [cx, cy, area, moment(rx * rx), moment(ry * ry), moment(rx * ry), dx, dy, dx**2, dy**2, dx * dy,
             vx, vy, vx**2, vy**2, vx * vy, (vx**2 + vy**2).sqrt(), (dx**2 + dy**2).sqrt(), area / area[:, :1]]
    return torch.stack(feats, -1)[:, 1:].to(pixels.dtype)


def global_motion_targets(pixels: torch.Tensor, hof: bool = False, foreground: str = "none",
                          flows: torch.Tensor | None = None) -> torch.Tensor:
    """A summary of each consecutive frame pair's motion, [B, T−1, GLOBAL_DIM] for pixels [B, T, 3, H, W] in [0, 1],
    from the forward Farnebäck flow F (`clip_flows`, so vectors over `FLOW_LIMIT` of the frame are dropped as failures;
    coordinates in [−1, 1]); w = max(|F| − ¼ px, 0) marks what moves. `flows`: `clip_flows(pixels)` when the caller has
    them already.

    Features: mean |F|; mean F (x, y); the motion's centroid c (x, y, weighted by w); the moving part's mean flow v
    (x, y); its rotation and growth rates about c (the least-squares curl and divergence of F, weighted by w); |v|,
    |rotation|, |growth|; vx², vy², vx·vy; the moving share of pixels. With `hof`, 8 more: the histogram of flow
    directions (HOF: w·max(cos(angle − k·45°), 0)² averaged over the frame, k = 0..7), the classical action descriptor
    whose bins are each non-negative, so no direction cancels another. With `foreground` "moments" or "additive",
    `foreground_targets` of that kind after them.

    Why: a linear read-out of tokens averaged over space — the action probe, and what the generator's motion head
    reads first — sees only what the mean token holds. Per-token targets (the energy and flow targets) put the motion
    in each token's own patch, where averaging over space cancels its direction; this target asks the mean token
    itself for where the actor moves each frame and how, with the direction-free magnitudes beside the signed values
    (a linear probe on ground-truth velocities reaches 67–69 % of the world's actions, 93 % with such magnitudes)."""
    flow = (clip_flows(pixels, backward=False) if flows is None else flows)[:, 0].cpu()  # [B, T−1, H, W, 2]
    h, w = flow.shape[2:4]
    flow = flow * torch.tensor([2 / w, 2 / h])  # in the [−1, 1] coordinates
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    mag = flow.norm(dim=-1)
    weight = (mag - 0.5 / max(h, w)).clamp_min(0)  # ¼ px in [−1, 1] units
    total = weight.sum((2, 3)) + 1e-6
    avg = lambda a: (weight * a).sum((2, 3)) / total  # noqa: E731  weighted mean over the frame
    cx, cy = avg(xs), avg(ys)
    vx, vy = avg(flow[..., 0]), avg(flow[..., 1])
    rx, ry = xs - cx[..., None, None], ys - cy[..., None, None]
    r2 = avg(rx**2 + ry**2) + 1e-4
    rot = avg(rx * flow[..., 1] - ry * flow[..., 0]) / r2  # y down: positive = clockwise on screen
    grow = avg(rx * flow[..., 0] + ry * flow[..., 1]) / r2
    feats = [mag.mean((2, 3)), flow[..., 0].mean((2, 3)), flow[..., 1].mean((2, 3)), cx, cy, vx, vy, rot, grow,
             (vx**2 + vy**2).sqrt(), rot.abs(), grow.abs(), vx**2, vy**2, vx * vy, (weight > 0).float().mean((2, 3))]
    if hof:
        angle = torch.atan2(flow[..., 1], flow[..., 0])  # y down: bin 2 (90°) is downwards on screen
        feats += [(weight * torch.cos(angle - k * math.pi / 4).clamp_min(0) ** 2).mean((2, 3)) for k in range(8)]
    out = torch.stack(feats, -1).to(device=pixels.device, dtype=pixels.dtype)
    return out if foreground == "none" else torch.cat([out, foreground_targets(pixels, foreground)], -1)


def motion_targets(pixels: torch.Tensor, config: TinyFoundationConfig) -> torch.Tensor:
    """Per-token change to the next frame, [B, T-1, N, D], from pixels [B, T, 3, H, W] in [0, 1].

    "pixels": x_{t+1} − x_t of the token's own patch. "coarse": the change average-pooled over 4×4 pixel cells (which
    averages sensor noise away) over the 3×3 neighbourhood of patches around the token — where things go next, not
    their texture, so the target rewards knowing the motion rather than reproducing edges.
    """
    p = config.patch_size
    if config.motion_target == "energy":  # rectified: its mean over tokens is the clip's motion energy, not ≈ 0
        b, t = pixels.shape[:2]
        change = F.avg_pool2d((pixels[:, 1:] - pixels[:, :-1]).abs().flatten(0, 1), 2).unflatten(0, (b, t - 1))
        return rearrange(change, "b t c (y p) (x q) -> b t (y x) (p q c)", p=p // 2, q=p // 2)
    if config.motion_target == "pixels":
        patches = rearrange(pixels, "b t c (y p) (x q) -> b t (y x) (p q c)", p=p, q=p)
        return patches[:, 1:] - patches[:, :-1]
    b, t = pixels.shape[:2]
    coarse = F.avg_pool2d(pixels.flatten(0, 1), 4)  # [B·T, 3, H/4, W/4]: a patch is (p/4)² cells
    coarse = coarse.unflatten(0, (b, t))
    change = (coarse[:, 1:] - coarse[:, :-1]).flatten(0, 1)  # [B·(T-1), 3, H/4, W/4]
    k = p // 4  # cells per patch side
    windows = F.unfold(change, kernel_size=3 * k, stride=k, padding=k)  # [B·(T-1), 3·(3k)², N]
    return rearrange(windows, "(b t) d n -> b t n d", b=b)


STEM_FILE = "motion_stem.safetensors"
STEMS = ("none", "rgb", "grey", "lk", "lkgrey", "lkflow", "lkmom")
STEM_CHANNELS = {"rgb": 3, "grey": 1, "lk": 5, "lkgrey": 3, "lkflow": 9, "lkmom": 7}
# "lkflow": Lucas–Kanade flow at these downsamplings of the frame, window 7 cells each (14 and 28 px), `lucas_kanade`
LK_SCALES = (2, 4)
MOMENT_GAIN = 4.0  # "lkmom": the moment channels start at about the products' scale


def pair_gradients(grey: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For frames [B, T, H, W]: I_t, the change from frame t−1 (zero at t = 0), and (I_x, I_y), the central-difference
    gradient (replicated border) of the two frames' mean — the terms of brightness constancy, each [B, T, H, W]."""
    prev = torch.cat([grey[:, :1], grey[:, :-1]], 1)
    mean = (prev + grey) / 2
    padded = F.pad(mean.flatten(0, 1)[:, None], (1, 1, 1, 1), mode="replicate")[:, 0].unflatten(0, mean.shape[:2])
    ix = (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]) / 2
    iy = (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]) / 2
    return grey - prev, ix, iy


def lucas_kanade(grey: torch.Tensor, scale: int = 4, window: int = 7, eps: float = 1e-4, limit: float = 8.0) -> torch.Tensor:
    """Dense Lucas–Kanade flow from frame t−1 to frame t, [B, T, 2, H, W] in pixels (x, y; zero at t = 0), for grey
    frames [B, T, H, W] in [0, 1]: the frames average-pooled by `scale`, per cell (u, v) = −(S + eps·I)⁻¹ b with S the
    structure tensor and b = Σ I_t·(I_x, I_y) summed over a `window`² box, upsampled bilinearly, clamped to ±`limit` px.

    Why here and not OpenCV: it runs inside the encoder on its device, batched, in a few convolutions (cv2's dense
    Farnebäck is per clip on the CPU; `clip_flows` uses it for the pretraining targets, which are computed once per
    batch, not at every encode). One linearised step is biased low for motion large against the texture's scale and
    high for texture finer than the pooled grid; the pooling extends its range (measured on 48 world clips against
    Farnebäck where it moves > 0.5 px: direction agreement 88 % at scale 4, window 7, eps 1e-4, R² 0.47, mean |flow|
    1.51 against 1.65 px; 76 % / 0.13 / 0.64 px at full resolution)."""
    with torch.autocast(grey.device.type, enabled=False):  # the determinant's cancellation needs fp32, not bf16
        return _lucas_kanade(grey.float(), scale, window, eps, limit)


def _lucas_kanade(x: torch.Tensor, scale: int, window: int, eps: float, limit: float) -> torch.Tensor:
    b, t, h, w = x.shape
    g = F.avg_pool2d(x.flatten(0, 1), scale).unflatten(0, (b, t)) if scale > 1 else x
    it, ix, iy = (a.flatten(0, 1) for a in pair_gradients(g))
    products = torch.stack([ix * ix, ix * iy, iy * iy, ix * it, iy * it], 1)
    box = torch.full((5, 1, window, window), 1.0 / window**2, device=x.device)
    sxx, sxy, syy, sxt, syt = F.conv2d(F.pad(products, (window // 2,) * 4, mode="replicate"), box, groups=5).unbind(1)
    sxx, syy = sxx + eps, syy + eps
    det = sxx * syy - sxy * sxy
    flow = torch.stack([sxy * syt - syy * sxt, sxy * sxt - sxx * syt], 1) / det[:, None] * scale
    if scale > 1:
        flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
    return flow.nan_to_num(0.0).clamp(-limit, limit).unflatten(0, (b, t))


def stem_inputs(pixels: torch.Tensor, kind: str) -> torch.Tensor:
    """What a motion stem of `kind` embeds, [B, T, STEM_CHANNELS[kind], H, W] for pixels [B, T, 3, H, W] (zero at
    t = 0): the change from the previous frame (grey or RGB); for "lk" the RGB change ("lkgrey": the grey change),
    then I_t·I_x and I_t·I_y of the grey frames (I_t their change, (I_x, I_y) the central-difference gradient of the
    two frames' mean), ×8 so that they start at about the change's scale (measured on world clips where something
    moves: 0.11 against 0.009); "lkflow": "lk" and the Lucas–Kanade flow itself at each of `LK_SCALES`
    (`lucas_kanade`, ×0.1: mean |value| 0.05–0.19 per channel where something moves, 8 world clips) — the quotient
    S⁻¹b that a linear patch embedding of the products cannot form; "lkmom": "lk" and the products' angular and
    radial moments about the centroid (X̄, Ȳ) of the frame pair's change |I_t|, (X − X̄)·(I_t·I_y) − (Y − Ȳ)·(I_t·I_x)
    and (X − X̄)·(I_t·I_x) + (Y − Ȳ)·(I_t·I_y) (X, Y the pixel's place in [−1, 1]). Why: a turn's or a growth's flow
    has zero mean, curl and divergence over a still frame (Stokes; docs/results.md, fifteenth session), so no sum of
    local features tells which way it goes, while its angular / radial moment about where the motion is does — and a
    patch embedding sees only its own patch's coordinates. These channels hand every token its share of the frame's
    moments, which a mean over tokens adds up: summed over each of 60 training clips, their sign tells `rotate_cw` from
    `rotate_ccw` in 90 / 93 % and `grow` from `shrink` in 95 / 95 % (about the frame's centre: 73 / 77 % and 80 / 75 %)."""
    src = pixels.mean(2, keepdim=True) if kind in ("grey", "lkgrey") else pixels
    change = torch.cat([torch.zeros_like(src[:, :1]), src[:, 1:] - src[:, :-1]], 1)
    if kind not in ("lk", "lkgrey", "lkflow", "lkmom"):
        return change
    grey = pixels.mean(2)  # [B, T, H, W]
    it, ix, iy = pair_gradients(grey)
    px, py = 8.0 * it * ix, 8.0 * it * iy
    out = torch.cat([change, torch.stack([px, py], 2)], 2)
    if kind == "lkmom":  # about the centroid of the frame pair's change |I_t|: where the motion is
        h, w = grey.shape[-2:]
        ys = ((torch.arange(h, device=grey.device, dtype=grey.dtype) + 0.5) / h * 2 - 1)[:, None]
        xs = ((torch.arange(w, device=grey.device, dtype=grey.dtype) + 0.5) / w * 2 - 1)[None, :]
        energy = it.abs()
        total = energy.sum((-2, -1), keepdim=True).clamp_min(1e-6)
        dx = xs - (energy * xs).sum((-2, -1), keepdim=True) / total
        dy = ys - (energy * ys).sum((-2, -1), keepdim=True) / total
        out = torch.cat([out, MOMENT_GAIN * torch.stack([dx * py - dy * px, dx * px + dy * py], 2)], 2)
    if kind == "lkflow":
        flows = [0.1 * lucas_kanade(grey, scale) for scale in LK_SCALES]
        out = torch.cat([out, *[f.to(out.dtype) for f in flows]], 2)
    return out


class MotionStem(nn.Module):
    """Patch embedding of the change from the previous frame (zero at t = 0), added to the per-frame features where the
    temporal stage reads them. The spatial stage stays per-frame, so P(spatial) cannot predict this path and δ keeps it.

    Why: a 20-minute CPU pretraining does not teach the temporal layers to difference frames by attention (docs/
    results.md: they added ~1 % to z and probed at chance); this gives them the change directly, as tubelet embeddings
    do in ViViT/VideoMAE, while keeping the per-frame/spatio-temporal split that δ needs.

    "lk" also embeds, per pixel of the grey frames, I_t·I_x and I_t·I_y (I_t the change from the previous frame, I_x,
    I_y the spatial gradient of the two frames' mean): by brightness constancy I_t ≈ −(u·I_x + v·I_y), so their sum
    over a patch is −(the structure tensor)·(u, v) — the numerator of Lucas–Kanade's flow. A linear embedding of the
    plain change cannot give the direction of motion: its sign flips with the actor's contrast against what it covers;
    these products do not.
    """

    def __init__(self, kind: str, patch_size: int, hidden_size: int):
        super().__init__()
        if kind not in STEMS[1:]:
            raise ConfigError(f"unknown motion stem {kind!r}; choose rgb, grey, lk, lkgrey, lkflow or lkmom (or none for no stem)")
        self.kind = kind
        self.proj = nn.Conv2d(STEM_CHANNELS[kind], hidden_size, patch_size, patch_size)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels [B, T, 3, H, W] → [B·T, N, C]."""
        return self.proj(stem_inputs(pixels, self.kind).flatten(0, 1)).flatten(2).transpose(1, 2)

    def save(self, folder: Path) -> None:
        from safetensors.torch import save_file

        meta = {"kind": self.kind, "patch_size": str(self.proj.kernel_size[0]), "hidden_size": str(self.proj.out_channels)}
        save_file({k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}, str(folder / STEM_FILE), metadata=meta)

    @classmethod
    def load(cls, folder: Path) -> MotionStem | None:
        """The stem saved beside a foundation model, or None when the model has none."""
        from safetensors import safe_open

        f = Path(folder) / STEM_FILE
        if not f.exists():
            return None
        with safe_open(str(f), "pt") as fh:
            meta, weights = fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (not a dict)
        stem = cls(meta["kind"], int(meta["patch_size"]), int(meta["hidden_size"]))
        stem.load_state_dict(weights)
        return stem


def factorised_forward(encoder, pixels: torch.Tensor, stem: MotionStem | None = None, mask: torch.Tensor | None = None,
                       mask_token: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A VideoPrismVisionModel's spatial → temporal pass with an optional motion stem and patch masking.

    pixels [B, T, 3, H, W]; mask [B, T, N] bool (True = replaced by `mask_token`). Returns the per-frame features
    (layernorm1 of the spatial states, what the temporal stage reads) and z, both [B, T, N, C].
    """
    b, t = pixels.shape[:2]
    x = encoder.spatial_embeddings.patch_embeddings(pixels)  # [B*T, N, C]
    if mask is not None:
        m = rearrange(mask, "b t n -> (b t) n 1").to(x.dtype)
        x = x * (1 - m) + mask_token.to(x.dtype) * m
    x = x + encoder.spatial_embeddings.position_embeddings
    for layer in encoder.spatial_layers:
        x = layer(x)
    spatial = encoder.layernorm1(x)
    y = spatial if stem is None else spatial + stem(pixels).to(spatial.dtype)
    y = encoder.temporal_embeddings(y, pixels.shape, interpolate_pos_encoding=t != encoder.config.num_frames)  # [B*N, T, C]
    for layer in encoder.temporal_layers:
        y = layer(y)
    z = rearrange(encoder.layernorm2(y), "(b n) t c -> b t n c", b=b)
    return rearrange(spatial, "(b t) n c -> b t n c", b=b), z


class TinyVideoPrism(nn.Module):
    """A saved foundation model with its motion stem: what the encoder adapter runs when the folder has a stem."""

    def __init__(self, encoder, stem: MotionStem):
        super().__init__()
        self.encoder, self.stem = encoder, stem

    @property
    def config(self):
        return self.encoder.config

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return factorised_forward(self.encoder, pixels, self.stem)


def save_foundation(model: MaskedVideoModel, folder: Path) -> Path:
    """The encoder in transformers' layout, plus the stem file when the model has one."""
    folder = Path(folder)
    model.encoder.save_pretrained(folder)
    (folder / STEM_FILE).unlink(missing_ok=True)
    if model.stem is not None:
        model.stem.save(folder)
    return folder


class MaskedVideoModel(nn.Module):
    """A VideoPrismVisionModel plus what pretraining needs: a mask token and a linear pixel head."""

    def __init__(self, config: TinyFoundationConfig):
        super().__init__()
        from transformers import VideoPrismVisionModel

        self.config = config
        self.encoder = VideoPrismVisionModel(config.to_hf())
        if config.position_init == "sincos":
            init_positions(self.encoder)
        c = config.hidden_size
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c))
        nn.init.normal_(self.mask_token, std=0.02)
        self.head = nn.Linear(c, 3 * config.patch_size**2)
        self.motion_head = nn.Linear(c, motion_dim(config))
        self.stem = None if config.motion_stem == "none" else MotionStem(config.motion_stem, config.patch_size, c)
        self.flow_head = None
        if config.flow_weight:  # zero-initialised like the energy head: start at "no motion"
            self.flow_head = nn.Linear(c, flow_dim(config))
            nn.init.zeros_(self.flow_head.weight), nn.init.zeros_(self.flow_head.bias)
        self.moment_head = None
        if config.moment_weight:  # zero-initialised: start at "no motion"
            self.moment_head = nn.Linear(c, MOMENT_DIM)
            nn.init.zeros_(self.moment_head.weight), nn.init.zeros_(self.moment_head.bias)
        self.global_head = None
        if config.global_weight:  # reads the mean token: forward pair (t, t+1), then (t−1, t)
            self.global_head = nn.Linear(c, 2 * global_dim(config))
            nn.init.zeros_(self.global_head.weight), nn.init.zeros_(self.global_head.bias)
        if config.motion_target == "energy":  # start at "no motion": a random head's huge first loss swamps the clip
            nn.init.zeros_(self.motion_head.weight), nn.init.zeros_(self.motion_head.bias)

    def forward(self, pixels: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """pixels [B, T, 3, H, W] in [0, 1]; mask [B, T, N] bool (True = hidden). Returns z [B, T, N, C]."""
        return factorised_forward(self.encoder, pixels, self.stem, mask, self.mask_token)[1]


class MaskedVideoLoss:
    """Masked-patch pixel regression (optionally per-patch normalised targets, MAE §3) plus a motion target regressed
    from z_t (`motion_targets`: the rectified change per 2×2 cell by default). Static patches have a zero motion target,
    so this term is concentrated where things move — which is what z must carry for δ. Each term is divided by its
    target's mean square. Call with the model and a video batch."""

    def __init__(self, mask_ratio: float = 0.75, motion_weight: float = 1.0, norm_pix: bool = True):
        self.mask_ratio, self.motion_weight, self.norm_pix = mask_ratio, motion_weight, norm_pix

    def __call__(self, model: MaskedVideoModel, video: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """video [B, T, 3, H, W] in [-1, 1] → scalar loss."""
        p = model.config.patch_size
        pixels = (video + 1) / 2
        b, t, _, h, w = pixels.shape
        n = (h // p) * (w // p)
        noise = torch.rand(b, t, n, generator=generator, device=video.device)
        k = max(1, round(self.mask_ratio * n))
        mask = noise.argsort(-1).argsort(-1) < k  # exactly k hidden patches per frame, [B, T, N]
        z = model(pixels, mask)
        pred = model.head(z)  # [B, T, N, 3·p·p]
        patches = rearrange(pixels, "b t c (y p) (x q) -> b t (y x) (p q c)", p=p, q=p)
        if self.norm_pix:
            target = (patches - patches.mean(-1, keepdim=True)) / (patches.var(-1, keepdim=True) + 1e-6).sqrt()
        else:
            target = (patches - 0.5) / 0.25
        per_patch = F.mse_loss(pred.float(), target, reduction="none").mean(-1)
        loss = (per_patch * mask).sum() / mask.sum()
        if self.motion_weight and t > 1:
            change = motion_targets(pixels, model.config)  # [B, T-1, N, D]
            if model.config.motion_target == "energy":  # z_t predicts the energy to the next frame and from the last
                pred, d = model.motion_head(z).float(), change.shape[-1]
                err = 0.5 * (F.mse_loss(pred[:, :-1, :, :d], change) + F.mse_loss(pred[:, 1:, :, d:], change))
            else:
                err = F.mse_loss(model.motion_head(z[:, :-1]).float(), change)
            motion = err / change.pow(2).mean().clamp_min(1e-6)
            loss = loss + self.motion_weight * motion
        per_token = [(head, targets, weight) for head, targets, weight in (
            (model.flow_head, flow_targets, model.config.flow_weight),
            (model.moment_head, moment_targets, model.config.moment_weight)) if head is not None and t > 1]
        flows = clip_flows(pixels) if per_token else None  # one Farnebäck pass for every flow target
        for head, targets, weight in per_token:  # z_t: its patch's target to the next frame, and from the previous one
            target = targets(pixels, model.config, flows).float()
            pred, d = head(z).float(), target.shape[-1] // 2
            err = 0.5 * (F.mse_loss(pred[:, :-1, :, :d], target[..., :d]) + F.mse_loss(pred[:, 1:, :, d:], target[..., d:]))
            loss = loss + weight * err / target.pow(2).mean().clamp_min(1e-6)
        if model.global_head is not None and t > 1:  # the mean token of z_t: its frame pair to the next and from the last
            target = global_motion_targets(pixels, model.config.global_hof, model.config.global_foreground, flows).float()  # [B, T−1, K]
            target = (target - target.mean((0, 1))) / target.std((0, 1)).clamp_min(1e-4)  # every feature counts alike
            pred, d = model.global_head(z.mean(2)).float(), global_dim(model.config)
            err = 0.5 * (F.mse_loss(pred[:, :-1, :d], target) + F.mse_loss(pred[:, 1:, d:], target))
            loss = loss + model.config.global_weight * err
        return loss
