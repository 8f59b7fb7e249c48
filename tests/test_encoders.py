"""Foundation-model adapters on tiny randomly initialised transformers configs (nothing is downloaded)."""

from __future__ import annotations

import copy

import pytest
import torch

transformers = pytest.importorskip("transformers")

from deltadiff.encoders import VideoMAEEncoder, VideoPrismEncoder, VJEPA2Encoder, load_encoder  # noqa: E402
from deltadiff.encoders.hf import FusedGELU  # noqa: E402
from deltadiff.errors import ConfigError, InputNotFoundError  # noqa: E402


def _videoprism():
    cfg = transformers.VideoPrismVisionConfig(image_size=32, num_frames=4, tubelet_size=(1, 8, 8), hidden_size=32,
                                              num_attention_heads=2, intermediate_size=64, num_spatial_layers=1,
                                              num_temporal_layers=1)
    return transformers.VideoPrismVisionModel(cfg)


def _vjepa2():
    cfg = transformers.VJEPA2Config(crop_size=32, frames_per_clip=4, patch_size=8, tubelet_size=2, hidden_size=32,
                                    num_attention_heads=2, num_hidden_layers=1, mlp_ratio=2, pred_hidden_size=32,
                                    pred_num_attention_heads=2, pred_num_hidden_layers=1)
    return transformers.VJEPA2Model(cfg)


def _videomae():
    cfg = transformers.VideoMAEConfig(image_size=32, num_frames=4, patch_size=8, tubelet_size=2, hidden_size=32,
                                      num_attention_heads=2, num_hidden_layers=1, intermediate_size=64)
    return transformers.VideoMAEModel(cfg)


ADAPTERS = {"videoprism": (VideoPrismEncoder, _videoprism, 4), "vjepa2": (VJEPA2Encoder, _vjepa2, 2),
            "videomae": (VideoMAEEncoder, _videomae, 2)}


def _video(b=2, t=4, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, t, 3, size, size, generator=g) * 2 - 1


@pytest.mark.parametrize("kind", list(ADAPTERS))
def test_shapes_frozen_and_round_trip(kind, tmp_path):
    cls, make, tp = ADAPTERS[kind]
    torch.manual_seed(0)
    model = make()
    enc = cls(model=model, batch_size=1)  # batch_size 1: exercises chunking
    video = _video()
    f = enc.encode(video)
    assert f.spatial.shape == f.z.shape == (2, tp, 16, 32)
    assert not f.z.requires_grad and not any(p.requires_grad for p in model.parameters()) and not model.training
    # chunked == one batch
    f_all = cls(model=model, batch_size=8).encode(video)
    torch.testing.assert_close(f.z, f_all.z, atol=1e-5, rtol=1e-5)
    # resized input: 48×48 clips are resized to the model's 32×32
    assert cls(model=model).encode(_video(size=48)).z.shape == (2, tp, 16, 32)
    # save → lazy load from the local folder gives the same features
    model.save_pretrained(tmp_path / kind)
    lazy = load_encoder(kind, tmp_path / kind)
    assert lazy._model is None  # nothing loaded until first use
    torch.testing.assert_close(lazy.encode(video).z, f.z)


def test_videoprism_spatial_is_per_frame():
    enc = VideoPrismEncoder(model=_videoprism())
    a = _video(seed=1)
    b = a.clone()
    b[:, 1:] = _video(seed=2)[:, 1:]  # same first frame, other frames differ
    fa, fb = enc.encode(a), enc.encode(b)
    torch.testing.assert_close(fa.spatial[:, 0], fb.spatial[:, 0])  # frame 0's own features ignore other frames
    assert (fa.z[:, 0] - fb.z[:, 0]).abs().max() > 1e-3  # z at frame 0 sees the rest of the clip


def _set_gelu(model, act):
    """Every VideoPrism MLP of `model` runs `act` (tied weights, another activation)."""
    from transformers.models.videoprism.modeling_videoprism import VideoPrismMLP

    mlps = [m for m in model.modules() if isinstance(m, VideoPrismMLP)]
    assert mlps
    for m in mlps:
        m.activation_fn = act
    return model


