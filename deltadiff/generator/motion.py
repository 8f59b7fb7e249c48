"""The motion head M: where each part of the context goes, read from δ — a dense flow per generated frame.

`MotionHead(config)(context [B, C, h, w], delta [B, T', N, D]) -> flow [B, T, 2, h, w]`: for every generated frame and
latent cell, where that cell's content sits in the context (x, y), in latent cells — the backward flow that
`dit.warp` applies. The generator's prediction is built on the context warped by it (`GeneratorConfig.motion_head`).

Why a separate head. Trained inside the diffusion transformer, neither a trunk-predicted flow nor the trunk itself
learned to move the actor from δ (docs/results.md, fifth and sixth sessions: the predicted flow stayed under 0.35 cells
and the trajectory error with the clip's own δ equalled the null action's), although δ holds the actor's displacement
(a probe of this head's δ-reading form: R² 0.81). Trained alone — like P, with everything else frozen — on a classical
optical-flow teacher computed from each clip's own frames (Farnebäck, `generator_recipe.teacher_flow`; self-supervised,
no labels), it gets a direct, noise-free target. The ceiling of the approach, measured on 48 held-out triples: the
target clip's own teacher flow, averaged per 4×4-pixel cell, warps the context to a trajectory error of 2.42 px against
6.69 px for the static context (direction 94 % against 21 %).

Shape of the network:
- *what happens* — δ read into one code per generated frame by an MLP over the whole clip's read-out, which is either
  (`motion_keypoints=0`) every token reduced to a few numbers by a shared MLP and the clip flattened, as the
  diagnostic probe reads it, or (`motion_keypoints=k`, the cpu preset) per δ frame k soft-argmax keypoints over the
  token grid: where δ is active and what it holds there. The demo's actor can sit anywhere in its own scene; the
  keypoint read-out does not tie the code to that place (measured: the flattened one fits the training scenes' δ,
  docs/results.md); with `motion_pooled` each δ frame's mean token (reduced) sits beside it — what a linear probe
  reads, and where a turn's sign survives that the keypoints lose.
- *where* — a small CNN over the context (pixels, when the latents are the pixel autoencoder's space-to-depth: the
  actor's marker and outline are then plain to see) plus coordinate channels, down to the latent grid.
- each frame's code modulates the context features (FiLM: scale and shift per channel) and a few convolutions turn
  them into that frame's flow. "Move the actor right by 3 px" is then "actor-like features × a code-dependent scale".
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from deltadiff.generator.config import GeneratorConfig


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


def resample_frames(delta: torch.Tensor, frames: int) -> torch.Tensor:
    """δ [B, T', N, D] → [B, frames, N, D], linear in time (both clips span the same time)."""
    if delta.shape[1] == frames:
        return delta
    t, n, d = delta.shape[1:]
    x = rearrange(delta, "b t n d -> b (n d) t")
    x = F.interpolate(x, size=frames, mode="linear", align_corners=True) if t > 1 else x.expand(-1, -1, frames)
    return rearrange(x, "b (n d) t -> b t n d", n=n, d=d)


def warp(context: torch.Tensor, flow: torch.Tensor, unshuffle: int = 1) -> torch.Tensor:
    """Backward warp: context [B, C, h, w], flow [B, T, 2, h, w] (x, y; where each position's content sits in the
    context, in latent cells) → [B, T, C, h, w]. With `unshuffle` r the context's channels are first unfolded into an
    r-times finer grid (pixel_shuffle: the pixel autoencoder's space-to-depth, channel order (c, p, q)), the flow is
    upsampled bilinearly to it and the fine grid is sampled (bilinear, border padding), then folded back. Zero flow is
    the identity."""
    b, t, _, h, w = flow.shape
    img = F.pixel_shuffle(context, unshuffle) if unshuffle > 1 else context
    hh, ww = img.shape[-2:]
    fl = flow.flatten(0, 1).float()
    if (hh, ww) != (h, w):
        fl = F.interpolate(fl, size=(hh, ww), mode="bilinear", align_corners=False)
    ys = (torch.arange(hh, device=flow.device, dtype=torch.float32) + 0.5) * (2 / hh) - 1
    xs = (torch.arange(ww, device=flow.device, dtype=torch.float32) + 0.5) * (2 / ww) - 1
    gx = xs[None, None, :] + fl[:, 0] * (2 / w)  # a latent cell is 2/w in grid_sample's [-1, 1] coordinates
    gy = ys[None, :, None] + fl[:, 1] * (2 / h)
    src = img[:, None].expand(b, t, *img.shape[1:]).flatten(0, 1)
    out = F.grid_sample(src, torch.stack([gx, gy], -1).to(src.dtype), mode="bilinear", padding_mode="border",
                        align_corners=False)
    if unshuffle > 1:
        out = F.pixel_unshuffle(out, unshuffle)
    return out.view(b, t, *context.shape[1:])


class MotionHead(nn.Module):
    """(context latent, δ) → backward flow per generated frame, in latent cells (module docstring)."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.config = cfg
        w, code, reduce = cfg.motion_width, cfg.motion_code, cfg.motion_reduce
        r = cfg.warp_unshuffle
        cin = cfg.latent_channels // (r * r) + 2  # the context (unfolded to pixels when r > 1) + (x, y) coordinates
        k = cfg.motion_keypoints
        if k:  # per frame, k soft-argmax keypoints over δ's token grid: (x, y) and `reduce` pooled numbers each
            self.tok = nn.Sequential(nn.Linear(cfg.delta_dim, 64), nn.GELU(), nn.Linear(64, k * (1 + reduce)))
            side = math.isqrt(cfg.delta_tokens)
            c = (torch.arange(side, dtype=torch.float32) + 0.5) / side * 2 - 1
            yy, xx = torch.meshgrid(c, c, indexing="ij")
            self.register_buffer("token_xy", torch.stack([xx.flatten(), yy.flatten()], -1), persistent=False)  # [N, 2]
            read = cfg.delta_frames * k * (2 + reduce)
        else:
            self.tok = nn.Sequential(nn.Linear(cfg.delta_dim, 64), nn.GELU(), nn.Linear(64, reduce))
            read = cfg.delta_frames * cfg.delta_tokens * reduce
        self.pooled = nn.Linear(cfg.delta_dim, cfg.motion_pooled) if cfg.motion_pooled else None
        read += cfg.delta_frames * cfg.motion_pooled
        self.code = nn.Sequential(nn.Linear(read, cfg.motion_hidden), nn.GELU(), nn.Linear(cfg.motion_hidden, cfg.frames * code))
        down = nn.Conv2d(32, w, r, stride=r) if r > 1 else _conv(32, w)
        self.stem = nn.Sequential(_conv(cin, 32), nn.GELU(), down, nn.GELU(), _conv(w, w), nn.GELU(), _conv(w, w), nn.GELU())
        layers = cfg.motion_layers
        if layers:
            # K soft masks over the context at its full (pixel) resolution, from the stem's first (full-resolution)
            # features and its coarse ones; one affine motion per layer and frame from that frame's code
            self.masks = nn.Sequential(_conv(32 + w, 32), nn.GELU(), _conv(32, layers))
            self.affine = nn.Linear(code, layers * 6)
            nn.init.zeros_(self.affine.weight), nn.init.zeros_(self.affine.bias)  # identity motions: zero flow at start
        else:
            self.film = nn.Linear(code, 2 * w)
            # per frame only 1×1 convolutions (an MLP per cell; the stem already saw the neighbourhood) and one 3×3 to
            # the flow: the decoder runs on B·T maps, and 3×3 convolutions there made a CPU step 3× slower
            self.dec = nn.Sequential(nn.Conv2d(w, w, 1), nn.GELU(), nn.Conv2d(w, w, 1), nn.GELU(), _conv(w, 2))
            nn.init.zeros_(self.film.weight), nn.init.zeros_(self.film.bias)
            nn.init.zeros_(self.dec[-1].weight), nn.init.zeros_(self.dec[-1].bias)  # zero flow (the static context) at start

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def read(self, d: torch.Tensor) -> torch.Tensor:
        """Scaled δ [B, T', N, D] → one vector per clip, the input of the per-frame code MLP."""
        k = self.config.motion_keypoints
        if not k:
            out = self.tok(d).flatten(1)
        else:
            s = self.tok(d).unflatten(-1, (k, -1))  # [B, T', N, k, 1 + reduce]
            attn = s[..., 0].softmax(2)  # over the frame's tokens
            xy = torch.einsum("btnk,nc->btkc", attn, self.token_xy.to(attn.dtype))  # where each keypoint is in that frame
            feat = torch.einsum("btnk,btnkc->btkc", attn, s[..., 1:])
            out = torch.cat([xy, feat], -1).flatten(1)
        if self.pooled is not None:  # each frame's mean token, reduced
            out = torch.cat([out, self.pooled(d.mean(2)).flatten(1)], 1)
        return out

    def _features(self, context: torch.Tensor, delta: torch.Tensor):
        """The context as an image, its full-resolution and latent-grid features, and one code per generated frame."""
        cfg = self.config
        b = context.shape[0]
        img = F.pixel_shuffle(context, cfg.warp_unshuffle) if cfg.warp_unshuffle > 1 else context
        hh, ww = img.shape[-2:]
        ys = torch.linspace(-1, 1, hh, device=img.device, dtype=img.dtype)
        xs = torch.linspace(-1, 1, ww, device=img.device, dtype=img.dtype)
        plane = torch.stack(torch.meshgrid(xs, ys, indexing="xy"))[None].expand(b, -1, -1, -1)  # (x, y) input channels
        fine = self.stem[:2](torch.cat([img, plane], 1))
        feat = self.stem[2:](fine)  # [B, W, h, w]
        d = resample_frames(delta, cfg.delta_frames) * cfg.delta_scale
        codes = self.code(self.read(d)).view(b, cfg.frames, -1)  # [B, T, code]
        return img, fine, feat, codes

    def layers(self, context: torch.Tensor, delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`motion_layers` only: masks [B, K, g, g] (a partition of the context, layer 0 in front) on a grid twice the
        latent grid's resolution, and affine parameters [B, T, K, 6] per layer and generated frame."""
        img, fine, feat, codes = self._features(context, delta)
        # twice the latent grid (half the pixels' when r = 4): fine enough for a 4×4-pixel cell's mean flow and 4×
        # cheaper than pixels (a CPU training step at batch 32: 1.2 s on pixels, 0.38 s here)
        g = (min(img.shape[-2], 2 * feat.shape[-2]), min(img.shape[-1], 2 * feat.shape[-1]))
        inp = torch.cat([F.adaptive_avg_pool2d(fine, g), F.interpolate(feat, size=g, mode="nearest")], 1)
        return self.masks(inp).softmax(1), self.affine(codes).unflatten(-1, (self.config.motion_layers, 6))

    def forward(self, context: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if cfg.motion_layers:
            masks, params = self.layers(context, delta)
            return self.layered_flow(masks, params, context.shape[-2:])
        _, _, feat, codes = self._features(context, delta)
        gamma, beta = self.film(codes).chunk(2, -1)
        h = feat[:, None] * (1 + gamma[..., None, None]) + beta[..., None, None]  # [B, T, W, h, w]
        return self.dec(h.flatten(0, 1)).view(context.shape[0], cfg.frames, 2, *feat.shape[-2:])

    def layered_flow(self, masks: torch.Tensor, params: torch.Tensor, latent: tuple[int, int]) -> torch.Tensor:
        """Masks [B, K, H, W] (layer 0 in front) and affine parameters [B, T, K, 6] → backward flow [B, T, 2, h, w]
        on the `latent` grid (h, w): the layers' displacements (`composite`) weighted by their cover, averaged per
        latent cell (the teacher's form), in latent cells."""
        b, t = params.shape[:2]
        weight, disp = composite(masks, params)
        h, w = latent
        flow = (weight[..., None] * disp).sum(2) * torch.tensor([w / 2, h / 2], device=disp.device, dtype=disp.dtype)
        return F.adaptive_avg_pool2d(flow.permute(0, 1, 4, 2, 3).flatten(0, 1), latent).unflatten(0, (b, t))


def composite(masks: torch.Tensor, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Layers front to back: masks [B, K, H, W] (layer 0 in front), affine parameters [B, T, K, 6] → each layer's
    cover of each output position [B, T, K, H, W] (summing to 1 over K) and its displacement [B, T, K, H, W, 2] (in
    [-1, 1] units: where that layer's content at the output position sat in the context, relative to it).

    Layer k at frame t takes its content from s = x + b + A (x − c_k) (A: 2×2, b: offset, c_k: the layer's centroid in
    the context), so translation, rotation and scale are said the same way wherever the actor sits. A layer covers an
    output position where its mask, carried along by its own motion, is there (the mask sampled at s); the last layer
    takes what the others leave."""
    b, t, k = params.shape[:3]
    hh, ww = masks.shape[-2:]
    coords = _grid(hh, ww, masks)
    area = masks.sum((2, 3)).clamp_min(1e-6)
    centre = torch.einsum("bkhw,hwc->bkc", masks, coords) / area[..., None]  # [B, K, 2]
    rx = (coords[..., 0] - centre[..., 0, None, None])[:, None]  # [B, 1, K, H, W]
    ry = (coords[..., 1] - centre[..., 1, None, None])[:, None]
    p = params[..., None, None]  # [B, T, K, 6, 1, 1]
    dx = p[:, :, :, 4] + p[:, :, :, 0] * rx + p[:, :, :, 1] * ry  # [B, T, K, H, W]
    dy = p[:, :, :, 5] + p[:, :, :, 2] * rx + p[:, :, :, 3] * ry
    disp = torch.stack([dx, dy], -1)
    src = (coords + disp).flatten(0, 2)
    carried = F.grid_sample(masks[:, None].expand(b, t, k, hh, ww).reshape(-1, 1, hh, ww), src.to(masks.dtype),
                            mode="bilinear", padding_mode="zeros", align_corners=False).view(b, t, k, hh, ww)
    free = torch.cumprod(1 - carried, 2)  # what layers 0..k leave uncovered
    weight = torch.cat([carried[:, :, :-1] * torch.cat([torch.ones_like(free[:, :, :1]), free[:, :, :-2]], 2),
                        free[:, :, -2:-1]], 2)
    return weight, disp


def _grid(hh: int, ww: int, like: torch.Tensor) -> torch.Tensor:
    """Pixel centres [H, W, 2] as (x, y) in [-1, 1] (grid_sample's align_corners=False convention)."""
    ys = (torch.arange(hh, device=like.device, dtype=like.dtype) + 0.5) * (2 / hh) - 1
    xs = (torch.arange(ww, device=like.device, dtype=like.dtype) + 0.5) * (2 / ww) - 1
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)


def flow_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean end-point error (Euclidean distance of the (x, y) vectors) over frames and cells: [B, T, 2, h, w] pairs."""
    return (pred.float() - target.float()).pow(2).sum(2).add(1e-8).sqrt().mean()


MOVING_CELLS = 0.5  # teacher flow (latent cells) at which a cell counts as fully moving in the loss's weights
MOVING_WEIGHT = 9.0


def motion_loss(pred: torch.Tensor, target: torch.Tensor, per_clip: bool = False) -> torch.Tensor:
    """Squared flow error, each cell weighted 1 + 9·min(1, |target| / 0.5 cells) and normalised by the weights.

    Most cells do not move (the actor covers a few per cent of the frame), so an unweighted loss is minimised early by
    zero flow and an end-point (L1-like) loss stays there (its optimum for uncertain cells is the median: 0). Measured
    on the world cache: 300 steps of end-point loss left the held-out error exactly at the zero-flow value.

    `per_clip`: each clip's weighted error is divided by its own weighted mean square flow (at least 0.5 cells'
    square) and the clips averaged, so a small turn or shake counts as much as a camera pan: in the pooled loss a
    clip counts by the square of its motion, and the turns (a few pixels at the actor's rim) were what the head did
    not learn (docs/results.md, fifteenth session)."""
    target = target.float()
    w = 1 + MOVING_WEIGHT * (target.norm(dim=2, keepdim=True) / MOVING_CELLS).clamp(max=1)
    err = (pred.float() - target).pow(2) * w
    if not per_clip:
        return err.sum() / (2 * w.sum())
    dims = tuple(range(1, target.dim()))
    scale = (target.pow(2) * w).sum(dims) / w.sum(dims) / 2 + MOVING_CELLS**2
    return (err.sum(dims) / (2 * w.sum(dims)) / scale).mean()


class MotionLoss:
    """The motion head's training loss on items {"context", "delta", "flow"} (`generator_recipe.GeneratorData` with an
    autoencoder): `motion_loss` to the clip's teacher flow (per clip with `per_clip`)."""

    def __init__(self, per_clip: bool = False):
        self.per_clip = per_clip

    def __call__(self, head: MotionHead, batch: dict) -> torch.Tensor:
        return motion_loss(head(batch["context"], batch["delta"]), batch["flow"], self.per_clip)
