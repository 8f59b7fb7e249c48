"""Benchmark: extract action latents δ for one 16-frame 64×64 clip with the CPU default (tiny VideoPrism + P).

Usage: python benchmarks/bench_action.py --action-encoder runs/action [--repeats 50] [--threads 2] [--precision auto]
       [--compare]
Prints median/best wall time of ActionEncoder.encode on a [1, 16, 3, 64, 64] clip (decoding excluded), the precision
it ran in ("auto": bf16 autocast on a CPU with native bf16, else fp32) and the load average (other jobs on the machine
slow it down). --compare also times transformers' own `gelu_python` MLPs (the path
before encoders.hf.fused_gelu), interleaved call by call with the default so both see the same load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from deltadiff.bottleneck import ActionEncoder
from deltadiff.data.world import World
from deltadiff.io.tensor import frames_to_tensor


def python_gelu(ae: ActionEncoder) -> ActionEncoder:
    """The same action encoder with the MLP activations transformers' config names (undoes fused_gelu)."""
    from transformers.activations import ACT2FN
    from transformers.models.videoprism.modeling_videoprism import VideoPrismMLP

    for m in ae.encoder.model.modules():
        if isinstance(m, VideoPrismMLP):
            m.activation_fn = ACT2FN[m.config.hidden_act]
    return ae


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--action-encoder", required=True)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    ap.add_argument("--compare", action="store_true", help="also time the gelu_python reference, interleaved")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    paths = {"default": ActionEncoder.from_pretrained(args.action_encoder, precision=args.precision)}
    if args.compare:
        paths["gelu_python"] = python_gelu(ActionEncoder.from_pretrained(args.action_encoder, precision=args.precision))
    clip = frames_to_tensor(World().clip(0).frames)[None].repeat(args.batch, 1, 1, 1, 1)  # [B, 16, 3, 64, 64]
    for ae in paths.values():  # warm-up
        for _ in range(5):
            ae.encode(clip)
    delta = paths["default"].encode(clip)
    if args.compare:
        diff = (paths["gelu_python"].encode(clip) - delta).abs().max().item()
    times = {name: [] for name in paths}
    for _ in range(args.repeats):
        for name, ae in paths.items():
            t0 = time.perf_counter()
            ae.encode(clip)
            times[name].append(time.perf_counter() - t0)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    precision = paths["default"].encoder.resolved_precision
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}, {args.threads} threads, precision {precision} "
          f"({args.precision}), load average {load}")
    for name, ts in times.items():
        print(f"δ {tuple(delta.shape)} for {args.batch} clip(s) of 16×64×64 ({name}): median "
              f"{statistics.median(ts) * 1e3:.1f} ms, best {min(ts) * 1e3:.1f} ms ({args.repeats} runs)")
    if args.compare:
        print(f"max |δ(default) − δ(gelu_python)| = {diff:.2e} (max |δ| = {delta.abs().max().item():.2f})")


if __name__ == "__main__":
    main()
