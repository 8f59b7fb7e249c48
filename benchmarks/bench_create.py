"""Sampling speed and peak memory of a model folder: one 16-frame 64×64 video from a held-out world triple.

    python benchmarks/bench_create.py [--model models/cpu-default] [--steps 16] [--sampler heun] [--repeats 5]

Prints the median wall time of `pipe.generate` for one video (demo encoding + sampling + decoding) with the model's
guidance, and the process's peak resident memory (ru_maxrss) after loading and sampling.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

import torch

from deltadiff.data.world import World, seed_for
from deltadiff.pipeline import DeltaDiffusionPipeline


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=Path(__file__).resolve().parents[1] / "models" / "cpu-default")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--sampler", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    pipe = DeltaDiffusionPipeline.from_pretrained(args.model, device=args.device)
    tr = World().triple(seed_for("test", 0))
    times = []
    for i in range(args.repeats + 1):  # the first call warms up
        t = time.perf_counter()
        pipe.generate(tr.demo.frames[None], tr.context[None], [i], steps=args.steps, sampler=args.sampler)
        times.append(time.perf_counter() - t)
    cfg = pipe.config
    print(f"model {args.model}  threads {torch.get_num_threads()}  steps {args.steps or cfg.steps}  "
          f"sampler {args.sampler or cfg.sampler}  guidance {cfg.guidance}")
    print(f"one 16-frame video: median {statistics.median(times[1:]):.2f} s  (runs: {', '.join(f'{x:.2f}' for x in times[1:])})")
    print(f"peak memory (ru_maxrss): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if pipe.device.type == "cuda":
        print(f"{torch.cuda.get_device_name()}: peak GPU memory allocated {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
