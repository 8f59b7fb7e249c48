"""Diagnostics of action latents on the demonstration world's held-out split (issue: action latents, §4).

For each bottleneck variant, on latents pooled over tokens (mean over N, time kept: `[B, T'·C]`):
- action probe: a linear classifier → action-class accuracy (higher is better);
- leakage probes: linear classifiers → background family, actor colour bin, actor shape (lower is better; chance =
  the majority-class rate of the test set);
- transfer consistency: cosine similarity of pooled latents between a demo and its ground-truth target (same action,
  other scene) versus between the demo and the same scene doing another action.
Ground-truth labels are used here only to *measure*; nothing upstream is trained on them.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from deltadiff.data.world import World, WorldConfig, seed_for
from deltadiff.io.tensor import frames_to_tensor
from deltadiff.progress import Progress

LEAKAGE = {"background": lambda t: t["background"]["family"], "colour": lambda t: t["actor"]["colour_bin"],
           "shape": lambda t: t["actor"]["shape"]}


def pool(latents: torch.Tensor) -> torch.Tensor:
    """[B, T, N, C] → [B, T·C]: mean over tokens, time order kept (an action is a change over time)."""
    return latents.mean(2).flatten(1)


def linear_probe(x_train: torch.Tensor, y_train: np.ndarray, x_test: torch.Tensor, y_test: np.ndarray,
                 l2_grid=(1e-4, 1e-3, 1e-2, 1e-1), seed: int = 0) -> dict:
    """Multinomial logistic regression on standardised features; L2 picked on a 20% split of the training set."""
    classes = sorted(set(y_train) | set(y_test))
    index = {c: i for i, c in enumerate(classes)}
    ytr = torch.tensor([index[c] for c in y_train])
    yte = torch.tensor([index[c] for c in y_test])
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    xtr, xte = (x_train - mu) / sd, (x_test - mu) / sd
    perm = torch.randperm(len(xtr), generator=torch.Generator().manual_seed(seed))
    cut = len(xtr) // 5
    val, fit = perm[:cut], perm[cut:]

    def fit_eval(x, y, l2, xe, ye):
        w = torch.zeros(x.shape[1], len(classes), requires_grad=True)
        b = torch.zeros(len(classes), requires_grad=True)
        opt = torch.optim.LBFGS([w, b], lr=1, max_iter=200, history_size=20, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(x @ w + b, y) + l2 * (w**2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            return ((xe @ w + b).argmax(1) == ye).float().mean().item()

    best = max(l2_grid, key=lambda l2: fit_eval(xtr[fit], ytr[fit], l2, xtr[val], ytr[val]))
    acc = fit_eval(xtr, ytr, best, xte, yte)
    counts = np.unique(np.asarray(y_test), return_counts=True)[1]
    return {"accuracy": acc, "chance": float(counts.max() / counts.sum()), "l2": best, "classes": len(classes)}


@torch.no_grad()
def run_probes(action_encoder, variants=("delta", "none", "temporal_norm"), n_clips: int = 1000, n_pairs: int = 200,
               world_config: WorldConfig | None = None, batch_size: int = 32, train_fraction: float = 0.7) -> dict:
    """Encode held-out world clips once, then probe every variant on the same features. Returns the report dict."""
    from deltadiff.bottleneck import bottleneck

    world = World(world_config or WorldConfig(frames=action_encoder.meta.get("frames", 16),
                                              height=action_encoder.meta.get("size", 64), width=action_encoder.meta.get("size", 64)))
    enc, pred = action_encoder.encoder, action_encoder.predictor

    def latents(videos: list[np.ndarray]) -> dict[str, torch.Tensor]:
        f = enc.encode(torch.stack([frames_to_tensor(v) for v in videos]))
        return {v: pool(bottleneck(f.z, f.spatial, pred, v, action_encoder.precision)) for v in variants}

    truths, feats = [], {v: [] for v in variants}
    with Progress("probe clips", total=n_clips) as bar:
        for s in range(0, n_clips, batch_size):
            clips = [world.clip(seed_for("test", i)) for i in range(s, min(n_clips, s + batch_size))]
            for v, x in latents([c.frames for c in clips]).items():
                feats[v].append(x)
            truths += [c.truth.to_json() for c in clips]
            bar.update(len(clips))
    feats = {v: torch.cat(x) for v, x in feats.items()}
    n_train = int(train_fraction * n_clips)
    labels = {"action": [t["action"]["class"] for t in truths], **{k: [f(t) for t in truths] for k, f in LEAKAGE.items()}}

    sims = {v: {"same_action_other_scene": [], "other_action_same_scene": []} for v in variants}
    with Progress("probe pairs", total=n_pairs) as bar:
        for s in range(0, n_pairs, batch_size):
            pairs = [world.mismatched(seed_for("test", n_clips + i)) for i in range(s, min(n_pairs, s + batch_size))]
            demo = latents([p.triple.demo.frames for p in pairs])
            target = latents([p.target.frames for p in pairs])
            other = latents([p.mismatched.frames for p in pairs])
            for v in variants:
                sims[v]["same_action_other_scene"].append(F.cosine_similarity(demo[v], target[v], dim=1))
                sims[v]["other_action_same_scene"].append(F.cosine_similarity(demo[v], other[v], dim=1))
            bar.update(len(pairs))

    report = {"variants": {}, "n_clips": n_clips, "n_train": n_train, "n_test": n_clips - n_train, "n_pairs": n_pairs,
              "precision": enc.resolved_precision}  # what the encoder and P ran in
    for v in variants:
        x = feats[v]
        probe = lambda name: linear_probe(x[:n_train], np.array(labels[name][:n_train]), x[n_train:], np.array(labels[name][n_train:]))  # noqa: E731
        action = probe("action")
        report["variants"][v] = {
            "action_accuracy": action["accuracy"], "action_chance": action["chance"],
            "leakage": {k: {kk: r[kk] for kk in ("accuracy", "chance")} for k, r in ((k, probe(k)) for k in LEAKAGE)},
            "similarity": {k: torch.cat(s).mean().item() for k, s in sims[v].items()},
        }
    return report


def report_markdown(report: dict) -> str:
    """The probe report as a markdown table (what docs/results.md shows)."""
    lines = [
        f"Held-out world clips: {report['n_clips']} ({report['n_train']} fit the probes, {report['n_test']} test); "
        f"{report['n_pairs']} transfer triples for the similarities.",
        "",
        "| variant | action acc. ↑ (chance) | background ↓ (chance) | colour ↓ (chance) | shape ↓ (chance) "
        "| sim. same action, other scene ↑ | sim. other action, same scene ↓ |",
        "|---|---|---|---|---|---|---|",
    ]
    pct = lambda r, a, c: f"{100 * r[a]:.1f}% ({100 * r[c]:.1f}%)"  # noqa: E731
    for v, r in report["variants"].items():
        leak = r["leakage"]
        lines.append(
            f"| `{v}` | {pct(r, 'action_accuracy', 'action_chance')} | "
            + " | ".join(pct(leak[k], "accuracy", "chance") for k in ("background", "colour", "shape"))
            + f" | {r['similarity']['same_action_other_scene']:.3f} | {r['similarity']['other_action_same_scene']:.3f} |"
        )
    if "z_action_accuracy" in report.get("random_init", {}):
        ri = report["random_init"]
        lines += ["", f"Same encoder architecture at random initialisation, z (`none`): action accuracy "
                      f"{100 * ri['z_action_accuracy']:.1f}% (chance {100 * ri['action_chance']:.1f}%)."]
    return "\n".join(lines) + "\n"
