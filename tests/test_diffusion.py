"""Flow matching and samplers (deltadiff.diffusion): a data distribution with a known answer, guidance, seeds, the loss."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from deltadiff.diffusion import (
    SOLVERS,
    FlowMatchingLoss,
    euler,
    guided,
    noise_from_seeds,
    run_scheduler,
    sample,
    schedule,
)
from deltadiff.diffusion.flow import motion_weights, shift_time
from deltadiff.errors import ConfigError
from deltadiff.generator import SpaceTimeDiT, preset

# Data x0 ~ N(μ, s²) per dimension. With x_t = (1−t)x0 + tε the exact velocity E[ε − x0 | x_t] is closed-form:
#   v(x, t) = (t − (1−t)s²) / ((1−t)²s² + t²) · (x − (1−t)μ) − μ,
# and the exact ODE maps noise ε to μ + s·ε. v is affine in x, so every solver is an affine map ε ↦ α·ε + β: on noise
# standardised to mean 0 and std 1, a sample's mean is β and its std is |α| *exactly*, so the tolerances below measure
# the solver's discretisation error alone, with no Monte Carlo error in them.
MU = torch.tensor([1.5, -0.7, 0.0], dtype=torch.float64)
S = torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64)


def gaussian_velocity(x: torch.Tensor, t: float) -> torch.Tensor:
    a = 1 - t
    return (t - a * S**2) / (a * a * S**2 + t * t) * (x - a * MU) - MU


def standard_noise(n: int = 1024) -> torch.Tensor:
    eps = noise_from_seeds(range(n), (3,), dtype=torch.float64)
    return (eps - eps.mean(0)) / eps.std(0)


def std_error(solver: str, steps: int) -> float:
    x = SOLVERS[solver](gaussian_velocity, standard_noise(), schedule(steps))
    assert torch.allclose(x.mean(0), MU, atol=1e-4)  # the mean path (1−t)μ is straight: every solver gets it
    return float((x.std(0) / S - 1).abs().max())


# Measured relative std errors (uniform schedule): Heun 0.030 @ 8 steps, 0.0067 @ 16; UniPC 0.021 @ 8, 0.010 @ 16;
# Euler 0.170 @ 8, 0.089 @ 16. Tolerances are those with a ~2× margin.
@pytest.mark.parametrize("solver,steps,tol", [("heun", 8, 0.06), ("heun", 16, 0.015), ("unipc", 8, 0.05),
                                              ("unipc", 16, 0.02), ("euler", 16, 0.12)])
def test_samplers_recover_a_gaussian(solver, steps, tol):
    assert std_error(solver, steps) < tol


@pytest.mark.parametrize("steps", [8, 16])
def test_second_order_solvers_beat_euler_at_equal_steps(steps):
    e = std_error("euler", steps)
    assert std_error("heun", steps) < e / 4
    assert std_error("unipc", steps) < e / 4  # UniPC: also at equal network evaluations (one per step)


def test_convergence_orders():
    """Doubling the steps halves Euler's error (first order) and quarters Heun's (second order)."""
    assert 1.7 < std_error("euler", 8) / std_error("euler", 16) < 2.3
    assert std_error("heun", 8) / std_error("heun", 16) > 3.5


def test_euler_matches_diffusers_flow_match_euler():
    eps, ts = noise_from_seeds(range(64), (3,)), schedule(8, shift=2.0)
    ours = euler(lambda x, t: gaussian_velocity(x.double(), t).float(), eps, ts)
    ref = run_scheduler(lambda x, t: gaussian_velocity(x.double(), t).float(), eps, ts, FlowMatchEulerDiscreteScheduler())
    assert torch.allclose(ours, ref, atol=1e-5)


def test_schedule_and_shift():
    ts = schedule(8)
    assert ts[0] == 1 and ts[-1] == 0 and (ts.diff() < 0).all() and len(ts) == 9
    shifted = schedule(8, shift=3.0)
    assert shifted[0] == 1 and shifted[-1] == 0 and (shifted[1:-1] > ts[1:-1]).all()  # more time at high noise
    assert float(shift_time(torch.tensor(0.5), 3.0)) == pytest.approx(0.75)
    with pytest.raises(ConfigError):
        schedule(0)


def test_noise_per_sample_seed_ignores_the_batch():
    batch = noise_from_seeds([3, 5, 7], (2, 4))
    assert torch.equal(batch[1], noise_from_seeds([5], (2, 4))[0])
    assert not torch.equal(batch[0], batch[1])


# -- guidance and sampling with the network ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = SpaceTimeDiT(preset("micro"))
    with torch.no_grad():  # leave adaLN-zero's zeros so every path is live
        for p in m.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return m.eval()


def conditions(cfg, b: int = 2):
    g = torch.Generator().manual_seed(7)
    s = cfg.latent_size
    x = torch.randn(b, cfg.frames, cfg.latent_channels, s, s, generator=g)
    context = torch.randn(b, cfg.latent_channels, s, s, generator=g)
    delta = torch.randn(b, cfg.delta_frames, cfg.delta_tokens, cfg.delta_dim, generator=g)
    return x, context, delta


@torch.no_grad()
def test_guidance_scale_zero_is_the_no_delta_path(model):
    x, context, delta = conditions(model.config)
    no, yes = torch.zeros(2, dtype=torch.bool), torch.ones(2, dtype=torch.bool)
    t = 0.4
    tt = torch.full((2,), t)
    assert torch.equal(guided(model, context, delta, scale_delta=0.0)(x, t), model(x, tt, context, delta, no, yes))
    assert torch.equal(guided(model, context, delta, 0.0, 0.0)(x, t), model(x, tt, context, delta, yes, yes))
    assert torch.equal(guided(model, context, delta, 1.0, 1.0)(x, t), model(x, tt, context, delta, no, no))


@torch.no_grad()
def test_guidance_formula(model):
    x, context, delta = conditions(model.config)
    no, yes = torch.zeros(2, dtype=torch.bool), torch.ones(2, dtype=torch.bool)
    tt = torch.full((2,), 0.7)
    v_u, v_c, v_f = (model(x, tt, context, delta, dc, dd) for dc, dd in ((yes, yes), (no, yes), (no, no)))
    s_d, s_c = 2.5, 1.5
    expected = v_u + s_c * (v_c - v_u) + s_d * (v_f - v_c)
    assert torch.allclose(guided(model, context, delta, s_d, s_c)(x, 0.7), expected, atol=1e-5)
    assert not torch.allclose(expected, v_f, atol=1e-3)  # guidance changed something


@torch.no_grad()
def test_sample_is_deterministic_by_seed(model):
    _, context, delta = conditions(model.config)
    calls = []
    a = sample(model, context, delta, seeds=[1, 2], steps=3, solver="heun", scale_delta=2.0, callback=calls.append)
    b = sample(model, context, delta, seeds=[1, 2], steps=3, solver="heun", scale_delta=2.0)
    c = sample(model, context[1:], delta[1:], seeds=[2], steps=3, solver="heun", scale_delta=2.0)
    assert a.shape == (2, model.config.frames, 4, 8, 8) and torch.equal(a, b)
    assert torch.allclose(a[1:], c, atol=1e-5)  # sample 2 does not depend on what else is in the batch
    assert not torch.allclose(a, sample(model, context, delta, seeds=[3, 4], steps=3, solver="heun", scale_delta=2.0))
    assert [c["step"] for c in calls] == [1, 2, 3] and calls[-1]["t"] == 0
    with pytest.raises(ConfigError, match="unknown sampler"):
        sample(model, context, delta, solver="ddpm")


@torch.no_grad()
def test_noise_scale_is_a_sampling_temperature(model):
    _, context, delta = conditions(model.config)
    kw = {"steps": 3, "solver": "euler"}
    cold = [sample(model, context, delta, seeds=s, noise_scale=0.0, **kw) for s in ([1, 2], [5, 6])]
    assert torch.equal(cold[0], cold[1])  # no noise: every seed gives the model's mean path
    warm = sample(model, context, delta, seeds=[1, 2], **kw)
    half = sample(model, context, delta, seeds=[1, 2], noise_scale=0.5, **kw)
    assert torch.equal(warm, sample(model, context, delta, seeds=[1, 2], noise_scale=1.0, **kw))
    assert not torch.allclose(half, warm, atol=1e-4) and not torch.allclose(half, cold[0], atol=1e-4)
    # the same as passing the scaled noise itself
    from deltadiff.diffusion.sampling import noise_from_seeds

    cfg = model.config
    noise = noise_from_seeds([1, 2], (cfg.frames, cfg.latent_channels, cfg.latent_size, cfg.latent_size))
    assert torch.allclose(half, sample(model, context, delta, noise=0.5 * noise, **kw), atol=1e-6)
    with pytest.raises(ConfigError, match="noise scale"):
        sample(model, context, delta, noise_scale=-1.0, **kw)


@pytest.mark.parametrize("solver", list(SOLVERS))
@torch.no_grad()
def test_every_solver_runs_the_network(model, solver):
    _, context, delta = conditions(model.config)
    out = sample(model, context, delta, steps=3, solver=solver, scale_delta=1.5, scale_context=1.2)
    assert out.shape == (2, model.config.frames, 4, 8, 8) and torch.isfinite(out).all()


# -- the loss ---------------------------------------------------------------------------------------------------
class Oracle(torch.nn.Module):
    """Knows the clean data x0, so it can return the exact velocity (x_t − x0)/t = ε − x0; records the drop masks."""

    def __init__(self, x0, p_drop_delta=0.0, p_drop_context=0.0, frame0_bias=0.0):
        super().__init__()
        self.x0, self.bias, self.masks = x0, frame0_bias, []
        self.config = SimpleNamespace(p_drop_delta=p_drop_delta, p_drop_context=p_drop_context)

    def forward(self, x, t, context, delta, drop_context=None, drop_delta=None):
        self.masks.append((drop_context, drop_delta))
        v = (x - self.x0) / t.view(-1, 1, 1, 1, 1)
        v[:, 0] += self.bias
        return v


def loss_batch(b=64):
    g = torch.Generator().manual_seed(0)
    return {"latents": torch.randn(b, 3, 4, 8, 8, generator=g), "context": torch.randn(b, 4, 8, 8, generator=g),
            "delta": torch.randn(b, 4, 4, 16, generator=g)}


def test_loss_convention_and_frame_weights():
    batch = loss_batch()
    torch.manual_seed(0)
    assert FlowMatchingLoss()(Oracle(batch["latents"]), batch) < 1e-8  # target is ε − x0
    wrong = Oracle(-batch["latents"])  # a model that gets x0's sign wrong pays for it
    assert FlowMatchingLoss()(wrong, batch) > 1.0
    biased = Oracle(batch["latents"], frame0_bias=1.0)  # error 1 on frame 0, 0 elsewhere
    assert float(FlowMatchingLoss()(biased, batch)) == pytest.approx(1 / 3, abs=1e-4)
    assert float(FlowMatchingLoss(frame_weights=[1, 0, 0])(biased, batch)) == pytest.approx(1.0, abs=1e-4)
    assert float(FlowMatchingLoss(frame_weights=[0, 1, 1])(biased, batch)) == pytest.approx(0.0, abs=1e-4)
    with pytest.raises(ConfigError, match="frame_weights"):
        FlowMatchingLoss(frame_weights=[1, 1])(biased, batch)


def test_motion_weights_stress_what_changes():
    ctx = torch.zeros(1, 2, 4, 4)
    x0 = torch.zeros(1, 2, 2, 4, 4)
    x0[0, 0, :, 1, 2] = 1.0  # frame 1: one position changed (by more than τ); frame 2: still
    w = motion_weights(x0, ctx, lam=15.0)
    assert w.shape == (1, 2, 1, 4, 4)
    assert torch.allclose(w.mean((-2, -1)), torch.ones(1, 2, 1))  # mean 1 in every frame
    assert w[0, 0, 0, 1, 2] == pytest.approx(16 / (1 + 15 / 16))  # 1 + λ there, normalised by the frame's mean
    assert torch.allclose(w[0, 1], torch.ones(1, 4, 4))  # a still frame keeps the plain loss
    # in the loss: an error only where the clip changes costs λ-times more than the same error where it does not
    batch = {"latents": x0, "context": ctx, "delta": torch.zeros(1, 2, 4, 16)}
    at_change, elsewhere = (Oracle(x0.clone()) for _ in range(2))
    bump = torch.zeros_like(x0)
    bump[0, 0, :, 1, 2] = 1.0
    at_change.bias = bump[:, 0]
    bump2 = torch.zeros_like(x0)
    bump2[0, 0, :, 3, 3] = 1.0
    elsewhere.bias = bump2[:, 0]
    plain = FlowMatchingLoss(motion_weight=0.0)
    weighted = FlowMatchingLoss(motion_weight=15.0)
    assert float(plain(at_change, batch)) == pytest.approx(float(plain(elsewhere, batch)), rel=1e-5)
    assert float(weighted(at_change, batch)) == pytest.approx(16 * float(weighted(elsewhere, batch)), rel=1e-4)
    with pytest.raises(ConfigError, match="motion_weight"):
        FlowMatchingLoss(motion_weight=-1.0)
    with pytest.raises(ConfigError, match="flow_weight"):
        FlowMatchingLoss(flow_weight=-1.0)


def test_condition_dropout_is_independent_and_follows_the_config():
    batch = loss_batch(4000)
    torch.manual_seed(0)
    oracle = Oracle(batch["latents"], p_drop_delta=0.5, p_drop_context=0.2)
    FlowMatchingLoss()(oracle, batch)
    dc, dd = (m.float() for m in oracle.masks[-1])
    # binomial standard errors at n = 4000 are ≤ 0.008; ±0.04 is 5 of them
    assert abs(dd.mean() - 0.5) < 0.04 and abs(dc.mean() - 0.2) < 0.04
    assert abs((dc * dd).mean() - 0.1) < 0.04  # both dropped: the unconditional model is trained too
    FlowMatchingLoss(p_drop_delta=0.0, p_drop_context=1.0)(oracle, batch)
    dc, dd = oracle.masks[-1]
    assert dc.all() and not dd.any()


def test_training_times():
    torch.manual_seed(0)
    t = FlowMatchingLoss().sample_t(20000)
    assert 0 < float(t.min()) and float(t.max()) < 1 and abs(float(t.median()) - 0.5) < 0.02
    assert abs(float(FlowMatchingLoss(shift=3.0).sample_t(20000).median()) - 0.75) < 0.02
    with pytest.raises(ConfigError):
        FlowMatchingLoss(t_sampling="cosine")


def test_loss_backpropagates_through_the_generator():
    m = SpaceTimeDiT(preset("micro")).train()
    loss = FlowMatchingLoss()(m, loss_batch(4))
    loss.backward()
    assert torch.isfinite(loss) and m.proj_out.weight.grad.abs().sum() > 0
