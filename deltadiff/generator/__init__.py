"""The generator G (δ-Diffusion's generation model): a space-time diffusion transformer over frame latents, conditioned on the clean
context latent and on action latents δ. Its training objective and samplers live in deltadiff.diffusion."""

from deltadiff.generator.config import PRESETS, GeneratorConfig, preset
from deltadiff.generator.dit import SpaceTimeDiT

__all__ = ["PRESETS", "GeneratorConfig", "SpaceTimeDiT", "preset"]
