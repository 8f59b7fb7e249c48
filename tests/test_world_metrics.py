import math

import numpy as np
import pytest

from deltadiff.data.world import World, seed_for
from deltadiff.eval.world_metrics import direction_correct, leakage, locate_actor, psnr, trajectory_error


@pytest.fixture(scope="module")
def triples():
    world = World()
    return [world.triple(seed_for("test", i)) for i in range(12)]


def test_locate_actor_matches_truth_on_rendered_frames(triples):
    for tr in triples:
        pos, found = locate_actor(tr.target.frames)
        assert found.mean() > 0.9
        err = np.linalg.norm(pos[found] - tr.target.truth.marker_px[found], axis=1)
        assert np.median(err) < 0.75


def test_target_scores_perfectly_against_itself(triples):
    for tr in triples:
        err, found = trajectory_error(tr.target.frames, tr.target.truth.marker_px)
        assert err < 1.5 and found > 0.9
        assert direction_correct(tr.target.frames, tr.target.truth.marker_px)
        assert leakage(tr.target.frames, tr.demo.frames, tr.target.frames) == 0.0
        assert psnr(tr.target.frames, tr.target.frames) == math.inf


def test_static_video_fails_moving_targets_and_copy_demo_leaks(triples):
    moving = [tr for tr in triples if np.ptp(tr.target.truth.marker_px, axis=0).max() > 4]
    assert moving
    for tr in moving:
        static = np.repeat(tr.target.frames[:1], len(tr.target.frames), axis=0)
        assert not direction_correct(static, tr.target.truth.marker_px)
        assert trajectory_error(static, tr.target.truth.marker_px)[0] > 1.0
    # the demo itself shows the demo scene's colours: the triple's scenes differ in background and actor colour
    leaks = [leakage(tr.demo.frames, tr.demo.frames, tr.target.frames) for tr in triples]
    assert np.mean(leaks) > 0.2


def test_reversed_motion_is_wrong_direction(triples):
    tr = next(t for t in triples if np.ptp(t.target.truth.marker_px, axis=0).max() > 4)
    m = tr.target.truth.marker_px
    mirrored = 2 * m[0] - m  # the same path, displaced the other way from frame 0
    video = tr.target.frames
    assert direction_correct(video, m)
    assert not direction_correct(video, mirrored)


def test_transfer_score_of_the_target_and_of_the_copied_demo(triples):
    from deltadiff.eval.transfer import score

    tr = triples[0]
    other = triples[1].target.frames  # a different video as the "mismatched" output
    s = score(tr.target.frames, other, tr.demo.frames, tr.target.frames, tr.target.truth.marker_px)
    assert s["trajectory_error"] < 1.5 and s["direction_accuracy"] == 1.0 and s["leakage"] == 0.0
    from deltadiff.eval.transfer import psnr_cap

    cap = psnr_cap(tr.target.frames[1:])  # an exact reproduction scores the largest finite PSNR of its size
    assert cap == pytest.approx(10 * math.log10(255**2 * 15 * 64 * 64 * 3))
    assert s["psnr"] == cap and 0 < s["delta_psnr"] < cap and s["actor_found"] > 0.9
    same = score(tr.target.frames, tr.target.frames, tr.demo.frames, tr.target.frames, tr.target.truth.marker_px)
    assert same["delta_psnr"] == 0.0 and same["delta_psnr_t4"] == 0.0  # ∞ − ∞ would be NaN
    copy = score(tr.demo.frames, other, tr.demo.frames, tr.target.frames, tr.target.truth.marker_px)
    assert copy["leakage"] > 0.05 and math.isfinite(copy["psnr"])
