"""The generator network (deltadiff.generator): config, shapes, conditioning paths, save/load, gradient checkpointing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from deltadiff.errors import ConfigError, DeltaDiffError
from deltadiff.generator import GeneratorConfig, SpaceTimeDiT, preset
from deltadiff.generator.dit import DeltaCrossAttention, warp


def make(seed: int = 0, randomise: bool = True, **overrides) -> SpaceTimeDiT:
    """A micro generator; `randomise` replaces adaLN-zero's zeros by small random weights so every path is live."""
    torch.manual_seed(seed)
    model = SpaceTimeDiT(preset("micro", **overrides))
    if randomise:
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def inputs(cfg: GeneratorConfig, b: int = 2, seed: int = 1, delta_frames: int | None = None):
    g = torch.Generator().manual_seed(seed)
    s, c = cfg.latent_size, cfg.latent_channels
    x = torch.randn(b, cfg.frames, c, s, s, generator=g)
    t = torch.rand(b, generator=g)
    context = torch.randn(b, c, s, s, generator=g)
    delta = torch.randn(b, delta_frames or cfg.delta_frames, cfg.delta_tokens, cfg.delta_dim, generator=g)
    return x, t, context, delta


def test_presets_resolve_and_round_trip():
    cfg = preset("cpu", cond="adanorm", depth=3)
    assert (cfg.cond, cfg.depth, cfg.latent_size, cfg.frames) == ("adanorm", 3, 16, 15)
    assert GeneratorConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ConfigError, match="unknown generator preset"):
        preset("huge")
    with pytest.raises(ConfigError, match="unknown generator config keys"):
        GeneratorConfig.from_dict({**cfg.to_dict(), "colour": 1})
    with pytest.raises(ConfigError, match="cond"):
        preset("micro", cond="concat")
    with pytest.raises(ConfigError, match="divisible"):
        preset("micro", patch_size=3)


def test_preset_sizes():
    """The sizes the docs promise: a CPU default of a few million parameters, a paper scale of hundreds of millions."""
    counts = {}
    for name in ("cpu", "paper"):
        with torch.device("meta"):
            counts[name] = SpaceTimeDiT(preset(name)).num_params
    assert 2e6 < counts["cpu"] < 8e6
    assert counts["paper"] > 3e8
    assert preset("paper").video_frames == 17 and preset("paper").latent_size * 8 == 128


@pytest.mark.parametrize("overrides", [dict(cond="xattn"), dict(cond="adanorm"), dict(attention="full"),
                                       dict(xattn_window=None), dict(context_concat=True),
                                       dict(cond="adanorm", delta_pool="global")])
def test_output_shape(overrides):
    model = make(**overrides)
    x, t, context, delta = inputs(model.config)
    v = model(x, t, context, delta)
    assert v.shape == x.shape and torch.isfinite(v).all()


def test_delta_of_another_length_is_resampled():
    model = make()
    x, t, context, delta = inputs(model.config, delta_frames=7)
    assert model(x, t, context, delta).shape == x.shape
    with pytest.raises(ConfigError, match="δ must be"):
        model(x, t, context, delta[:, :, :2])


def test_adaln_zero_starts_at_zero_velocity():
    model = make(randomise=False)
    x, t, context, delta = inputs(model.config)
    assert model(x, t, context, delta).abs().max() == 0  # zero-initialised output and gates (DiT §3.2)


def test_x0_prediction_turns_the_clean_estimate_into_the_velocity():
    model = make(randomise=False, prediction="x0")  # zero-initialised output: x̂0 = 0, so v = (x_t − 0)/t
    x, t, context, delta = inputs(model.config)
    t = torch.tensor([0.5, 0.01])  # the second is below X0_T_MIN and is clamped
    v = model(x, t, context, delta)
    torch.testing.assert_close(v[0], x[0] / 0.5)
    torch.testing.assert_close(v[1], x[1] / 0.05)
    with pytest.raises(ConfigError, match="prediction"):
        preset("micro", prediction="eps")


def test_context_residual_starts_by_sampling_the_context():
    """x̂0 = context + change with the change zero-initialised: every sampler lands on the context, frame after frame."""
    from deltadiff.diffusion import sample

    model = make(randomise=False, prediction="x0", context_residual=True)
    _, _, context, delta = inputs(model.config)
    for solver in ("euler", "heun"):
        out = sample(model, context, delta, seeds=[0, 1], steps=4, solver=solver)
        torch.testing.assert_close(out, context[:, None].expand_as(out), atol=1e-5, rtol=0)
    with pytest.raises(ConfigError, match="context_residual"):
        preset("micro", context_residual=True)  # the micro preset predicts v


