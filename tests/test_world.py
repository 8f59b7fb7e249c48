"""The demonstration world: determinism, every action class moves the way its ground truth says (checked against the
rendered pixels where possible), the actor rule, triples, splits, masks, resolution independence, the Dataset."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from deltadiff.data.world import (
    ACTION_CLASSES, BACKGROUND_FAMILIES, COLOUR_BINS, COMPOUND_PARTS, SHAPES, ClipTruth, World, WorldClips,
    WorldConfig, colour_bin, decode_mask, encode_mask, find_marker, make_program, seed_for, split_of,
)  # fmt: skip
from deltadiff.data.world.actions import direction
from deltadiff.data.world.colours import sample_colour
from deltadiff.data.world.marker import MARKER_THRESHOLD
from deltadiff.data.world.scene import Look, contact_distance
from deltadiff.data.world.shapes import MARKER_OFFSET, MARKER_RING, sdf
from deltadiff.data.world.triples import SPLIT_SIZE
from deltadiff.errors import ConfigError
from deltadiff.io.tensor import frames_to_tensor, tensor_to_frames

CLEAN = WorldConfig(noise_prob=0.0, blur_prob=0.0)


@pytest.fixture(scope="module")
def world():
    return World()


@pytest.fixture(scope="module")
def clean():
    return World(CLEAN)


def _dumps(truth) -> str:
    return json.dumps(truth.to_json(), sort_keys=True)


# ---- determinism ------------------------------------------------------------------------------------------------------


def test_same_seed_is_byte_identical_and_seeds_differ():
    a, b = World().clip(12345), World().clip(12345)
    assert a.frames.tobytes() == b.frames.tobytes() and _dumps(a.truth) == _dumps(b.truth)
    t1, t2 = World().triple(7), World().triple(7)
    assert t1.demo.frames.tobytes() == t2.demo.frames.tobytes() and t1.target.frames.tobytes() == t2.target.frames.tobytes()
    others = [World().clip(s) for s in range(12346, 12350)]
    assert all(o.frames.tobytes() != a.frames.tobytes() for o in others)
    assert len({_dumps(o.truth) for o in others}) == len(others)


# ---- every action class --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ACTION_CLASSES)
def test_every_class_renders_with_truth(world, action):
    cfg = world.config
    for seed in range(3):
        clip = world.clip(seed, action)
        t = clip.truth
        assert clip.frames.shape == (cfg.frames, cfg.height, cfg.width, 3) and clip.frames.dtype == np.uint8
        assert t.action == action and t.mask.shape == (cfg.frames, cfg.height, cfg.width)
        assert t.mask.any(axis=(1, 2)).all()  # the actor is visible in every frame
        assert np.allclose(t.position, t.position_px / [cfg.width, cfg.height])
        if action == "compound":
            a, b = clip.program.parts
            assert a.action != b.action and {a.action, b.action} <= set(COMPOUND_PARTS)


@pytest.mark.parametrize("k", range(8))
def test_translate_direction_matches_truth_and_pixels(clean, k):
    clip = clean.clip(k, program=make_program("translate", {"direction": k, "speed": 0.3}))
    t, ux, uy = clip.truth, *direction(k)
    d = t.position_px[-1] - t.position_px[0]
    assert np.allclose(d, np.array([ux, uy]) * 0.3 * 64, atol=1e-3)
    # the rendered marker (found without ground truth) moves the same way
    m0, m1 = find_marker(clip.frames[0]), find_marker(clip.frames[-1])
    moved = np.subtract(m1, m0)
    assert moved @ np.array([ux, uy]) > 0.9 * 0.3 * 64 and abs(moved @ np.array([-uy, ux])) < 1.5


@pytest.mark.parametrize("action, sign", [("rotate_cw", -1), ("rotate_ccw", 1)])
def test_rotation_sense(clean, action, sign):
    clip = clean.clip(3, program=make_program(action, {"angle": math.pi}))
    assert np.all(np.sign(np.diff(clip.truth.angle)) == sign)
    # the marker found in the pixels turns the documented way on screen (y down, so ccw = atan2(−dy, dx) grows)
    centre = clip.truth.position_px
    seen = [find_marker(f) for f in clip.frames]
    ang = np.unwrap([math.atan2(-(m[1] - c[1]), m[0] - c[0]) for m, c in zip(seen, centre)])
    assert sign * (ang[-1] - ang[0]) == pytest.approx(math.pi, abs=0.35)


def test_grow_and_shrink_change_scale_and_area(clean):
    g = clean.clip(1, program=make_program("grow", {"factor": 1.8}))
    s = clean.clip(1, program=make_program("shrink", {"factor": 0.5}))
    assert np.all(np.diff(g.truth.scale) > 0) and g.truth.scale[-1] == pytest.approx(1.8)
    assert np.all(np.diff(s.truth.scale) < 0)
    ga, sa = g.truth.mask.sum(axis=(1, 2)), s.truth.mask.sum(axis=(1, 2))
    assert ga[-1] / ga[0] == pytest.approx(1.8**2, rel=0.15) and sa[-1] / sa[0] == pytest.approx(0.25, rel=0.25)


def test_jump_goes_up_and_comes_back(clean):
    clip = clean.clip(2, program=make_program("jump", {"height": 0.25, "vx": 0.2}))
    y, x = clip.truth.position_px[:, 1], clip.truth.position_px[:, 0]
    assert y.min() < y[0] - 0.2 * 64 and y[-1] == pytest.approx(y[0], abs=1e-6)  # up is −y
    assert np.all(np.diff(x) > 0)


def test_fall_bounce_falls_then_bounces(clean):
    clip = clean.clip(4, program=make_program("fall_bounce", {"height": 0.4, "impact": 0.4, "restitution": 0.6, "vx": 0.0}))
    y = clip.truth.position_px[:, 1]
    ground = int(np.argmax(y))
    assert y[ground] == pytest.approx(y[0] + 0.4 * 64, abs=1.0)
    assert np.all(np.diff(y[: ground + 1]) > 0)  # falls
    assert y[ground + 1 :].min() < y[ground] - 2.0  # bounces up
    assert y.max() <= y[0] + 0.4 * 64 + 1e-6  # never below the ground


def test_camera_pan_moves_everything_by_the_camera(clean):
    """Frame T−1 is frame 0 shifted by the camera offset — background texture included, not only the objects."""
    pan = make_program("camera_pan", {"direction": 0, "distance": 0.3})
    clip = next(c for c in (clean.clip(s, program=pan) for s in range(50)) if c.truth.scene["background"]["family"] in ("checker", "noise"))
    t = clip.truth
    assert all(len(clean.clip(s, "camera_pan").truth.scene["distractors"]) >= 1 for s in range(20))
    assert np.allclose(t.position_px + t.camera_px, t.position_px[0])  # static in the world
    f0, f1 = clip.frames[0].astype(float), clip.frames[-1].astype(float)
    shift = t.camera_px[-1, 0]  # camera moves right → content moves left
    errs = {s: np.abs(f1[:, : 64 - s] - f0[:, s:]).mean() for s in range(0, 30)}
    best = min(errs, key=errs.get)
    assert abs(best - shift) <= 1 and errs[best] < 4.0 and errs[0] > 4 * errs[best]


def test_still_keeps_every_pixel(clean):
    clip = clean.clip(6, "still")
    assert (clip.frames == clip.frames[0]).all() and (clip.truth.mask == clip.truth.mask[0]).all()


def test_push_moves_the_object_only_after_contact(clean):
    for seed in range(4):
        p = {"direction": seed * 2 + 1, "speed": 0.35, "contact": 0.4, "restitution": 0.5}
        clip = clean.clip(seed, program=make_program("push", p))
        t, u = clip.truth, np.array(direction(p["direction"]))
        tau = np.linspace(0, 1, len(t.angle))
        moved = (t.pushed_px - t.pushed_px[0]) @ u
        assert np.all(moved[tau <= 0.4] == pytest.approx(0.0, abs=1e-9)) and np.all(moved[tau > 0.45] > 0)
        assert np.all(np.diff(moved[tau >= 0.4]) > 0)
        gap = (t.pushed_px - t.position_px) @ u  # centre distance along the push
        assert np.all(np.diff(gap[tau <= 0.4]) < 0) and np.all(np.diff(gap[tau > 0.4]) >= 0)


@pytest.mark.parametrize("a", SHAPES)
def test_contact_distance_is_touching(a):
    """At the computed distance the two SDFs just touch; 0.01 closer they overlap."""
    rng = np.random.default_rng(SHAPES.index(a))
    for b in SHAPES[::3]:
        la, lb, ta, tb = Look(a, (1, 0, 0), 0.12), Look(b, (0, 1, 0), 0.09), *rng.uniform(0, 2 * np.pi, 2)
        u = direction(int(rng.integers(8)))
        dist = contact_distance(la, ta, lb, tb, u)
        xs = np.linspace(-0.4, 0.4, 801, dtype=np.float32)
        gx, gy = np.meshgrid(xs, xs)

        def local(x, y, th, size):  # screen offsets → unit local coordinates
            return (x * math.cos(th) - y * math.sin(th)) / size, (-x * math.sin(th) - y * math.cos(th)) / size

        sa = sdf(a, *local(gx, gy, ta, 0.12)) * 0.12
        for d, overlap in ((dist, False), (dist - 0.01, True)):
            sb = sdf(b, *local(gx - d * u[0], gy - d * u[1], tb, 0.09)) * 0.09
            assert (np.maximum(sa, sb).min() < -0.001) == overlap, (a, b, d)


def test_orbit_keeps_its_radius_and_oscillate_stays_on_its_axis(clean):
    p = {"radius": 0.18, "turns": -0.75, "phase": 1.0}
    t = clean.clip(7, program=make_program("orbit", p)).truth
    centre = t.position_px[0] - 0.18 * 64 * np.array([math.cos(1.0), -math.sin(1.0)])
    assert np.allclose(np.linalg.norm(t.position_px - centre, axis=1), 0.18 * 64)
    t = clean.clip(8, program=make_program("oscillate", {"axis": math.pi / 2, "amplitude": 0.1, "cycles": 2.0})).truth
    d = t.position_px - t.position_px[0]
    assert np.allclose(d[:, 0], 0) and d[:, 1].min() < -3 and d[:, 1].max() > 3


def test_compound_is_first_part_then_second(clean):
    a = make_program("translate", {"direction": 0, "speed": 0.3})
    b = make_program("rotate_ccw", {"angle": 2.0})
    clip = clean.clip(9, program=make_program("compound", {}, [a, b]))
    t, tau = clip.truth, np.linspace(0, 1, 16)
    first, second = tau <= 0.5, tau >= 0.5
    assert np.allclose(t.angle[first], t.angle[0]) and np.all(np.diff(t.position_px[first, 0]) > 0)
    assert np.allclose(t.position_px[second], t.position_px[-1]) and np.all(np.diff(t.angle[second]) > 0)
    with pytest.raises(ConfigError):
        make_program("compound", {}, [a, a])
    with pytest.raises(ConfigError):
        World().clip(0, "dance")


# ---- the actor rule and the mask -----------------------------------------------------------------------------------


def test_marker_is_unique_and_inside_the_mask():
    """With noise and blur on: only the marker passes the detector's threshold; it lies in the mask at its truth."""
    world = World(WorldConfig(noise_prob=1.0, blur_prob=1.0, frames=4))
    for seed in range(60):
        t = world.clip(seed).truth
        frames = world.clip(seed).frames
        darkest = frames.min(axis=-1)
        assert darkest[~t.mask].max() < MARKER_THRESHOLD  # nothing else looks like the marker
        x, y = find_marker(frames[0])
        assert math.hypot(x - t.marker_px[0, 0], y - t.marker_px[0, 1]) < 1.0
        assert t.mask[0, int(y), int(x)]