def test_videoprism_fused_gelu_equals_transformers_forward():
    """The adapter swaps transformers' `gelu_python` (its VideoPrism default) for torch's fused GELU: features equal
    transformers' own forward with the same weights to float rounding; the tolerance is tight enough to tell GELU's tanh
    approximation apart, so a wrong activation fails here."""
    from transformers.activations import ACT2FN

    torch.manual_seed(0)
    ref = _videoprism()
    assert ref.config.hidden_act == "gelu_python"
    enc = VideoPrismEncoder(model=copy.deepcopy(ref))
    assert all(isinstance(layer.mlp.activation_fn, FusedGELU) for layer in enc.model.spatial_layers)
    assert all(isinstance(layer.mlp.activation_fn, FusedGELU) for layer in enc.model.temporal_layers)
    video = _video()
    with torch.no_grad():
        out = ref(pixel_values_videos=enc.preprocess(video))
        z_ref = out.last_hidden_state.view(2, 4, 16, 32)  # [B, T·N, C] → [B, T, N, C]
        spatial_ref = ref.layernorm1(out.last_spatial_hidden_state).view(2, 4, 16, 32)
    f = enc.encode(video)
    torch.testing.assert_close(f.z, z_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(f.spatial, spatial_ref, atol=1e-5, rtol=1e-5)
    _set_gelu(enc.model, ACT2FN["gelu_python"])  # the reference path through the adapter: equal, not just close
    torch.testing.assert_close(enc.encode(video).z, z_ref, atol=0, rtol=0)
    _set_gelu(enc.model, torch.nn.GELU(approximate="tanh"))
    assert (enc.encode(video).z - z_ref).abs().max() > 1e-4
    x = torch.randn(64, requires_grad=True)  # with autograd on, FusedGELU leaves its input alone and differentiates
    FusedGELU()(x).sum().backward()
    g = x.grad.clone()
    x.grad = None
    ACT2FN["gelu_python"](x).sum().backward()
    torch.testing.assert_close(g, x.grad)


def test_tiny_model_fused_gelu_equals_gelu_python_with_stem_mask_and_grads():
    """The training path (factorised_forward with motion stem and patch masking) of a tiny model, built with torch's
    GELU, equals the same weights with transformers' gelu_python, forward and gradients."""
    from transformers.activations import ACT2FN

    from deltadiff.encoders.tiny import MaskedVideoModel, preset

    torch.manual_seed(0)
    fast = MaskedVideoModel(preset("micro", image_size=32, num_frames=4))  # motion stem "rgb"
    assert fast.encoder.config.hidden_act == "gelu" and fast.stem is not None and fast.training
    ref = _set_gelu(copy.deepcopy(fast), ACT2FN["gelu_python"])
    pixels = (_video() + 1) / 2
    mask = torch.rand(2, 4, 16, generator=torch.Generator().manual_seed(1)) < 0.5  # [B, T, N]
    z = {}
    for name, m in (("fast", fast), ("ref", ref)):
        z[name] = m(pixels, mask)
        z[name].square().mean().backward()
    torch.testing.assert_close(z["fast"], z["ref"], atol=1e-5, rtol=1e-5)
    for (name, a), b in zip(fast.named_parameters(), ref.parameters()):
        if a.grad is not None or b.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, atol=1e-5, rtol=1e-4, msg=name)
    with torch.no_grad():
        wrong = _set_gelu(copy.deepcopy(fast), torch.nn.GELU(approximate="tanh"))(pixels, mask)
    assert (wrong - z["ref"]).abs().max() > 1e-4


def test_static_clip_spatial_matches_z_for_videomae():
    # a static video has no motion: per-frame features (static clips) equal z exactly
    enc = VideoMAEEncoder(model=_videomae())
    static = _video(b=1)[:, :1].repeat(1, 4, 1, 1, 1)
    f = enc.encode(static)
    torch.testing.assert_close(f.spatial, f.z)


def test_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown encoder"):
        load_encoder("clip", tmp_path)
    with pytest.raises(InputNotFoundError, match="no such model folder"):
        load_encoder("videoprism", tmp_path / "missing").encode(_video())
    with pytest.raises(ValueError, match=r"\[B, T, 3, H, W\]"):
        VideoPrismEncoder(model=_videoprism()).encode(torch.zeros(4, 3, 32, 32))
    with pytest.raises(ValueError, match="multiple of the tubelet size"):
        VJEPA2Encoder(model=_vjepa2()).encode(_video(t=3))