def test_warp_is_a_backward_warp_of_the_finer_grid():
    """Zero flow is the identity; a flow of one latent cell in x samples the pixels r to the right (r = unshuffle)."""
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)
    context = torch.randn(2, 12, 6, 6, generator=g)  # 3 channels unfolded by 2: a 12×12 image
    flow = torch.zeros(2, 3, 2, 6, 6)
    torch.testing.assert_close(warp(context, flow, 2), context[:, None].expand(2, 3, 12, 6, 6))
    flow[:, 1, 0] = 1.0  # frame 1: every position's content sits one cell (2 pixels) to the right in the context
    flow[:, 2, 1] = -0.5  # frame 2: half a cell (1 pixel) up
    img = F.pixel_shuffle(context, 2)
    out = [F.pixel_shuffle(warp(context, flow, 2)[:, i], 2) for i in range(3)]
    torch.testing.assert_close(out[1][..., :, :10], img[..., :, 2:])
    torch.testing.assert_close(out[2][..., 1:, :], img[..., :-1, :])
    torch.testing.assert_close(out[1][..., :, 10:], img[..., :, 11:].expand(-1, -1, -1, 2))  # border padding


def test_context_warp_starts_at_the_context_and_moves_it():
    from deltadiff.diffusion import sample

    model = make(randomise=False, prediction="x0", context_residual=True, context_warp=True, latent_channels=12,
                 warp_unshuffle=2)
    _, _, context, delta = inputs(model.config)
    out = sample(model, context, delta, seeds=[0, 1], steps=3, solver="euler")
    torch.testing.assert_close(out, context[:, None].expand_as(out), atol=1e-5, rtol=0)  # zero flow, zero change
    with torch.no_grad():  # a constant flow of one cell in x from the output bias (the flow is the last 2 channels)
        bias = model.proj_out.bias.view(model.config.patch_size ** 2, -1)
        bias[:, -2] = 1.0
    x, t, *_ = inputs(model.config)
    t = torch.full((2,), 0.5)
    x0 = x - t.view(-1, 1, 1, 1, 1) * model(x, t, context, delta)  # the x̂0 behind the velocity
    moved = torch.zeros(2, model.config.frames, 2, 8, 8)
    moved[:, :, 0] = 1.0
    torch.testing.assert_close(x0, warp(context, moved, 2), atol=1e-5, rtol=1e-5)
    with pytest.raises(ConfigError, match="context_warp needs"):
        preset("micro", prediction="x0", context_warp=True)
    with pytest.raises(ConfigError, match="warp_unshuffle"):
        preset("micro", warp_unshuffle=3)


@pytest.mark.parametrize("overrides", [dict(cond="xattn"), dict(cond="adanorm"), dict(cond="adanorm", delta_pool="global")])
def test_dropped_conditions_are_ignored_and_kept_ones_are_used(overrides):
    model = make(**overrides)
    x, t, context, delta = inputs(model.config)
    other_delta, other_context = torch.randn_like(delta), torch.randn_like(context)
    yes = torch.ones(2, dtype=torch.bool)
    with torch.no_grad():
        v = model(x, t, context, delta)
        assert not torch.allclose(v, model(x, t, context, other_delta), atol=1e-4)
        assert not torch.allclose(v, model(x, t, other_context, delta), atol=1e-4)
        assert torch.equal(model(x, t, context, delta, drop_delta=yes), model(x, t, context, other_delta, drop_delta=yes))
        assert torch.equal(model(x, t, context, delta, drop_context=yes), model(x, t, other_context, delta, drop_context=yes))
        # masks act per sample: dropping sample 1 leaves sample 0 as it was
        mixed = model(x, t, context, delta, drop_delta=torch.tensor([False, True]))
        assert torch.allclose(mixed[0], v[0], atol=1e-6) and not torch.allclose(mixed[1], v[1], atol=1e-4)


