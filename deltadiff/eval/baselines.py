"""Methods for the benchmark harness: deltadiff, its ablations and the non-learned baselines, behind one interface.

A method maps a batch of demos `uint8 [B, T, S, S, 3]`, contexts `uint8 [B, S, S, 3]` and seeds to videos
`uint8 [B, T, S, S, 3]` whose frame 0 is the context (copy-demo excepted: it *is* the demo). `uses_demo` says whether
the output depends on the demo at all (ΔPSNR needs a second run with another demo only when it does).

- `deltadiff`: the model, guidance on δ (`PipelineMethod`).
- `null_action`: the same model with δ dropped — image-to-video from the context alone.
- `none_bottleneck` / `temporal_norm`: generators trained on δ = z / on z normalised over time (the paper's ablations),
  sharing the model's foundation encoder and autoencoder.
- `copy_demo`: returns the demo — all of its motion and all of its appearance (the leakage ceiling).
- `flow_warp`: dense optical flow of the demo (OpenCV's Farnebäck, chained frame to frame) applied to the context
  image by backward warping — motion transfer with no learning and no notion of which object acts.
- `static`: the context repeated — no motion at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from deltadiff.data.flow import chained_maps, cv2

EVAL_EXTRA = "pip install 'deltadiff[eval]'  (matplotlib, for the report's plots)"


@dataclass
class Method:
    name: str
    run: object  # callable(demos, contexts, seeds) -> uint8 [B, T, S, S, 3]
    uses_demo: bool = True
    about: str = ""

    def __call__(self, demos: np.ndarray, contexts: np.ndarray, seeds: list[int]) -> np.ndarray:
        return self.run(demos, contexts, seeds)


@dataclass
class PipelineMethod:
    """A `DeltaDiffusionPipeline` as a method; sampler settings are fixed at construction."""

    pipe: object
    drop_delta: bool = False
    kwargs: dict = field(default_factory=dict)

    def __call__(self, demos, contexts, seeds):
        return self.pipe.generate(demos, contexts, seeds, drop_delta=self.drop_delta, **self.kwargs)


def copy_demo(demos: np.ndarray, contexts: np.ndarray, seeds) -> np.ndarray:
    return np.asarray(demos).copy()


def static(demos: np.ndarray, contexts: np.ndarray, seeds) -> np.ndarray:
    t = np.asarray(demos).shape[1]
    return np.repeat(np.asarray(contexts)[:, None], t, axis=1)


def flow_warp(demos: np.ndarray, contexts: np.ndarray, seeds) -> np.ndarray:
    """The context warped by the demo's motion: frame t = context sampled at M_t (`data.flow.chained_maps`)."""
    cv = cv2()
    out = []
    for demo, ctx in zip(np.asarray(demos), np.asarray(contexts)):
        maps = chained_maps(demo)
        out.append(np.stack([cv.remap(ctx, m[..., 0], m[..., 1], cv.INTER_LINEAR, borderMode=cv.BORDER_REPLICATE)
                             for m in maps]))
    return np.stack(out)


BASELINES = {
    "copy_demo": Method("copy_demo", copy_demo, about="the demo itself: all its motion and all its appearance"),
    "flow_warp": Method("flow_warp", flow_warp, about="the demo's dense optical flow (Farnebäck) applied to the context"),
    "static": Method("static", static, uses_demo=False, about="the context repeated"),
}


def model_methods(pipe, *, none_generator=None, temporal_norm_generator=None, **sample_kw) -> dict[str, Method]:
    """deltadiff and null action from `pipe`; the ablation rows when their generator folders (or pipelines) are given."""
    methods = {
        "deltadiff": Method("deltadiff", PipelineMethod(pipe, False, sample_kw), about="the model, guidance on δ"),
        "null_action": Method("null_action", PipelineMethod(pipe, True, sample_kw), uses_demo=False,
                              about="the same model with δ dropped (image-to-video)"),
    }
    for name, variant, gen in (("none_bottleneck", "none", none_generator),
                               ("temporal_norm", "temporal_norm", temporal_norm_generator)):
        if gen is not None:
            p = gen if hasattr(gen, "generate") else pipe.with_generator(gen, variant)
            methods[name] = Method(name, PipelineMethod(p, False, sample_kw),
                                   about=f"a generator trained on the `{variant}` bottleneck")
    return methods
