"""The appearance bottleneck: P is per-frame, the variants do what they say, P learns, ActionEncoder round-trips,
the tiny foundation model's pretraining path equals its inference path, and the probes measure what they claim."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from deltadiff.bottleneck import ActionEncoder, FramePredictor, PredictorConfig, PredictorLoss, bottleneck, fit_linear  # noqa: E402
from deltadiff.encoders import VideoPrismEncoder  # noqa: E402
from deltadiff.encoders.tiny import MaskedVideoLoss, MaskedVideoModel, preset  # noqa: E402
from deltadiff.errors import ConfigError, InputNotFoundError  # noqa: E402
from deltadiff.eval.probes import linear_probe, pool  # noqa: E402
from deltadiff.training import TrainConfig, train  # noqa: E402


def _p(c=8, n=4, depth=1):
    torch.manual_seed(0)
    return FramePredictor(PredictorConfig(channels=c, tokens=n, width=16, depth=depth, heads=2))


def test_predictor_is_per_frame():
    p = _p()
    h = torch.randn(2, 5, 4, 8)
    h2 = h.clone()
    h2[:, 1:] = torch.randn_like(h2[:, 1:])
    torch.testing.assert_close(p(h)[:, 0], p(h2)[:, 0])  # frame 0's prediction ignores the other frames
    assert p(h).shape == (2, 5, 4, 8)
    with pytest.raises(ConfigError, match="built for 4×8 features"):
        p(torch.randn(1, 2, 5, 8))


def test_variants():
    z, h, p = torch.randn(2, 6, 4, 8), torch.randn(2, 6, 4, 8), _p()
    assert torch.equal(bottleneck(z, h, p, "none"), z)
    torch.testing.assert_close(bottleneck(z, h, p, "delta"), z - p(h))
    tn = bottleneck(z, h, p, "temporal_norm")
    torch.testing.assert_close(tn.mean(1), torch.zeros(2, 4, 8), atol=1e-5, rtol=0)
    with pytest.raises(ConfigError, match="unknown bottleneck"):
        bottleneck(z, h, p, "vq")
    with pytest.raises(ConfigError, match="needs per-frame features"):
        bottleneck(z, None, None, "delta")


@pytest.mark.parametrize("depth", [1, 0])
def test_p_learns_what_a_frame_explains(tmp_path, depth):
    # z = appearance (a fixed linear map of the frame's own features) + motion (frame-to-frame change, not predictable
    # from one frame). After training, δ keeps the motion and drops the appearance — with P's transformer, or with P
    # the linear map alone (depth 0).
    g = torch.Generator().manual_seed(0)
    a = torch.randn(8, 8, generator=g) / 8**0.5

    class Feats(torch.utils.data.Dataset):
        def __len__(self):
            return 256

        def __getitem__(self, i):
            gi = torch.Generator().manual_seed(i)
            h = torch.randn(1, 4, 8, generator=gi).repeat(6, 1, 1) + 0.05 * torch.randn(6, 4, 8, generator=gi)
            motion = torch.randn(1, 1, 8, generator=gi) * torch.linspace(-1, 1, 6).view(6, 1, 1)
            return {"spatial": h, "z": h @ a + motion}

    p = _p(depth=depth)
    if depth:
        train(p, PredictorLoss(), Feats(), TrainConfig(steps=300, batch_size=16, lr=3e-3, warmup=10, device="cpu"), tmp_path)
    else:  # the linear map alone, fitted in closed form
        assert [name for name, _ in p.named_parameters()] == ["skip.weight", "skip.bias"]
        # the loss it reports is PredictorLoss's, also where z's channels have different means (z.var() over all)
        shifted = [{**f, "z": f["z"] + torch.arange(8.0)} for f in (Feats()[i] for i in range(256))]
        loss = fit_linear(p, shifted)
        with torch.no_grad():
            assert loss == pytest.approx(float(PredictorLoss()(p, torch.utils.data.default_collate(shifted))), rel=1e-3)
        fit_linear(p, Feats())
    batch = torch.utils.data.default_collate([Feats()[i] for i in range(32)])
    delta = bottleneck(batch["z"], batch["spatial"], p.eval(), "delta")
    appearance = batch["spatial"] @ a
    motion = batch["z"] - appearance
    assert ((delta - motion) ** 2).mean() < 0.1 * (appearance**2).mean()


def test_tiny_pretraining_path_matches_inference_path():
    torch.manual_seed(0)  # without a stem the adapter runs transformers' own forward: both paths must agree
    m = MaskedVideoModel(preset("micro", image_size=32, num_frames=4, motion_stem="none"))
    video = torch.rand(2, 4, 3, 32, 32) * 2 - 1
    z_train = m((video + 1) / 2)  # no mask
    z_infer = VideoPrismEncoder(model=m.encoder).encode(video).z
    torch.testing.assert_close(z_train, z_infer, atol=1e-5, rtol=1e-5)
    loss = MaskedVideoLoss(0.5)(m, video, generator=torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and loss.item() > 0
    loss.backward()
    assert m.mask_token.grad is not None and m.mask_token.grad.abs().sum() > 0


def test_motion_stem_saves_loads_and_sees_only_change(tmp_path):
    from deltadiff.encoders.tiny import STEM_FILE, save_foundation

    torch.manual_seed(0)
    m = MaskedVideoModel(preset("micro", image_size=32, num_frames=4, motion_stem="rgb"))
    torch.nn.init.normal_(m.stem.proj.weight, std=0.5)
    video = torch.rand(2, 4, 3, 32, 32) * 2 - 1
    folder = save_foundation(m, tmp_path / "foundation")
    assert (folder / STEM_FILE).exists()
    enc = VideoPrismEncoder(folder)
    f = enc.encode(video)
    torch.testing.assert_close(m((video + 1) / 2), f.z, atol=1e-5, rtol=1e-5)
    # the stem reads x_t − x_{t−1}: on a still clip, and at frame 0 of any clip, it adds only its bias; where frames
    # change it adds more
    still = video[:, :1].expand(-1, 4, -1, -1, -1)
    with torch.no_grad():
        out_still = m.stem((still + 1) / 2).unflatten(0, (2, 4))
        out_moving = m.stem((video + 1) / 2).unflatten(0, (2, 4))
    bias = m.stem.proj.bias
    torch.testing.assert_close(out_still, bias.expand_as(out_still))
    torch.testing.assert_close(out_moving[:, 0], bias.expand_as(out_moving[:, 0]))
    assert (out_moving[:, 1:] - bias).abs().mean() > 1e-2
    # a stem-free model saved into the same folder removes the old stem file
    m.stem = None
    save_foundation(m, folder)
    assert not (folder / STEM_FILE).exists()
    with pytest.raises(ConfigError, match="motion stem"):
        MaskedVideoModel(preset("micro", motion_stem="sobel"))


def test_motion_energy_target():
    """Rectified change per 2×2 cell: a one-pixel shift of an edge gives energy only where the edge moved, both ways."""
    from deltadiff.encoders.tiny import motion_dim, motion_targets

    cfg = preset("micro", image_size=16, num_frames=3, patch_size=8, motion_target="energy", norm_pix=False)
    px = torch.zeros(1, 3, 3, 16, 16)
    px[:, 0, :, :, :4], px[:, 1, :, :, :6], px[:, 2, :, :, :6] = 1, 1, 1  # a bright band grows by 2 px, then stops
    e = motion_targets(px, cfg)  # [1, 2, 4 patches, (8/2)² · 3]
    assert e.shape == (1, 2, 4, motion_dim(cfg) // 2) and (e >= 0).all()
    cells = e[0, 0, 0].reshape(4, 4, 3)  # patch (0, 0): rows of 2×2 cells, columns x = 0-1, 2-3, 4-5, 6-7
    assert torch.allclose(cells[:, 2], torch.ones(4, 3)) and cells[:, [0, 1, 3]].abs().sum() == 0
    assert e[0, 1].abs().sum() == 0  # no change from frame 1 to 2
    m = MaskedVideoModel(cfg)
    assert m.motion_head.weight.abs().sum() == 0  # starts at "no motion"
    loss = MaskedVideoLoss(0.5, 1.0, norm_pix=False)(m, px * 2 - 1, generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert m.motion_head.weight.grad.abs().sum() > 0


def test_flow_target_follows_a_moving_square():
    """A bright square moving right 2 px per frame: its cells' forward flow is ≈ (+2, 0), the backward one ≈ (−2, 0),
    the empty background's ≈ 0; and the loss trains the zero-initialised flow head."""
    from deltadiff.encoders.tiny import flow_dim, flow_targets

    cfg = preset("micro", image_size=32, num_frames=4, patch_size=8, flow_weight=1.0, norm_pix=False)
    px = torch.zeros(1, 4, 3, 32, 32)
    for t in range(4):
        px[0, t, :, 12:20, 8 + 2 * t : 16 + 2 * t] = 1.0
    f = flow_targets(px, cfg)  # [1, 3, 16 patches, 2 directions · (8/2)² cells · (x, y)]
    assert f.shape == (1, 3, 16, flow_dim(cfg))
    cells = f[0].view(3, 4, 4, 2, 4, 4, 2)  # t, patch row, patch col, direction, cell row, cell col, (x, y)
    inside = cells[:, 1, 1:3, :, 1:3, :, :]  # the square's middle (patches (1, 1)–(1, 2), their middle cell rows)
    fwd, bwd = inside[:, :, 0], inside[:, :, 1]
    assert fwd[..., 0].mean() == pytest.approx(2.0, abs=0.5) and bwd[..., 0].mean() == pytest.approx(-2.0, abs=0.5)
    assert inside[..., 1].abs().mean() < 0.3  # no vertical motion
    assert cells[:, 3, :, :, 3].abs().max() < 0.2  # the frame's last two rows, 10 px below the square: background
    m = MaskedVideoModel(cfg)
    assert m.flow_head.weight.abs().sum() == 0
    MaskedVideoLoss(0.5, 0.0, norm_pix=False)(m, px * 2 - 1, generator=torch.Generator().manual_seed(0)).backward()
    assert m.flow_head.weight.grad.abs().sum() > 0
    assert MaskedVideoModel(preset("micro")).flow_head is None  # off by default