def test_global_delta_pool_reads_every_frame_and_attention_pool_one():
    from deltadiff.generator.dit import AttentionPool, GlobalPool

    torch.manual_seed(0)
    d = torch.randn(2, 6, 4, 16)  # [B, F, N, W]
    d2 = d.clone()
    d2[:, 5] += 1.0  # change the last frame's δ only
    pooled = {"attention": AttentionPool(16, 2), "global": GlobalPool(16, 6, 4)}
    changed = {k: ((m(d) - m(d2)).abs().amax((0, 2)) > 1e-6).tolist() for k, m in pooled.items()}
    assert changed["attention"] == [False] * 5 + [True]
    assert changed["global"] == [True] * 6
    with pytest.raises(ConfigError, match="delta_pool"):
        preset("micro", delta_pool="mean")


def test_cross_attention_window_is_local_in_time():
    torch.manual_seed(0)
    f, w = 6, 1
    attn = DeltaCrossAttention(16, 2, qk_norm=False, window=w)
    x, d = torch.randn(1, f, 5, 16), torch.randn(1, f, 4, 16)
    d2 = d.clone()
    d2[:, 2] += 1.0  # change δ frame 2 only
    changed = (attn(x, d) - attn(x, d2)).abs().amax((0, 2, 3)) > 1e-6
    assert changed.tolist() == [abs(i - 2) <= w for i in range(f)]
    # a window covering every frame is full attention (the zero-padded frames are masked out)
    full = DeltaCrossAttention(16, 2, qk_norm=False, window=None)
    full.load_state_dict(attn.state_dict())
    attn.window = f - 1
    assert torch.allclose(attn(x, d), full(x, d), atol=1e-5)


def test_deterministic_by_seed():
    a, b, c = make(seed=3), make(seed=3), make(seed=4)
    x, t, context, delta = inputs(a.config)
    with torch.no_grad():
        assert torch.equal(a(x, t, context, delta), b(x, t, context, delta))
        assert not torch.allclose(a(x, t, context, delta), c(x, t, context, delta))


def test_save_load_round_trip(tmp_path):
    model = make(cond="adanorm")
    x, t, context, delta = inputs(model.config)
    model.save_pretrained(tmp_path / "g")
    loaded = SpaceTimeDiT.from_pretrained(tmp_path / "g")
    assert loaded.config == model.config and not loaded.training
    with torch.no_grad():
        assert torch.equal(loaded(x, t, context, delta), model(x, t, context, delta))


def test_load_errors(tmp_path):
    with pytest.raises(DeltaDiffError, match="not a generator"):
        SpaceTimeDiT.from_pretrained(tmp_path / "nothing")
    make().save_pretrained(tmp_path / "g")
    cfg_file = tmp_path / "g" / "generator.json"
    cfg = json.loads(cfg_file.read_text())
    cfg_file.write_text(json.dumps({**cfg, "width": 64, "heads": 2}))
    with pytest.raises(ConfigError, match="do not match"):
        SpaceTimeDiT.from_pretrained(tmp_path / "g")
    cfg_file.write_text(json.dumps({**cfg, "cond": "adanorm"}))  # xattn weights under an adanorm config
    with pytest.raises(ConfigError, match="do not match"):
        SpaceTimeDiT.from_pretrained(tmp_path / "g")
    (tmp_path / "g" / "generator.safetensors").unlink()
    with pytest.raises(ConfigError, match="missing"):
        SpaceTimeDiT.from_pretrained(tmp_path / "g")


@pytest.mark.parametrize("cond", ["xattn", "adanorm"])
def test_gradient_checkpointing_gives_the_same_gradients(cond, monkeypatch):
    from deltadiff.generator import dit

    calls = []
    monkeypatch.setattr(dit, "checkpoint", lambda *a, **k: calls.append(1) or torch.utils.checkpoint.checkpoint(*a, **k))
    plain = make(cond=cond).train()
    ckpt = make(cond=cond, grad_checkpointing=True).train()
    ckpt.load_state_dict(plain.state_dict())
    x, t, context, delta = inputs(plain.config)
    grads = []
    for m in (plain, ckpt):
        m.zero_grad()
        (m(x, t, context, delta) ** 2).mean().backward()
        grads.append({k: p.grad.clone() for k, p in m.named_parameters() if p.grad is not None})
    assert len(calls) == plain.config.depth  # the checkpointed model really recomputed its blocks
    assert grads[0].keys() == grads[1].keys()
    assert set(dict(plain.named_parameters())) - set(grads[0]) == {"null_context", "null_delta"}  # nothing was dropped
    for k in grads[0]:
        assert torch.allclose(grads[0][k], grads[1][k], rtol=1e-5, atol=1e-7), k
    assert any(g.abs().sum() > 0 for g in grads[0].values())


