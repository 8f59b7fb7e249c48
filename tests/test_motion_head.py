"""The motion head M (deltadiff.generator.motion) and the generator built on its warped context."""

from __future__ import annotations

import pytest
import torch

from deltadiff.errors import ConfigError
from deltadiff.generator import SpaceTimeDiT, preset
from deltadiff.generator.dit import warp
from deltadiff.generator.motion import MotionHead, MotionLoss, motion_loss

MICRO = {"prediction": "x0", "context_residual": True, "motion_head": True, "latent_channels": 12, "warp_unshuffle": 2}


def micro_head(seed: int = 0, **overrides) -> MotionHead:
    torch.manual_seed(seed)
    return MotionHead(preset("micro", **{**MICRO, **overrides}))


def test_head_starts_at_zero_flow_and_has_the_warp_shape():
    head = micro_head()
    cfg = head.config
    context = torch.randn(2, cfg.latent_channels, cfg.latent_size, cfg.latent_size)
    delta = torch.randn(2, cfg.delta_frames, cfg.delta_tokens, cfg.delta_dim)
    flow = head(context, delta)
    assert flow.shape == (2, cfg.frames, 2, cfg.latent_size, cfg.latent_size)
    assert torch.equal(flow, torch.zeros_like(flow))  # zero-initialised: the static context
    assert head(context, delta[:, :2]).shape == flow.shape  # δ of another length is resampled in time


@pytest.mark.parametrize(("keypoints", "layers", "pooled"), [(0, 0, 0), (2, 0, 0), (2, 2, 0), (2, 2, 8)])
def test_head_learns_a_motion_that_only_delta_says(keypoints, layers, pooled):
    """Each clip's flow is a uniform shift whose direction is coded in δ alone (the context is noise): the head must
    read δ to fit it. 150 steps take its loss far below the zero-flow loss; with δ shuffled across clips it cannot.
    With the pooled read-out the direction is spread thinly over every token (only the mean token says it)."""
    torch.manual_seed(0)
    head = micro_head(motion_keypoints=keypoints, motion_width=32, motion_layers=layers, motion_pooled=pooled)
    cfg = head.config
    n = 64
    sign = torch.randint(0, 2, (n, 2)).float() * 2 - 1  # (±1, ±1) cells
    delta = torch.randn(n, cfg.delta_frames, cfg.delta_tokens, cfg.delta_dim) * 0.1
    if pooled:
        delta[..., :2] += 0.1 * sign[:, None, None]  # every token of every frame a little
    else:
        delta[:, :, 0, :2] += sign[:, None]  # one token of every frame carries the direction
    context = torch.randn(n, cfg.latent_channels, cfg.latent_size, cfg.latent_size)
    target = sign[:, None, :, None, None].expand(n, cfg.frames, 2, cfg.latent_size, cfg.latent_size)
    opt = torch.optim.Adam(head.parameters(), 3e-3)
    loss_fn = MotionLoss()
    for _ in range(150):
        loss = loss_fn(head, {"context": context, "delta": delta, "flow": target})
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        fitted = motion_loss(head(context, delta), target).item()
        zero = motion_loss(torch.zeros_like(target), target).item()
        shuffled = motion_loss(head(context, delta[torch.roll(torch.arange(n), 1)]), target).item()
    assert fitted < 0.1 * zero
    assert shuffled > 0.5 * zero
    if pooled:  # the fit goes through the mean token's path: without it the head is far from the target
        with torch.no_grad():
            head.pooled.weight.zero_(), head.pooled.bias.zero_()
            assert motion_loss(head(context, delta), target).item() > 0.5 * zero


