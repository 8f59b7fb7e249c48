"""deltadiff: video creation by demonstration (δ-Diffusion, Sun et al., arXiv 2412.09551).

Data flow (each arrow one narrow interface): io → data → encoders/bottleneck → autoencoder → generator/diffusion →
pipeline → cli/app/eval. Imports only go down that flow.
"""

__version__ = "0.1.0"