@pytest.mark.parametrize("motion", ["right", "up", "still"])
def test_global_motion_target_says_where_and_which_way(motion):
    """A square moving 2 px per frame right (or up, or not at all) in a 32-px frame: the summary's moving-part flow
    points that way (2 px = 0.125 in [−1, 1] units), its centroid sits on the square, a still clip is all zeros; and
    the loss trains the zero-initialised head that reads the mean token."""
    from deltadiff.encoders.tiny import GLOBAL_DIM, global_motion_targets

    step = {"right": (2, 0), "up": (0, -2), "still": (0, 0)}[motion]
    px = torch.zeros(1, 4, 3, 32, 32)
    for t in range(4):
        y0, x0 = 12 + step[1] * t, 6 + step[0] * t
        px[0, t, :, y0 : y0 + 8, x0 : x0 + 8] = 1.0
    g = global_motion_targets(px)
    assert g.shape == (1, 3, GLOBAL_DIM)
    vx, vy, rot, grow = g[0, :, 5], g[0, :, 6], g[0, :, 7], g[0, :, 8]
    if motion == "still":
        assert g.abs().max() < 1e-3
        return
    assert vx.mean() == pytest.approx(step[0] / 16, abs=0.04) and vy.mean() == pytest.approx(step[1] / 16, abs=0.04)
    assert rot.abs().mean() < 0.05 and grow.abs().mean() < 0.05  # a translation neither turns nor grows
    cx = g[0, :, 3]  # the square's centre moves from x = 10 px (−0.35) rightwards, or stays there
    assert (cx - (-0.35 + 0.125 * torch.arange(3) * (step[0] / 2))).abs().max() < 0.2
    hof = global_motion_targets(px, hof=True)[0, :, GLOBAL_DIM:]  # [3, 8]: the direction histogram (y down)
    assert torch.allclose(global_motion_targets(px, hof=True)[..., :GLOBAL_DIM], g)
    assert (hof.argmax(1) == (0 if motion == "right" else 6)).all()  # right = 0°, up = −90° = bin 6
    cfg = preset("micro", image_size=32, num_frames=4, patch_size=8, global_weight=1.0, norm_pix=False)
    m = MaskedVideoModel(cfg)
    assert m.global_head.weight.abs().sum() == 0 and m.global_head.out_features == 2 * GLOBAL_DIM
    assert MaskedVideoModel(preset("micro", global_weight=1.0, global_hof=True)).global_head.out_features == 2 * (GLOBAL_DIM + 8)
    MaskedVideoLoss(0.5, 0.0, norm_pix=False)(m, px * 2 - 1, generator=torch.Generator().manual_seed(0)).backward()
    assert m.global_head.weight.grad.abs().sum() > 0
    assert MaskedVideoModel(preset("micro")).global_head is None  # off by default


