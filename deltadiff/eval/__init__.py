"""Evaluation: diagnostics of action latents (probes) now; metrics, baselines and the benchmark report follow."""
