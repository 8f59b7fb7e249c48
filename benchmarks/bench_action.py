"""Benchmark: extract action latents δ for one 16-frame 64×64 clip with the CPU default (tiny VideoPrism + P).

Usage: python benchmarks/bench_action.py --action-encoder runs/action [--repeats 50] [--threads 2]
Prints median/best wall time of ActionEncoder.encode on a [1, 16, 3, 64, 64] clip (decoding excluded).
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--action-encoder", required=True)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    ae = ActionEncoder.from_pretrained(args.action_encoder)
    clip = frames_to_tensor(World().clip(0).frames)[None].repeat(args.batch, 1, 1, 1, 1)  # [B, 16, 3, 64, 64]
    for _ in range(5):
        delta = ae.encode(clip)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        ae.encode(clip)
        times.append(time.perf_counter() - t0)
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}, {args.threads} threads")
    print(f"δ {tuple(delta.shape)} for {args.batch} clip(s) of 16×64×64: median {statistics.median(times) * 1e3:.1f} ms, "
          f"best {min(times) * 1e3:.1f} ms ({args.repeats} runs)")


if __name__ == "__main__":
    main()