@pytest.mark.parametrize("motion", ["right", "up", "still"])
def test_foreground_target_follows_the_moving_square(motion):
    """A 6-px square moving 3 px per frame right (or up, or not at all) over a grey 32-px frame, 8 frames: against the
    temporal-median background its centroid, displacement since frame 0 and velocity point that way (3 px = 0.194 in
    [−1, 1] units), its area stays the square's; a still clip has no foreground at all."""
    from deltadiff.encoders.tiny import FOREGROUND_DIMS, GLOBAL_DIM, foreground_targets, global_dim

    step = {"right": (3, 0), "up": (0, -3), "still": (0, 0)}[motion]
    px = torch.full((1, 8, 3, 32, 32), 0.2)
    for t in range(8):
        y0, x0 = 25 + step[1] * t, 2 + step[0] * t
        px[0, t, :, y0 : y0 + 6, x0 : x0 + 6] = 1.0
    f, add = foreground_targets(px)[0], foreground_targets(px, "additive")[0]
    assert f.shape == (7, FOREGROUND_DIMS["moments"]) and add.shape == (7, FOREGROUND_DIMS["additive"])
    if motion == "still":
        assert f[:, :18].abs().max() < 1e-3  # no foreground: no area, no place, no motion (and the area ratio is 1)
        assert add.abs().max() < 1e-6
        return
    # additive: the raw moments divided by the raw area give the centroid back; by frame 2 the square has left its
    # frame-0 place, so the foreground changed on both places (2 × 36 px); every frame changed against the last
    assert torch.allclose(add[:, 1] / add[:, 0], f[:, 0], atol=1e-3) and torch.allclose(add[:, 2] / add[:, 0], f[:, 1], atol=1e-3)
    assert torch.allclose(add[1:, 6], torch.full((6,), 72 / 1024), atol=1e-4) and add[0, 6] < 72 / 1024
    assert (add[:, 12] > 0.01).all()
    px_unit = 2 / 31  # linspace(−1, 1, 32)
    axis, sign = (0, 1) if motion == "right" else (1, -1)
    d, v = f[:, 6 + axis], f[:, 11 + axis]
    assert torch.allclose(d, sign * 3 * px_unit * torch.arange(1, 8), atol=0.02)  # displacement since frame 0
    assert torch.allclose(v, torch.full((7,), sign * 3 * px_unit), atol=0.02)
    assert f[:, 7 - axis].abs().max() < 0.02 and f[:, 12 - axis].abs().max() < 0.02  # nothing along the other axis
    assert torch.allclose(f[:, 2], torch.full((7,), 36 / 1024), atol=0.005) and torch.allclose(f[:, 18], torch.ones(7), atol=0.05)
    assert global_dim(preset("micro", global_weight=1.0, global_foreground="additive")) == GLOBAL_DIM + 15
    with pytest.raises(ConfigError, match="foreground"):
        preset("micro", global_foreground="sobel")