def test_flow_teacher_reads_the_clip_motion():
    """A bright square moving 4 px (one cell) right per frame: the teacher says its cells' content sat t cells to the left."""
    from deltadiff.training.generator_recipe import teacher_flow

    frames = np.full((4, 32, 32, 3), 40, np.uint8)
    for t in range(4):
        frames[t, 12:20, 8 + 4 * t:16 + 4 * t] = 220
    flow = teacher_flow(frames, 4)  # [3, 2, 8, 8] in cells
    assert flow.shape == (3, 2, 8, 8)
    for t in (1, 2):
        cx = (8 + 4 * t + 4) // 4  # the cell at the square's centre in frame t (row 4)
        assert flow[t - 1, 0, 3:5, cx].mean() == pytest.approx(-t, abs=0.35)
        assert abs(float(flow[t - 1, 1, 3:5, cx].mean())) < 0.25
    assert flow[:, :, 0, 0].abs().max() < 0.25  # the far background does not move


@torch.no_grad()
def test_flow_teacher_loss_adds_the_flow_error():
    from deltadiff.diffusion import FlowMatchingLoss

    model = make(randomise=False, prediction="x0", context_residual=True, context_warp=True, latent_channels=12,
                 warp_unshuffle=2, p_drop_delta=0.0, p_drop_context=0.0)
    x, _, context, delta = inputs(model.config)
    batch = {"latents": x, "context": context, "delta": delta, "flow": torch.zeros(2, model.config.frames, 2, 8, 8)}
    torch.manual_seed(0)
    plain = float(FlowMatchingLoss(flow_weight=0.0)(model, batch))
    torch.manual_seed(0)
    assert float(FlowMatchingLoss(flow_weight=2.0)(model, batch)) == pytest.approx(plain)  # zero flow = teacher
    batch["flow"] += 0.5
    torch.manual_seed(0)
    assert float(FlowMatchingLoss(flow_weight=2.0)(model, batch)) == pytest.approx(plain + 2.0 * 0.25, rel=1e-5)
    plain_model = make()
    with pytest.raises(ConfigError, match="return_flow"):
        plain_model(*inputs(plain_model.config), return_flow=True)


def test_config_overrides_from_the_command_line():
    from deltadiff.generator.config import parse_overrides

    got = parse_overrides(["patch_size=2", "xattn_window=None", "cond=adanorm", "qk_norm=True", "width=64"])
    assert got == {"patch_size": 2, "xattn_window": None, "cond": "adanorm", "qk_norm": True, "width": 64}
    assert preset("micro", **parse_overrides(["delta_pool=global"])).delta_pool == "global"
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_overrides(["patch_size"])
    with pytest.raises(ConfigError, match="unknown generator config field 'patchsize'"):
        parse_overrides(["patchsize=2"])


def test_input_gate_lets_the_noisy_input_through_where_it_opens():
    model = make(randomise=False, prediction="x0", context_residual=True, input_gate=True)
    x, _, context, delta = inputs(model.config)
    t = torch.full((2,), 0.3)
    with torch.no_grad():
        shut = model(x, t, context, delta)  # zero-initialised output: gate sigmoid(−4), change 0
        s = 0.7 / (0.7**2 + 0.3**2)
        x0_hat = context[:, None] + torch.sigmoid(torch.tensor(-4.0)) * s * (x - 0.7 * context[:, None])
        torch.testing.assert_close(shut, (x - x0_hat) / 0.3, atol=1e-5, rtol=1e-5)
        p, c = model.config.patch_size, model.config.latent_channels
        model.proj_out.bias.view(p * p, c + 1)[:, -1] = 100.0  # gate wide open everywhere
        x0_open = x - 0.3 * model(x, t, context, delta)
        torch.testing.assert_close(x0_open, context[:, None] + s * (x - 0.7 * context[:, None]), atol=1e-4, rtol=1e-4)
        # at t → 1 the term vanishes (s(1) = 0): pure noise is never passed through
        assert torch.allclose(x - 1.0 * model(x, torch.ones(2), context, delta), context[:, None].expand_as(x), atol=1e-5)
    with pytest.raises(ConfigError, match="input_gate"):
        preset("cpu", context_residual=False, input_gate=True)
