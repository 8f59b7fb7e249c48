"""Pipelines: `DeltaDiffusionPipeline` (create a video from a demo and a context image)."""

from deltadiff.pipeline.pipeline import CONFIG_NAME, DeltaDiffusionPipeline, PipelineConfig

__all__ = ["CONFIG_NAME", "DeltaDiffusionPipeline", "PipelineConfig"]