def test_action_encoder_round_trip(tmp_path):
    torch.manual_seed(0)
    m = MaskedVideoModel(preset("micro", image_size=32, num_frames=4))
    m.encoder.save_pretrained(tmp_path / "enc" / "foundation")
    enc = VideoPrismEncoder(model=m.encoder)
    p = FramePredictor(PredictorConfig(channels=32, tokens=16, width=16, depth=1, heads=2))
    ae = ActionEncoder(enc, p, "delta", {"frames": 4, "size": 32})
    ae.save_pretrained(tmp_path / "enc", "foundation")
    video = torch.rand(1, 4, 3, 32, 32) * 2 - 1
    loaded = ActionEncoder.from_pretrained(tmp_path / "enc")
    torch.testing.assert_close(loaded.encode(video), ae.encode(video))
    assert loaded.meta == {"frames": 4, "size": 32} and loaded.variant == "delta"
    torch.testing.assert_close(ActionEncoder.from_pretrained(tmp_path / "enc", variant="none").encode(video), enc.encode(video).z)
    with pytest.raises(InputNotFoundError, match="not an action encoder"):
        ActionEncoder.from_pretrained(tmp_path)


def test_linear_probe_known_answers():
    g = torch.Generator().manual_seed(0)
    y = np.array(["a", "b", "c"] * 60)
    centres = {"a": 0.0, "b": 6.0, "c": -6.0}
    x = torch.randn(180, 5, generator=g)
    x[:, 0] += torch.tensor([centres[c] for c in y])
    r = linear_probe(x[:120], y[:120], x[120:], y[120:])
    assert r["accuracy"] > 0.9 and r["chance"] == pytest.approx(1 / 3)
    noise = linear_probe(x[:120, 1:], y[:120], x[120:, 1:], y[120:])  # features without the signal: near chance
    assert noise["accuracy"] < 0.55
    assert pool(torch.ones(2, 3, 4, 5)).shape == (2, 15)


