"""Diffusion for the generator: the rectified-flow objective (flow.py) and samplers with guidance (sampling.py).
Both only call the network; neither imports it."""

from deltadiff.diffusion.flow import FlowMatchingLoss, shift_time
from deltadiff.diffusion.sampling import SOLVERS, euler, guided, heun, noise_from_seeds, run_scheduler, sample, schedule, unipc

__all__ = ["SOLVERS", "FlowMatchingLoss", "euler", "guided", "heun", "noise_from_seeds", "run_scheduler", "sample",
           "schedule", "shift_time", "unipc"]
