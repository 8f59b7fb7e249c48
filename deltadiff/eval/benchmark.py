"""The benchmark harness (evaluation issue §2–3): every method on the same held-out transfer triples, every metric.

Data: the first `n` held-out mismatched pairs of the demonstration world (`World.mismatched(seed_for("test", i))`):
a demo (scene A doing program P), a context (frame 0 of scene B), the ground-truth target (scene B doing P) and a
mismatched demo (scene A doing another action class, for ΔPSNR). Methods are `baselines.Method`s.

Metrics, per method:
- per triple (mean and 95% CI over triples, normal approximation): the world metrics of transfer.py
  (trajectory error, direction accuracy, leakage, PSNR, ΔPSNR over the clip and at t = 4, actor found), SSIM to the
  target, and ECS (cosine of I3D features) to the target;
- per set: FVD (I3D, 16-frame clips, against the targets) and FID (Inception pool3, against the targets' frames, on
  the frames `fid_frames`), with a 95% bootstrap interval over triples (percentile half-width). Both are biased at
  small n: compare methods at the same n only.
The report: report.json, report.md (methods × metrics, then every metric where deltadiff is not the best, stated),
plots/metrics.png (bars with CIs), plots/per_class.png (path metrics, leakage, PSNR and ΔPSNR per action class),
samples/triple_XXX.png (demo | context | each method | ground truth, one row each) and samples/triple_000.mp4.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from deltadiff.data.world import World, seed_for
from deltadiff.eval.transfer import PER_CLASS, score
from deltadiff.progress import Progress

# name → (better, unit, what); the report's column order
METRICS = {
    "trajectory_error": ("↓", "px", "actor path vs the target's"),
    "direction_accuracy": ("↑", "", "moves the way the target does"),
    "leakage": ("↓", "", "share of pixels in the demo scene's colours"),
    "delta_psnr": ("↑", "dB", "PSNR with the true demo − with a demo of another action"),
    "delta_psnr_t4": ("↑", "dB", "ΔPSNR at frame 4"),
    "psnr": ("↑", "dB", "to the target, frames 1…"),
    "ssim": ("↑", "", "to the target"),
    "ecs": ("↑", "", "I3D cosine to the target"),
    "fvd": ("↓", "", "I3D Fréchet distance to the targets"),
    "fid": ("↓", "", "Inception Fréchet distance to the targets' frames"),
    "actor_found": ("↑", "", "share of frames where the actor's marker is found"),
}


def _ci(v: np.ndarray) -> float:
    return float(1.96 * v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan")


def collect(methods: dict, world: World, n: int, *, batch_size: int = 8, seed: int = 0, keep_videos: int = 0,
            samples: int = 0, progress: bool = True) -> dict:
    """Run every method on the first `n` held-out mismatched pairs and score each triple.

    Returns {"rows": {method: [per-triple dict]}, "classes": [...], "videos": {method: [uint8 videos]} and
    "references" for the first `keep_videos` triples (what FVD/FID read), "samples": [{label: video}] for the first `samples` triples, "seconds": {method}}.
    """
    from deltadiff.eval.metrics import ssim_per_pair

    rows = {m: [] for m in methods}
    videos = {m: [] for m in methods}
    seconds = dict.fromkeys(methods, 0.0)
    classes, references, shown = [], [], []
    with Progress("benchmark triples", total=n * len(methods), enabled=progress) as bar:
        for s in range(0, n, batch_size):
            pairs = [world.mismatched(seed_for("test", i)) for i in range(s, min(n, s + batch_size))]
            demos = np.stack([p.triple.demo.frames for p in pairs])
            mis = np.stack([p.mismatched.frames for p in pairs])
            ctx = np.stack([p.context for p in pairs])
            targets = np.stack([p.target.frames for p in pairs])
            seeds = [seed + i for i in range(s, s + len(pairs))]
            outputs = {}
            for name, method in methods.items():
                t0 = time.perf_counter()
                gen = method(demos, ctx, seeds)
                gen_mis = method(mis, ctx, seeds) if method.uses_demo else gen  # ΔPSNR's other-action run
                seconds[name] += time.perf_counter() - t0
                ssims = ssim_per_pair(list(gen), list(targets)).tolist()
                for p, g, gm, ss in zip(pairs, gen, gen_mis, ssims):
                    rows[name].append({**score(g, gm, p.triple.demo.frames, p.target.frames, p.target.truth.marker_px),
                                       "ssim": float(ss)})
                videos[name] += list(gen[: max(0, keep_videos - s)])
                outputs[name] = gen
                bar.update(len(pairs))
            references += list(targets[: max(0, keep_videos - s)])
            classes += [p.triple.target.truth.action for p in pairs]
            for j in range(min(len(pairs), samples - len(shown))):
                shown.append({"demo": demos[j], "context": ctx[j], **{m: o[j] for m, o in outputs.items()},
                              "ground truth": targets[j], "_class": classes[s + j]})
    return {"rows": rows, "classes": classes, "videos": videos, "references": references, "samples": shown,
            "seconds": seconds}


def summarise(rows: dict, classes: list[str], metrics=None) -> dict:
    """Mean, 95% CI and median of each per-triple metric (non-finite values left out and counted), and per-class
    means."""
    out = {"methods": {}, "per_class": {}, "dropped": {}}
    for name, rs in rows.items():
        keys = [k for k in (metrics or METRICS) if rs and k in rs[0]]
        out["methods"][name], out["per_class"][name] = {}, {}
        for k in keys:
            v = np.array([r[k] for r in rs], dtype=np.float64)
            ok = v[np.isfinite(v)]
            if len(ok) < len(v):
                out["dropped"].setdefault(name, {})[k] = int(len(v) - len(ok))
            out["methods"][name][k] = {"mean": float(ok.mean()) if len(ok) else float("nan"), "ci95": _ci(ok),
                                       "median": float(np.median(ok)) if len(ok) else float("nan")}
        for c in sorted(set(classes)):
            idx = [i for i, cc in enumerate(classes) if cc == c]
            out["per_class"][name][c] = {k: float(np.nanmean([rs[i][k] for i in idx])) for k in PER_CLASS if k in keys}
    return out


def _bootstrap(fn, n: int, rounds: int, seed: int) -> float:
    """Half-width of the 95% percentile interval of fn(indices) over `rounds` resamples of range(n)."""
    rng = np.random.default_rng(seed)
    vals = [fn(rng.integers(0, n, n)) for _ in range(rounds)]
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float((hi - lo) / 2)


def set_metrics(videos: dict, references: list, *, fvd: bool = True, fid: bool = True, fid_frames=(4, 8, 15),
                fvd_n: int | None = None, fid_n: int | None = None, bootstrap: int = 50, seed: int = 0,
                device: str | None = None, progress: bool = True) -> dict:
    """FVD, ECS (per pair) and FID of each method's videos against the references, with bootstrap CIs. FVD and ECS
    use the first `fvd_n` triples and FID the first `fid_n` (all by default): I3D at 224×224 and Inception at 299×299
    are the costliest part of the benchmark on a CPU."""
    from deltadiff.eval import metrics as M

    out = {name: {} for name in videos}
    if not (fvd or fid) or not references:
        return out
    n = len(references)
    if fvd:
        m = min(n, fvd_n or n)
        ref = M.i3d_step_features(references[:m], device=device, progress=progress)
        ref_mean = torch.stack([f.mean(0) for f in ref])
        for name, vids in videos.items():
            feats = M.i3d_step_features(vids[:m], device=device, progress=progress)
            mean = torch.stack([f.mean(0) for f in feats])
            out[name]["fvd"] = {"mean": M.fvd_from_features(mean, ref_mean),
                                "ci95": _bootstrap(lambda i, f=mean: M.fvd_from_features(f[i], ref_mean[i]), m, bootstrap, seed)}
            e = M.ecs_from_features(feats, ref).numpy()
            out[name]["ecs"] = {"mean": float(e.mean()), "ci95": _ci(e)}
    if fid:
        t = len(references[0])
        frames = [f for f in fid_frames if 0 < f < t] or [t - 1]
        k = len(frames)

        def feats_of(vids):
            imgs = np.stack([v[f] for v in vids for f in frames])  # [n·k, H, W, 3], triple-major
            x = torch.from_numpy(imgs).permute(0, 3, 1, 2)  # uint8 [N, 3, H, W]
            return M.inception_features(x, device=device, progress=progress).double()

        nf = min(n, fid_n or n)
        ref_f = feats_of(references[:nf])
        for name, vids in videos.items():
            f = feats_of(vids[:nf])

            def fid_of(idx, f=f):
                sel = torch.from_numpy((idx[:, None] * k + np.arange(k)).ravel())
                return M.frechet_distance_features(f[sel], ref_f[sel])

            out[name]["fid"] = {"mean": M.frechet_distance_features(f, ref_f),
                                "ci95": _bootstrap(fid_of, nf, bootstrap, seed)}
    return out


def run_benchmark(methods: dict, world: World, n: int = 200, *, batch_size: int = 8, seed: int = 0, fvd: bool = True,
                  fid: bool = True, fid_frames=(4, 8, 15), fvd_n: int | None = None, fid_n: int | None = None,
                  samples: int = 4, bootstrap: int = 50, device: str | None = None, progress: bool = True) -> tuple[dict, list]:
    """Everything the report needs: (result dict, sample rows for the grids)."""
    t0 = time.perf_counter()
    n_fvd, n_fid = min(n, fvd_n or n) if fvd else 0, min(n, fid_n or n) if fid else 0
    got = collect(methods, world, n, batch_size=batch_size, seed=seed, keep_videos=max(n_fvd, n_fid), samples=samples,
                  progress=progress)  # only the videos FVD/FID read are kept
    t_gen = time.perf_counter() - t0
    result = summarise(got["rows"], got["classes"])
    sets = set_metrics(got["videos"], got["references"], fvd=fvd, fid=fid, fid_frames=fid_frames, fvd_n=fvd_n,
                       fid_n=fid_n, bootstrap=bootstrap, seed=seed, device=device, progress=progress)
    for name, m in sets.items():
        result["methods"][name].update(m)
    order = [k for k in METRICS if any(k in m for m in result["methods"].values())]
    result["methods"] = {name: {k: m[k] for k in order if k in m} for name, m in result["methods"].items()}
    counts = {c: got["classes"].count(c) for c in sorted(set(got["classes"]))}
    result.update({
        "n_triples": n, "classes": counts, "about": {name: m.about for name, m in methods.items()},
        "seconds": {"total": round(time.perf_counter() - t0, 1), "methods_and_scoring": round(t_gen, 1),
                    "set_metrics": round(time.perf_counter() - t0 - t_gen, 1),
                    **{f"method:{k}": round(v, 1) for k, v in got["seconds"].items()}},
        "settings": {"fvd": fvd, "fvd_triples": n_fvd, "fid": fid, "fid_triples": n_fid,
                     "fid_frames": list(fid_frames), "bootstrap": bootstrap, "seed": seed},
    })  # fmt: skip
    return result, got["samples"]


# ---- the report ---------------------------------------------------------------------------------------------------


PERCENT = ("direction_accuracy", "actor_found", "leakage")


def _digits(k: str, table: bool = False) -> int:
    """Decimals for metric k (percentages in per cent): leakage is a small share, two decimals keep methods apart;
    the per-class and median tables (`table`) show other percentages whole."""
    if k in PERCENT:
        return 2 if k == "leakage" else (0 if table else 1)
    return 3 if k in ("ssim", "ecs") else 1 if k in ("fvd", "fid") else 2


def _value(k: str, v: float, table: bool = True) -> str:
    """One number of metric k without its interval (per-class and median tables)."""
    if not math.isfinite(v):
        return "n/a"
    d = _digits(k, table)
    if k in PERCENT:
        return f"{100 * v:.{d}f}%"
    return f"{v:+.{d}f}" if k.startswith("delta_psnr") else f"{v:.{d}f}"


def _fmt(k: str, m: dict | None) -> str:
    """Mean ± 95% CI of metric k (the main table)."""
    if m is None:
        return "—"
    if not math.isfinite(m["mean"]):
        return "n/a"
    d, scale = _digits(k), 100 if k in PERCENT else 1
    return f"{_value(k, m['mean'], table=False)} ± {scale * m['ci95']:.{d}f}"


def best_method(result: dict, k: str) -> str | None:
    vals = {name: m[k]["mean"] for name, m in result["methods"].items() if k in m and math.isfinite(m[k]["mean"])}
    if not vals:
        return None
    pick = min if METRICS[k][0] == "↓" else max
    return pick(vals, key=vals.get)


def not_won(result: dict, ours: str = "deltadiff") -> list[str]:
    """One sentence for each metric where `ours` is not strictly the best method (a tie is not a win)."""
    lines = []
    for k in METRICS:
        if ours not in result["methods"] or k not in result["methods"][ours]:
            continue
        best = best_method(result, k)
        mine = result["methods"][ours][k]
        if best != ours:
            lines.append(f"- **{k}** ({METRICS[k][0]}): {ours} {_fmt(k, mine)}, best is `{best}` with "
                         f"{_fmt(k, result['methods'][best][k])}.")
            continue
        tied = [name for name, m in result["methods"].items() if name != ours and k in m and m[k]["mean"] == mine["mean"]]
        if tied:
            lines.append(f"- **{k}** ({METRICS[k][0]}): {ours} {_fmt(k, mine)} ties with " + ", ".join(f"`{t}`" for t in tied) + ".")
    return lines


def _settings_line(result: dict) -> str:
    st = result.get("settings", {})
    parts = []
    if "sampler" in st:
        parts.append(f"model methods sampled with {st['sampler']}, {st['steps']} steps, guidance {st['guidance']} on δ"
                     + (f", noise scale {st['noise_scale']}" if st.get("noise_scale", 1.0) != 1.0 else ""))
    if st.get("fvd"):
        parts.append(f"FVD and ECS on the first {st['fvd_triples']} triples (16-frame clips)")
    if st.get("fid"):
        parts.append(f"FID on frame(s) {', '.join(map(str, st['fid_frames']))} of the first {st['fid_triples']} triples")
    if st.get("left_out"):
        parts.append("left out (no generator given): " + ", ".join(st["left_out"]))
    return ("Settings: " + "; ".join(parts) + ".") if parts else ""


def report_markdown(result: dict) -> str:
    methods = result["methods"]
    keys = [k for k in METRICS if any(k in m for m in methods.values())]
    lines = [
        f"# Benchmark: {result['n_triples']} held-out transfer triples of the demonstration world", "",
        f"Command: `{result.get('command', '?')}`", "",
        ("Mean ± 95% confidence interval (per-triple metrics: normal approximation over triples; FVD and FID: bootstrap "
         "over triples). Trajectory error in pixels at 64×64; leakage as a share of pixels. **Bold**: the best method."),
        "", _settings_line(result), "",
        "| method | " + " | ".join(f"{k} {METRICS[k][0]}" for k in keys) + " |",
        "|---" * (len(keys) + 1) + "|",
    ]
    best = {k: best_method(result, k) for k in keys}
    for name, m in methods.items():
        cells = [(f"**{_fmt(k, m.get(k))}**" if best[k] == name else _fmt(k, m.get(k))) for k in keys]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    lines += ["", "Methods:"] + [f"- `{n}`: {a}" for n, a in result.get("about", {}).items()]
    lines += ["", "Metrics:"] + [f"- `{k}` {METRICS[k][0]} {METRICS[k][2]}" for k in keys]
    misses = not_won(result)
    lines += ["", "## Where deltadiff does not win", ""]
    lines += misses or ["deltadiff is the best method on every metric."]
    if result.get("dropped"):
        lines += ["", "Non-finite per-triple values left out of the means: " + json.dumps(result["dropped"])]
    classes = sorted(next(iter(result["per_class"].values()), {}))
    for k in PER_CLASS:
        lines += ["", f"## {k} per action class", "", "| method | " + " | ".join(classes) + " |",
                  "|---" * (len(classes) + 1) + "|"]
        for name, pc in result["per_class"].items():
            lines.append(f"| `{name}` | " + " | ".join(_value(k, pc[c][k]) if k in pc.get(c, {}) else "—" for c in classes) + " |")
    medians = {name: {k: m[k]["median"] for k in keys if "median" in m.get(k, {})} for name, m in methods.items()}
    mkeys = [k for k in keys if any(k in m for m in medians.values())]
    if mkeys:  # older reports have no medians
        lines += ["", "## Medians over triples", "", "A few triples can move a mean a long way (ΔPSNR of a `still` demo "
                  "whose output keeps the context: tens of dB); the median is the typical triple.", "",
                  "| method | " + " | ".join(mkeys) + " |", "|---" * (len(mkeys) + 1) + "|"]
        for name, m in medians.items():
            lines.append(f"| `{name}` | " + " | ".join(_value(k, m[k]) if k in m else "—" for k in mkeys) + " |")
    s = result["seconds"]
    lines += ["", f"Triples per class: {json.dumps(result['classes'])}.",
              (f"Time: {s['total']:.0f} s in all ({s['methods_and_scoring']:.0f} s running and scoring the methods, "
               f"{s['set_metrics']:.0f} s FVD/ECS/FID features).")]
    return "\n".join(lines) + "\n"


def write_plots(result: dict, folder: Path) -> list[Path]:
    """plots/metrics.png (one bar chart per metric, CI whiskers) and plots/per_class.png (class × method heatmaps)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        from deltadiff.errors import ConfigError
        from deltadiff.eval.baselines import EVAL_EXTRA

        raise ConfigError(f"the benchmark's plots need matplotlib: {EVAL_EXTRA}") from e
    folder.mkdir(parents=True, exist_ok=True)
    methods = list(result["methods"])
    keys = [k for k in METRICS if any(k in m for m in result["methods"].values())]
    cols = 4
    rows = -(-len(keys) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    colours = plt.get_cmap("tab10")(np.arange(len(methods)) % 10)
    for ax, k in zip(axes.flat, keys):
        means = [result["methods"][m].get(k, {}).get("mean", np.nan) for m in methods]
        cis = [result["methods"][m].get(k, {}).get("ci95", np.nan) for m in methods]
        ax.bar(range(len(methods)), means, yerr=np.nan_to_num(cis), color=colours, capsize=3)
        ax.set_title(f"{k} {METRICS[k][0]}", fontsize=10)
        ax.set_xticks(range(len(methods)), methods, rotation=40, ha="right", fontsize=8)
        ax.axhline(0, color="black", linewidth=0.5)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.suptitle(f"{result['n_triples']} held-out transfer triples (mean, 95% CI)")
    fig.tight_layout()
    paths = [folder / "metrics.png"]
    fig.savefig(paths[0], dpi=110)
    plt.close(fig)

    classes = sorted(next(iter(result["per_class"].values()), {}))
    fig, axes = plt.subplots(1, len(PER_CLASS), figsize=(6 * len(PER_CLASS), 0.5 * len(methods) + 2.5), squeeze=False)
    for ax, k in zip(axes.flat, PER_CLASS):
        grid = np.array([[result["per_class"][m].get(c, {}).get(k, np.nan) for c in classes] for m in methods])
        im = ax.imshow(grid, aspect="auto", cmap="viridis_r" if METRICS[k][0] == "↓" else "viridis")
        ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(methods)), methods, fontsize=8)
        ax.set_title(f"{k} {METRICS[k][0]} per action class", fontsize=10)
        for (i, j), v in np.ndenumerate(grid):
            if np.isfinite(v):
                r, g, b_, _ = im.cmap(im.norm(v))  # dark text on light cells, light text on dark ones
                ink = "black" if 0.299 * r + 0.587 * g + 0.114 * b_ > 0.5 else "white"
                ax.text(j, i, f"{v:.1f}" if k in ("trajectory_error", "delta_psnr", "psnr") else f"{v:.2f}",
                        ha="center", va="center", fontsize=6, color=ink)
        fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    paths.append(folder / "per_class.png")
    fig.savefig(paths[1], dpi=110)
    plt.close(fig)
    return paths


def write_samples(samples: list[dict], folder: Path, fps: float = 8.0) -> list[Path]:
    """One PNG contact sheet per sample triple (a row per method) and the first triple as a side-by-side mp4."""
    from deltadiff.io import contact_sheet, video_grid, write_image, write_video

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, s in enumerate(samples):
        labels = [k for k in s if not k.startswith("_")]
        vids = [s[k] for k in labels]
        paths.append(write_image(folder / f"triple_{i:03d}.png",
                                 contact_sheet(vids, [f"{k} ({s['_class']})" if k == "demo" else k for k in labels])))
        if i == 0:
            paths.append(write_video(folder / "triple_000.mp4", video_grid(vids, labels), fps))
    return paths


def write_report(result: dict, samples: list[dict], out: Path, fps: float = 8.0) -> list[Path]:
    """Write report.json, report.md, plots/ and samples/ into `out` (each file written atomically)."""
    from deltadiff.io import atomic_path, write_json

    out.mkdir(parents=True, exist_ok=True)
    written = [write_json(out / "report.json", result)]
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(report_markdown(result))
    written.append(out / "report.md")
    written += write_plots(result, out / "plots")
    written += write_samples(samples, out / "samples", fps)
    return written
