"""`deltadiff world sample | export` end to end on tiny data: decodable mp4s of the advertised size, a complete
truth.jsonl, and nothing half-written when an export fails."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from deltadiff.cli.world import world_app
from deltadiff.data.world import ACTION_CLASSES, ClipTruth, World, WorldConfig, decode_mask, seed_for
from deltadiff.errors import ConfigError
from deltadiff.io import read_image, read_video

runner = CliRunner()


def _run(*args):
    return runner.invoke(world_app, [str(a) for a in args])


def test_sample_writes_clips_grid_and_triple(tmp_path):
    r = _run("sample", "--out", tmp_path, "--n", 3, "--size", 48, "--frames", 10, "--seed", 5)
    assert r.exit_code == 0, r.output
    clips = sorted((tmp_path / "clips").glob("*.mp4"))
    assert len(clips) == 3
    assert {c.stem.split("-")[-1] for c in clips} == set(ACTION_CLASSES[:3])  # one clip per action class
    for path in clips + [tmp_path / "triple_demo.mp4", tmp_path / "triple_target.mp4"]:
        assert read_video(path).shape == (10, 48, 48, 3)
        assert str(path) in r.output
    assert read_image(tmp_path / "triple_context.png").shape == (48, 48, 3)
    grid = read_image(tmp_path / "grid.png")
    assert grid.shape[0] > 3 * 48 and grid.shape[1] > 10 * 48  # rows = clips, columns = frames (upscaled)
    triple_grid = read_video(tmp_path / "triple_grid.mp4")
    assert triple_grid.shape[0] == 10 and triple_grid.shape[2] > 3 * triple_grid.shape[1] * 0.8
    # the written context is the target's first frame (lossless PNG)
    triple = World(WorldConfig(height=48, width=48, frames=10)).triple(seed_for("test", 5))
    assert np.array_equal(read_image(tmp_path / "triple_context.png"), triple.context)


def test_export_clips_writes_videos_and_truth(tmp_path):
    r = _run("export", "--n", 4, "--out", tmp_path, "--split", "val", "--frames", 8, "--size", 64)
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in (tmp_path / "truth.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and len({row["key"] for row in rows}) == 4
    for row in rows:
        assert row["split"] == "val" and row["kind"] == "clip"
        video = read_video(tmp_path / row["file"])
        assert video.shape == (8, 64, 64, 3)
        truth = ClipTruth.from_json(row)
        assert truth.mask.shape == (8, 64, 64) and len(row["position_px"]) == 8
        assert row["action"]["class"] in ACTION_CLASSES and row["actor"]["colour_bin"]
        # the mp4 shows the actor where the truth says: mean colour inside the mask ≈ the actor colour
        inside = video[decode_mask(row["mask"])].astype(float)
        outside = video[~decode_mask(row["mask"])].astype(float)
        colour = np.array(row["actor"]["colour_rgb"])
        assert np.linalg.norm(np.median(inside, 0) - colour) < np.linalg.norm(np.median(outside, 0) - colour) + 1e-6
    assert not list(tmp_path.rglob("*.part*"))
    assert json.loads((tmp_path / "world_config.json").read_text())["frames"] == 8


def test_export_triples(tmp_path):
    r = _run("export", "--n", 2, "--out", tmp_path, "--split", "test", "--triples", "--frames", 6)
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in (tmp_path / "truth.jsonl").read_text().splitlines()]
    assert [row["kind"] for row in rows] == ["triple", "triple"]
    for row in rows:
        for name in ("demo", "target", "mismatched"):
            assert read_video(tmp_path / row["files"][name]).shape == (6, 64, 64, 3)
        assert read_image(tmp_path / row["files"]["context"]).shape == (64, 64, 3)
        assert row["demo"]["action"] == row["target"]["action"]
        assert row["mismatched"]["action"]["class"] != row["target"]["action"]["class"]


def test_failed_export_leaves_no_index(tmp_path, monkeypatch):
    calls = {"n": 0}
    original = World.clip

    def flaky(self, seed, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk on fire")
        return original(self, seed, *a, **k)

    monkeypatch.setattr(World, "clip", flaky)
    r = _run("export", "--n", 5, "--out", tmp_path, "--frames", 4)
    assert r.exit_code != 0 and isinstance(r.exception, RuntimeError)
    assert not (tmp_path / "truth.jsonl").exists() and not list(tmp_path.glob("*.part*"))


@pytest.mark.parametrize("args", [("--split", "holdout"), ("--size", "8"), ("--frames", "1")])
def test_bad_options_raise_config_errors(tmp_path, args):
    r = _run("export", "--n", 1, "--out", tmp_path, *args)
    assert r.exit_code != 0 and isinstance(r.exception, ConfigError)
    assert not (tmp_path / "truth.jsonl").exists()
