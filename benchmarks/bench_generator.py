"""Benchmark: the generator on CPU — parameters, training step time and sampling time.

Usage: python benchmarks/bench_generator.py [--preset cpu] [--conds xattn adanorm] [--batch 8] [--repeats 3]
                                            [--no-bf16] [--no-sampling] [--set attention=full xattn_window=None ...]
For each cond mode prints: parameters; forward+backward+AdamW step time at the batch size (fp32, and bf16 autocast
unless --no-bf16); sampling time for one video (context + `frames` future frames) with 8/16 Euler and Heun steps,
no guidance (one network pass per evaluation) and with guidance on δ (two passes, batched).
Training times are the best of `repeats` after one warm-up (the machine is shared, so the best is the least disturbed);
sampling runs once each.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from deltadiff.diffusion import FlowMatchingLoss, sample
from deltadiff.generator import SpaceTimeDiT, preset
from deltadiff.generator.config import parse_overrides


def cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(line for line in f if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return platform.processor() or "unknown"
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
    return " ".join(w for w in wanted if w in flags) or "no avx2"


def best_time(fn, repeats: int, warmup: bool = True) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of the fastest of `repeats` runs after a warm-up. On a shared machine the
    CPU seconds say how much of the wall time this process actually ran (with one thread: wall ≈ CPU when idle)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - t0, time.process_time() - c0))
    return min(times)


def bench(cfg, batch: int, repeats: int, bf16: bool, sampling: bool) -> None:
    torch.manual_seed(0)
    model = SpaceTimeDiT(cfg)
    s, c = cfg.latent_size, cfg.latent_channels
    data = {"latents": torch.randn(batch, cfg.frames, c, s, s), "context": torch.randn(batch, c, s, s),
            "delta": torch.randn(batch, cfg.delta_frames, cfg.delta_tokens, cfg.delta_dim)}
    loss_fn = FlowMatchingLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    tokens = cfg.video_frames * cfg.grid**2
    print(f"[{cfg.cond}, {cfg.attention}, window {cfg.xattn_window}] {model.num_params / 1e6:.2f} M parameters, "
          f"{tokens} tokens per video", flush=True)

    def step(autocast: bool) -> None:
        with torch.autocast("cpu", torch.bfloat16, enabled=autocast):
            loss = loss_fn(model, data)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    model.train()
    t32, c32 = best_time(lambda: step(False), repeats)
    print(f"  train step, batch {batch}: fp32 {t32:.3f} s wall, {c32:.3f} s CPU  "
          f"({2500 * t32 / 60:.1f} min per 2500 steps at this wall time)", flush=True)
    if bf16:
        t16, c16 = best_time(lambda: step(True), max(1, repeats // 2))
        print(f"  train step, batch {batch}: bf16 autocast {t16:.3f} s wall, {c16:.3f} s CPU", flush=True)
    if not sampling:
        return
    model.eval()
    ctx, dl = data["context"][:1], data["delta"][:1]
    for solver in ("euler", "heun"):
        for steps in (8, 16):
            for scale in (1.0, 3.0):
                dt, ct = best_time(lambda n=steps, f=solver, s=scale: sample(model, ctx, dl, seeds=[0], steps=n, solver=f, scale_delta=s),
                                    1, warmup=False)  # the network is warm from the training steps
                nfe = steps if solver == "euler" else 2 * steps - 1
                what = "no guidance" if scale == 1.0 else f"guidance s_δ={scale:g} (2 passes)"
                print(f"  sample 1 video, {solver:5s} {steps:2d} steps ({nfe:2d} evaluations), {what}: {dt:.2f} s wall, {ct:.2f} s CPU", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--conds", nargs="+", default=["xattn", "adanorm"])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-bf16", action="store_true")
    ap.add_argument("--no-sampling", action="store_true")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides (JSON values)")
    args = ap.parse_args()
    torch.set_flush_denormal(True)  # denormals in AdamW/backward made CPU training 5–7× slower (EVALUATION.md)
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = parse_overrides(args.set)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    flags = cpu_flags()
    print(f"machine: {os.cpu_count()} cores ({flags}), torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {load:.1f} at start")
    if not args.no_bf16 and "avx512_bf16" not in flags and "amx_bf16" not in flags:
        print("note: this CPU has no bf16 instructions; bf16 autocast is emulated here and much slower than fp32")
    for cond in args.conds:
        bench(preset(args.preset, cond=cond, **overrides), args.batch, args.repeats, not args.no_bf16, not args.no_sampling)
    print(f"load average {os.getloadavg()[0]:.1f} at end" if hasattr(os, "getloadavg") else "")


if __name__ == "__main__":
    main()
