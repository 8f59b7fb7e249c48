"""Samplers: pure functions over a tiny callable `denoise(x [B, ...], t: float) -> v [B, ...]` (k-diffusion / edm2 style),
a noise tensor and a time schedule. Flow convention of flow.py: t = 1 is noise, t = 0 is data, v = ε − x0, and the
probability-flow ODE is dx/dt = v, integrated from t = 1 down to t = 0.

- `euler`: first order, one evaluation per step. On a rectified flow it is exactly DDIM (and DPM-Solver-1).
- `heun`: EDM's second-order Heun (Karras et al. 2022, Alg. 1 without churn): 2N − 1 evaluations for N steps (the last
  step, which lands on t = 0, stays first order as in EDM).
- `unipc`: diffusers' `UniPCMultistepScheduler` in flow form (Zhao et al. 2023; 2nd-order multistep predictor-corrector,
  one evaluation per step). We use diffusers' scheduler here rather than rewriting a multistep solver; `run_scheduler`
  drives any diffusers flow scheduler that accepts custom sigmas over our schedule.

Guidance lives in `guided`, a closure around the network; the network never sees a guidance scale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from deltadiff.diffusion.flow import shift_time
from deltadiff.errors import ConfigError

Denoiser = Callable[[torch.Tensor, float], torch.Tensor]
Callback = Callable[[dict], None]  # called after every step with {"step", "steps", "t", "x"}


def schedule(steps: int, shift: float = 1.0) -> torch.Tensor:
    """Times [steps + 1] from 1 to 0, uniform in t and then shifted (flow.shift_time; use the training shift)."""
    if steps < 1:
        raise ConfigError(f"the sampler needs at least one step, got {steps}")
    return shift_time(torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64), shift)


def noise_from_seeds(seeds: Sequence[int], shape: Sequence[int], device=None, dtype=torch.float32) -> torch.Tensor:
    """[len(seeds), *shape] with sample i drawn from its own generator seeded by seeds[i] (edm2's
    StackedRandomGenerator): a sample does not change when the batch around it does."""
    return torch.stack([torch.randn(*shape, generator=torch.Generator().manual_seed(int(s)), dtype=dtype)
                        for s in seeds]).to(device)


def euler(denoise: Denoiser, noise: torch.Tensor, ts: torch.Tensor, callback: Callback | None = None) -> torch.Tensor:
    x = noise
    for i in range(len(ts) - 1):
        t, t_next = float(ts[i]), float(ts[i + 1])
        x = x + (t_next - t) * denoise(x, t)
        if callback is not None:
            callback({"step": i + 1, "steps": len(ts) - 1, "t": t_next, "x": x})
    return x


def heun(denoise: Denoiser, noise: torch.Tensor, ts: torch.Tensor, callback: Callback | None = None) -> torch.Tensor:
    x = noise
    for i in range(len(ts) - 1):
        t, t_next = float(ts[i]), float(ts[i + 1])
        v = denoise(x, t)
        x_next = x + (t_next - t) * v
        if t_next > 0:  # trapezoidal correction with the slope at the Euler point
            x_next = x + (t_next - t) * 0.5 * (v + denoise(x_next, t_next))
        x = x_next
        if callback is not None:
            callback({"step": i + 1, "steps": len(ts) - 1, "t": t_next, "x": x})
    return x


def run_scheduler(denoise: Denoiser, noise: torch.Tensor, ts: torch.Tensor, scheduler,
                  callback: Callback | None = None) -> torch.Tensor:
    """Drive a diffusers flow scheduler (built with use_flow_sigmas=True, prediction_type="flow_prediction",
    flow_shift=1.0) over our schedule ts (which must end at 0). Its sigma is our t; the network sees that t."""
    if float(ts[-1]) != 0.0:
        raise ConfigError("a schedule for a diffusers scheduler must end at t = 0")
    scheduler.set_timesteps(sigmas=ts[:-1].double().cpu().numpy(), device=noise.device)
    x, n = noise, len(scheduler.timesteps)
    for i, step_t in enumerate(scheduler.timesteps):
        v = denoise(x, float(scheduler.sigmas[i]))  # UniPC moves t = 1 to 1 − 1e-6 (its log(1 − t) must be finite)
        x = scheduler.step(v, step_t, x, return_dict=False)[0]
        if callback is not None:
            callback({"step": i + 1, "steps": n, "t": float(scheduler.sigmas[i + 1]), "x": x})
    return x


def unipc(denoise: Denoiser, noise: torch.Tensor, ts: torch.Tensor, callback: Callback | None = None,
          order: int = 2) -> torch.Tensor:
    from diffusers import UniPCMultistepScheduler

    sched = UniPCMultistepScheduler(use_flow_sigmas=True, prediction_type="flow_prediction", flow_shift=1.0,
                                    solver_order=order, final_sigmas_type="zero")
    return run_scheduler(denoise, noise, ts, sched, callback)


SOLVERS: dict[str, Callable] = {"euler": euler, "heun": heun, "unipc": unipc}


def guided(model, context: torch.Tensor, delta: torch.Tensor, scale_delta: float = 1.0,
           scale_context: float = 1.0) -> Denoiser:
    """Classifier-free guidance on δ and on the context (nested, as InstructPix2Pix eq. 3, Brooks et al. 2023):

        v = v(∅,∅) + s_c·(v(c,∅) − v(∅,∅)) + s_δ·(v(c,δ) − v(c,∅))
          = (1 − s_c)·v(∅,∅) + (s_c − s_δ)·v(c,∅) + s_δ·v(c,δ)

    with c the context and ∅ a dropped (null) condition. s_δ = s_c = 1 is the plain conditional model, s_δ = 0 the
    context-only model, s_c = s_δ = 0 the unconditional one. Passes whose weight is 0 are not run, and a single pass of
    weight 1 is returned as is, so those three cases equal the network's own outputs exactly. The passes needed are
    run as one batch through `model(x, t, context, delta, drop_context, drop_delta)`.
    """
    b = context.shape[0]
    weights = {(True, True): 1.0 - scale_context, (False, True): scale_context - scale_delta, (False, False): scale_delta}
    passes = [(drops, w) for drops, w in weights.items() if w != 0.0]  # (drop_context, drop_delta), weight
    k, dev = len(passes), context.device
    drop_c = torch.tensor([dc for (dc, _), _ in passes], device=dev).repeat_interleave(b)  # [k·B]
    drop_d = torch.tensor([dd for (_, dd), _ in passes], device=dev).repeat_interleave(b)
    ctx, dl = context.repeat(k, *([1] * (context.ndim - 1))), delta.repeat(k, *([1] * (delta.ndim - 1)))
    # a frozen motion head's flow depends only on (context, δ): once per sampling call, not once per step
    flow = model.motion_flow(ctx, dl, drop_c, drop_d) if hasattr(model, "motion_flow") else None
    extra = {} if flow is None else {"motion_flow": flow}

    def denoise(x: torch.Tensor, t: float) -> torch.Tensor:
        tt = torch.full((k * b,), t, dtype=x.dtype, device=x.device)
        v = model(x.repeat(k, *([1] * (x.ndim - 1))), tt, ctx, dl, drop_context=drop_c, drop_delta=drop_d, **extra)
        vs = v.chunk(k)
        if k == 1:  # the weights sum to 1, so a single pass has weight 1
            return vs[0]
        return sum(w * vi for (_, w), vi in zip(passes, vs))

    return denoise


@torch.no_grad()
def sample(model, context: torch.Tensor, delta: torch.Tensor, *, seeds: Sequence[int] | None = None,
           noise: torch.Tensor | None = None, steps: int = 16, solver: str = "heun", shift: float = 1.0,
           scale_delta: float = 1.0, scale_context: float = 1.0, noise_scale: float = 1.0,
           callback: Callback | None = None) -> torch.Tensor:
    """Future-frame latents [B, T, C, h, w] for context latents [B, C, h, w] and action latents δ [B, T', N, D].

    Noise comes from `noise` [B, T, C, h, w], else from per-sample `seeds` (default 0..B−1); either is multiplied by
    `noise_scale`, a sampling temperature (1: the prior the model was trained from; below 1 the samples move toward
    the model's mean prediction, 0: one video for every seed)."""
    if solver not in SOLVERS:
        raise ConfigError(f"unknown sampler {solver!r}; choose one of {', '.join(SOLVERS)}")
    if not 0 <= noise_scale <= 4:
        raise ConfigError(f"noise scale must lie in [0, 4] (1: the trained prior), got {noise_scale}")
    cfg = getattr(model, "module", model).config
    b = context.shape[0]
    if noise is None:
        seeds = list(range(b)) if seeds is None else list(seeds)
        if len(seeds) != b:
            raise ConfigError(f"{len(seeds)} seeds for {b} samples")
        shape = (cfg.frames, cfg.latent_channels, cfg.latent_size, cfg.latent_size)
        noise = noise_from_seeds(seeds, shape, context.device, context.dtype)
    denoise = guided(model, context, delta, scale_delta, scale_context)
    return SOLVERS[solver](denoise, noise * noise_scale if noise_scale != 1 else noise, schedule(steps, shift), callback)
