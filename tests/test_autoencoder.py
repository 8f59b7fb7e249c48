"""Frame autoencoders: shapes, exact save/load, pixel space is a permutation, the diffusers adapter on tiny random VAEs,
the recipe learns, and `deltadiff train autoencoder` runs end to end on tiny data."""

from __future__ import annotations

import json

import pytest
import torch
import typer
from typer.testing import CliRunner

from deltadiff.autoencoder import (
    AutoencoderLoss,
    DiffusersVAE,
    PixelSpace,
    TinyAutoencoder,
    load_autoencoder,
    preset,
)
from deltadiff.errors import ConfigError, InputNotFoundError


def _video(b=2, t=3, size=32, seed=0):
    """A [B, T, 3, S, S] batch on the uint8 grid in [-1, 1], like decoded frames."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, t, 3, size, size), generator=g).float() / 127.5 - 1


def _tiny(seed=0, **overrides):
    torch.manual_seed(seed)
    return TinyAutoencoder(preset("micro", **overrides)).eval()


def test_tiny_shapes_and_range():
    ae = _tiny()
    z = ae.encode(_video())
    assert z.shape == (2, 3, 4, 8, 8) and ae.downsample == 4
    assert ae.latent_shape(3, 32, 32) == (3, 4, 8, 8)
    x = ae.decode(z)
    assert x.shape == (2, 3, 3, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert preset("cpu").downsample == 4 and preset("cpu").latent_channels == 4  # 64×64×3 → 16×16×4
    with pytest.raises(ConfigError, match="multiple"):
        ae.encode(_video(size=30))
    with pytest.raises(ConfigError, match="preset"):
        preset("huge")


def test_frames_are_independent():
    """Per-frame: a frame's latent does not depend on the other frames or on its place in the batch."""
    ae, v = _tiny(), _video(b=2, t=3)
    z = ae.encode(v)
    torch.testing.assert_close(ae.encode(v[1:, 2:]), z[1:, 2:], rtol=1e-5, atol=1e-5)


def test_save_load_round_trip_is_bit_identical(tmp_path):
    ae, v = _tiny(seed=3), _video()
    ae.set_latent_stats(*ae.measure_latent_stats([v]))
    ae.save_pretrained(tmp_path / "ae")
    assert sorted(p.name for p in (tmp_path / "ae").iterdir()) == ["autoencoder.json", "autoencoder.safetensors"]
    loaded = load_autoencoder(tmp_path / "ae")
    assert isinstance(loaded, TinyAutoencoder) and not any(p.requires_grad for p in loaded.parameters())
    assert loaded.latent_mean == ae.latent_mean and loaded.latent_std == ae.latent_std
    z = ae.encode(v)
    assert torch.equal(loaded.encode(v), z) and torch.equal(loaded.decode(z), ae.decode(z))
    # the statistics normalise: on the data they were measured on, every channel has mean 0 and std 1
    flat = z.transpose(0, 2).flatten(1)  # [c, …]
    torch.testing.assert_close(flat.mean(1), torch.zeros(4), atol=1e-4, rtol=0)
    torch.testing.assert_close(flat.std(1, correction=0), torch.ones(4), atol=1e-4, rtol=0)


def test_variational_encodes_the_mean_and_pays_kl():
    ae = _tiny(variational=True)
    v = _video()
    assert torch.equal(ae.encode(v), ae.encode(v))  # deterministic: the posterior mean
    _, kl = ae(v.flatten(0, 1))
    assert kl.shape == (6,) and (kl > 0).all()
    assert AutoencoderLoss(kl=1.0)(ae, v) > AutoencoderLoss(kl=0.0)(ae, v)


def test_pixel_space_is_exact(tmp_path):
    v = _video(size=64)
    for patch in (1, 4):
        px = PixelSpace(patch)
        z = px.encode(v)
        assert z.shape == (2, 3, 3 * patch * patch, 64 // patch, 64 // patch)
        assert torch.equal(px.decode(z), v)
    assert torch.equal(px.encode(v)[0, 0, :, 0, 0], v[0, 0, :, :4, :4].reshape(-1))  # channels are (rgb, dy, dx)
    px.save_pretrained(tmp_path / "px")
    assert not (tmp_path / "px" / "autoencoder.safetensors").exists()
    again = load_autoencoder(tmp_path / "px")
    assert isinstance(again, PixelSpace) and again.patch == 4 and torch.equal(again.decode(again.encode(v)), v)
    assert load_autoencoder("pixel:4").latent_channels == 48 and load_autoencoder("pixel").downsample == 1
    with pytest.raises(ConfigError):
        load_autoencoder("pixel:x")


def _tiny_kl_vae(folder, **kw):
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    vae = AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=4,
                        layers_per_block=1, sample_size=32, **kw)
    vae.save_pretrained(str(folder), safe_serialization=True)
    return vae.eval()