def test_actor_colour_dominates_the_mask(clean):
    """Inside the mask the actor's colour is the most frequent of all the scene's colours (marker, background, ...)."""
    for seed in range(20):
        clip = clean.clip(seed)
        t = clip.truth
        full = t.scale >= 0.9  # a shrunken actor is mostly marker and anti-aliased edge
        px = clip.frames[full][t.mask[full]].astype(float)  # [N, 3]
        others = [[255, 255, 255], [15, 15, 15]] + [np.multiply(c, 255) for c in t.scene["background"]["colours"]]
        others += [d["colour_rgb"] for d in t.scene["distractors"]]
        share = lambda c: np.mean(np.linalg.norm(px - np.asarray(c), axis=1) < 20)  # noqa: E731
        actor = share(t.scene["actor"]["colour_rgb"])
        assert actor > 0.3 and actor > max(share(c) for c in others), (seed, t.action)


@pytest.mark.parametrize("shape", SHAPES)
def test_marker_ring_lies_inside_every_shape(shape):
    ang = np.linspace(0, 2 * np.pi, 64, dtype=np.float32)
    a = MARKER_OFFSET[shape] + MARKER_RING * np.cos(ang)
    b = MARKER_RING * np.sin(ang)
    assert sdf(shape, a, b).max() < 0