@pytest.mark.parametrize("contrast", ["bright", "dark"])
def test_lk_stem_inputs_carry_the_sign_of_the_motion_whatever_the_contrast(contrast):
    """A square moving 2 px per frame right (or left) over a flat frame: summed over the frame, I_t·I_x is negative for
    rightward motion and positive for leftward (brightness constancy: I_t ≈ −u·I_x), for a bright square on dark and
    a dark one on bright alike — the plain change's sum flips with the contrast, these products do not."""
    from deltadiff.encoders.tiny import MotionStem, stem_inputs

    sums = {}
    for direction in (1, -1):
        px = torch.full((1, 4, 3, 32, 32), 0.0 if contrast == "bright" else 1.0)
        for t in range(4):
            x0 = 12 + 2 * direction * t
            px[0, t, :, 10:18, x0 : x0 + 8] = 1.0 if contrast == "bright" else 0.0
        inputs = stem_inputs(px, "lk")
        assert inputs.shape == (1, 4, 5, 32, 32) and inputs[:, 0].abs().max() == 0  # nothing before the first frame
        sums[direction] = inputs[0, 1:, 3].sum((1, 2))  # I_t·I_x per frame pair
        assert inputs[0, 1:, 4].sum((1, 2)).abs().max() < 1e-5  # no vertical motion: the top and bottom edges cancel
    assert (sums[1] < 0).all() and (sums[-1] > 0).all()
    assert torch.allclose(stem_inputs(px, "rgb"), inputs[:, :, :3])
    assert MotionStem("lk", 8, 16)(px).shape == (4, 16, 16)


def test_lkgrey_stem_is_blind_to_the_actors_hue():
    """`lkgrey`: the grey change and the same Lucas–Kanade products as `lk` — a red and a green actor of the same grey
    level moving alike give the same inputs (the RGB change of `lk` tells them apart: the colour-leakage path)."""
    from deltadiff.encoders.tiny import MotionStem, stem_inputs

    clips = []
    for hue in (torch.tensor([0.9, 0.3, 0.3]), torch.tensor([0.3, 0.9, 0.3])):  # the same channel mean
        px = torch.full((1, 3, 3, 32, 32), 0.2)
        for t in range(3):
            px[0, t, :, 8:16, 8 + 2 * t : 16 + 2 * t] = hue[:, None, None]
        clips.append(px)
    lk, grey = [stem_inputs(px, "lk") for px in clips], [stem_inputs(px, "lkgrey") for px in clips]
    assert grey[0].shape == (1, 3, 3, 32, 32)
    torch.testing.assert_close(grey[0], grey[1])
    assert (lk[0][:, :, :3] - lk[1][:, :, :3]).abs().max() > 0.5  # the RGB change differs by hue
    torch.testing.assert_close(grey[0][:, :, 1:], lk[0][:, :, 3:])  # the same LK products
    torch.testing.assert_close(grey[0][:, :, :1], lk[0][:, :, :3].mean(2, keepdim=True))  # the change of the grey frames
    assert MotionStem("lkgrey", 8, 16)(clips[0]).shape == (3, 16, 16)


