"""Rectified flow matching (Lipman et al. 2023; Liu et al. 2023; the SD3 recipe, Esser et al. 2024) for the generator.

Convention used everywhere in deltadiff.diffusion: t ∈ [0, 1], t = 0 is data and t = 1 is pure noise,

    x_t = (1 − t)·x0 + t·ε,   ε ~ N(0, I),        target velocity  v = dx_t/dt = ε − x0.

The network predicts v; x0 = x_t − t·v and ε = x_t + (1 − t)·v recover either end. This is diffusers' "flow_prediction"
with sigma = t, so its flow schedulers drive the same network (sampling.py).

Training times: logit-normal t (SD3 §3.1, "rf/lognorm(0.00, 1.00)", their best-ranked rectified-flow variant: the
middle of the path, where the velocity is hardest to predict, gets the most samples), optionally shifted
t ← s·t / (1 + (s − 1)·t) (SD3's resolution-dependent timestep shift): at more tokens per frame a given noise level destroys less of the signal, so
s > 1 moves training (and the sampler's schedule, which should use the same s) towards the noisy end.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from deltadiff.errors import ConfigError

T_SAMPLING = ("logit_normal", "uniform")


def shift_time(t: torch.Tensor, shift: float) -> torch.Tensor:
    """SD3's resolution shift t ← s·t / (1 + (s − 1)·t); the identity at s = 1, keeps 0 and 1 fixed."""
    return t if shift == 1.0 else shift * t / (1 + (shift - 1) * t)


MOTION_TAU = 0.1  # latent units (frames in [−1, 1] for the pixel autoencoder): a change of τ counts fully as motion


def motion_weights(x0: torch.Tensor, context: torch.Tensor, lam: float, tau: float = MOTION_TAU) -> torch.Tensor:
    """Per-position loss weights 1 + λ·min(1, d/τ), d = channel-mean |x0 − context|, normalised to mean 1 per frame:
    x0 [B, T, C, h, w], context [B, C, h, w] → [B, T, 1, h, w]."""
    d = (x0.float() - context.float()[:, None]).abs().mean(2, keepdim=True)
    w = 1 + lam * (d / tau).clamp(max=1.0)
    return w / w.mean((-2, -1), keepdim=True)


class FlowMatchingLoss:
    """`loss(model, batch) -> scalar`: mean squared error between the predicted and the true velocity.

    batch: {"latents": [B, T, C, h, w] clean future frames, "context": [B, C, h, w] clean context latent,
            "delta": [B, T', N, D] action latents}.
    Condition dropout (for classifier-free guidance on δ and on the context): each sample drops δ with probability
    p_drop_delta and, independently, the context with p_drop_context, so "both dropped" — the unconditional model the
    guidance formula needs — is trained too (at p_δ·p_c). By default the probabilities are the model config's.
    `frame_weights` [T] (normalised to mean 1) weights the per-frame errors, e.g. to stress late frames.

    `motion_weight` λ (default: the model config's) weights each latent position of a frame by 1 + λ·min(1, d/τ), where
    d is the channel-mean |x0 − context| there and τ = MOTION_TAU, normalised to mean 1 within the frame. Where the clip
    changes is what δ must explain, and it is a small share of the pixels: unweighted, the loss is dominated by the
    static scene (which the context already gives) and a small generator learns to keep the actor still. The weight
    uses only the clip itself, so training stays self-supervised.

    `flow_weight` μ (default: the model config's `flow_teacher_weight`): when the batch carries "flow" [B, T, 2, h, w]
    (a teacher's flow of the clip, in latent cells; training/generator_recipe.py computes it with classical optical
    flow) and the model warps its context, μ·mean((f̂ − flow)²) is added. The warp alone gets no useful gradient for
    motions larger than a pixel or two (bilinear sampling only sees its 2×2 neighbourhood): measured, a warp generator
    trained without the teacher predicted flows under 0.35 cells whatever the motion.
    """

    def __init__(self, p_drop_delta: float | None = None, p_drop_context: float | None = None,
                 t_sampling: str = "logit_normal", loc: float = 0.0, scale: float = 1.0, shift: float = 1.0,
                 frame_weights: Sequence[float] | None = None, motion_weight: float | None = None,
                 flow_weight: float | None = None):
        if t_sampling not in T_SAMPLING:
            raise ConfigError(f"unknown t sampling {t_sampling!r}; choose one of {', '.join(T_SAMPLING)}")
        if shift <= 0 or scale <= 0:
            raise ConfigError(f"shift and scale must be positive, got shift={shift}, scale={scale}")
        for name, val in (("motion_weight", motion_weight), ("flow_weight", flow_weight)):
            if val is not None and val < 0:
                raise ConfigError(f"{name} must be ≥ 0, got {val}")
        self.p_drop_delta, self.p_drop_context, self.motion_weight = p_drop_delta, p_drop_context, motion_weight
        self.flow_weight = flow_weight
        self.t_sampling, self.loc, self.scale, self.shift = t_sampling, loc, scale, shift
        self.frame_weights = None
        if frame_weights is not None:
            w = torch.as_tensor(frame_weights, dtype=torch.float32)
            if w.ndim != 1 or (w < 0).any() or w.sum() <= 0:
                raise ConfigError("frame_weights must be one non-negative weight per generated frame, not all zero")
            self.frame_weights = w / w.mean()

    def sample_t(self, n: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """n training times in (0, 1)."""
        if self.t_sampling == "logit_normal":
            t = torch.sigmoid(self.loc + self.scale * torch.randn(n, device=device))
        else:
            t = torch.rand(n, device=device)
        return shift_time(t, self.shift)

    def __call__(self, model, batch: dict) -> torch.Tensor:
        x0, context, delta = batch["latents"], batch["context"], batch["delta"]
        cfg = getattr(model, "module", model).config  # DDP wraps the network
        p_d = cfg.p_drop_delta if self.p_drop_delta is None else self.p_drop_delta
        p_c = cfg.p_drop_context if self.p_drop_context is None else self.p_drop_context
        b, dev = x0.shape[0], x0.device
        t = self.sample_t(b, dev)
        eps = torch.randn_like(x0)
        tb = t.view(b, *([1] * (x0.ndim - 1)))
        x_t = (1 - tb) * x0 + tb * eps
        drop_delta = torch.rand(b, device=dev) < p_d
        drop_context = torch.rand(b, device=dev) < p_c
        mu = getattr(cfg, "flow_teacher_weight", 0.0) if self.flow_weight is None else self.flow_weight
        teach = mu > 0 and batch.get("flow") is not None and getattr(cfg, "context_warp", False)
        v = model(x_t, t, context, delta, drop_context=drop_context, drop_delta=drop_delta, **({"return_flow": True} if teach else {}))
        if teach:
            v, flow = v
        lam = getattr(cfg, "motion_weight", 0.0) if self.motion_weight is None else self.motion_weight
        sq = (v.float() - (eps - x0).float()).pow(2)  # [B, T, C, h, w]
        if lam > 0:
            sq = sq * motion_weights(x0, context, lam)  # [B, T, 1, h, w], mean 1 per frame
        err = sq.flatten(2).mean(-1)  # [B, T]
        if self.frame_weights is not None:
            if self.frame_weights.numel() != err.shape[1]:
                raise ConfigError(f"frame_weights has {self.frame_weights.numel()} entries for {err.shape[1]} frames")
            err = err * self.frame_weights.to(dev)
        if teach:
            return err.mean() + mu * (flow.float() - batch["flow"].float()).pow(2).mean()
        return err.mean()

    loss = __call__

