"""Training: one loop (`train`) over accelerate for every stage; stage recipes pick the loss and the data."""

from deltadiff.training.loop import TrainConfig, batch_indices, train

__all__ = ["TrainConfig", "batch_indices", "train"]