def test_no_colour_looks_like_the_marker_and_bins_hold():
    rng = np.random.default_rng(0)
    for name in COLOUR_BINS:
        for vivid in (True, False):
            for _ in range(50):
                c = sample_colour(rng, name, vivid)
                assert colour_bin(c) == name
                assert (min(c) + WorldConfig().noise_amplitude[1]) * 255 < MARKER_THRESHOLD - 10  # never marker-white


# ---- triples, mismatched pairs, splits -----------------------------------------------------------------------------


def _inside(truth, look, centres, scale):
    r = look["size_px"] * scale
    return np.all(centres - r[:, None] >= 0) and np.all(centres + r[:, None] <= [truth.width, truth.height])


def test_triples_stay_in_frame_and_differ_in_appearance(world):
    for seed in range(25):
        t = world.triple(seed_for("test", seed))
        a, b = t.demo.truth, t.target.truth
        assert t.demo.program.to_json() == t.target.program.to_json()
        assert a.scene["background"]["family"] != b.scene["background"]["family"]
        assert a.scene["actor"]["colour_bin"] != b.scene["actor"]["colour_bin"]
        assert a.scene["actor"]["shape"] != b.scene["actor"]["shape"]
        assert a.scene["distractors"] != b.scene["distractors"]
        assert np.array_equal(t.context, t.target.frames[0])
        for tr in (a, b):
            assert _inside(tr, tr.scene["actor"], tr.position_px, tr.scale)
            edges = np.concatenate([tr.mask[:, 0], tr.mask[:, -1], tr.mask[:, :, 0], tr.mask[:, :, -1]], axis=1)
            assert not edges.any()  # the actor never touches the frame border
            if tr.pushed_px is not None:
                assert _inside(tr, tr.scene["prop"], tr.pushed_px, np.ones(len(tr.angle)))
        # the program is scene-independent: the same relative motion in both scenes (in world units)
        assert np.allclose(a.position_px - a.position_px[0], b.position_px - b.position_px[0], atol=1e-3)
        assert np.allclose(a.angle - a.angle[0], b.angle - b.angle[0]) and np.allclose(a.scale, b.scale)