@torch.no_grad()
def test_layered_flow_carries_a_layer_to_where_it_goes():
    """Two layers: a 3×3-cell square (front) and the rest. Moving the square right by 3 latent cells puts its flow (−3
    cells: its content sat 3 cells to the left) at its new place and leaves its old place to the static background."""
    head = micro_head(motion_layers=2)
    cfg = head.config
    g, lat = 2 * cfg.latent_size, (cfg.latent_size, cfg.latent_size)
    masks = torch.zeros(1, 2, g, g)
    masks[:, 0, 2:8, 2:8] = 1.0  # latent cells 1..3
    masks[:, 1] = 1 - masks[:, 0]
    params = torch.zeros(1, cfg.frames, 2, 6)
    params[:, :, 0, 4] = -3 * 2 / cfg.latent_size  # b_x: the content comes from 3 cells to the left
    flow = head.layered_flow(masks, params, lat)[0, 0]
    torch.testing.assert_close(flow[0, 1:4, 4:7], torch.full((3, 3), -3.0))
    assert flow[:, 1:4, 1:4].abs().max() == 0  # the old place: background, not moving
    assert flow[1].abs().max() == 0
    # a rotation about the layer's centroid: the centroid itself does not move, its neighbours do
    params = torch.zeros(1, cfg.frames, 2, 6)
    params[:, :, 0, :4] = torch.tensor([0.0, -1.0, 1.0, 0.0]) * 0.3  # A = 0.3·[[0, −1], [1, 0]]
    flow = head.layered_flow(masks, params, lat)[0, 0]
    assert flow[:, 2, 2].abs().max() < 0.05
    assert flow[:, 1, 1].abs().max() > 0.2
    # every layer moved alike: one uniform flow (compositing changes nothing)
    params = torch.zeros(1, cfg.frames, 2, 6)
    params[..., 5] = 2 / cfg.latent_size
    flow = head.layered_flow(masks, params, lat)
    torch.testing.assert_close(flow[:, :, 1], torch.ones_like(flow[:, :, 1]))


@torch.no_grad()
def test_keypoints_find_where_delta_is_active():
    """A keypoint's position is the softmax-weighted token position: a δ token far above the rest pulls it there."""
    head = micro_head(motion_keypoints=1, motion_reduce=2)
    cfg = head.config
    head.tok[0].weight.zero_(), head.tok[0].bias.zero_()
    head.tok[0].weight[0, 0] = 1.0  # hidden unit 0 = δ channel 0 (GELU keeps large positive values)
    head.tok[2].weight.zero_(), head.tok[2].bias.zero_()
    head.tok[2].weight[0, 0] = 1.0  # the keypoint's score = that unit
    delta = torch.zeros(1, cfg.delta_frames, cfg.delta_tokens, cfg.delta_dim)
    for f in range(cfg.delta_frames):
        delta[0, f, f % cfg.delta_tokens, 0] = 50.0  # the active token moves from frame to frame
    xy = head.read(delta).view(cfg.delta_frames, 1, 2 + 2)[:, 0, :2]
    expected = head.token_xy[torch.arange(cfg.delta_frames) % cfg.delta_tokens]
    torch.testing.assert_close(xy, expected, atol=1e-3, rtol=0)


def test_motion_loss_weights_the_moving_cells():
    target = torch.zeros(1, 1, 2, 4, 4)
    target[..., 0, 0, 0] = 2.0  # one moving cell of 16
    miss_moving = target.clone()
    miss_moving[..., 0, 0, 0] = 0.0
    miss_static = target.clone()
    miss_static[..., 0, 3, 3] = 2.0
    assert motion_loss(target, target) == 0
    assert motion_loss(miss_moving, target) > 5 * motion_loss(miss_static, target)


def test_per_clip_motion_loss_lets_a_small_motion_count():
    """Two clips, one moving 4 cells and one 0.5: missing the small motion costs 1/64 of missing the large one in the
    pooled loss (a clip counts by its motion's square) and about a third per clip (the 0.5-cell floor)."""
    target = torch.zeros(2, 1, 2, 4, 4)
    target[0, :, 0, :2] = 4.0
    target[1, :, 0, :2] = 0.5
    miss_big, miss_small = target.clone(), target.clone()
    miss_big[0] = 0
    miss_small[1] = 0
    assert motion_loss(miss_small, target) < 0.1 * motion_loss(miss_big, target)
    assert motion_loss(miss_small, target, per_clip=True) > 0.25 * motion_loss(miss_big, target, per_clip=True)
    assert motion_loss(target, target, per_clip=True) == 0