@pytest.mark.parametrize("shift", [(1, -1), (-2, 1)])
def test_lucas_kanade_flow_recovers_a_shifted_texture(shift):
    """`lkflow`'s flow channels: a smooth texture moved by (dx, dy) px per frame reads (dx, dy) inside the frame, with
    the sign of the motion whatever the texture's contrast, zero before the first frame."""
    from deltadiff.encoders.tiny import LK_SCALES, MotionStem, lucas_kanade, stem_inputs

    g = torch.Generator().manual_seed(0)
    texture = torch.nn.functional.interpolate(torch.rand(1, 1, 12, 12, generator=g), size=(96, 96), mode="bicubic")[0, 0]
    dx, dy = shift
    frames = torch.stack([texture.roll((dy * t, dx * t), (0, 1))[16:80, 16:80] for t in range(4)])[None]  # [1, 4, 64, 64]
    for scale in LK_SCALES:
        for grey in (frames, 1 - frames):  # the sign does not depend on the contrast
            flow = lucas_kanade(grey, scale)
            assert flow.shape == (1, 4, 2, 64, 64) and flow[:, 0].abs().max() == 0
            inner = flow[0, 1:, :, 12:-12, 12:-12].mean((0, 2, 3))
            torch.testing.assert_close(inner, torch.tensor([float(dx), float(dy)]), atol=0.35 * max(abs(dx), abs(dy)), rtol=0)
    px = frames[:, :, None].expand(-1, -1, 3, -1, -1)
    inputs = stem_inputs(px, "lkflow")
    assert inputs.shape == (1, 4, 9, 64, 64)
    torch.testing.assert_close(inputs[:, :, :5], stem_inputs(px, "lk"))  # `lk` plus the flows
    torch.testing.assert_close(inputs[:, :, 7:9], 0.1 * lucas_kanade(frames, LK_SCALES[1]))
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the encoder's default on bf16 CPUs: the flow stays fp32
        in_bf16 = lucas_kanade(frames, LK_SCALES[1])
    assert in_bf16.dtype == torch.float32
    torch.testing.assert_close(in_bf16, lucas_kanade(frames, LK_SCALES[1]))
    flat = lucas_kanade(torch.full((1, 3, 64, 64), 0.5), LK_SCALES[0])  # no texture: eps keeps S invertible, flow 0
    assert torch.equal(flat, torch.zeros_like(flat))
    assert MotionStem("lkflow", 8, 16)(px).shape == (4, 64, 16)


def _bar(cx: float, cy: float, angle: float, scale: float = 1.0, size: int = 64) -> torch.Tensor:
    """A soft-edged 20×8 px bar centred at (cx, cy), turned by `angle` and scaled: grey [size, size] in [0, 1]."""
    y, x = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    u = (x - cx) * math.cos(angle) + (y - cy) * math.sin(angle)
    v = -(x - cx) * math.sin(angle) + (y - cy) * math.cos(angle)
    return torch.sigmoid(1.5 * (10 * scale - u.abs())) * torch.sigmoid(1.5 * (4 * scale - v.abs()))