def test_mismatched_pairs_share_the_triple_and_change_the_class(world):
    classes = set()
    for seed in range(12):
        m = world.mismatched(seed_for("test", seed))
        t = world.triple(seed_for("test", seed))
        assert m.triple.target.frames.tobytes() == t.target.frames.tobytes()
        assert m.mismatched.program.action != m.triple.demo.program.action
        assert m.mismatched.truth.scene["background"] == m.triple.demo.truth.scene["background"]
        classes.add(m.triple.demo.program.action)
    assert len(classes) >= 5  # P is spread over the classes


def test_split_seed_ranges_are_disjoint():
    last = {s: seed_for(s, SPLIT_SIZE - 1) for s in ("train", "val", "test")}
    first = {s: seed_for(s, 0) for s in ("train", "val", "test")}
    assert last["train"] < first["val"] and last["val"] < first["test"]
    assert split_of(seed_for("val", 42)) == ("val", 42)
    keys = {s: {WorldClips(s, n=5)[i]["key"] for i in range(5)} for s in ("train", "test")}
    assert not keys["train"] & keys["test"]
    for bad in (lambda: seed_for("holdout", 0), lambda: seed_for("train", SPLIT_SIZE), lambda: seed_for("val", -1)):
        with pytest.raises(ConfigError):
            bad()


# ---- ground-truth serialisation ---------------------------------------------------------------------------------------


def test_rle_round_trip():
    rng = np.random.default_rng(0)
    masks = [rng.random((3, 7, 5)) < 0.3, np.ones((2, 4, 4), bool), np.zeros((1, 3, 3), bool)]
    m = np.zeros((2, 4, 4), bool)
    m[0, 0, 0] = m[1, -1, -1] = True  # runs starting and ending on True
    for mask in [*masks, m]:
        rle = encode_mask(mask)
        assert all(sum(c) == mask.shape[1] * mask.shape[2] for c in rle["counts"])
        assert np.array_equal(decode_mask(json.loads(json.dumps(rle))), mask)
    assert encode_mask(m)["counts"][0][:2] == [0, 1]


