"""End to end through the CLI on tiny settings: train foundation → train bottleneck → probe (report shape)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

pytest.importorskip("transformers")

from deltadiff.cli import app  # noqa: E402


def _ok(result):
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def test_train_foundation_bottleneck_probe(tmp_path):
    runner = CliRunner()
    common = ["--size", "32", "--frames", "4", "--device", "cpu"]
    _ok(runner.invoke(app, ["train", "foundation", "--out", str(tmp_path / "f"), "--preset", "micro", "--steps", "3",
                            "--batch-size", "2", "--width", "24", "--heads", "3", "--spatial-layers", "2", *common]))
    assert (tmp_path / "f" / "foundation" / "model.safetensors").exists()
    saved = json.loads((tmp_path / "f" / "foundation" / "config.json").read_text())  # the size options reach the model
    assert (saved["hidden_size"], saved["num_attention_heads"], saved["num_spatial_layers"]) == (24, 3, 2)
    assert (tmp_path / "f" / "state").is_dir()
    _ok(runner.invoke(app, ["train", "bottleneck", "--foundation", str(tmp_path / "f" / "foundation"), "--out",
                            str(tmp_path / "a"), "--steps", "3", "--batch-size", "4", "--cache-clips", "16",
                            "--width", "16", "--depth", "1", *common]))
    assert (tmp_path / "a" / "action_encoder.json").exists() and (tmp_path / "a" / "predictor.safetensors").exists()
    r = _ok(runner.invoke(app, ["train", "bottleneck", "--foundation", str(tmp_path / "f" / "foundation"), "--out",
                                str(tmp_path / "a0"), "--cache-clips", "16", "--cache-dir", str(tmp_path / "a" / "feature_cache"),
                                "--depth", "0", *common]))
    assert "closed form on 16 clips" in r.output  # the linear P, fitted on the same cache
    from deltadiff.bottleneck import ActionEncoder

    linear = ActionEncoder.from_pretrained(tmp_path / "a0")
    assert [name for name, _ in linear.predictor.named_parameters()] == ["skip.weight", "skip.bias"]
    _ok(runner.invoke(app, ["probe", "--action-encoder", str(tmp_path / "a"), "--out", str(tmp_path / "probe.json"),
                            "--n-clips", "40", "--n-pairs", "4", "--device", "cpu"]))
    report = json.loads((tmp_path / "probe.json").read_text())
    assert set(report["variants"]) == {"delta", "none", "temporal_norm"} and report["n_clips"] == 40
    assert report["precision"] == "fp32"  # DELTADIFF_PRECISION, tests/conftest.py
    for r in report["variants"].values():
        assert 0 <= r["action_accuracy"] <= 1 and 0 < r["action_chance"] <= 1
        assert set(r["leakage"]) == {"background", "colour", "shape"}
        assert set(r["similarity"]) == {"same_action_other_scene", "other_action_same_scene"}
    assert report["command"].startswith("deltadiff probe") and "z_action_accuracy" in report["random_init"]


def test_train_dry_run_and_bad_preset(tmp_path):
    runner = CliRunner()
    r = _ok(runner.invoke(app, ["train", "foundation", "--out", str(tmp_path), "--dry-run", "--steps", "5"]))
    cfg = json.loads(r.output)
    assert cfg["train"]["steps"] == 5 and cfg["model"]["hidden_size"] == 128
    r = runner.invoke(app, ["train", "foundation", "--out", str(tmp_path), "--preset", "huge", "--dry-run"])
    assert r.exit_code != 0 and "unknown foundation preset" in str(r.exception)
    r = _ok(runner.invoke(app, ["train", "foundation", "--out", str(tmp_path), "--dry-run", "--width", "192", "--heads", "6",
                                "--spatial-layers", "6", "--temporal-layers", "3"]))
    model = json.loads(r.output)["model"]
    assert (model["hidden_size"], model["num_heads"], model["spatial_layers"], model["temporal_layers"]) == (192, 6, 6, 3)
    r = runner.invoke(app, ["train", "foundation", "--out", str(tmp_path), "--dry-run", "--width", "100", "--heads", "6"])
    assert r.exit_code != 0 and "not a multiple" in str(r.exception)
