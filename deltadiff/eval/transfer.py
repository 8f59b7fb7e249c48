"""The transfer measurement (generator issue §7) on held-out transfer triples of the demonstration world.

For each triple (demo: scene A doing program P; context: frame 0 of scene B; target: scene B doing P) and its
mismatched demo (scene A doing a program of another class), each method generates a video from the context and:
- trajectory_error: mean pixel distance between the actor's marker in the output and in the target (frames 1…);
- direction_accuracy: share of triples whose output moves the marker the way the target does;
- leakage: share of output pixels in the demo scene's colours and not the context scene's;
- psnr: PSNR to the target (frames 1…);
- delta_psnr: PSNR with the true demo minus PSNR with the mismatched demo (Genie's ΔPSNR controllability, over
  the clip; `delta_psnr_t4` at frame 4).
Methods: `deltadiff` (the model with guidance on δ), `null_action` (the same model with δ dropped: guidance scale 0
on δ, the context-only path) and, when given, `none_bottleneck` (a generator trained on δ = z).
The metric functions are in world_metrics.py; this module only runs the methods and averages.
"""

from __future__ import annotations

import math

import numpy as np

from deltadiff.data.world import World, WorldConfig
from deltadiff.eval.world_metrics import (
    leakage,
    locate_actor,
    path_direction_correct,
    path_error,
    psnr,
)

METRICS = ("trajectory_error", "direction_accuracy", "leakage", "delta_psnr", "delta_psnr_t4", "psnr", "actor_found")
# also reported per action class: the mean ΔPSNR is a mean of per-triple log ratios, and a few classes carry much of
# it (a `still` demo's output stays near the context: tens of dB), so it is read beside its classes and its median
PER_CLASS = ("trajectory_error", "direction_accuracy", "leakage", "delta_psnr", "psnr")


def _psnr_frame(a: np.ndarray, b: np.ndarray, t: int) -> float:
    mse = float(np.mean((a[t].astype(np.float64) - b[t].astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def psnr_cap(frames: np.ndarray) -> float:
    """The largest finite PSNR uint8 frames of this size can have (one pixel one level off): 10·log10(255²·N).
    Per-triple PSNRs are capped there, so an exact reproduction (PSNR = ∞, e.g. `static` on a `still` target) counts
    as the best possible score in the means instead of being dropped from them, and ΔPSNR of two exact ones is 0."""
    return 10 * math.log10(255.0**2 * np.asarray(frames).size)


def score(generated: np.ndarray, mismatched: np.ndarray, demo: np.ndarray, target_frames: np.ndarray,
          target_marker: np.ndarray) -> dict:
    """All metrics of one triple for one method (videos uint8 [T, H, W, 3], frame 0 = context)."""
    pos, found = locate_actor(generated)  # once per video: both path metrics read it
    err, found_share = path_error(pos, found, target_marker)
    t4 = min(4, len(generated) - 1)
    cap, cap1 = psnr_cap(target_frames[1:]), psnr_cap(target_frames[t4])
    p = min(psnr(generated, target_frames), cap)
    return {
        "trajectory_error": err,
        "direction_accuracy": float(path_direction_correct(pos, target_marker)),
        "leakage": leakage(generated, demo, target_frames),
        "psnr": p,
        "delta_psnr": p - min(psnr(mismatched, target_frames), cap),
        "delta_psnr_t4": (min(_psnr_frame(generated, target_frames, t4), cap1)
                          - min(_psnr_frame(mismatched, target_frames, t4), cap1)),
        "actor_found": found_share,
    }


def evaluate_transfer(pipe, n_triples: int = 200, *, none_pipe=None, batch_size: int = 8, steps: int | None = None,
                      sampler: str | None = None, guidance: float | None = None, noise_scale: float | None = None,
                      seed: int = 0) -> dict:
    """Run every method on the first `n_triples` held-out mismatched pairs; return means, 95% CIs and per-class means.

    The loop is the benchmark harness's (benchmark.collect) with only the model's methods and the world metrics."""
    from deltadiff.eval.baselines import model_methods
    from deltadiff.eval.benchmark import collect, summarise

    cfg = pipe.config
    world = World(WorldConfig(height=cfg.size, width=cfg.size, frames=cfg.frames, fps=cfg.fps))
    kw = {"steps": steps, "sampler": sampler, "guidance": guidance, "noise_scale": noise_scale}
    methods = model_methods(pipe, none_generator=none_pipe, **kw)
    got = collect(methods, world, n_triples, batch_size=batch_size, seed=seed)
    return transfer_view(summarise(got["rows"], got["classes"], METRICS), n_triples)


TRANSFER_METHODS = ("deltadiff", "null_action", "none_bottleneck")


def transfer_view(summary: dict, n_triples: int) -> dict:
    """The transfer report's shape (means, 95% CIs, medians, per-class means) from a benchmark summary: the model's
    methods and the world metrics only. `eval transfer` and `eval benchmark --transfer-json` both write this."""
    rows = {m: r for m, r in summary["methods"].items() if m in TRANSFER_METHODS}
    view = {"n_triples": n_triples}
    for part in ("mean", "ci95", "median"):
        view["methods" if part == "mean" else part] = {m: {k: r[k][part] for k in METRICS if k in r and part in r[k]}
                                                       for m, r in rows.items()}
    view["per_class"] = {m: {c: {k: v for k, v in r.items() if k in PER_CLASS} for c, r in pc.items()}
                         for m, pc in summary["per_class"].items() if m in rows}
    return view


def report_markdown(result: dict) -> str:
    """The methods × metrics table (mean ± 95% CI, then the median), and ΔPSNR / trajectory error per action class."""
    heads = ["trajectory_error", "direction_accuracy", "leakage", "delta_psnr", "delta_psnr_t4", "psnr", "actor_found"]
    lines = ["| method | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
    for name, m in result["methods"].items():
        ci, med = result["ci95"][name], result.get("median", {}).get(name, {})
        lines.append(f"| {name} | " + " | ".join(f"{m[k]:.3f} ± {ci[k]:.3f}" for k in heads) + " |")
        if med:
            lines.append(f"| {name} (median) | " + " | ".join(f"{med[k]:.3f}" if k in med else "—" for k in heads) + " |")
    pc = result.get("per_class", {})
    classes = sorted(next(iter(pc.values()), {}))
    for k in ("delta_psnr", "trajectory_error"):
        if not any(k in r for m in pc.values() for r in m.values()):
            continue
        lines += ["", f"{k} per action class:", "", "| method | " + " | ".join(classes) + " |",
                  "|---" * (len(classes) + 1) + "|"]
        lines += [f"| {name} | " + " | ".join(f"{m[c][k]:.2f}" if k in m.get(c, {}) else "—" for c in classes) + " |"
                  for name, m in pc.items()]
    return "\n".join(lines) + "\n"