@pytest.mark.parametrize("contrast", ["bright", "dark"])
def test_lkmom_moments_tell_the_sense_of_a_turn_and_of_a_growth(contrast):
    """`lkmom`'s moment channels summed over the frame: a bar turning one way or the other, bright on dark or dark on
    bright, gives opposite signs of the angular moment; growing or shrinking, of the radial one — what a mean over
    tokens can read, where the flow's own mean, curl and divergence cancel. Taken about where the change is, they do
    not depend on where the bar is, and a bar moving straight off the frame's centre has next to no angular moment
    (about the frame's centre it would have as much as the turn)."""
    from deltadiff.encoders.tiny import MotionStem, stem_inputs

    def moments(frames):
        px = (frames if contrast == "bright" else 1 - frames)[None, :, None].expand(-1, -1, 3, -1, -1)
        inputs = stem_inputs(px, "lkmom")
        assert inputs.shape == (1, 5, 7, 64, 64) and inputs[:, 0].abs().max() == 0
        torch.testing.assert_close(inputs[:, :, :5], stem_inputs(px, "lk"))  # `lk` plus the two moments
        return inputs[0, 1:, 5].sum((1, 2)), inputs[0, 1:, 6].sum((1, 2))  # per frame pair

    def clip(place, angle_rate=0.0, growth=0.0, step=(0.0, 0.0)):
        return torch.stack([_bar(place[0] + step[0] * t, place[1] + step[1] * t, 0.3 + angle_rate * t, 1.0 + growth * t)
                            for t in range(5)])

    turns = {}
    for place in ((20.0, 24.0), (44.0, 40.0)):
        ccw, cw = moments(clip(place, angle_rate=-0.12))[0], moments(clip(place, angle_rate=0.12))[0]  # y down: +angle is cw
        assert (torch.sign(ccw) == -torch.sign(cw)).all() and (ccw.abs() > 1e-3).all()
        grow, shrink = moments(clip(place, growth=0.08))[1], moments(clip(place, growth=-0.08))[1]
        assert (grow < 0).all() and (shrink > 0).all()  # the products are −S·v: outward motion reads negative
        straight = moments(clip(place, step=(1.5, 1.0)))[0]
        assert (straight.abs() < 0.01 * cw.abs()).all()
        turns[place] = (cw, grow)
    for a, b in zip(*turns.values()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)  # the same motion elsewhere in the frame
    assert MotionStem("lkmom", 8, 16)(clip((20.0, 24.0))[None, :, None].expand(-1, -1, 3, -1, -1)).shape == (5, 64, 16)


def test_global_motion_target_drops_flow_blow_ups(monkeypatch):
    """Farnebäck can return vectors far longer than anything moves (striped backgrounds: up to 240 px at 64×64): the
    clip-level target counts vectors over FLOW_LIMIT of the frame as no motion, so one bad pixel cannot dominate it."""
    import numpy as np

    import deltadiff.data.flow as flow_module
    from deltadiff.encoders.tiny import global_motion_targets

    def fake_flows(frames, backward=True):
        f = np.zeros((1, len(frames) - 1, 32, 32, 2), np.float32)
        f[:, :, 8:12, 8:12, 0] = 1.0  # a 4×4 patch moving 1 px right
        f[:, :, 30, 30] = 200.0  # one blow-up
        return f

    monkeypatch.setattr(flow_module, "pair_flows", fake_flows)
    g = global_motion_targets(torch.zeros(1, 3, 3, 32, 32))
    assert g[0, :, 5] == pytest.approx(torch.full((2,), 1 / 16), abs=1e-4)  # vx: the patch's 1 px = 1/16 in [−1, 1]
    assert g[0, :, 6].abs().max() < 1e-6 and g[0, :, 15] == pytest.approx(torch.full((2,), 16 / 1024))


def test_foundation_positions_start_at_sincos():
    """With `position_init` "sincos" the encoder's position embeddings start at 2-D sin-cos over the patch grid and 1-D
    over frames, large beside transformers' random start ("random"), and still train."""
    from deltadiff.encoders.tiny import MaskedVideoModel, preset
    from deltadiff.generator.dit import grid_positions, sincos

    m = MaskedVideoModel(preset("micro", position_init="sincos"))
    pos = m.encoder.spatial_embeddings.position_embeddings
    assert torch.equal(pos[0], grid_positions(8, 32)) and pos.requires_grad
    assert torch.equal(m.encoder.temporal_embeddings.position_embeddings[0], sincos(torch.arange(16), 32))
    rand = MaskedVideoModel(preset("micro", position_init="random")).encoder.spatial_embeddings.position_embeddings
    assert rand.norm(dim=-1).mean() < 0.2 * pos.norm(dim=-1).mean()
    with pytest.raises(ConfigError, match="position init"):
        preset("micro", position_init="learned")


