"""`GeneratorConfig`: every hyperparameter of the generator G, saved beside its weights (generator.json), plus named
presets. `preset(name, **overrides)` resolves a preset with sparse overrides; `to_dict()` is what a dry-run prints.

Sizes (parameters xattn / adanorm; `SpaceTimeDiT.num_params`):
- micro  0.08 / 0.07 M   tests only: 8×8×4 latents, 3 future frames, width 32.
- cpu    3.21 M (xattn)  the CPU default: pixel space 64×64×3 as 16×16×48 (space-to-depth by 4, docs/autoencoder.md),
                         patch 4 → 16 tokens per frame, context + 15 future frames = 256 tokens; δ from the tiny
                         foundation model (16 frames × 64 tokens × 128). With patch 2 (64 tokens per frame, 1024 in
                         all; e.g. a 16×16×4 autoencoder latent) a step, batch 8, fp32 (benchmarks/bench_generator.py,
                         AVX2 machine) took one core 3.5 s (xattn) / 2.0 s (adanorm); patch 4 roughly halves it.
- gpu-s  52.6 / 46.1 M   128×128 video through an f8 VAE (16×16×4, patch 1 → 256 tokens per frame), context + 16
- gpu-b  209 / 183 M     frames (the paper's "16+1", 4352 tokens), δ from VideoPrism-B (16 frames × 16×16 tokens ×
- paper  736 / 639 M     768). Widths/depths of DiT-S, DiT-B and DiT-L.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields

from deltadiff.errors import ConfigError

CONDS = ("xattn", "adanorm")
ATTENTIONS = ("factorised", "full")


@dataclass
class GeneratorConfig:
    # latents: the generated video is [context, frame 1 .. frame `frames`], each [latent_channels, latent_size²]
    latent_channels: int = 4
    latent_size: int = 16
    frames: int = 15  # generated future frames (a 16-frame video is context + 15)
    patch_size: int = 2
    # transformer
    width: int = 128
    depth: int = 6
    heads: int = 2  # head size 64 (as DiT): on CPU 20% less attention time than 4 heads of 32
    mlp_ratio: float = 4.0
    attention: str = "factorised"  # "factorised" (spatial then temporal per block) | "full" (one space-time attention)
    qk_norm: bool = False  # RMS-normalised queries/keys (SD3, Esser et al. 2024), for stability at scale; on CPU it is an unfused
    # chain of element-wise ops that cost ~30% of a CPU-preset training step, so only the GPU presets turn it on
    # conditioning
    delta_dim: int = 128  # D of δ [B, T', N, D]
    delta_tokens: int = 64  # N (a square grid)
    delta_frames: int = 16  # T' the network expects (other T' are resampled in time)
    delta_scale: float = 1.0  # δ is multiplied by this before embedding: 1/std(δ), measured on the training cache
    cond: str = "xattn"  # how δ enters: "xattn" (cross-attention, time-aligned) | "adanorm" (per-frame adaptive norm)
    xattn_window: int | None = 1  # video frame f attends δ frames f-w .. f+w; None: all δ frames
    # adanorm only: how a frame's δ becomes its conditioning vector. "attention": a learned query pools that frame's
    # tokens; "global": every frame's vector is an MLP of all frames' tokens (each reduced to 4 numbers), so it can read
    # where and when δ changes across the clip — a probe of that form recovers the actor's displacement from δ (R² 0.81
    # on held-out world clips, docs/results.md), a per-frame pool sees one frame only
    delta_pool: str = "attention"
    context_concat: bool = False  # also concatenate the context latent to every frame's channels
    # what the network outputs: "v" (the velocity ε − x0 directly) or "x0" (the clean frames, turned into the velocity
    # (x_t − x̂0)/t): with tokens wider than the network (pixel:4 patch 4 = 768 numbers, width 192) a v-network cannot
    # pass the noise through and stalls (measured: loss 0.88 after 500 steps, samples stay noise); x̂0 is low-rank
    prediction: str = "v"
    # x0-prediction only: the network predicts the change from the context, x̂0 = context + out (every frame). The
    # context's 768-number tokens (cpu preset) then reach the output exactly instead of through the width-128 trunk, so a static
    # scene is right from step 0 and training spends itself on what moves
    context_residual: bool = False
    # context_residual only: the base the change is added to is the context *warped* by a flow the network also predicts
    # (2 numbers per latent position and frame: where that position's content sits in the context, in latent cells),
    # x̂0 = warp(context, flow) + change. Moving the actor is then a few flow numbers instead of repainting it through
    # the width-128 trunk. `warp_unshuffle` r: the warp runs on the context with its channels unfolded back into an
    # r-times finer grid (the pixel autoencoder's space-to-depth factor, so pixel:4 warps real pixels; 1 for learned
    # latents, which are warped as they are)
    context_warp: bool = False
    warp_unshuffle: int = 1
    # context_residual only: a gate the network predicts per latent position and frame (one more output number each)
    # lets the noisy input itself through where it differs from the context: x̂0 += sigmoid(g − 4)·s(t)·(x_t − (1−t)·c)
    # with s(t) = (1−t)/((1−t)² + t²) (1 at t = 0, 0 at t = 1, so the term stays bounded). The trunk cannot carry a
    # token's 768 numbers (measured, benchmarks/diag_denoise.py: at t = 0.2 x̂0 was as far from x0 where it moves as the
    # context itself); the gate is a path around it that needs one number per position
    input_gate: bool = False
    # context_residual only: the base the change is added to is the context warped by a separate motion head's flow
    # (generator/motion.py): M reads δ and the context, is trained alone on the clip's teacher flow for `motion_steps`
    # steps before the transformer, and is frozen after. With δ dropped (guidance's unconditional branch) the flow is
    # zero, i.e. the static context. The transformer also sees the warped context beside each frame's tokens
    motion_head: bool = False
    motion_steps: int = 1500
    motion_batch: int = 32
    motion_lr: float | None = None  # the head's own learning rate (None: the run's, `--lr`)
    motion_width: int = 64  # channels of the head's context CNN
    motion_code: int = 64  # numbers per frame read from δ
    motion_reduce: int = 4  # numbers each δ token is reduced to (flattened read-out) or each keypoint pools (keypoints)
    motion_hidden: int = 256
    # how M reads δ: 0 = every token reduced to `motion_reduce` numbers and the clip flattened (position-specific
    # weights); k > 0 = per frame k soft-argmax keypoints over the token grid, each its (x, y) and `motion_reduce`
    # pooled numbers (the read-out then does not depend on where in the demo's frame the action happens)
    motion_keypoints: int = 0
    # numbers each δ frame's mean token is reduced to (a shared linear map) beside the read-out above; 0 = none. The
    # mean token is what the action probe reads, and it says where the actor goes without saying where it is
    motion_pooled: int = 0
    # the head's loss per clip (each clip's error over its own motion's mean square, `motion.motion_loss`) instead of
    # pooled over the batch's cells, where a clip counts by the square of its motion
    motion_clip_norm: bool = False
    # how M writes the flow: 0 = a dense decoder per cell (FiLM by the frame's code); K ≥ 2 = K layers, each a soft
    # mask over the context and one affine motion per frame about its centroid, composited front to back at pixel
    # resolution (the motion of a layer is then where its content goes, not only where it was)
    motion_layers: int = 0
    # training, context_warp only: weight of the loss between the predicted flow and a classical optical-flow teacher's
    # flow of the training clip (Farnebäck, from the clip's own frames: still self-supervised); 0 = no teacher
    flow_teacher_weight: float = 0.0
    # training: weight of the positions where a frame differs from the context in the flow-matching loss
    # (diffusion/flow.py motion_weights); 0 = the plain loss
    motion_weight: float = 0.0
    p_drop_delta: float = 0.1  # condition dropout for classifier-free guidance (independent draws)
    p_drop_context: float = 0.1
    grad_checkpointing: bool = False

    def __post_init__(self) -> None:
        if self.prediction not in ("v", "x0"):
            raise ConfigError(f"unknown generator prediction {self.prediction!r}; choose v or x0")
        if self.context_residual and self.prediction != "x0":
            raise ConfigError("context_residual needs prediction='x0' (it adds the context to the predicted clean frames)")
        if self.input_gate and not self.context_residual:
            raise ConfigError("input_gate needs context_residual (the gate opens the input where it differs from the context)")
        if self.context_warp and not self.context_residual:
            raise ConfigError("context_warp needs context_residual (the warped context is the base of the prediction)")
        if self.motion_head and not self.context_residual:
            raise ConfigError("motion_head needs context_residual (the warped context is the base of the prediction)")
        if self.motion_head and self.context_warp:
            raise ConfigError("choose one flow: motion_head (a separate head) or context_warp (the transformer's own)")
        if self.motion_lr is not None and self.motion_lr <= 0:
            raise ConfigError(f"motion_lr must be > 0 or None, got {self.motion_lr}")
        if self.motion_layers == 1 or self.motion_layers < 0:
            raise ConfigError(f"motion_layers must be 0 (dense) or ≥ 2 (layers), got {self.motion_layers}")
        if self.motion_pooled < 0:
            raise ConfigError(f"motion_pooled must be ≥ 0, got {self.motion_pooled}")
        if self.motion_steps < 0 or self.motion_batch < 1:
            raise ConfigError(f"motion_steps must be ≥ 0 and motion_batch ≥ 1, got {self.motion_steps}, {self.motion_batch}")
        if self.warp_unshuffle < 1 or self.latent_channels % (self.warp_unshuffle**2):
            raise ConfigError(f"warp_unshuffle {self.warp_unshuffle} must be ≥ 1 and its square must divide "
                              f"latent_channels {self.latent_channels}")
        if self.cond not in CONDS:
            raise ConfigError(f"unknown generator cond {self.cond!r}; choose one of {', '.join(CONDS)}")
        if self.attention not in ATTENTIONS:
            raise ConfigError(f"unknown generator attention {self.attention!r}; choose one of {', '.join(ATTENTIONS)}")
        if self.latent_size % self.patch_size:
            raise ConfigError(f"latent_size {self.latent_size} is not divisible by patch_size {self.patch_size}")
        if self.width % self.heads or (self.width // self.heads) % 2:
            raise ConfigError(f"width {self.width} must split into {self.heads} heads of even size")
        if self.width % 4:
            raise ConfigError(f"width {self.width} must be a multiple of 4 (2-D sin-cos positions)")
        if math.isqrt(self.delta_tokens) ** 2 != self.delta_tokens:
            raise ConfigError(f"delta_tokens {self.delta_tokens} is not a square grid (e.g. 64 = 8×8)")
        if min(self.frames, self.depth, self.delta_frames, self.delta_dim, self.latent_channels) < 1:
            raise ConfigError("frames, depth, delta_frames, delta_dim and latent_channels must be positive")
        if self.delta_pool not in ("attention", "global"):
            raise ConfigError(f"delta_pool must be 'attention' or 'global', got {self.delta_pool!r}")
        if self.xattn_window is not None and self.xattn_window < 0:
            raise ConfigError(f"xattn_window must be ≥ 0 or None, got {self.xattn_window}")
        if self.flow_teacher_weight < 0:
            raise ConfigError(f"flow_teacher_weight must be ≥ 0, got {self.flow_teacher_weight}")
        if self.motion_weight < 0:
            raise ConfigError(f"motion_weight must be ≥ 0, got {self.motion_weight}")
        for name in ("p_drop_delta", "p_drop_context"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must lie in [0, 1], got {getattr(self, name)}")

    @property
    def grid(self) -> int:
        """Tokens per side of one frame."""
        return self.latent_size // self.patch_size

    @property
    def video_frames(self) -> int:
        """Frames the transformer sees: the context plus the generated ones."""
        return self.frames + 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GeneratorConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown generator config keys {', '.join(unknown)}; "
                              "the checkpoint was written by another version of deltadiff")
        return cls(**d)


_PAPER_DELTA = dict(delta_dim=768, delta_tokens=256, delta_frames=16, qk_norm=True)  # VideoPrism-B, 16 frames × 16×16 tokens
_128PX = dict(latent_channels=4, latent_size=16, frames=16, patch_size=1)  # 128×128 through an f8 VAE, 16+1 frames

PRESETS: dict[str, dict] = {
    "micro": dict(latent_size=8, frames=3, width=32, depth=2, heads=2, delta_dim=16, delta_tokens=4, delta_frames=4),
    # pixel space (pixel:4 → 16×16×48, the measured CPU default, docs/autoencoder.md), patch 4 → 16 tokens per frame:
    # a training step took ~2.6 s against ~5.9 s with patch 2 on the shared 2-core CPU (fp32, batch 8)
    # δ by adanorm (measured better than xattn, docs/results.md); the prediction builds on the context warped by the
    # motion head (generator/motion.py; the only variant measured to move the actor), in its layered form (3 masks, an
    # affine motion each: 4.16–4.42 px against the dense head's 5.35 on 48 held-out triples, docs/results.md; single
    # trainings spread by ~0.4 px) at lr 1e-3; each δ frame's mean token beside its keypoints and the loss per clip
    # (fifteenth session, the head alone on 96 held-out triples: 4.46 → 3.92 px, direction 75.0 → 77.1 %, shakes
    # 9 → 73 %; docs/results.md)
    "cpu": dict(latent_channels=48, patch_size=4, prediction="x0", context_residual=True, cond="adanorm",
                motion_head=True, motion_keypoints=4, motion_reduce=8, motion_layers=3, motion_steps=1500,
                motion_lr=1e-3, motion_pooled=32, motion_clip_norm=True),
    "gpu-s": dict(**_128PX, **_PAPER_DELTA, width=384, depth=12, heads=6, xattn_window=2),
    "gpu-b": dict(**_128PX, **_PAPER_DELTA, width=768, depth=12, heads=12, xattn_window=2, grad_checkpointing=True),
    "paper": dict(**_128PX, **_PAPER_DELTA, width=1024, depth=24, heads=16, xattn_window=2, grad_checkpointing=True),
}


def parse_overrides(items: list[str]) -> dict:
    """["patch_size=2", "xattn_window=None", ...] → {"patch_size": 2, "xattn_window": None, ...} (JSON values; None,
    True and False as Python spells them are accepted too)."""
    out = {}
    names = [f.name for f in fields(GeneratorConfig)]
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"a config override must read KEY=VALUE (e.g. patch_size=2), got {item!r}")
        if key not in names:
            raise ConfigError(f"unknown generator config field {key!r}; choose from {', '.join(names)}")
        text = {"None": "null", "True": "true", "False": "false"}.get(value, value)
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = value  # a bare string, e.g. cond=adanorm
    return out


def preset(name: str, **overrides) -> GeneratorConfig:
    """A named preset with sparse overrides, e.g. `preset("cpu", cond="adanorm")`."""
    if name not in PRESETS:
        raise ConfigError(f"unknown generator preset {name!r}; choose one of {', '.join(PRESETS)}")
    return GeneratorConfig.from_dict({**GeneratorConfig().to_dict(), **PRESETS[name], **overrides})