def test_diffusers_autoencoderkl_adapter(tmp_path):
    vae = _tiny_kl_vae(tmp_path / "pipe" / "vae", scaling_factor=0.5, shift_factor=0.1)
    for where in (tmp_path / "pipe", tmp_path / "pipe" / "vae"):  # a pipeline folder or the VAE folder itself
        ae = load_autoencoder(where)
        assert isinstance(ae, DiffusersVAE) and ae.downsample == 2 and ae.latent_channels == 4
    v = _video(b=2, t=3, size=16)
    with torch.no_grad():
        z = ae.encode(v)
        assert z.shape == (2, 3, 4, 8, 8)
        raw = vae.encode(v.flatten(0, 1)).latent_dist.mode()  # frames folded into the batch
        torch.testing.assert_close(z.flatten(0, 1), (raw - 0.1) * 0.5, rtol=1e-5, atol=1e-5)  # diffusers' SD3/Flux convention
        ref = vae.decode(raw).sample.clamp(-1, 1).view_as(v)
        torch.testing.assert_close(ae.decode(z), ref, rtol=1e-5, atol=1e-5)
        ae.save_pretrained(tmp_path / "export")
        again = load_autoencoder(tmp_path / "export")
        assert isinstance(again, DiffusersVAE)
        assert torch.equal(again.encode(v), z) and torch.equal(again.decode(z), ae.decode(z))


def test_diffusers_video_vae_adapter(tmp_path):
    from diffusers import AutoencoderKLCogVideoX

    torch.manual_seed(0)
    vae = AutoencoderKLCogVideoX(block_out_channels=(8, 8), down_block_types=("CogVideoXDownBlock3D",) * 2,
                                 up_block_types=("CogVideoXUpBlock3D",) * 2, latent_channels=4, layers_per_block=1,
                                 norm_num_groups=4, temporal_compression_ratio=2, scaling_factor=0.7)
    vae.save_pretrained(str(tmp_path / "cog"), safe_serialization=True)
    ae = load_autoencoder(tmp_path / "cog")
    assert ae.temporal_downsample == 2 and ae.downsample == 2
    v = _video(b=1, t=5, size=16)
    with torch.no_grad():
        z = ae.encode(v)
        assert z.shape == (1, *ae.latent_shape(5, 16, 16)) == (1, 3, 4, 8, 8)
        raw = vae.eval().encode(v.permute(0, 2, 1, 3, 4)).latent_dist.mode()  # [B, c, T', h, w]
        torch.testing.assert_close(z, raw.permute(0, 2, 1, 3, 4) * 0.7, rtol=1e-5, atol=1e-5)
        assert ae.decode(z).shape == v.shape
    with pytest.raises(ConfigError, match="1 \\+ k"):
        ae.encode(_video(b=1, t=4, size=16))


def test_not_an_autoencoder(tmp_path):
    with pytest.raises(InputNotFoundError, match="no such"):
        load_autoencoder(tmp_path / "missing")
    with pytest.raises(InputNotFoundError, match="not an autoencoder"):
        load_autoencoder(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"_class_name": "UNet2DModel"}))
    with pytest.raises(InputNotFoundError, match="not an autoencoder"):
        load_autoencoder(tmp_path)
    PixelSpace(2).save_pretrained(tmp_path / "px")
    with pytest.raises(ConfigError, match="'pixel'"):
        TinyAutoencoder.from_pretrained(tmp_path / "px")


def _held_out_loss(ae, loss):
    from deltadiff.data.world import WorldClips, WorldConfig

    clips = WorldClips("test", n=8, config=WorldConfig(height=32, width=32, frames=2))
    video = torch.stack([clips[i]["video"] for i in range(len(clips))])
    with torch.no_grad():
        return float(loss(ae.train(), video))  # train mode: the raw reconstruction, no normalisation involved


def test_recipe_reduces_the_loss_and_exports(tmp_path):
    from deltadiff.training import TrainConfig
    from deltadiff.training.autoencoder_recipe import train_autoencoder

    cfg, loss = preset("micro"), AutoencoderLoss()
    before = _held_out_loss(_tiny(seed=0), loss)
    torch.manual_seed(0)  # the recipe's model starts from the same weights
    tcfg = TrainConfig(steps=15, batch_size=8, lr=5e-3, warmup=3, device="cpu", checkpoint_every=100)
    path = train_autoencoder("world", tmp_path, cfg, tcfg, frames=2, size=32, stats_clips=8)
    ae = load_autoencoder(path)
    after = _held_out_loss(ae, loss)
    assert after < 0.7 * before, (before, after)
    assert len(ae.latent_std) == 4 and all(s > 0 for s in ae.latent_std)
    assert json.loads((tmp_path / "train_config.json").read_text())["steps"] == 15


def _cli():
    from deltadiff.cli.train_autoencoder import autoencoder

    app = typer.Typer()
    app.command("autoencoder")(autoencoder)
    app.command("other")(lambda: None)  # two commands, so `autoencoder` stays a sub-command as under `deltadiff train`
    return app


def test_cli_dry_run_and_tiny_run(tmp_path):
    runner = CliRunner()
    res = runner.invoke(_cli(), ["autoencoder", "--out", str(tmp_path / "run"), "--dry-run", "--latent-channels", "8"])
    assert res.exit_code == 0, res.output
    cfg = json.loads(res.output)
    assert cfg["latent_shape"] == [8, 16, 16] and cfg["model"]["widths"] == [32, 64] and cfg["train"]["steps"] == 200
    assert not (tmp_path / "run").exists()

    args = ["autoencoder", "--out", str(tmp_path / "run"), "--preset", "micro", "--size", "32", "--steps", "2",
            "--batch-size", "2", "--stats-clips", "2", "--device", "cpu"]
    res = runner.invoke(_cli(), args)
    assert res.exit_code == 0, res.output
    ae = load_autoencoder(tmp_path / "run" / "autoencoder")
    assert ae.encode(_video(b=1, t=2)).shape == (1, 2, 4, 8, 8)

    res = runner.invoke(_cli(), [*args[:5], "--size", "30"])
    assert isinstance(res.exception, ConfigError)  # the `deltadiff` entry point prints it as one line