def test_truth_json_round_trip(world):
    for seed in (0, 3):
        clip = world.mismatched(seed).triple.target
        d = json.loads(json.dumps(clip.truth.to_json()))
        for field in ("position_px", "position", "angle", "scale", "camera_px", "mask", "action", "actor", "background"):
            assert field in d
        back = ClipTruth.from_json(d)
        assert np.array_equal(back.mask, clip.truth.mask)
        assert np.allclose(back.position_px, clip.truth.position_px, atol=1e-4)
        assert back.program == clip.program and d["actor"]["colour_bin"] in COLOUR_BINS
        assert d["background"]["family"] in BACKGROUND_FAMILIES


# ---- resolution independence, config, dataset ----------------------------------------------------------------------


def test_same_seed_at_128_is_the_same_scene_sharper():
    small = World(CLEAN)
    big = World(WorldConfig(height=128, width=128, noise_prob=0.0, blur_prob=0.0))
    for seed in range(6):
        a, b = small.clip(seed), big.clip(seed)
        assert np.allclose(b.truth.position_px, 2 * a.truth.position_px)
        down = b.truth.mask.reshape(16, 64, 2, 64, 2).mean(axis=(2, 4)) >= 0.5
        iou = (down & a.truth.mask).sum() / (down | a.truth.mask).sum()
        assert iou > 0.85
        pooled = b.frames.reshape(16, 64, 2, 64, 2, 3).mean(axis=(2, 4))
        assert np.abs(pooled - a.frames).mean() < 2.0


def test_config_validation():
    for bad in (dict(height=8), dict(frames=1), dict(actions=("fly",)), dict(actor_size=(0.1, 0.3)), dict(height=64, width=200)):
        with pytest.raises(ConfigError):
            WorldConfig(**bad)
    cfg = WorldConfig(height=48, width=80, frames=9)  # any size and length
    clip = World(cfg).clip(3)
    assert clip.frames.shape == (9, 48, 80, 3) and not clip.truth.mask[:, :, [0, -1]].any()


def test_world_clips_dataset():
    ds = WorldClips("val", n=4, config=WorldConfig(frames=8))
    item = ds[1]
    assert item["video"].shape == (8, 3, 64, 64) and item["video"].dtype == torch.float32
    assert -1.0 <= item["video"].min() and item["video"].max() <= 1.0 and set(item) == {"video", "key"}
    assert torch.equal(item["video"], ds[1]["video"]) and item["key"] == ds[1]["key"]
    truthy = WorldClips("val", n=4, config=WorldConfig(frames=8), with_truth=True)
    loader = torch.utils.data.DataLoader(truthy, batch_size=2, collate_fn=WorldClips.collate)
    batch = next(iter(loader))
    assert batch["video"].shape == (2, 8, 3, 64, 64) and len(batch["truth"]) == 2
    assert torch.equal(batch["video"][1], item["video"]) and batch["truth"][1]["key"] == item["key"]
    with pytest.raises(IndexError):
        ds[4]


def test_frames_tensor_round_trip():
    frames = np.random.default_rng(0).integers(0, 256, (3, 5, 7, 3), dtype=np.uint8)
    x = frames_to_tensor(frames)
    assert x.shape == (3, 3, 5, 7) and x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1
    assert x[0, 0, 0, 0].item() == pytest.approx(frames[0, 0, 0, 0] / 127.5 - 1)
    assert np.array_equal(tensor_to_frames(x), frames)
    assert np.array_equal(tensor_to_frames(x[None]), frames[None])  # batched [B, T, 3, H, W]
    noisy = tensor_to_frames(torch.tensor([[[[-3.0]], [[3.0]], [[0.0]]]]))  # [1, 3, 1, 1] clamps
    assert noisy.tolist() == [[[[0, 255, 128]]]]
    with pytest.raises(ValueError):
        frames_to_tensor(frames.astype(np.float32))


def test_blur_matches_a_padded_reference():
    from deltadiff.data.world.render import _gaussian_blur

    x = np.random.default_rng(0).random((2, 9, 11, 3)).astype(np.float32)
    for sigma in (0.3, 0.8, 1.7):
        r = max(1, math.ceil(2.5 * sigma))
        k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
        k /= k.sum()
        ref = x
        for axis in (1, 2):
            pad = [(0, 0)] * 4
            pad[axis] = (r, r)
            p = np.pad(ref, pad, mode="edge")
            ref = sum(w * np.take(p, np.arange(i, i + ref.shape[axis]), axis=axis) for i, w in enumerate(k))
        assert np.allclose(_gaussian_blur(x.copy(), sigma), ref, atol=1e-5)