class _Clips(torch.utils.data.Dataset):
    """n random clips {"video": [T, 3, H, W], "key": "clipI"}, the shape a feature cache is filled from."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"video": _video(b=1, seed=i)[0], "key": f"clip{i}"}


def test_feature_cache_round_trip(tmp_path):
    from deltadiff.encoders.cache import CachedFeatures, fill_cache

    enc = VideoPrismEncoder(model=_videoprism(), batch_size=2)

    cache = fill_cache(enc, _Clips(7), tmp_path / "cache", shard_size=3, batch_size=2, source="test")
    assert sorted(p.name for p in cache.iterdir()) == ["meta.json", "shard_00000.safetensors", "shard_00001.safetensors",
                                                       "shard_00002.safetensors"]
    ds = CachedFeatures(cache)
    assert len(ds) == 7 and ds.meta["keys"][5] == "clip5"
    direct = enc.encode(_video(b=1, seed=5))
    torch.testing.assert_close(ds[5]["z"], direct.z[0], atol=2e-3, rtol=2e-3)  # stored as float16
    torch.testing.assert_close(ds[5]["spatial"], direct.spatial[0], atol=2e-3, rtol=2e-3)
    mtime = (cache / "meta.json").stat().st_mtime_ns
    fill_cache(enc, _Clips(7), cache, shard_size=3, source="test")  # complete already: nothing recomputed
    assert (cache / "meta.json").stat().st_mtime_ns == mtime
    with pytest.raises(InputNotFoundError, match="no complete feature cache"):
        CachedFeatures(tmp_path)


def test_feature_cache_grows_by_encoding_only_the_new_clips(tmp_path):
    """A larger count over the same clips keeps the full shards (their files untouched) and encodes the rest; the
    result equals a cache filled in one go."""
    from deltadiff.encoders.cache import CachedFeatures, fill_cache

    enc = VideoPrismEncoder(model=_videoprism(), batch_size=2)
    cache = fill_cache(enc, _Clips(7), tmp_path / "grown", count=4, shard_size=3, source="t")
    kept = (cache / "shard_00000.safetensors").stat().st_mtime_ns
    seen = []
    encode = enc.encode
    enc.encode = lambda video: seen.append(len(video)) or encode(video)
    fill_cache(enc, _Clips(7), cache, count=7, shard_size=3, source="t")
    assert sum(seen) == 4  # clips 3..6: shard 0 was full and kept, the partial shard 1 re-encoded
    assert (cache / "shard_00000.safetensors").stat().st_mtime_ns == kept
    grown = CachedFeatures(cache)
    whole = CachedFeatures(fill_cache(enc, _Clips(7), tmp_path / "whole", shard_size=3, source="t"))
    assert grown.meta["keys"] == whole.meta["keys"] and len(grown) == 7
    for i in range(7):
        torch.testing.assert_close(grown[i]["z"], whole[i]["z"])


def test_feature_cache_stores_extras_and_rebuilds_when_they_change(tmp_path):
    from deltadiff.encoders.cache import CachedFeatures, fill_cache

    enc = VideoPrismEncoder(model=_videoprism(), batch_size=2)

    def means(video):  # any per-clip function of the video batch
        return video.mean((2, 3, 4))  # [B, T]

    cache = fill_cache(enc, _Clips(4), tmp_path / "c", shard_size=3, source="t", extras={"means": means})
    ds = CachedFeatures(cache)
    assert set(ds[3]) == {"spatial", "z", "means"}
    torch.testing.assert_close(ds[3]["means"], means(_video(b=1, seed=3))[0], atol=2e-3, rtol=2e-3)
    fill_cache(enc, _Clips(4), cache, shard_size=3, source="t")  # other extras: rebuilt without them
    assert set(CachedFeatures(cache)[0]) == {"spatial", "z"}


def test_delta_cache_holds_the_bottleneck_of_each_clip_and_follows_p(tmp_path):
    """δ = z − P(h) computed once per clip equals δ computed from the cached features; a new P rebuilds it."""
    from deltadiff.bottleneck.predictor import FramePredictor, PredictorConfig, bottleneck
    from deltadiff.encoders.cache import CachedFeatures, fill_cache
    from deltadiff.training.generator_recipe import cache_deltas, delta_scale

    enc = VideoPrismEncoder(model=_videoprism(), batch_size=2)

    features = CachedFeatures(fill_cache(enc, _Clips(5), tmp_path / "c", shard_size=2, source="t"))
    _, n, c = features.meta["spatial"]
    torch.manual_seed(0)
    p = FramePredictor(PredictorConfig(channels=c, tokens=n, width=16, depth=1, heads=2)).eval()
    with torch.no_grad():  # a P whose output is not zero (the zero-initialised head would make δ = z)
        for q in p.parameters():
            q.normal_(0, 0.2)
    deltas = cache_deltas(features, p, "delta")
    assert len(deltas) == 5 and set(deltas[4]) == {"delta"}
    with torch.no_grad():
        direct = bottleneck(features[4]["z"][None], features[4]["spatial"][None], p, "delta")[0]
    torch.testing.assert_close(deltas[4]["delta"], direct, atol=2e-3, rtol=2e-3)  # stored as float16
    assert delta_scale(deltas) == pytest.approx(1 / torch.stack([deltas[i]["delta"] for i in range(5)]).std().item())
    mtime = (deltas.directory / "meta.json").stat().st_mtime_ns
    assert cache_deltas(features, p, "delta").directory == deltas.directory  # same P: reused
    assert (deltas.directory / "meta.json").stat().st_mtime_ns == mtime
    with torch.no_grad():
        for q in p.parameters():  # another P: the stored δ no longer hold
            q.mul_(-1.0)
    rebuilt = cache_deltas(features, p, "delta")
    assert not torch.allclose(rebuilt[4]["delta"], direct, atol=1e-2)
    with torch.no_grad():
        again = bottleneck(features[4]["z"][None], features[4]["spatial"][None], p, "delta")[0]
    torch.testing.assert_close(rebuilt[4]["delta"], again, atol=2e-3, rtol=2e-3)
    none = cache_deltas(features, None, "none")  # the `none` ablation: δ = z
    torch.testing.assert_close(none[1]["delta"], features[1]["z"], atol=2e-3, rtol=2e-3)
    with pytest.raises(ConfigError, match="not latents"):
        CachedFeatures(features.directory, fields=["latents"])


def test_precision_names_environment_and_bf16_path(monkeypatch):
    """"auto" follows DELTADIFF_PRECISION, else bf16 only on a CPU with native bf16; the bf16 path runs under autocast
    (features differ from fp32 by bf16 rounding, not more) and hands back float32."""
    from deltadiff.encoders import resolve_precision
    from deltadiff.encoders.base import native_bf16_cpu

    assert resolve_precision("cpu", "fp32") == "fp32" and resolve_precision("cuda", "bf16") == "bf16"
    with pytest.raises(ConfigError, match="unknown precision"):
        resolve_precision("cpu", "fp8")
    with pytest.raises(ConfigError, match="unknown precision"):
        VideoPrismEncoder(model=_videoprism(), precision="half")
    monkeypatch.delenv("DELTADIFF_PRECISION")
    assert resolve_precision("cpu") == ("bf16" if native_bf16_cpu() else "fp32")
    assert resolve_precision("cuda") == "fp32"  # GPUs: move the model to bf16 instead
    monkeypatch.setenv("DELTADIFF_PRECISION", "bf16")
    assert resolve_precision("cpu") == "bf16" and resolve_precision("cpu", "fp32") == "fp32"  # a name beats the env
    monkeypatch.setenv("DELTADIFF_PRECISION", "double")
    with pytest.raises(ConfigError, match="DELTADIFF_PRECISION"):
        resolve_precision("cpu")

    torch.manual_seed(0)
    model = _videoprism()
    video = _video()
    full = VideoPrismEncoder(model=model, precision="fp32").encode(video)
    half = VideoPrismEncoder(model=model, precision="bf16").encode(video)
    assert half.z.dtype == torch.float32 and half.z.shape == full.z.shape
    err = ((half.z - full.z).norm() / full.z.norm()).item()
    assert 0 < err < 0.05, err  # autocast took effect, and only as rounding


def test_action_encoder_runs_p_in_its_precision(tmp_path):
    """`ActionEncoder.from_pretrained(..., precision=)` reaches both the encoder and P; fp32 is exact against the parts."""
    from deltadiff.bottleneck import ActionEncoder
    from deltadiff.bottleneck.predictor import FramePredictor, PredictorConfig

    torch.manual_seed(0)
    model = _videoprism()
    model.save_pretrained(tmp_path / "fm")
    p = FramePredictor(PredictorConfig(channels=32, tokens=16, width=16, depth=1, heads=2))
    with torch.no_grad():
        for q in p.parameters():
            q.normal_(0, 0.2)
    ActionEncoder(load_encoder("videoprism", tmp_path / "fm"), p).save_pretrained(tmp_path / "ae", tmp_path / "fm")
    video = _video()
    exact = ActionEncoder.from_pretrained(tmp_path / "ae", precision="fp32")
    rounded = ActionEncoder.from_pretrained(tmp_path / "ae", precision="bf16")
    assert exact.precision == "fp32" and rounded.precision == "bf16"
    f = exact.encoder.encode(video)
    with torch.no_grad():
        torch.testing.assert_close(exact.encode(video), f.z - exact.predictor(f.spatial))
    d32, d16 = exact.encode(video), rounded.encode(video)
    assert 0 < ((d16 - d32).norm() / d32.norm()).item() < 0.1


def test_feature_cache_records_precision_and_rebuilds_for_another(tmp_path):
    from deltadiff.encoders.cache import CachedFeatures, fill_cache

    model = _videoprism()
    cache = fill_cache(VideoPrismEncoder(model=model, precision="fp32"), _Clips(3), tmp_path / "c", shard_size=3, source="t")
    full = CachedFeatures(cache)
    assert full.meta["precision"] == "fp32"
    z32 = full[2]["z"]
    fill_cache(VideoPrismEncoder(model=model, precision="bf16"), _Clips(3), cache, shard_size=3, source="t")
    rounded = CachedFeatures(cache)
    assert rounded.meta["precision"] == "bf16"
    assert not torch.equal(rounded[2]["z"], z32)  # re-encoded in bf16, not the fp32 shards reused
    torch.testing.assert_close(rounded[2]["z"], z32, atol=0.1, rtol=0.1)
