"""The appearance bottleneck: δ = z − P(per-frame features) (δ-Diffusion §3.2) and its ablation variants."""

from deltadiff.bottleneck.action_encoder import ActionEncoder
from deltadiff.bottleneck.predictor import VARIANTS, FramePredictor, PredictorConfig, PredictorLoss, bottleneck, fit_linear

__all__ = ["VARIANTS", "ActionEncoder", "FramePredictor", "PredictorConfig", "PredictorLoss", "bottleneck", "fit_linear"]