def test_pretraining_runs_farneback_once_per_clip_for_both_flow_targets(monkeypatch):
    """With the per-token and the clip-level flow targets both on (the tiny preset), one step computes each clip's
    flow once, both directions, and feeds it to both targets."""
    import deltadiff.data.flow as flow_module

    calls = []
    real = flow_module.pair_flows

    def counting(frames, backward=True):
        calls.append(backward)
        return real(frames, backward)

    monkeypatch.setattr(flow_module, "pair_flows", counting)
    cfg = preset("micro", image_size=32, num_frames=4, patch_size=8, flow_weight=1.0, moment_weight=1.0,
                 global_weight=1.0, norm_pix=False)
    video = torch.rand(2, 4, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    loss = MaskedVideoLoss(0.5, 1.0, norm_pix=False)(MaskedVideoModel(cfg), video, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(loss) and calls == [True, True]


@pytest.mark.parametrize("motion", ["cw", "ccw", "grow", "shrink", "right"])
def test_moment_target_holds_turn_and_growth_in_the_mean_token(motion):
    """A disc of flow off the frame's centre turning (or growing, or moving right) on a still background: the frame's
    mean curl cancels, but the mean over tokens of the moment target has the turn's sign in its angular part and the
    growth's in its radial part, forward and (negated) backward; a translation's angular moment is c × V, not a turn."""
    from deltadiff.encoders.tiny import MOMENT_DIM, moment_targets

    cfg = preset("micro", image_size=32, num_frames=4, patch_size=8, moment_weight=1.0)
    ys, xs = torch.meshgrid(torch.arange(32.0) + 0.5, torch.arange(32.0) + 0.5, indexing="ij")
    rx, ry = xs - 20, ys - 12  # the disc's centre (20, 12) px: right of and above the frame's centre
    inside = (rx**2 + ry**2 < 36).float()
    w = 0.1  # radians or relative growth per frame
    u, v = {"cw": (-w * ry, w * rx), "ccw": (w * ry, -w * rx), "grow": (w * rx, w * ry), "shrink": (-w * rx, -w * ry),
            "right": (torch.full_like(rx, 2.0), torch.zeros_like(rx))}[motion]  # y down: (−ry, rx) turns clockwise
    fwd = torch.stack([u, v], -1) * inside[..., None]
    flows = torch.stack([fwd, -fwd])[None, :, None].expand(1, 2, 3, 32, 32, 2)  # [B, 2, T−1, H, W, 2]
    m = moment_targets(torch.zeros(1, 4, 3, 32, 32), cfg, flows)
    assert m.shape == (1, 3, 16, MOMENT_DIM)
    angular, radial = m[0, :, :, 0].mean(1), m[0, :, :, 1].mean(1)
    assert torch.allclose(m[..., 2:], -m[..., :2])  # the backward flow's moments are the forward's, negated
    du_dx = torch.gradient(fwd[..., 0], dim=1)[0]
    curl = torch.gradient(fwd[..., 1], dim=1)[0] - torch.gradient(fwd[..., 0], dim=0)[0]
    assert curl.mean().abs() < 0.02 * curl.abs().mean() + 1e-6 and du_dx.mean().abs() < 1e-3  # what cancels
    if motion in ("cw", "ccw"):
        assert (angular > 0).all() if motion == "cw" else (angular < 0).all()
        assert radial.abs().max() < 0.1 * angular.abs().min()
    elif motion in ("grow", "shrink"):
        assert (radial > 0).all() if motion == "grow" else (radial < 0).all()
        assert angular.abs().max() < 0.1 * radial.abs().min()
    else:  # moving right above the centre: x·v − y·u = −y·u > 0 (y < 0 there); x·u > 0 (right of the centre)
        assert (angular > 0).all() and (radial > 0).all()
    model = MaskedVideoModel(cfg)
    assert model.moment_head.weight.abs().sum() == 0 and MaskedVideoModel(preset("micro")).moment_head is None
    if motion == "cw":  # the loss trains the zero-initialised head
        video = torch.rand(1, 4, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
        MaskedVideoLoss(0.5, 0.0, norm_pix=False)(model, video, generator=torch.Generator().manual_seed(0)).backward()
        assert model.moment_head.weight.grad.abs().sum() > 0
