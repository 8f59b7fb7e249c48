"""Rendering speed of the demonstration world, on ONE core by default.

    python benchmarks/bench_world.py                 # 64×64, 16 frames, seeds 0..199 (clips), 0..49 (triples)
    python benchmarks/bench_world.py --size 128 --cores 2

Prints frames/s for clips (`World.clip`), triples (`World.triple`: demo + target, counted as 2·T frames) and
mismatched pairs (`World.mismatched`: 3·T frames). Seeds are fixed, so runs compare like with like. The clips and
triples rendered are also what the training data and evaluation use (default WorldConfig: noise/blur on some clips).
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--clips", type=int, default=200, help="clip seeds 0..N-1")
    ap.add_argument("--triples", type=int, default=50, help="triple seeds 0..N-1")
    ap.add_argument("--repeats", type=int, default=3, help="report the best of this many passes")
    ap.add_argument("--cores", type=int, default=1, help="pin the process to this many cores (and thread pools to 1)")
    args = ap.parse_args()

    if args.cores >= 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.cores])
    if args.cores == 1:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = "1"  # before numpy is imported
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    import numpy as np

    from deltadiff.data.world import World, WorldConfig

    world = World(WorldConfig(height=args.size, width=args.size, frames=args.frames))
    world.clip(10**9 - 1)  # warm-up: imports, caches

    def rate(fn, seeds, frames_per_item):
        best = 0.0
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for s in seeds:
                fn(s)
            best = max(best, len(seeds) * frames_per_item / (time.perf_counter() - t0))
        return best

    t = args.frames
    clip_fps = rate(world.clip, range(args.clips), t)
    triple_fps = rate(world.triple, range(args.triples), 2 * t)
    mism_fps = rate(world.mismatched, range(args.triples), 3 * t)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(f"world {args.size}x{args.size}, {t} frames, {cores} core(s), numpy {np.__version__}, best of {args.repeats}")
    print(f"clips      {clip_fps:9.0f} frames/s  {clip_fps / t:8.1f} clips/s       (seeds 0..{args.clips - 1})")
    print(f"triples    {triple_fps:9.0f} frames/s  {triple_fps / (2 * t):8.1f} triples/s     (seeds 0..{args.triples - 1})")
    print(f"mismatched {mism_fps:9.0f} frames/s  {mism_fps / (3 * t):8.1f} pairs/s       (seeds 0..{args.triples - 1})")


if __name__ == "__main__":
    main()