@torch.no_grad()
def test_generator_builds_on_the_warped_context_and_drops_it_with_delta():
    from deltadiff.diffusion import sample

    torch.manual_seed(0)
    model = SpaceTimeDiT(preset("micro", **MICRO)).eval()
    cfg = model.config
    g = torch.Generator().manual_seed(1)
    context = torch.randn(2, cfg.latent_channels, cfg.latent_size, cfg.latent_size, generator=g)
    delta = torch.randn(2, cfg.delta_frames, cfg.delta_tokens, cfg.delta_dim, generator=g)
    out = sample(model, context, delta, seeds=[0, 1], steps=3, solver="euler")
    torch.testing.assert_close(out, context[:, None].expand_as(out), atol=1e-5, rtol=0)  # zero flow, zero change
    model.motion.dec[-1].bias[0] = 1.0  # the head now says: every cell's content sat one cell to the right
    x = torch.randn(2, cfg.frames, cfg.latent_channels, cfg.latent_size, cfg.latent_size, generator=g)
    t = torch.full((2,), 0.5)
    v, flow = model(x, t, context, delta, return_flow=True)
    moved = torch.zeros_like(flow)
    moved[:, :, 0] = 1.0
    torch.testing.assert_close(flow, moved)
    torch.testing.assert_close(x - 0.5 * v, warp(context, moved, 2), atol=1e-5, rtol=1e-5)  # x̂0 = warped context
    yes = torch.ones(2, dtype=torch.bool)
    v0 = model(x, t, context, delta, drop_delta=yes)
    torch.testing.assert_close(x - 0.5 * v0, context[:, None].expand_as(x), atol=1e-5, rtol=1e-5)  # δ dropped: static
    assert torch.equal(v0, model(x, t, context, torch.randn_like(delta), drop_delta=yes))
    # the flow a sampler computes once per call gives the same velocity as the flow computed inside forward
    drops = {"drop_context": torch.tensor([True, False]), "drop_delta": torch.tensor([False, True])}
    once = model.motion_flow(context, delta, **drops)
    assert torch.equal(model(x, t, context, delta, **drops, motion_flow=once), model(x, t, context, delta, **drops))


def test_motion_head_config_errors():
    with pytest.raises(ConfigError, match="motion_head needs context_residual"):
        preset("micro", motion_head=True)
    with pytest.raises(ConfigError, match="choose one flow"):
        preset("micro", **MICRO, context_warp=True)
    with pytest.raises(ConfigError, match="motion_steps"):
        preset("micro", **MICRO, motion_steps=-1)
    with pytest.raises(ConfigError, match="motion_lr"):
        preset("micro", **MICRO, motion_lr=0.0)
    with pytest.raises(ConfigError, match="motion_layers"):
        preset("micro", **MICRO, motion_layers=1)


@pytest.mark.parametrize("layers", [0, 3])
def test_save_load_keeps_the_head(tmp_path, layers):
    torch.manual_seed(0)
    model = SpaceTimeDiT(preset("micro", **MICRO, motion_layers=layers))
    with torch.no_grad():
        for p in model.motion.parameters():
            p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(tmp_path / "g")
    loaded = SpaceTimeDiT.from_pretrained(tmp_path / "g")
    cfg = model.config
    context = torch.randn(1, cfg.latent_channels, cfg.latent_size, cfg.latent_size)
    delta = torch.randn(1, cfg.delta_frames, cfg.delta_tokens, cfg.delta_dim)
    with torch.no_grad():
        assert torch.equal(loaded.motion(context, delta), model.motion(context, delta))
